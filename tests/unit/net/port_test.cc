// Ports over virtual devices (EAL from the test main: net_null0, net_ring0): RX/TX
// bursts, tx_buffer flush-on-full / deadline / drop accounting, stats, link changes,
// mempool sizing, clear start-up errors, and pcap in → ring → pcap out byte-identical.
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <unistd.h>

#include "net/packet.hh"
#include "net/port.hh"
#include "pkt_builder.hh"

using namespace pk::net;
using namespace std::chrono_literals;

namespace {

rte_mbuf* make_mbuf(rte_mempool* mp, const std::vector<std::uint8_t>& bytes) {
    rte_mbuf* m = rte_pktmbuf_alloc(mp);
    if (!m) return nullptr;
    char* d = rte_pktmbuf_append(m, static_cast<std::uint16_t>(bytes.size()));
    if (!d) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    std::memcpy(d, bytes.data(), bytes.size());
    return m;
}

std::vector<std::uint8_t> bytes_of(const rte_mbuf* m) {
    const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
    return {d, d + m->data_len};
}

// Receives until `want` packets arrived or ~2 s passed.
std::vector<rte_mbuf*> rx_all(rx_queue q, std::size_t want) {
    std::vector<rte_mbuf*> got;
    rte_mbuf* b[32];
    for (int spins = 0; got.size() < want && spins < 2000; ++spins) {
        std::uint16_t n = q.rx_burst(b, 32);
        got.insert(got.end(), b, b + n);
        if (n == 0) std::this_thread::sleep_for(1ms);
    }
    return got;
}

std::vector<std::vector<std::uint8_t>> sample_packets() {
    using pk::test::pkt_spec;
    std::vector<std::vector<std::uint8_t>> out;
    for (int i = 0; i < 40; ++i) {
        pkt_spec s;
        s.sport = static_cast<std::uint16_t>(1000 + i);
        s.payload = static_cast<unsigned>(i * 7 % 300);
        if (i % 3 == 1) s.l3k = pkt_spec::l3::ipv6;
        if (i % 4 == 2) s.proto = 6;
        if (i % 5 == 3) s.vlans = {static_cast<std::uint16_t>(i)};
        out.push_back(pk::test::build(s).bytes);
    }
    return out;
}

std::string tmp(const char* tag) {
    return "/tmp/pk-port-" + std::to_string(::getpid()) + "-" + tag;
}

} // namespace

TEST(port, ring_rx_tx_stats_and_mbuf_parse) {
    port_config cfg;
    cfg.device = "net_ring0";
    cfg.rx_desc = 256;
    cfg.tx_desc = 256;
    auto p = port::open(cfg);
    ASSERT_TRUE(p) << p.err().message;
    port& pt = **p;
    EXPECT_EQ(pt.name(), "net_ring0");
    EXPECT_FALSE(pt.started());
    ASSERT_TRUE(pt.start());
    EXPECT_TRUE(pt.link().up);
    ASSERT_TRUE(pt.reset_stats());

    auto pkts = sample_packets();
    tx_buffer tx(pt.id(), 0, 8);
    for (auto& b : pkts) {
        rte_mbuf* m = make_mbuf(pt.mempool(), b);
        ASSERT_NE(m, nullptr);
        tx.send(m);
    }
    tx.flush();
    EXPECT_EQ(tx.counters().sent, pkts.size());
    EXPECT_EQ(tx.counters().total_dropped(), 0u);

    auto got = rx_all(pt.rxq(0), pkts.size());
    ASSERT_EQ(got.size(), pkts.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(bytes_of(got[i]), pkts[i]) << i;
        parsed r = parse(got[i]);
        EXPECT_TRUE(r.ok()) << to_string(r.why);
        EXPECT_EQ(r.src_port, 1000 + i);
        set_offload_lengths(got[i], r);
        EXPECT_EQ(got[i]->l2_len, r.l3_off);
        EXPECT_NE(got[i]->packet_type, 0u);
    }
    rte_pktmbuf_free_bulk(got.data(), static_cast<unsigned>(got.size()));
    port_stats s = pt.stats();
    EXPECT_EQ(s.ipackets, pkts.size());
    EXPECT_EQ(s.opackets, pkts.size());
    ASSERT_EQ(s.rxq.size(), 1u);
    EXPECT_EQ(s.rxq[0].packets, pkts.size());
    EXPECT_EQ(s.imissed, 0u);
    EXPECT_EQ(s.rx_nombuf, 0u);
    EXPECT_NE(pt.describe().find("net_ring0"), std::string::npos);
}

