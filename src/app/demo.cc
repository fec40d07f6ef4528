#include "app/demo.hh"

#include <cstring>

#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "base/clock.hh"
#include "base/log.hh"

namespace pk::app {
namespace {

constexpr std::uint16_t burst = 32;

int setup_port(std::uint16_t port, rte_mempool* pool) {
    rte_eth_conf conf{};
    if (int rc = rte_eth_dev_configure(port, 1, 1, &conf); rc < 0) return rc;
    if (int rc = rte_eth_rx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr, pool);
        rc < 0)
        return rc;
    if (int rc = rte_eth_tx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr); rc < 0)
        return rc;
    return rte_eth_dev_start(port);
}

void fill_udp(rte_mbuf* m, std::uint32_t flow, std::uint64_t seq) {
    constexpr std::uint16_t payload = 12;
    constexpr std::uint16_t len = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + payload;
    auto* p = rte_pktmbuf_mtod(m, std::uint8_t*);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
    rte_ether_addr src{{0x02, 0, 0, 0, 0, 1}}, dst{{0x02, 0, 0, 0, 0, 2}};
    rte_ether_addr_copy(&src, &eth->src_addr);
    rte_ether_addr_copy(&dst, &eth->dst_addr);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    std::memset(ip, 0, sizeof *ip);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->total_length = rte_cpu_to_be_16(len - sizeof(rte_ether_hdr));
    ip->src_addr = rte_cpu_to_be_32(0x0a000001 + (flow & 0xff));
    ip->dst_addr = rte_cpu_to_be_32(0x0a010001);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = rte_cpu_to_be_16(static_cast<std::uint16_t>(1024 + flow));
    udp->dst_port = rte_cpu_to_be_16(9);
    udp->dgram_len = rte_cpu_to_be_16(sizeof(rte_udp_hdr) + payload);
    udp->dgram_cksum = 0;
    auto* pl = reinterpret_cast<std::uint8_t*>(udp + 1);
    std::uint32_t f = rte_cpu_to_be_32(flow);
    std::uint64_t s = rte_cpu_to_be_64(seq);
    std::memcpy(pl, &f, 4);
    std::memcpy(pl + 4, &s, 8);
    m->data_len = m->pkt_len = len;
}

} // namespace

int run_demo(std::atomic<bool>& stop, double duration_s,
             const std::function<void(const demo_counters&, double)>& on_second,
             demo_counters& c) {
    std::uint16_t in_port, out_port;
    if (rte_eth_dev_get_port_by_name("net_ring0", &in_port) != 0 ||
        rte_eth_dev_get_port_by_name("net_ring1", &out_port) != 0) {
        PK_ERROR("demo", "the demo needs vdevs net_ring0 and net_ring1");
        return 1;
    }
    rte_mempool* pool = rte_pktmbuf_pool_create("demo_pool", 8191, 256, 0,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
    if (!pool) {
        PK_ERROR("demo", "cannot create mempool: %s", rte_strerror(rte_errno));
        return 1;
    }
    for (auto p : {in_port, out_port})
        if (int rc = setup_port(p, pool); rc < 0) {
            PK_ERROR("demo", "port %u setup failed: %s", p, rte_strerror(-rc));
            return 1;
        }

    const std::uint64_t hz = tsc::hz();
    const std::uint64_t start = tsc::now();
    const std::uint64_t end = duration_s > 0 ? start + static_cast<std::uint64_t>(duration_s * hz) : ~0ull;
    std::uint64_t next_report = start + hz;
    std::uint64_t seq[64] = {};
    std::uint32_t flow = 0;
    rte_mbuf* pkts[burst];

    while (!stop.load(std::memory_order_relaxed)) {
        std::uint64_t t0 = tsc::now();
        if (t0 >= end) break;
        unsigned work = 0;

        // generator → net_ring0 TX (loops back to net_ring0 RX)
        if (rte_pktmbuf_alloc_bulk(pool, pkts, burst) == 0) {
            for (auto* m : pkts) {
                fill_udp(m, flow, seq[flow]++);
                flow = (flow + 1) & 63;
            }
            std::uint16_t n = rte_eth_tx_burst(in_port, 0, pkts, burst);
            c.generated += burst;
            if (n < burst) {
                c.drop_gen_tx_full += burst - n;
                rte_pktmbuf_free_bulk(pkts + n, burst - n);
            }
            work += n;
        } else {
            c.drop_nombuf += burst;
        }

        // port_rx → macswap → port_tx
        std::uint16_t n = rte_eth_rx_burst(in_port, 0, pkts, burst);
        if (n) {
            c.rx += n;
            for (std::uint16_t i = 0; i < n; ++i) {
                auto* eth = rte_pktmbuf_mtod(pkts[i], rte_ether_hdr*);
                rte_ether_addr tmp = eth->src_addr;
                eth->src_addr = eth->dst_addr;
                eth->dst_addr = tmp;
            }
            std::uint16_t s = rte_eth_tx_burst(out_port, 0, pkts, n);
            c.tx += s;
            if (s < n) {
                c.drop_tx_full += n - s;
                rte_pktmbuf_free_bulk(pkts + s, n - s);
            }
            work += n;
        }

        // sink: the far end of net_ring1
        n = rte_eth_rx_burst(out_port, 0, pkts, burst);
        if (n) {
            c.delivered += n;
            rte_pktmbuf_free_bulk(pkts, n);
            work += n;
        }

        std::uint64_t t1 = tsc::now();
        if (work) c.busy_cycles += t1 - t0;
        c.total_cycles += t1 - t0;
        if (t1 >= next_report) {
            next_report += hz;
            on_second(c, tsc::to_seconds(t1 - start));
        }
    }
    // Drain what is still in flight so the accounting closes.
    for (;;) {
        std::uint16_t n = rte_eth_rx_burst(in_port, 0, pkts, burst);
        c.rx += n;
        if (n) {
            std::uint16_t s = rte_eth_tx_burst(out_port, 0, pkts, n);
            c.tx += s;
            if (s < n) {
                c.drop_tx_full += n - s;
                rte_pktmbuf_free_bulk(pkts + s, n - s);
            }
        }
        std::uint16_t d = rte_eth_rx_burst(out_port, 0, pkts, burst);
        c.delivered += d;
        if (d) rte_pktmbuf_free_bulk(pkts, d);
        if (!n && !d) break;
    }
    for (auto p : {in_port, out_port}) {
        rte_eth_dev_stop(p);
        rte_eth_dev_close(p);
    }
    rte_mempool_free(pool);
    return 0;
}

} // namespace pk::app
