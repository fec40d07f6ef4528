// The net adapters on a real reactor: an RX queue (net_ring0) as a NET source, TX
// buffers drained on deadline by an EXT source, and a poll / console as EXT sources.
#include <thread>

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "net/packet.hh"
#include "net/reactor_sources.hh"
#include "pkt_builder.hh"
#include "sched/group.hh"

using namespace pk::net;
using namespace std::chrono_literals;

namespace {
struct sink {
    std::vector<std::uint16_t> ports;
    static void on_burst(void* ctx, rte_mbuf** p, std::uint16_t n) noexcept {
        auto* s = static_cast<sink*>(ctx);
        for (std::uint16_t i = 0; i < n; ++i) {
            auto r = parse(rte_pktmbuf_mtod(p[i], const std::uint8_t*), p[i]->data_len);
            s->ports.push_back(r.src_port);
        }
        rte_pktmbuf_free_bulk(p, n);
    }
};
} // namespace

TEST(reactor_sources, rx_queue_as_net_source_and_tx_drain) {
    auto p = port::open(port_config{.device = "net_ring0"});
    ASSERT_TRUE(p) << p.err().message;
    ASSERT_TRUE((*p)->start());
    pk::sched::reactor_group g(1);
    auto& r = g[0];
    sink s;
    rx_source rx((*p)->rxq(0), &sink::on_burst, &s, 32);
    EXPECT_EQ(rx.port(), (*p)->id());
    r.add_net(rx);
    tx_buffer tx((*p)->id(), 0, 32, pk::tsc::from_us(50));
    tx_drain_source drain;
    drain.add(tx);
    r.add_ext(drain);

    for (int i = 0; i < 10; ++i) {
        pk::test::pkt_spec sp;
        sp.sport = static_cast<std::uint16_t>(i);
        auto b = pk::test::build(sp).bytes;
        rte_mbuf* m = rte_pktmbuf_alloc((*p)->mempool());
        std::memcpy(rte_pktmbuf_append(m, std::uint16_t(b.size())), b.data(), b.size());
        tx.send(m);
    }
    EXPECT_EQ(tx.buffered(), 10) << "below the buffer size: waits for the deadline";
    for (int i = 0; i < 2000 && s.ports.size() < 10; ++i) {
        r.run_once();
        std::this_thread::sleep_for(100us);
    }
    EXPECT_EQ(tx.counters().deadline_flushes, 1u);
    ASSERT_EQ(s.ports.size(), 10u);
    for (std::uint16_t i = 0; i < 10; ++i)
        EXPECT_EQ(s.ports[i], i);
    EXPECT_EQ(rx.received(), 10u);
}

TEST(reactor_sources, poll_and_console_as_ext_sources) {
    pk::sched::reactor_group g(1);
    auto& r = g[0];
    auto pl = poll::create();
    ASSERT_TRUE(pl);
    int efd = ::eventfd(0, EFD_NONBLOCK);
    ASSERT_TRUE(pl->get_registry().register_fd(efd, token{3}, interest::readable));
    int hits = 0;
    poll_source ps(*pl, [&](const event& e) { hits += e.get_token().value == 3; });
    poll_ext_source ext(ps);
    r.add_ext(ext);
    auto c = console::create();
    ASSERT_TRUE(c);
    std::string path = "/tmp/pk-rs-" + std::to_string(::getpid()) + ".sock";
    ASSERT_TRUE((*c)->listen(path));
    console_source cs(**c);
    r.add_ext(cs);

    std::uint64_t one = 1;
    ASSERT_EQ(::write(efd, &one, 8), 8);
    for (int i = 0; i < 1000 && hits == 0; ++i)
        r.run_once();
    EXPECT_EQ(hits, 1);

    std::atomic<bool> done{false};
    std::string reply;
    std::thread client([&] {
        auto x = console_client(path, "show timers");
        if (x) reply = *x;
        done = true;
    });
    for (int i = 0; i < 200000 && !done; ++i)
        r.run_once();
    client.join();
    EXPECT_EQ(reply, "(no timers)\n");
    ::close(efd);
}
