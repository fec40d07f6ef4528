// UDP echo over DPDK ports, with a client that reports round-trip latency percentiles.
//
//   pk-udp-echo                               one process: client and server ports joined
//                                             by a pair of rte_rings (net_ring), server
//                                             on a worker lcore
//   pk-udp-echo --mode server --memif S       two processes over memif (server end)
//   pk-udp-echo --mode client --memif S       (client end; start it after the server)
// Options: --count N (requests, default 10000), --window W (outstanding, default 32),
//          --payload B (UDP payload bytes, default 64), --duration S (server: stop after
//          S seconds, default 30).
// The server answers UDP to port 7 by swapping MAC, IP addresses and ports (checksums
// are unchanged by a swap); everything else is dropped and counted by parse reason.
// The client stamps each request with its sequence number and TSC, matches replies,
// and prints p50/p90/p99/p99.9/max RTT in microseconds plus loss.
#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <rte_eth_ring.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_udp.h>
#include <unistd.h>

#include "base/clock.hh"
#include "net/eal.hh"
#include "net/packet.hh"
#include "net/port.hh"

using namespace pk;
using namespace pk::net;

namespace {

constexpr std::uint16_t echo_port = 7;

struct options {
    std::string mode = "local";
    std::string memif;
    unsigned count = 10000;
    unsigned window = 32;
    unsigned payload = 64;
    unsigned duration = 30;
};

struct stamp {
    std::uint64_t seq;
    std::uint64_t tsc;
};

std::atomic<bool> g_stop{false};

// ---- server ------------------------------------------------------------------------

struct server_stats {
    std::uint64_t echoed = 0;
    std::array<std::uint64_t, reason_count> bad{};
    std::uint64_t not_echo = 0;
};

// Swaps the endpoints in place; false if the packet is not UDP to the echo port.
bool make_reply(rte_mbuf* m, server_stats& st) {
    auto* d = rte_pktmbuf_mtod(m, std::uint8_t*);
    parsed p = parse(m);
    if (!p.ok()) {
        ++st.bad[static_cast<unsigned>(p.why)];
        return false;
    }
    if (p.l4 != l4_type::udp || p.dst_port != echo_port) {
        ++st.not_echo;
        return false;
    }
    std::uint8_t mac[6];
    std::memcpy(mac, d, 6);
    std::memcpy(d, d + 6, 6);
    std::memcpy(d + 6, mac, 6);
    std::uint8_t* ip = d + p.l3_off;
    std::size_t a = p.l3 == l3_type::ipv4 ? 4 : 16, off = p.l3 == l3_type::ipv4 ? 12 : 8;
    std::uint8_t tmp[16];
    std::memcpy(tmp, ip + off, a);
    std::memmove(ip + off, ip + off + a, a);
    std::memcpy(ip + off + a, tmp, a);
    std::uint8_t* udp = d + p.l4_off;
    std::swap_ranges(udp, udp + 2, udp + 2);
    return true;
}

int server_loop(port& pt, unsigned seconds) {
    server_stats st;
    tx_buffer tx(pt.id(), 0, 32);
    rx_queue rx = pt.rxq(0);
    rte_mbuf* b[32];
    std::uint64_t end = seconds ? tsc::now() + tsc::from_us(std::uint64_t(seconds) * 1000000) : 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
        std::uint64_t now = tsc::now();
        if (end && now > end) break;
        std::uint16_t n = rx.rx_burst(b, 32);
        for (std::uint16_t i = 0; i < n; ++i) {
            if (make_reply(b[i], st)) {
                tx.send(b[i]);
                ++st.echoed;
            } else {
                rte_pktmbuf_free(b[i]);
            }
        }
        tx.flush_if_due(now);
    }
    tx.flush();
    std::printf("server: echoed %llu, not-echo %llu, tx dropped %llu",
                (unsigned long long)st.echoed, (unsigned long long)st.not_echo,
                (unsigned long long)tx.counters().total_dropped());
    for (unsigned r = 1; r < reason_count; ++r)
        if (st.bad[r])
            std::printf(", %s %llu", to_string(static_cast<reason>(r)),
                        (unsigned long long)st.bad[r]);
    std::printf("\n");
    return 0;
}

// ---- client ------------------------------------------------------------------------