TEST(port, tx_buffer_flushes_when_full_and_on_deadline) {
    auto p = port::open(port_config{.device = "net_ring0"});
    ASSERT_TRUE(p) << p.err().message;
    ASSERT_TRUE((*p)->start());
    rte_mempool* mp = (*p)->mempool();
    std::vector<std::uint8_t> pkt = pk::test::build({}).bytes;
    const std::uint64_t drain = 1'000'000;
    {
        tx_buffer tx((*p)->id(), 0, 4, drain);
        EXPECT_EQ(tx.drain_cycles(), drain);
        for (int i = 0; i < 3; ++i)
            tx.send(make_mbuf(mp, pkt));
        EXPECT_EQ(tx.buffered(), 3);
        EXPECT_EQ(tx.counters().sent, 0u);
        tx.send(make_mbuf(mp, pkt)); // the 4th fills it: flushed at once
        EXPECT_EQ(tx.buffered(), 0);
        EXPECT_EQ(tx.counters().sent, 4u);

        tx.send(make_mbuf(mp, pkt));
        std::uint64_t t0 = pk::tsc::now();
        EXPECT_FALSE(tx.flush_if_due(t0)) << "not due yet";
        EXPECT_EQ(tx.buffered(), 1);
        EXPECT_TRUE(tx.flush_if_due(t0 + 2 * drain));
        EXPECT_EQ(tx.buffered(), 0);
        EXPECT_EQ(tx.counters().sent, 5u);
        EXPECT_EQ(tx.counters().deadline_flushes, 1u);
        EXPECT_FALSE(tx.flush_if_due(t0 + 4 * drain)) << "nothing buffered";
        tx.send(make_mbuf(mp, pkt));
        tx.discard();
        EXPECT_EQ(tx.counters().dropped[unsigned(tx_drop::shutdown)], 1u);
    }
    auto got = rx_all((*p)->rxq(0), 5);
    EXPECT_EQ(got.size(), 5u);
    rte_pktmbuf_free_bulk(got.data(), static_cast<unsigned>(got.size()));
    EXPECT_STREQ(to_string(tx_drop::queue_full), "tx_queue_full");
}

