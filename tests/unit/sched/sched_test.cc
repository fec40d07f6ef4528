// Deterministic single-thread tests of the sched layer: disciplines (capacity model,
// round-robin, tree fairness and sleepers), task life cycle, timers on a virtual clock,
// local protocol handling, io_uring DISK. Reactors are driven round by round.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sched/sched.hh"

using namespace pk::sched;

namespace {

/// Always has work: every poll does 1 unit.
struct busy_task final : task {
    poll_result poll(reactor&) noexcept override { return poll_result::ran(1); }
};

/// Finishes after `n` polls.
struct countdown_task final : task {
    explicit countdown_task(int n) : left(n) {}
    int left;
    poll_result poll(reactor&) noexcept override {
        return --left > 0 ? poll_result::ran(1) : poll_result::done(1);
    }
};

std::uint64_t bucket_polls(const reactor& r, unsigned b) {
    return r.counters().bucket_polls[b].load();
}

} // namespace

// The seed's capacity model: 48 tasks in buckets (9, 18, 10, 11), polls [10,6,3,1]
// → 239 polls per round, split 90/108/30/11.
TEST(sched_discipline, weighted_priority_capacity_model) {
    reactor_group g(1);
    reactor& r = g[0];
    const unsigned counts[4] = {9, 18, 10, 11};
    std::vector<std::unique_ptr<busy_task>> tasks;
    for (unsigned b = 0; b < 4; ++b)
        for (unsigned i = 0; i < counts[b]; ++i) {
            tasks.push_back(std::make_unique<busy_task>());
            spawn_options o;
            o.bucket = static_cast<std::uint8_t>(b);
            ASSERT_NE(r.spawn(*tasks.back(), o), invalid_task);
        }
    auto& wp = dynamic_cast<weighted_priority&>(r.disc());
    EXPECT_EQ(wp.capacity(), 239u);
    EXPECT_EQ(r.runnable(), 48u);

    ASSERT_TRUE(r.run_once());
    EXPECT_EQ(bucket_polls(r, 0), 90u);
    EXPECT_EQ(bucket_polls(r, 1), 108u);
    EXPECT_EQ(bucket_polls(r, 2), 30u);
    EXPECT_EQ(bucket_polls(r, 3), 11u);
    EXPECT_EQ(r.counters().source_polls[static_cast<unsigned>(source_kind::tasks)].load(), 239u);
    // Every task got exactly its bucket's polls.
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        const unsigned b = i < 9 ? 0 : i < 27 ? 1 : i < 37 ? 2 : 3;
        const unsigned want[4] = {10, 6, 3, 1};
        EXPECT_EQ(tasks[i]->polls(), want[b]) << "task " << i;
    }
    // Steady state: the same every round.
    for (int k = 0; k < 9; ++k)
        ASSERT_TRUE(r.run_once());
    EXPECT_EQ(bucket_polls(r, 0), 900u);
    EXPECT_EQ(bucket_polls(r, 1), 1080u);
    EXPECT_EQ(bucket_polls(r, 2), 300u);
    EXPECT_EQ(bucket_polls(r, 3), 110u);
}

TEST(sched_discipline, weighted_priority_budget_and_custom_polls) {
    reactor_config cfg;
    cfg.discipline.polls = {5, 2};
    cfg.discipline.bucket_count = 2;
    cfg.task_budget = 7;
    reactor_group g(1, cfg);
    reactor& r = g[0];
    busy_task a, b, c;
    r.spawn(a, {.bucket = 0});
    r.spawn(b, {.bucket = 1});
    spawn_options o;
    o.bucket = 7; // clamped to the last bucket
    r.spawn(c, o);
    EXPECT_EQ(c.bucket(), 1u);
    r.run_once();
    // Budget 7: a gets 5, b gets 2, c nothing this round.
    EXPECT_EQ(a.polls(), 5u);
    EXPECT_EQ(b.polls(), 2u);
    EXPECT_EQ(c.polls(), 0u);
}

TEST(sched_discipline, stop_on_idle_ends_a_tasks_turn) {
    reactor_config cfg;
    cfg.stop_on_idle = true;
    reactor_group g(1, cfg);
    struct idle_task final : task {
        poll_result poll(reactor&) noexcept override { return poll_result::ran(0); }
    } idle;
    busy_task busy;
    g[0].spawn(idle);
    g[0].spawn(busy);
    g[0].run_once();
    EXPECT_EQ(idle.polls(), 1u);
    EXPECT_EQ(busy.polls(), 10u);
}

