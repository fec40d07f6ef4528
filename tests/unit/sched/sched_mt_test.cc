// Multi-reactor tests on real threads (suites unit, stress, tsan): exactly-once in-order
// messaging over the mesh, spawn and join across reactors, a barrier across 4 reactors
// on 2 cores, graceful stop, adaptive sleep woken by a producer. No timing: the main
// thread waits on progress counters (with a generous hang guard) and checks counts.
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sched/sched.hh"

using namespace pk::sched;

namespace {

/// Waits until pred() holds; fails the test after a hang guard (not a timing check).
template <typename P>
bool wait_for(P pred) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::yield();
    }
    return true;
}

reactor_config mt_config() {
    reactor_config c;
    c.idle = idle_policy::pause; // several reactor threads share 2 cores
    return c;
}

struct receiver final : task {
    explicit receiver(unsigned n) : next(n, 0) {}
    std::vector<std::uint64_t> next; ///< per sender: next expected sequence
    std::uint64_t errors = 0;
    std::atomic<std::uint64_t> got{0};
    bool woken_unpolled = false;
    void on_message(reactor&, const message& m) noexcept override {
        const auto from = static_cast<unsigned>(m.a[1]);
        if (from >= next.size() || m.a[2] != next[from])
            ++errors;
        else
            ++next[from];
        woken_unpolled = true;
        got.fetch_add(1, std::memory_order_relaxed);
    }
    poll_result poll(reactor&) noexcept override {
        woken_unpolled = false;
        return poll_result::wait(1);
    }
};

struct sender final : task {
    unsigned me = 0;
    std::vector<std::pair<unsigned, task_id>> targets;
    std::uint64_t per_target = 0; ///< 0: unlimited (until stop)
    std::vector<std::uint64_t> sent;
    std::atomic<std::uint64_t> accepted{0};
    bool polled_after_stop = false;
    poll_result poll(reactor& r) noexcept override {
        if (r.stopping()) polled_after_stop = true;
        if (sent.size() != targets.size()) sent.assign(targets.size(), 0);
        std::uint32_t work = 0;
        bool all_done = per_target != 0;
        for (std::size_t i = 0; i < targets.size(); ++i) {
            for (int burst = 0; burst < 8; ++burst) {
                if (per_target && sent[i] >= per_target) break;
                message m;
                m.a[1] = me;
                m.a[2] = sent[i];
                if (!r.send_to_task(targets[i].first, targets[i].second, m)) break;
                ++sent[i];
                ++work;
                accepted.fetch_add(1, std::memory_order_relaxed);
            }
            if (per_target && sent[i] < per_target) all_done = false;
        }
        return all_done ? poll_result::done(work) : poll_result::ran(work);
    }
};

} // namespace

// A message sent to another reactor is handled exactly once, in order per sender.
TEST(sched_mesh, exactly_once_in_order_per_sender) {
    constexpr unsigned n = 3;
    constexpr std::uint64_t k = 20000;
    reactor_group g(n, mt_config(), 256);
    std::vector<std::unique_ptr<receiver>> rx;
    std::vector<std::unique_ptr<sender>> tx;
    std::vector<task_id> rx_id(n);
    for (unsigned i = 0; i < n; ++i) {
        rx.push_back(std::make_unique<receiver>(n));
        spawn_options o;
        o.start_waiting = true;
        rx_id[i] = g[i].spawn(*rx.back(), o);
    }
    for (unsigned i = 0; i < n; ++i) {
        tx.push_back(std::make_unique<sender>());
        tx.back()->me = i;
        tx.back()->per_target = k;
        for (unsigned j = 0; j < n; ++j)
            if (j != i) tx.back()->targets.push_back({j, rx_id[j]});
        g[i].spawn(*tx.back());
    }
    const int cpus[] = {0, 1, 0};
    ASSERT_TRUE(g.start_threads(cpus).ok());
    ASSERT_TRUE(wait_for([&] {
        for (auto& r : rx)
            if (r->got.load() < k * (n - 1)) return false;
        return true;
    }));
    g.stop();
    std::uint64_t sent = 0, received = 0;
    for (unsigned i = 0; i < n; ++i) {
        EXPECT_EQ(rx[i]->errors, 0u) << "reactor " << i;
        for (unsigned j = 0; j < n; ++j)
            EXPECT_EQ(rx[i]->next[j], j == i ? 0 : k) << "from " << j << " to " << i;
        EXPECT_EQ(rx[i]->got.load(), k * (n - 1));
        EXPECT_TRUE(tx[i]->finished());
        sent += g[i].counters().msgs_sent.load();
        received += g[i].counters().msgs_received.load();
    }
    EXPECT_EQ(sent, received);
    EXPECT_GE(received, n * (n - 1) * k);
}