TEST(port, tx_drops_are_counted_with_a_reason) {
    // A port over an 8-slot ring nobody drains: the 9th packet on cannot be sent.
    rte_ring* r = rte_ring_create("pk_t_small", 8, static_cast<int>(rte_socket_id()),
                                  RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
    ASSERT_NE(r, nullptr);
    // The ethdev is named "net_ring_" + name.
    int id = rte_eth_from_rings("pk_small", &r, 1, &r, 1, rte_socket_id());
    ASSERT_GE(id, 0);
    auto p = port::open(port_config{.device = "net_ring_pk_small", .rx_desc = 64, .tx_desc = 64});
    ASSERT_TRUE(p) << p.err().message;
    ASSERT_TRUE((*p)->start());
    std::vector<std::uint8_t> pkt = pk::test::build({}).bytes;
    tx_buffer tx((*p)->id(), 0, 16, 0, 1);
    rte_mempool* mp = (*p)->mempool();
    unsigned avail_before = rte_mempool_avail_count(mp);
    for (int i = 0; i < 20; ++i)
        tx.send(make_mbuf(mp, pkt));
    tx.flush();
    EXPECT_EQ((*p)->id(), id);
    EXPECT_EQ(rte_ring_count(r), 8u);
    EXPECT_EQ(tx.counters().sent, 8u);
    EXPECT_EQ(tx.counters().dropped[unsigned(tx_drop::queue_full)], 12u);
    EXPECT_EQ(tx.counters().sent + tx.counters().total_dropped(), 20u) << "nothing lost silently";
    // Dropped mbufs went back to the pool; the 8 sent sit in the ring.
    EXPECT_EQ(rte_mempool_avail_count(mp) + 8, avail_before);
    auto got = rx_all((*p)->rxq(0), 8);
    rte_pktmbuf_free_bulk(got.data(), static_cast<unsigned>(got.size()));
    p->reset();
    rte_eth_dev_close(static_cast<std::uint16_t>(id));
    rte_ring_free(r);
}

TEST(port, link_change_is_seen_and_reported) {
    auto p = port::open(port_config{.device = "net_null_pk_link"});
    ASSERT_TRUE(p) << p.err().message;
    port& pt = **p;
    int calls = 0;
    link_status last;
    pt.on_link_change([&](port&, const link_status& l) {
        ++calls;
        last = l;
    });
    EXPECT_FALSE(pt.poll_link()) << "down before start: no change";
    ASSERT_TRUE(pt.start());
    ASSERT_TRUE(pt.wait_link(true, 2s));
    EXPECT_EQ(calls, 1) << "the link coming up is reported";
    EXPECT_TRUE(last.up);
    EXPECT_FALSE(pt.poll_link()) << "no change since";
    ASSERT_TRUE(pt.stop());
    EXPECT_TRUE(pt.poll_link());
    EXPECT_EQ(calls, 2);
    EXPECT_FALSE(last.up);
    ASSERT_TRUE(pt.start());
    EXPECT_TRUE(pt.poll_link());
    EXPECT_TRUE(last.up);
    EXPECT_EQ(pt.link_changes(), 3u);
    EXPECT_EQ(last.to_string().substr(0, 2), "up");
    // net_null also generates packets: RX works on a created vdev.
    auto got = rx_all(pt.rxq(0), 64);
    EXPECT_GE(got.size(), 64u);
    rte_pktmbuf_free_bulk(got.data(), static_cast<unsigned>(got.size()));
}

TEST(port, rss_and_offloads_are_masked_to_what_the_device_offers) {
    // net_ring: several queues but no RSS hash functions.
    port_config cfg;
    cfg.device = "net_ring_pk_rss";
    cfg.rx_queues = 2;
    cfg.tx_queues = 2;
    auto p = port::open(cfg);
    ASSERT_TRUE(p) << p.err().message;
    EXPECT_EQ((*p)->rss_hf(), 0u);
    EXPECT_EQ((*p)->rx_queues(), 2);
    EXPECT_NE((*p)->describe().find("rss off"), std::string::npos) << (*p)->describe();
    port_config bad = cfg;
    bad.device = "net_ring0";
    bad.rx_queues = 1;
    bad.tx_queues = 1;
    bad.rx_offloads = RTE_ETH_RX_OFFLOAD_TCP_LRO;
    auto e = port::open(bad);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.err().code, pk::errc::unsupported);
    EXPECT_NE(e.err().message.find("not offered"), std::string::npos) << e.err().message;
}

TEST(port, start_up_errors_are_clear) {
    auto e = port::open(port_config{.device = "nosuchdev0"});
    ASSERT_FALSE(e);
    EXPECT_EQ(e.err().code, pk::errc::not_found);
    EXPECT_NE(e.err().message.find("available:"), std::string::npos) << e.err().message;
    EXPECT_NE(e.err().message.find("net_ring0"), std::string::npos) << e.err().message;

    e = port::open(port_config{.device = "net_pcap_pk_bad,rx_pcap=/nonexistent/x.pcap"});
    ASSERT_FALSE(e);
    EXPECT_EQ(e.err().code, pk::errc::dpdk);
    EXPECT_NE(e.err().message.find("cannot create virtual device"), std::string::npos);

    e = port::open(port_config{.device = "net_ring0", .rx_queues = 200});
    ASSERT_FALSE(e);
    EXPECT_EQ(e.err().code, pk::errc::unsupported);
    EXPECT_NE(e.err().message.find("at most"), std::string::npos) << e.err().message;

    e = port::open(port_config{.device = ""});
    ASSERT_FALSE(e);
    EXPECT_EQ(e.err().code, pk::errc::invalid_argument);

    auto ok = port::open(port_config{.device = "net_ring0"});
    ASSERT_TRUE(ok);
    e = port::open(port_config{.device = "net_ring0"});
    ASSERT_FALSE(e);
    EXPECT_EQ(e.err().code, pk::errc::state);

    port_config mtu;
    mtu.device = "net_null_pk_mtu";
    mtu.mtu = 10;
    e = port::open(mtu);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.err().code, pk::errc::invalid_argument);
    EXPECT_NE(e.err().message.find("MTU"), std::string::npos);
}