TEST(sched_discipline, round_robin_ignores_buckets) {
    reactor_config cfg;
    cfg.discipline.kind = discipline_kind::round_robin;
    cfg.discipline.quantum = 2;
    reactor_group g(1, cfg);
    std::array<busy_task, 4> t;
    for (unsigned i = 0; i < t.size(); ++i)
        g[0].spawn(t[i], {.bucket = static_cast<std::uint8_t>(i)});
    for (int k = 0; k < 5; ++k)
        g[0].run_once();
    for (auto& x : t)
        EXPECT_EQ(x.polls(), 10u);
    EXPECT_STREQ(g[0].disc().name(), "round_robin");
}

// Saturated tasks with shares 4:2:1 under the tree discipline: CPU time (polls, the
// deterministic measure of CPU time) within 2% of 4/7, 2/7, 1/7.
TEST(sched_discipline, tree_fairness_shares_4_2_1) {
    reactor_config cfg;
    cfg.discipline.kind = discipline_kind::tree;
    reactor_group g(1, cfg);
    reactor& r = g[0];
    busy_task a, b, c;
    spawn_options o;
    o.shares = 4;
    r.spawn(a, o);
    o.shares = 2;
    r.spawn(b, o);
    o.shares = 1;
    r.spawn(c, o);
    for (int k = 0; k < 7000; ++k)
        r.run_once();
    const double total = static_cast<double>(a.polls() + b.polls() + c.polls());
    EXPECT_EQ(total, 21000.0); // 3 selections per round, quantum 1
    const double want[3] = {4.0 / 7, 2.0 / 7, 1.0 / 7};
    const double got[3] = {a.polls() / total, b.polls() / total, c.polls() / total};
    for (int i = 0; i < 3; ++i)
        EXPECT_NEAR(got[i], want[i], 0.02 * want[i]) << "task " << i;
}

TEST(sched_discipline, tree_fairness_charging_work) {
    // Charging reported work: a task doing 3 units per poll with equal shares gets a third
    // of the polls of one doing 1 unit — equal work, not equal polls.
    reactor_config cfg;
    cfg.discipline.kind = discipline_kind::tree;
    cfg.discipline.charge_work = true;
    reactor_group g(1, cfg);
    struct heavy final : task {
        poll_result poll(reactor&) noexcept override { return poll_result::ran(3); }
    } h;
    busy_task l;
    g[0].spawn(h);
    g[0].spawn(l);
    for (int k = 0; k < 3000; ++k)
        g[0].run_once();
    EXPECT_NEAR(static_cast<double>(h.work()) / static_cast<double>(l.work()), 1.0, 0.02);
}

// A task that slept does not monopolise the reactor on wake: its vruntime restarts at
// min_vruntime, so it gets its fair share (1/3 here), not a burst of banked credit.
TEST(sched_discipline, tree_sleeper_does_not_monopolise) {
    reactor_config cfg;
    cfg.discipline.kind = discipline_kind::tree;
    reactor_group g(1, cfg);
    reactor& r = g[0];
    struct sleeper final : task {
        bool sleep_now = false;
        poll_result poll(reactor&) noexcept override {
            if (sleep_now) {
                sleep_now = false;
                return poll_result::wait(1);
            }
            return poll_result::ran(1);
        }
    } s;
    busy_task a, b;
    r.spawn(a);
    r.spawn(b);
    r.spawn(s);
    for (int k = 0; k < 10; ++k)
        r.run_once();
    s.sleep_now = true;
    while (s.state() != task_state::waiting)
        r.run_once();
    for (int k = 0; k < 5000; ++k) // a and b run alone: 10000 polls of vruntime
        r.run_once();
    auto& tree = dynamic_cast<tree_discipline&>(r.disc());
    const std::uint64_t before = s.polls();
    r.wake(s);
    EXPECT_GE(s.vruntime(), tree.min_vruntime());
    const std::uint64_t a0 = a.polls(), b0 = b.polls();
    for (int k = 0; k < 30; ++k)
        r.run_once(); // 90 selections
    const std::uint64_t ds = s.polls() - before, da = a.polls() - a0, db = b.polls() - b0;
    EXPECT_EQ(ds + da + db, 90u);
    EXPECT_NEAR(static_cast<double>(ds), 30.0, 2.0);
    EXPECT_NEAR(static_cast<double>(da), 30.0, 2.0);
}

