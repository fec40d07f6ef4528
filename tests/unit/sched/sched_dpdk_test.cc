// The DPDK launch adapter: a reactor runs on worker lcore 1 (EAL from eal_gtest_dep,
// lcores 0@0,1@1), exchanges messages with a reactor driven by the main lcore, and stops
// gracefully; rte_eal_wait_lcore returns.
#include <atomic>

#include <gtest/gtest.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "sched/dpdk_launch.hh"
#include "sched/sched.hh"

using namespace pk::sched;

TEST(sched_dpdk, reactor_on_worker_lcore) {
    if (rte_lcore_count() < 2 || rte_eal_get_lcore_state(1) != WAIT)
        GTEST_SKIP() << "no worker lcore 1";
    reactor_group g(2);
    struct counter_task final : task {
        std::atomic<unsigned> lcore{~0u};
        std::atomic<std::uint64_t> got{0};
        void on_message(reactor&, const message&) noexcept override { got.fetch_add(1); }
        poll_result poll(reactor&) noexcept override {
            lcore.store(rte_lcore_id());
            return poll_result::wait();
        }
    } t;
    const task_id id = g[1].spawn(t);
    const unsigned rs[] = {1};
    const unsigned ls[] = {1};
    ASSERT_TRUE(dpdk::launch(g, rs, ls).ok());
    // The main lcore drives reactor 0 itself.
    std::uint64_t sent = 0;
    while (sent < 1000) {
        message m;
        if (g[0].send_to_task(1, id, m)) ++sent;
        g[0].run_once();
    }
    while (t.got.load() < 1000)
        g[0].run_once();
    g.request_stop();
    while (g[0].run_once()) {
    }
    dpdk::wait(ls);
    EXPECT_TRUE(g[1].exited());
    EXPECT_EQ(t.lcore.load(), 1u);
    EXPECT_EQ(t.got.load(), 1000u);
    EXPECT_EQ(rte_eal_get_lcore_state(1), WAIT);
    // Bad lcores are refused with a message.
    const unsigned bad[] = {0};
    auto s = dpdk::launch(g, rs, bad);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.err().message.find("main lcore"), std::string::npos);
}
