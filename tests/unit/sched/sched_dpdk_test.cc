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

TEST(sched_dpdk, reactors_sharing_one_lcore_run_in_turns) {
    // Reactors 1, 2 and 3 on worker lcore 1's thread: each runs its own tasks and gets
    // its messages; a message chain 0 → 1 → 2 → 3 → 0 crosses them; all stop together.
    if (rte_lcore_count() < 2 || rte_eal_get_lcore_state(1) != WAIT)
        GTEST_SKIP() << "no worker lcore 1";
    reactor_group g(4);
    struct relay final : task {
        unsigned next = 0;
        task_id next_task = invalid_task;
        std::atomic<unsigned> lcore{~0u};
        std::atomic<std::uint64_t> got{0};
        void on_message(reactor& r, const message& m) noexcept override {
            got.fetch_add(1);
            lcore.store(rte_lcore_id());
            message f = m;
            while (!r.send_to_task(next, next_task, f)) {
            }
        }
        poll_result poll(reactor&) noexcept override { return poll_result::wait(); }
    } relays[3];
    struct sink final : task {
        std::atomic<std::uint64_t> got{0};
        void on_message(reactor&, const message&) noexcept override { got.fetch_add(1); }
        poll_result poll(reactor&) noexcept override { return poll_result::wait(); }
    } end;
    spawn_options o;
    o.start_waiting = true;
    const task_id end_id = g[0].spawn(end, o);
    task_id ids[3];
    for (unsigned i = 0; i < 3; ++i)
        ids[i] = g[i + 1].spawn(relays[i], o);
    for (unsigned i = 0; i < 3; ++i) {
        relays[i].next = i < 2 ? i + 2 : 0;
        relays[i].next_task = i < 2 ? ids[i + 1] : end_id;
    }
    const std::vector<unsigned> shared[] = {{1, 2, 3}};
    const unsigned ls[] = {1};
    ASSERT_TRUE(dpdk::launch_shared(g, shared, ls).ok());
    std::uint64_t sent = 0;
    while (sent < 500) {
        message m;
        if (g[0].send_to_task(1, ids[0], m)) ++sent;
        g[0].run_once();
    }
    while (end.got.load() < 500)
        g[0].run_once();
    g.request_stop();
    while (g[0].run_once()) {
    }
    dpdk::wait(ls);
    for (unsigned i = 0; i < 3; ++i) {
        EXPECT_TRUE(g[i + 1].exited()) << i;
        EXPECT_EQ(relays[i].got.load(), 500u) << i;
        EXPECT_EQ(relays[i].lcore.load(), 1u) << i;
    }
    EXPECT_EQ(end.got.load(), 500u);
    // A reactor given to two lcores is refused.
    const std::vector<unsigned> twice[] = {{1, 2}, {2}};
    const unsigned two[] = {1, 1};
    auto s = dpdk::launch_shared(g, twice, two);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.err().message.find("two lcores"), std::string::npos) << s.err().message;
}