TEST(sched_task, spawn_poll_finish_and_local_join) {
    reactor_group g(1);
    reactor& r = g[0];
    countdown_task child(5);
    struct parent_task final : task {
        task* child = nullptr;
        int phase = 0;
        int woken = 0;
        poll_result poll(reactor& r) noexcept override {
            if (phase == 0) {
                phase = 1;
                r.spawn(*child, {.bucket = 2});
                if (r.join(*child, *this)) return poll_result::done();
                return poll_result::wait();
            }
            ++woken;
            return poll_result::done();
        }
    } parent;
    parent.child = &child;
    const task_id id = r.spawn(parent);
    EXPECT_EQ(r.find(id), &parent);
    for (int k = 0; k < 10 && !parent.finished(); ++k)
        r.run_once();
    EXPECT_EQ(child.state(), task_state::finished);
    EXPECT_EQ(child.polls(), 5u);
    EXPECT_EQ(parent.state(), task_state::finished);
    EXPECT_EQ(parent.woken, 1);
    EXPECT_EQ(r.find(id), nullptr); // ids die with their task
    EXPECT_EQ(r.live_tasks(), 0u);
    EXPECT_EQ(r.counters().tasks_spawned.load(), 2u);
    EXPECT_EQ(r.counters().tasks_finished.load(), 2u);
    // A finished task can be spawned again.
    countdown_task again(1);
    EXPECT_NE(r.spawn(again), invalid_task);
    r.run_once();
    EXPECT_TRUE(again.finished());
}

TEST(sched_task, spawn_fn_owned_and_wake_while_running) {
    reactor_group g(1);
    reactor& r = g[0];
    int runs = 0;
    r.spawn_fn([&runs](reactor&) noexcept {
        return ++runs < 3 ? poll_result::ran(1) : poll_result::done(1);
    });
    struct self_waker final : task {
        int polls_seen = 0;
        poll_result poll(reactor& r) noexcept override {
            ++polls_seen;
            if (polls_seen == 1) {
                r.wake(*this); // woken while running: stays runnable
                return poll_result::wait();
            }
            return poll_result::done();
        }
    } w;
    r.spawn(w);
    for (int k = 0; k < 5; ++k)
        r.run_once();
    EXPECT_EQ(runs, 3);
    EXPECT_EQ(w.polls_seen, 2);
    EXPECT_TRUE(w.finished());
}

TEST(sched_task, start_waiting_and_send_to_self_wakes) {
    reactor_group g(1);
    reactor& r = g[0];
    struct mailbox final : task {
        std::vector<std::uint64_t> got;
        int polled = 0;
        void on_message(reactor&, const message& m) noexcept override { got.push_back(m.a[1]); }
        poll_result poll(reactor&) noexcept override {
            ++polled;
            return poll_result::wait();
        }
    } mb;
    spawn_options o;
    o.start_waiting = true;
    const task_id id = r.spawn(mb, o);
    r.run_once();
    EXPECT_EQ(mb.polled, 0);
    message m;
    m.a[1] = 42;
    ASSERT_TRUE(r.send_to_task(0, id, m));
    r.run_once();
    ASSERT_EQ(mb.got.size(), 1u);
    EXPECT_EQ(mb.got[0], 42u);
    EXPECT_EQ(mb.polled, 1);
    // Unknown ids are counted, not delivered.
    ASSERT_TRUE(r.send_to_task(0, id + 1, m));
    r.run_once();
    EXPECT_EQ(r.counters().msgs_unhandled.load(), 1u);
}

namespace {
std::uint64_t g_virtual_now = 0;
std::uint64_t virtual_clock(void*) noexcept {
    return g_virtual_now;
}
} // namespace