TEST(port, mempools_per_socket_sized_from_queues) {
    port_config a;
    a.rx_queues = 2;
    a.tx_queues = 2;
    a.rx_desc = 512;
    a.tx_desc = 512;
    a.pipeline_mbufs = 1000;
    unsigned n = mbufs_needed(a, 2);
    EXPECT_GE(n, 2u * 512 + 2u * 512 + 4u * 32 + 2u * 256 + 1000);
    EXPECT_EQ((n + 1) & n, 0u) << "2^k - 1";
    a.rx_desc = 4096;
    EXPECT_GT(mbufs_needed(a, 2), n);

    mempool_set pools;
    auto p1 = pools.reserve(0, 1000);
    ASSERT_TRUE(p1) << p1.err().message;
    auto p2 = pools.reserve(0, 10);
    ASSERT_TRUE(p2);
    EXPECT_EQ(pools.pool_count(), 2u) << "the first is fully reserved";
    ASSERT_TRUE(pools.prepare(0, 5000));
    auto p3 = pools.reserve(0, 3000);
    auto p4 = pools.reserve(0, 1000);
    ASSERT_TRUE(p3 && p4);
    EXPECT_EQ(*p3, *p4) << "shared pool on the socket";
    EXPECT_EQ(pools.pool_count(), 3u);
    auto huge = pools.reserve(0, 1u << 30);
    ASSERT_FALSE(huge);
    EXPECT_NE(huge.err().message.find("raise EAL memory"), std::string::npos);
}

TEST(port, reports_describe_ports_and_stats) {
    auto p = port::open(port_config{.device = "net_ring0"});
    ASSERT_TRUE(p);
    std::string s = describe_ports();
    EXPECT_NE(s.find("net_ring0 (port"), std::string::npos) << s;
    EXPECT_NE(s.find("net_null0"), std::string::npos) << s;
    s = ports_stats();
    EXPECT_NE(s.find("net_ring0: rx"), std::string::npos) << s;
    EXPECT_NE(s.find("imissed"), std::string::npos) << s;
    EXPECT_NE(s.find("rx_nombuf"), std::string::npos) << s;
}

// pcap file in (written here with libpcap) → net_pcap RX → net_ring0 (loop) → net_pcap
// TX → pcap file out: the same packets, byte for byte, in order.
TEST(port, pcap_in_ring_pcap_out_byte_identical) {
    auto pkts = sample_packets();
    std::string in = tmp("in.pcap"), out = tmp("out.pcap");
    {
        pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
        pcap_dumper_t* d = pcap_dump_open(dead, in.c_str());
        ASSERT_NE(d, nullptr) << pcap_geterr(dead);
        for (std::size_t i = 0; i < pkts.size(); ++i) {
            pcap_pkthdr h{};
            h.ts.tv_sec = 1700000000;
            h.ts.tv_usec = static_cast<suseconds_t>(i);
            h.caplen = h.len = static_cast<bpf_u_int32>(pkts[i].size());
            pcap_dump(reinterpret_cast<u_char*>(d), &h, pkts[i].data());
        }
        pcap_dump_close(d);
        pcap_close(dead);
    }
    {
        auto pp =
            port::open(port_config{.device = "net_pcap_pk0,rx_pcap=" + in + ",tx_pcap=" + out});
        ASSERT_TRUE(pp) << pp.err().message;
        auto ring = port::open(port_config{.device = "net_ring0"});
        ASSERT_TRUE(ring) << ring.err().message;
        ASSERT_TRUE((*pp)->start());
        ASSERT_TRUE((*ring)->start());
        tx_buffer to_ring((*ring)->id(), 0), to_pcap((*pp)->id(), 0);
        auto got = rx_all((*pp)->rxq(0), pkts.size());
        ASSERT_EQ(got.size(), pkts.size());
        to_ring.send_burst(got.data(), static_cast<std::uint16_t>(got.size()));
        to_ring.flush();
        auto back = rx_all((*ring)->rxq(0), pkts.size());
        ASSERT_EQ(back.size(), pkts.size());
        to_pcap.send_burst(back.data(), static_cast<std::uint16_t>(back.size()));
        to_pcap.flush();
        EXPECT_EQ(to_pcap.counters().sent, pkts.size());
        auto st = (*pp)->stats();
        EXPECT_EQ(st.ipackets, pkts.size());
        EXPECT_EQ(st.opackets, pkts.size());
    } // ports stop and close: the pcap writer is flushed
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* rd = pcap_open_offline(out.c_str(), err);
    ASSERT_NE(rd, nullptr) << err;
    pcap_pkthdr* h;
    const u_char* data;
    std::size_t i = 0;
    while (pcap_next_ex(rd, &h, &data) == 1) {
        ASSERT_LT(i, pkts.size());
        ASSERT_EQ(h->caplen, pkts[i].size()) << i;
        EXPECT_EQ(std::vector<std::uint8_t>(data, data + h->caplen), pkts[i]) << i;
        ++i;
    }
    pcap_close(rd);
    EXPECT_EQ(i, pkts.size());
    ::unlink(in.c_str());
    ::unlink(out.c_str());
}