// Spawn on another reactor with a joiner; join a task spawned elsewhere.
TEST(sched_mesh, spawn_and_join_across_reactors) {
    reactor_group g(2, mt_config());
    struct child final : task {
        std::atomic<int> polls_left{3};
        std::atomic<unsigned> ran_on{99};
        poll_result poll(reactor& r) noexcept override {
            ran_on.store(r.index());
            return polls_left.fetch_sub(1) > 1 ? poll_result::ran(1) : poll_result::done(1);
        }
    };
    struct long_task final : task {
        int left = 500;
        poll_result poll(reactor&) noexcept override {
            return --left > 0 ? poll_result::ran(1) : poll_result::done(1);
        }
    } far;
    g[1].spawn(far);
    struct parent final : task {
        std::vector<std::unique_ptr<child>> kids;
        std::size_t next = 0;
        int phase = 0;
        task* far = nullptr;
        std::uint64_t errors = 0;
        std::atomic<bool> all_done{false};
        poll_result poll(reactor& r) noexcept override {
            if (phase == 0) { // join a task we did not spawn, on reactor 1
                phase = 1;
                if (!r.join(*far, *this)) return poll_result::wait();
            }
            if (phase == 1) {
                if (!far->finished()) ++errors;
                phase = 2;
            }
            if (next > 0) { // woken by the previous child's join
                child& c = *kids[next - 1];
                if (!c.finished() || c.ran_on.load() != 1) ++errors;
            }
            if (next == kids.size()) {
                all_done.store(true);
                return poll_result::done();
            }
            spawn_options o;
            o.joiner = this;
            o.bucket = 1;
            if (!r.spawn_on(1, *kids[next], o)) ++errors;
            ++next;
            return poll_result::wait(1);
        }
    } p;
    p.far = &far;
    for (int i = 0; i < 200; ++i)
        p.kids.push_back(std::make_unique<child>());
    g[0].spawn(p);
    const int cpus[] = {0, 1};
    ASSERT_TRUE(g.start_threads(cpus).ok());
    ASSERT_TRUE(wait_for([&] { return p.all_done.load(); }));
    g.stop();
    EXPECT_EQ(p.errors, 0u);
    EXPECT_TRUE(p.finished());
    for (auto& c : p.kids) {
        EXPECT_EQ(c->state(), task_state::finished);
        EXPECT_EQ(c->owner(), 1u);
    }
    EXPECT_EQ(g[1].counters().tasks_finished.load(), 201u);
}

// Barrier across 4 reactors on 2 cores: two threads (CPU 0 and CPU 1) each drive two
// reactors, so a barrier that blocked its thread would deadlock. After barrier g
// completes on any reactor, every reactor has arrived at g.
TEST(sched_mesh, barrier_across_4_reactors_on_2_cores) {
    constexpr unsigned n = 4;
    constexpr std::uint64_t gens = 300;
    reactor_group g(n, mt_config());
    static std::atomic<std::uint64_t> arrived[n];
    for (auto& a : arrived)
        a.store(0);
    struct member final : task {
        unsigned me = 0;
        std::uint64_t gen = 0;
        bool waiting = false;
        std::uint64_t errors = 0;
        std::atomic<bool> done{false};
        poll_result poll(reactor& r) noexcept override {
            if (waiting) { // barrier `gen` completed
                waiting = false;
                for (auto& a : arrived)
                    if (a.load(std::memory_order_relaxed) < gen) ++errors;
            }
            if (gen == gens) {
                done.store(true);
                return poll_result::done();
            }
            ++gen;
            arrived[me].store(gen, std::memory_order_relaxed);
            if (r.arrive(*this)) {
                waiting = true;
                return poll_result::ran(1);
            }
            waiting = true;
            return poll_result::wait(1);
        }
    };
    std::vector<std::unique_ptr<member>> m;
    for (unsigned i = 0; i < n; ++i) {
        m.push_back(std::make_unique<member>());
        m.back()->me = i;
        g[i].spawn(*m.back());
    }
    const thread_plan plan[] = {{0, {0, 1}}, {1, {2, 3}}};
    ASSERT_TRUE(g.start_threads(plan).ok());
    ASSERT_TRUE(wait_for([&] {
        for (auto& x : m)
            if (!x->done.load()) return false;
        return true;
    }));
    g.stop();
    for (unsigned i = 0; i < n; ++i) {
        EXPECT_EQ(m[i]->errors, 0u) << "reactor " << i;
        EXPECT_EQ(g[i].barrier_generation(), gens);
    }
}