// Timer expirations run as tasks: each sleeper is polled in the first round whose time
// is >= its deadline (never earlier), so lateness is bounded by one round.
TEST(sched_timers, expirations_run_as_tasks_within_one_round) {
    g_virtual_now = 1000;
    reactor_config cfg;
    cfg.clock = &virtual_clock;
    cfg.timer_tick = 1;
    reactor_group g(1, cfg);
    reactor& r = g[0];
    struct sleeper final : task {
        std::uint64_t deadline = 0;
        std::uint64_t woke_at = 0;
        std::uint64_t woke_round = 0;
        int phase = 0;
        poll_result poll(reactor& r) noexcept override {
            if (phase == 0) {
                phase = 1;
                r.sleep_until(*this, deadline);
                return poll_result::wait();
            }
            woke_at = r.now();
            woke_round = r.round();
            return poll_result::done();
        }
    };
    constexpr std::uint64_t step = 7; // virtual time per round
    std::vector<std::unique_ptr<sleeper>> ts;
    std::srand(12345);
    for (int i = 0; i < 200; ++i) {
        ts.push_back(std::make_unique<sleeper>());
        ts.back()->deadline = 1000 + 1 + static_cast<std::uint64_t>(std::rand() % 5000);
        r.spawn(*ts.back());
    }
    r.run_once(); // every sleeper arms its timer
    for (int k = 0; k < 1000; ++k) {
        g_virtual_now += step;
        r.run_once();
    }
    std::uint64_t max_late = 0;
    for (auto& t : ts) {
        ASSERT_TRUE(t->finished()) << "deadline " << t->deadline;
        EXPECT_GE(t->woke_at, t->deadline);        // never early
        EXPECT_LT(t->woke_at - t->deadline, step); // within one round
        max_late = std::max(max_late, t->woke_at - t->deadline);
    }
    EXPECT_EQ(r.counters().timers_fired.load(), 200u);
    EXPECT_EQ(r.counters().timer_lateness_max.load(), max_late);
}

TEST(sched_timers, cancelled_on_finish_and_timer_message) {
    g_virtual_now = 0;
    reactor_config cfg;
    cfg.clock = &virtual_clock;
    reactor_group g(1, cfg);
    reactor& r = g[0];
    struct waiter final : task {
        int polls_seen = 0;
        poll_result poll(reactor&) noexcept override {
            ++polls_seen;
            return polls_seen >= 2 ? poll_result::done() : poll_result::wait();
        }
    } w;
    spawn_options o;
    o.start_waiting = true;
    const task_id id = r.spawn(w, o);
    message m;
    m.kind = msg_kind::timer;
    m.a[0] = id;
    m.a[1] = 50;
    ASSERT_TRUE(r.post(0, m));
    r.run_once(); // message arms the timer
    EXPECT_EQ(w.polls_seen, 0);
    g_virtual_now = 49;
    r.run_once();
    EXPECT_EQ(w.polls_seen, 0);
    g_virtual_now = 50;
    r.run_once();
    EXPECT_EQ(w.polls_seen, 1);
    // Re-arm, then finish by another path: the pending timer is cancelled.
    r.sleep_until(w, 100);
    r.wake(w);
    r.run_once();
    EXPECT_TRUE(w.finished());
    g_virtual_now = 200;
    r.run_once();
    EXPECT_EQ(r.counters().timers_fired.load(), 1u);
}

// Interval timers: a periodic task wakes on the grid first + k * period (drift-free,
// whatever the round it is observed in), a reactor late by whole periods wakes it once
// and reports the skipped periods, and a finished task's interval is cancelled.
TEST(sched_timers, every_is_drift_free_and_counts_missed_periods) {
    g_virtual_now = 0;
    reactor_config cfg;
    cfg.clock = &virtual_clock;
    cfg.timer_tick = 1;
    reactor_group g(1, cfg);
    reactor& r = g[0];
    struct ticker final : task {
        std::vector<std::uint64_t> at;
        std::uint32_t missed = 0;
        bool armed = false;
        int stop_after = 1000;
        poll_result poll(reactor& r) noexcept override {
            if (!armed) {
                armed = r.every(*this, 100, 100);
                return poll_result::wait();
            }
            at.push_back(r.now());
            missed += take_missed();
            return static_cast<int>(at.size()) >= stop_after ? poll_result::done()
                                                             : poll_result::wait();
        }
    } t;
    r.spawn(t);
    r.run_once();
    ASSERT_TRUE(t.armed);
    // Rounds every 37 units: each wake comes in the first round at or after its grid
    // point, and the next grid point does not move with the lateness.
    for (int k = 0; k < 100; ++k) {
        g_virtual_now += 37;
        r.run_once();
    }
    ASSERT_GE(t.at.size(), 30u);
    for (std::size_t i = 0; i < t.at.size(); ++i) {
        const std::uint64_t due = 100 * (i + 1);
        EXPECT_GE(t.at[i], due) << i;
        EXPECT_LT(t.at[i] - due, 37u) << i;
    }
    EXPECT_EQ(t.missed, 0u);
    // Five whole periods late: one wake, four missed, back on the grid afterwards.
    const std::size_t before = t.at.size();
    const std::uint64_t next_due = 100 * (before + 1);
    g_virtual_now = next_due + 450;
    r.run_once();
    ASSERT_EQ(t.at.size(), before + 1);
    EXPECT_EQ(t.missed, 4u);
    g_virtual_now = next_due + 500;
    r.run_once();
    EXPECT_EQ(t.at.size(), before + 2);
    // Finishing cancels the interval: no further wakes, nothing fires for it.
    t.stop_after = 0;
    g_virtual_now += 100;
    r.run_once();
    EXPECT_TRUE(t.finished());
    const std::uint64_t fired = r.counters().timers_fired.load();
    g_virtual_now += 1000;
    r.run_once();
    EXPECT_EQ(r.counters().timers_fired.load(), fired);
}