// A port's RX pool runs dry (the pipeline holds every mbuf): RX returns nothing, the
// driver counts each failed allocation as rx_nombuf, nothing crashes; once the held
// mbufs are freed RX delivers again. A packet that found no mbuf is the driver's loss
// (net_pcap has read it from the file, as a NIC has taken it off the wire), so every
// packet of the file is either received, in order, or one of the rx_nombuf.
TEST(port, rx_pool_exhaustion_counts_rx_nombuf_and_recovers) {
    auto pkts = sample_packets();
    std::string in = tmp("nombuf.pcap");
    {
        pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
        pcap_dumper_t* d = pcap_dump_open(dead, in.c_str());
        ASSERT_NE(d, nullptr) << pcap_geterr(dead);
        for (auto& b : pkts) {
            pcap_pkthdr h{};
            h.caplen = h.len = static_cast<bpf_u_int32>(b.size());
            pcap_dump(reinterpret_cast<u_char*>(d), &h, b.data());
        }
        pcap_dump_close(d);
        pcap_close(dead);
    }
    port_config cfg;
    cfg.device = "net_pcap_nombuf,rx_pcap=" + in;
    cfg.mbufs = 511; // a pool of its own, small enough to drain here
    cfg.mbuf_cache = 0;
    auto pp = port::open(cfg);
    ASSERT_TRUE(pp) << pp.err().message;
    port& pt = **pp;
    ASSERT_TRUE(pt.start());
    ASSERT_TRUE(pt.reset_stats());

    // The first 8 packets arrive; then the pipeline holds every mbuf in the pool.
    rte_mbuf* b[32];
    std::vector<rte_mbuf*> got;
    for (int i = 0; i < 100 && got.size() < 8; ++i)
        got.insert(got.end(), b,
                   b + pt.rxq(0).rx_burst(b, static_cast<std::uint16_t>(8 - got.size())));
    ASSERT_EQ(got.size(), 8u);
    std::vector<rte_mbuf*> held;
    while (rte_mbuf* m = rte_pktmbuf_alloc(pt.mempool()))
        held.push_back(m);
    ASSERT_GT(held.size(), 0u);
    EXPECT_EQ(rte_mempool_avail_count(pt.mempool()), 0u);

    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(pt.rxq(0).rx_burst(b, 32), 0u) << "nothing to receive into";
    port_stats s = pt.stats();
    EXPECT_EQ(s.ipackets, 8u);
    EXPECT_GE(s.rx_nombuf, 10u) << "each failed allocation counted";
    const std::size_t lost = s.rx_nombuf;
    ASSERT_LT(8 + lost, pkts.size());

    // The pipeline lets go: RX goes on with the packet after the ones lost.
    rte_pktmbuf_free_bulk(held.data(), static_cast<unsigned>(held.size()));
    auto rest = rx_all(pt.rxq(0), pkts.size() - 8 - lost);
    got.insert(got.end(), rest.begin(), rest.end());
    ASSERT_EQ(got.size() + lost, pkts.size()) << "received + rx_nombuf = the file";
    for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(bytes_of(got[i]), pkts[i < 8 ? i : i + lost]) << i;
    rte_pktmbuf_free_bulk(got.data(), static_cast<unsigned>(got.size()));
    EXPECT_EQ(pt.rxq(0).rx_burst(b, 32), 0u) << "the file is done";
    s = pt.stats();
    EXPECT_EQ(s.ipackets, got.size());
    EXPECT_EQ(s.rx_nombuf, lost) << "an empty file is not an allocation failure";
    ::unlink(in.c_str());
}