rte_mbuf* make_request(rte_mempool* mp, std::uint64_t seq, unsigned payload) {
    rte_mbuf* m = rte_pktmbuf_alloc(mp);
    if (!m) return nullptr;
    unsigned len = 14 + 20 + 8 + std::max<unsigned>(payload, sizeof(stamp));
    auto* d = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, std::uint16_t(len)));
    if (!d) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    std::memset(d, 0, len);
    const std::uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::memcpy(d, dst, 6);
    std::memcpy(d + 6, src, 6);
    d[12] = 0x08;
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(d + 14);
    ip->version_ihl = 0x45;
    ip->total_length = rte_cpu_to_be_16(std::uint16_t(len - 14));
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(RTE_IPV4(192, 168, 0, 1));
    ip->dst_addr = rte_cpu_to_be_32(RTE_IPV4(192, 168, 0, 2));
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(d + 34);
    udp->src_port = rte_cpu_to_be_16(std::uint16_t(10000 + seq % 1000));
    udp->dst_port = rte_cpu_to_be_16(echo_port);
    udp->dgram_len = rte_cpu_to_be_16(std::uint16_t(len - 34));
    stamp s{seq, tsc::now()};
    std::memcpy(d + 42, &s, sizeof(s));
    return m;
}

double percentile(std::vector<double>& v, double q) {
    if (v.empty()) return 0;
    std::size_t i = static_cast<std::size_t>(q * double(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

int client_loop(port& pt, const options& o) {
    tx_buffer tx(pt.id(), 0, 32);
    rx_queue rx = pt.rxq(0);
    std::vector<double> rtt_us;
    rtt_us.reserve(o.count);
    std::vector<bool> seen(o.count, false);
    std::uint64_t sent = 0, bad = 0, dup = 0;
    rte_mbuf* b[32];
    std::uint64_t give_up = 0;
    const std::uint64_t quiet = tsc::from_us(2000000); // 2 s without replies: stop
    std::uint64_t last_rx = tsc::now();
    while (rtt_us.size() + 0 < o.count) {
        std::uint64_t now = tsc::now();
        // Keep `window` requests in flight (lost ones time out of the window after 100 ms).
        std::uint64_t in_flight = sent - rtt_us.size() - give_up;
        while (sent < o.count && in_flight < o.window) {
            rte_mbuf* m = make_request(pt.mempool(), sent, o.payload);
            if (!m) break;
            tx.send(m);
            ++sent;
            ++in_flight;
        }
        tx.flush();
        std::uint16_t n = rx.rx_burst(b, 32);
        now = tsc::now();
        for (std::uint16_t i = 0; i < n; ++i) {
            parsed p = parse(b[i]);
            stamp s{};
            if (p.ok() && p.l4 == l4_type::udp && p.src_port == echo_port &&
                p.payload_len >= sizeof(stamp)) {
                std::memcpy(&s, rte_pktmbuf_mtod_offset(b[i], const void*, p.payload_off),
                            sizeof(s));
                if (s.seq < o.count && !seen[s.seq]) {
                    seen[s.seq] = true;
                    rtt_us.push_back(tsc::to_ns(now - s.tsc) / 1000.0);
                } else {
                    ++dup;
                }
            } else {
                ++bad;
            }
        }
        if (n) last_rx = now;
        rte_pktmbuf_free_bulk(b, n);
        if (now - last_rx > quiet) {
            if (sent == o.count) break; // the rest is lost
            give_up += in_flight;       // count the window as lost and go on
            last_rx = now;
        }
        if (g_stop.load(std::memory_order_relaxed)) break;
    }
    std::sort(rtt_us.begin(), rtt_us.end());
    std::printf("client: sent %llu, received %zu, lost %llu, bad %llu, duplicate %llu\n",
                (unsigned long long)sent, rtt_us.size(), (unsigned long long)(sent - rtt_us.size()),
                (unsigned long long)bad, (unsigned long long)dup);
    std::printf("rtt_us: p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f\n", percentile(rtt_us, 0.5),
                percentile(rtt_us, 0.9), percentile(rtt_us, 0.99), percentile(rtt_us, 0.999),
                rtt_us.empty() ? 0.0 : rtt_us.back());
    return rtt_us.size() == o.count ? 0 : 3;
}

// ---- set-up ------------------------------------------------------------------------

bool parse_args(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = nullptr;
        if (a == "--mode" && (v = val()))
            o.mode = v;
        else if (a == "--memif" && (v = val()))
            o.memif = v;
        else if (a == "--count" && (v = val()))
            o.count = unsigned(std::strtoul(v, nullptr, 10));
        else if (a == "--window" && (v = val()))
            o.window = unsigned(std::strtoul(v, nullptr, 10));
        else if (a == "--payload" && (v = val()))
            o.payload = unsigned(std::strtoul(v, nullptr, 10));
        else if (a == "--duration" && (v = val()))
            o.duration = unsigned(std::strtoul(v, nullptr, 10));
        else {
            std::fprintf(stderr, "pk-udp-echo: bad argument '%s'\n", a.c_str());
            return false;
        }
    }
    if (o.mode != "local" && o.mode != "server" && o.mode != "client") {
        std::fprintf(stderr, "pk-udp-echo: --mode must be local, server or client\n");
        return false;
    }
    if (o.mode != "local" && o.memif.empty()) {
        std::fprintf(stderr, "pk-udp-echo: --mode %s needs --memif <socket path>\n",
                     o.mode.c_str());
        return false;
    }
    if (o.window == 0 || o.count == 0) return false;
    return true;
}

int die(const error& e) {
    std::fprintf(stderr, "pk-udp-echo: %s\n", e.message.c_str());
    return 1;
}

int server_main_on_lcore(void* arg) {
    auto* pt = static_cast<port*>(arg);
    return server_loop(*pt, 0);
}

} // namespace

int main(int argc, char** argv) {
    std::signal(SIGINT, [](int) { g_stop = true; });
    std::signal(SIGTERM, [](int) { g_stop = true; });
    options o;
    if (!parse_args(argc, argv, o)) {
        std::fprintf(stderr, "usage: pk-udp-echo [--mode local|server|client] [--memif PATH] "
                             "[--count N] [--window W] [--payload B] [--duration S]\n");
        return 2;
    }
    eal_config ec;
    ec.memory_mb = 256;
    ec.telemetry = false;
    // Local: client on lcore 0 (CPU 0), server on lcore 1 (CPU 1). Two processes: let
    // the kernel place each on either CPU rather than pinning both to CPU 0.
    ec.lcores = o.mode == "local" ? "0@0,1@1" : "0@(0-1)";
    ec.log_level = log::level::warn;
    log::set_level(log::level::warn);
    auto eal = eal_session::start(ec);
    if (!eal) return die(eal.err());

    if (o.mode == "local") {
        // Two ports over a pair of rings: client TX → server RX, server TX → client RX.
        rte_ring* c2s = rte_ring_create("pk_echo_c2s", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        rte_ring* s2c = rte_ring_create("pk_echo_s2c", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!c2s || !s2c) return die(make_error(errc::dpdk, "cannot create the ring pair"));
        if (rte_eth_from_rings("echo_server", &c2s, 1, &s2c, 1, 0) < 0 ||
            rte_eth_from_rings("echo_client", &s2c, 1, &c2s, 1, 0) < 0)
            return die(make_error(errc::dpdk, "cannot create the ring ports"));
        mempool_set pools;
        auto srv = port::open(port_config{.device = "net_ring_echo_server"}, &pools);
        if (!srv) return die(srv.err());
        auto cli = port::open(port_config{.device = "net_ring_echo_client"}, &pools);
        if (!cli) return die(cli.err());
        if (auto s = (*srv)->start(); !s) return die(s.err());
        if (auto s = (*cli)->start(); !s) return die(s.err());
        unsigned worker = rte_get_next_lcore(-1, 1, 0);
        if (worker >= RTE_MAX_LCORE) return die(make_error(errc::exhausted, "need 2 lcores"));
        rte_eal_remote_launch(server_main_on_lcore, srv->get(), worker);
        int rc = client_loop(**cli, o);
        g_stop = true;
        rte_eal_wait_lcore(worker);
        return rc;
    }

    std::string dev = "net_memif_echo,role=" + o.mode + ",socket=" + o.memif;
    auto pt = port::open(port_config{.device = dev});
    if (!pt) return die(pt.err());
    if (auto s = (*pt)->start(); !s) return die(s.err());
    if (!(*pt)->wait_link(true, std::chrono::seconds(o.mode == "server" ? o.duration : 30)))
        return die(make_error(errc::state, "memif peer did not connect on " + o.memif));
    if (o.mode == "server") return server_loop(**pt, o.duration);
    return client_loop(**pt, o);
}