TEST(sched_protocol, message_is_one_cache_line_and_generic_kinds_dispatch) {
    static_assert(sizeof(message) == 64);
    reactor_group g(1);
    reactor& r = g[0];
    static int adopted = 0;
    static void* adopted_ptr = nullptr;
    message m;
    m.kind = msg_kind::cursor;
    int cursor_object = 7;
    m.ptr = &cursor_object;
    m.a[0] = 0xC0; // type tag
    m.fn = [](reactor&, const message& mm) noexcept {
        ++adopted;
        adopted_ptr = mm.ptr;
    };
    ASSERT_TRUE(r.post(0, m));
    static int splits = 0;
    r.on_message(msg_kind::split,
                 [](reactor&, const message& mm) noexcept { splits += static_cast<int>(mm.a[0]); });
    message s;
    s.kind = msg_kind::split;
    s.a[0] = 3;
    ASSERT_TRUE(r.post(0, s));
    message unknown;
    unknown.kind = msg_kind::ring; // no fn, no handler
    ASSERT_TRUE(r.post(0, unknown));
    r.run_once();
    EXPECT_EQ(adopted, 1);
    EXPECT_EQ(adopted_ptr, &cursor_object);
    EXPECT_EQ(splits, 3);
    EXPECT_EQ(r.counters().msgs_unhandled.load(), 1u);
    EXPECT_EQ(r.counters().msgs_received.load(), 3u);
}

TEST(sched_reactor, sources_irq_and_counters) {
    reactor_group g(1);
    reactor& r = g[0];
    struct counting_net final : net_source {
        std::uint32_t backlog = 100;
        std::uint32_t poll_burst(reactor&, std::uint32_t max) noexcept override {
            const std::uint32_t n = backlog < max ? backlog : max;
            backlog -= n;
            return n;
        }
    } net;
    net.polls_per_round = 2;
    struct stream final : ext_source {
        std::uint32_t poll_burst(reactor&, std::uint32_t) noexcept override { return 0; }
    } ext;
    r.add_net(net);
    message reg;
    reg.kind = msg_kind::register_source;
    reg.ptr = static_cast<ext_source*>(&ext);
    reg.a[0] = static_cast<std::uint64_t>(source_kind::ext);
    ASSERT_TRUE(r.post(0, reg));
    static int irq_hits = 0;
    r.on_irq(
        9, [](reactor&, unsigned bit, void*) noexcept { irq_hits += static_cast<int>(bit); },
        nullptr);
    r.raise_irq(9);
    r.run_once(); // net: 32 + 32
    EXPECT_EQ(irq_hits, 9);
    const auto& c = r.counters();
    EXPECT_EQ(c.source_work[static_cast<unsigned>(source_kind::net)].load(), 64u);
    EXPECT_EQ(c.source_polls[static_cast<unsigned>(source_kind::net)].load(), 2u);
    // MQ runs before EXT: the source registered by message was polled in round 1 already.
    EXPECT_EQ(c.source_polls[static_cast<unsigned>(source_kind::ext)].load(), 1u);
    r.run_once(); // net: 32 + 4
    EXPECT_EQ(c.source_work[static_cast<unsigned>(source_kind::net)].load(), 100u);
    EXPECT_EQ(c.source_polls[static_cast<unsigned>(source_kind::ext)].load(), 2u);
    r.run_once(); // all empty: an idle round
    EXPECT_EQ(c.rounds.load(), 3u);
    EXPECT_EQ(c.busy_rounds.load(), 2u);
    EXPECT_GT(c.busy_cycles.load(), 0u);
    std::map<std::string, std::uint64_t> seen;
    c.visit([&](const char* name, const char* label, std::uint64_t v) {
        seen[std::string(name) + (label ? std::string("{") + label + "}" : "")] = v;
    });
    EXPECT_EQ(seen["rounds"], 3u);
    EXPECT_EQ(seen["source_work{net}"], 100u);
    EXPECT_EQ(seen.count("bucket_polls{3}"), 1u);
}