// Graceful stop under load: no task that was runnable is left unpolled, and every
// message a send accepted is delivered.
TEST(sched_stop, graceful_stop_leaves_nothing_behind) {
    constexpr unsigned n = 3;
    reactor_config cfg = mt_config();
    cfg.discipline.kind = discipline_kind::tree;
    reactor_group g(n, cfg, 64);
    std::vector<std::unique_ptr<receiver>> rx;
    std::vector<std::unique_ptr<sender>> tx;
    std::vector<task_id> rx_id(n);
    for (unsigned i = 0; i < n; ++i) {
        rx.push_back(std::make_unique<receiver>(3 * n));
        spawn_options o;
        o.start_waiting = true;
        rx_id[i] = g[i].spawn(*rx.back(), o);
    }
    for (unsigned i = 0; i < n; ++i)
        for (unsigned s = 0; s < 3; ++s) { // 3 unlimited senders per reactor
            tx.push_back(std::make_unique<sender>());
            tx.back()->me = 3 * i + s;
            for (unsigned j = 0; j < n; ++j)
                if (j != i) tx.back()->targets.push_back({j, rx_id[j]});
            g[i].spawn(*tx.back());
        }
    const int cpus[] = {0, 1, 1};
    ASSERT_TRUE(g.start_threads(cpus).ok());
    ASSERT_TRUE(wait_for([&] {
        std::uint64_t got = 0;
        for (auto& r : rx)
            got += r->got.load();
        return got > 30000;
    }));
    g.stop();
    ASSERT_TRUE(g.all_exited());
    std::uint64_t accepted = 0, got = 0, sent = 0, received = 0;
    for (auto& t : tx) {
        accepted += t->accepted.load();
        EXPECT_TRUE(t->polled_after_stop); // runnable at stop → polled once more
        EXPECT_EQ(t->state(), task_state::runnable);
    }
    for (unsigned i = 0; i < n; ++i) {
        got += rx[i]->got.load();
        EXPECT_EQ(rx[i]->errors, 0u);
        EXPECT_FALSE(rx[i]->woken_unpolled) << "receiver " << i << " woken but never polled";
        sent += g[i].counters().msgs_sent.load();
        received += g[i].counters().msgs_received.load();
        EXPECT_GT(g[i].counters().msgs_refused.load(), 0u); // senders were refused after FIN
    }
    EXPECT_EQ(accepted, got);
    EXPECT_EQ(sent, received);
    // Stopped reactors accept no new tasks.
    receiver late(n);
    EXPECT_EQ(g[0].spawn(late), invalid_task);
    EXPECT_EQ(late.state(), task_state::cancelled);
}

// Adaptive idle: a reactor sleeps on its eventfd after N empty rounds and a producer on
// another reactor wakes it with the message it sends.
TEST(sched_idle, adaptive_sleep_woken_by_producer) {
    reactor_config cfg;
    cfg.idle = idle_policy::adaptive;
    cfg.sleep_after = 16;
    cfg.sleep_max_us = 10'000'000; // only a wake-up ends the sleep early
    reactor_group g(2, cfg);
    receiver rx(2);
    spawn_options o;
    o.start_waiting = true;
    const task_id id = g[1].spawn(rx, o);
    static task_id target;
    target = id;
    g[0].on_irq(
        reactor::irq_first_user,
        [](reactor& r, unsigned, void*) noexcept {
            message m;
            m.a[1] = 0;
            m.a[2] = 0;
            (void)r.send_to_task(1, target, m);
        },
        nullptr);
    const int cpus[] = {0, 1};
    ASSERT_TRUE(g.start_threads(cpus).ok());
    ASSERT_TRUE(wait_for(
        [&] { return g[1].counters().sleeps.load() >= 1 && g[0].counters().sleeps.load() >= 1; }));
    g[0].raise_irq(reactor::irq_first_user); // wakes reactor 0, which sends to reactor 1
    ASSERT_TRUE(wait_for([&] { return rx.got.load() == 1; }));
    EXPECT_GE(g[0].counters().wakeups_sent.load(), 1u);
    g.stop();
    EXPECT_EQ(rx.errors, 0u);
    EXPECT_GT(g[1].counters().idle_cycles.load(), 0u);
}

// A wake check that reports work keeps an adaptive reactor awake (it would otherwise
// sleep, with a 10 s timeout, on an input whose producer wakes only a sleeper); once the
// check reports nothing, the reactor sleeps again.
TEST(sched_idle, a_wake_check_with_work_keeps_an_adaptive_reactor_awake) {
    reactor_config cfg;
    cfg.idle = idle_policy::adaptive;
    cfg.sleep_after = 16;
    cfg.sleep_max_us = 10'000'000;
    reactor_group g(1, cfg);
    static std::atomic<bool> work{true};
    static std::atomic<unsigned> checks{0};
    work = true;
    g[0].add_wake_check(
        [](const void*) noexcept {
            checks.fetch_add(1);
            return work.load();
        },
        nullptr);
    const int cpus[] = {0};
    ASSERT_TRUE(g.start_threads(cpus).ok());
    ASSERT_TRUE(wait_for([&] { return checks.load() >= 100; }));
    EXPECT_EQ(g[0].counters().sleeps.load(), 0u) << "it checked before each sleep and stayed";
    work = false;
    ASSERT_TRUE(wait_for([&] { return g[0].counters().sleeps.load() >= 1; }));
    g.stop();
}