TEST(sched_reactor, stop_single_reactor_polls_runnable_and_refuses_spawn) {
    reactor_config cfg;
    cfg.discipline.kind = discipline_kind::tree;
    reactor_group g(1, cfg);
    reactor& r = g[0];
    std::array<busy_task, 5> t;
    for (auto& x : t)
        r.spawn(x);
    r.request_stop();
    EXPECT_FALSE(r.run_once()); // stop: sweep, FIN to nobody, exit
    for (auto& x : t)
        EXPECT_GE(x.last_round(), 1u);
    EXPECT_TRUE(r.exited());
    busy_task late;
    EXPECT_EQ(r.spawn(late), invalid_task);
    EXPECT_EQ(late.state(), task_state::cancelled);
}

// DISK: a real io_uring write then read of a temporary file, completions waking the task.
TEST(sched_disk, io_uring_write_then_read) {
    auto d = disk_source::create(8);
    if (!d) GTEST_SKIP() << d.err().message;
    char path[] = "/tmp/pk_sched_disk_XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    reactor_group g(1);
    reactor& r = g[0];
    r.attach_disk(**d);
    struct io_task final : task {
        int fd = -1;
        int phase = 0;
        char out[4096];
        char in[4096];
        disk_op op;
        poll_result poll(reactor& r) noexcept override {
            switch (phase) {
            case 0:
                for (unsigned i = 0; i < sizeof out; ++i)
                    out[i] = static_cast<char>('a' + i % 26);
                op = disk_op{};
                op.op = disk_op::kind::write;
                op.fd = fd;
                op.buf = out;
                op.len = sizeof out;
                op.waiter = this;
                if (!r.disk()->submit(op)) return poll_result::ran(0);
                phase = 1;
                return poll_result::wait(1);
            case 1:
                if (!op.done) return poll_result::wait();
                if (op.result != static_cast<int>(sizeof out)) return poll_result::done();
                std::memset(in, 0, sizeof in);
                op = disk_op{};
                op.op = disk_op::kind::read;
                op.fd = fd;
                op.buf = in;
                op.len = sizeof in;
                op.waiter = this;
                if (!r.disk()->submit(op)) return poll_result::ran(0);
                phase = 2;
                return poll_result::wait(1);
            default:
                if (!op.done) return poll_result::wait();
                phase = 3;
                return poll_result::done(1);
            }
        }
    } t;
    t.fd = fd;
    r.spawn(t);
    for (int k = 0; k < 1000000 && !t.finished(); ++k)
        r.run_once();
    ASSERT_TRUE(t.finished());
    EXPECT_EQ(t.phase, 3);
    EXPECT_EQ(t.op.result, 4096);
    EXPECT_EQ(std::memcmp(t.in, t.out, sizeof t.in), 0);
    EXPECT_EQ(r.counters().disk_submitted.load(), 2u);
    EXPECT_EQ(r.counters().disk_completed.load(), 2u);
    EXPECT_GE(r.counters().source_work[static_cast<unsigned>(source_kind::disk)].load(), 2u);
    ::close(fd);
}

// A source placed in a priority bucket gets the share the discipline gives that bucket:
// under weighted priority [10,6,3,1], polls[bucket] bursts per round while saturated.
TEST(sched_reactor, discipline_decides_a_bucketed_source_share) {
    struct saturated final : net_source {
        std::uint32_t poll_burst(reactor&, std::uint32_t max) noexcept override { return max; }
    };
    for (auto [bucket, polls] : {std::pair{0, 10u}, {1, 6u}, {2, 3u}, {3, 1u}}) {
        reactor_group g(1);
        saturated s;
        s.bucket = bucket;
        g[0].add_net(s);
        g[0].run_once();
        EXPECT_EQ(g[0].counters().source_polls[static_cast<unsigned>(source_kind::net)].load(),
                  polls)
            << "bucket " << bucket;
    }
    // Round-robin: every source gets the quantum.
    reactor_config rr;
    rr.discipline.kind = discipline_kind::round_robin;
    rr.discipline.quantum = 2;
    reactor_group g(1, rr);
    saturated s;
    s.bucket = 0;
    g[0].add_net(s);
    g[0].run_once();
    EXPECT_EQ(g[0].counters().source_polls[static_cast<unsigned>(source_kind::net)].load(), 2u);
}
