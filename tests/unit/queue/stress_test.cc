// Multi-thread stress for every queue kind: items carry (producer, sequence); the
// consumers check nothing is lost, duplicated or reordered per producer. Also built
// and run under ThreadSanitizer (suite 'tsan'). Sizes are small enough for TSan.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "queue/queue.hh"

namespace pq = pk::queue;

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr std::uint64_t scale = 1;
#else
constexpr std::uint64_t scale = 4;
#endif

constexpr std::uint64_t make_item(std::uint64_t producer, std::uint64_t seq) {
    return producer << 48 | seq;
}
constexpr std::uint64_t producer_of(std::uint64_t v) {
    return v >> 48;
}
constexpr std::uint64_t seq_of(std::uint64_t v) {
    return v & ((std::uint64_t(1) << 48) - 1);
}

/// Per-producer order checker: every producer's sequence must arrive 0,1,2,... exactly.
struct order_check {
    explicit order_check(std::size_t producers) : next(producers, 0) {}
    std::vector<std::uint64_t> next;
    std::uint64_t errors = 0;
    void see(std::uint64_t v) {
        const auto p = producer_of(v);
        if (p >= next.size() || seq_of(v) != next[p])
            ++errors;
        else
            ++next[p];
    }
};

template <typename Push>
void produce(std::uint64_t id, std::uint64_t n, Push push) {
    std::uint64_t buf[32];
    for (std::uint64_t seq = 0; seq < n;) {
        const std::size_t want = std::size_t(n - seq < 32 ? n - seq : 1 + seq % 32);
        for (std::size_t i = 0; i < want; ++i)
            buf[i] = make_item(id, seq + i);
        std::size_t done = 0;
        while (done < want) {
            const std::size_t k = push(buf + done, want - done);
            if (k == 0) std::this_thread::yield();
            done += k;
        }
        seq += want;
    }
}

TEST(stress, link_spsc) {
    const std::uint64_t n = 50000 * scale;
    pq::link<std::uint64_t> q(64, SIZE_MAX - 1000);
    std::thread p(
        [&] { produce(0, n, [&](auto* b, std::size_t k) { return q.push_burst(b, k); }); });
    order_check oc(1);
    std::uint64_t buf[32], got = 0;
    while (got < n) {
        const std::size_t k = (got & 1) ? q.pop_burst(buf, 32) : q.try_pop(buf[0]);
        for (std::size_t i = 0; i < k; ++i)
            oc.see(buf[i]);
        got += k;
        if (k == 0) std::this_thread::yield();
    }
    p.join();
    EXPECT_EQ(oc.errors, 0u);
    EXPECT_EQ(oc.next[0], n);
    EXPECT_TRUE(q.empty());
}

TEST(stress, mailbox_spsc_in_place) {
    // The mesh's transport: the consumer polls the slot's seq and reads in place while
    // the producer keeps writing the slots ahead of it.
    struct alignas(64) rec {
        std::uint32_t kind = 0;
        std::uint32_t seq = 0;
        std::uint64_t v[7] = {};
    };
    const std::uint64_t n = 50000 * scale;
    pq::mailbox<rec> q(16, (std::size_t{1} << 32) - 1000);
    std::thread p([&] {
        for (std::uint64_t i = 0; i < n;) {
            rec r;
            for (std::uint64_t& w : r.v)
                w = i;
            if (q.try_push(r))
                ++i;
            else
                std::this_thread::yield();
        }
    });
    std::uint64_t next = 0, errors = 0;
    while (next < n) {
        const auto s = q.peek(next & 7 ? 32 : 1);
        for (const rec& r : s) {
            for (std::uint64_t w : r.v)
                errors += w != next;
            ++next;
        }
        q.release(s.size());
        if (s.empty()) std::this_thread::yield();
    }
    p.join();
    EXPECT_EQ(errors, 0u);
    EXPECT_TRUE(q.empty());
}

TEST(stress, link_zero_copy_reserve_peek) {
    const std::uint64_t n = 50000 * scale;
    pq::link<std::uint64_t> q(32);
    std::thread p([&] {
        for (std::uint64_t seq = 0; seq < n;) {
            auto w = q.reserve(n - seq < 7 ? n - seq : 7);
            for (auto& s : w)
                s = make_item(0, seq++);
            q.commit(w.size());
            if (w.empty()) std::this_thread::yield();
        }
    });
    order_check oc(1);
    std::uint64_t got = 0;
    while (got < n) {
        auto r = q.peek(5);
        for (auto v : r)
            oc.see(v);
        q.release(r.size());
        got += r.size();
        if (r.empty()) std::this_thread::yield();
    }
    p.join();
    EXPECT_EQ(oc.errors, 0u);
    EXPECT_EQ(oc.next[0], n);
}

TEST(stress, mpsc_ring_three_producers) {
    const std::uint64_t n = 30000 * scale;
    constexpr int producers = 3;
    pq::mpsc_ring<std::uint64_t> q(64, SIZE_MAX - 100);
    std::vector<std::thread> ps;
    for (int id = 0; id < producers; ++id)
        ps.emplace_back([&, id] {
            produce(id, n, [&](auto* b, std::size_t k) { return q.push_burst(b, k); });
        });
    order_check oc(producers);
    std::uint64_t buf[32], got = 0;
    while (got < n * producers) {
        const std::size_t k = q.pop_burst(buf, 32);
        for (std::size_t i = 0; i < k; ++i)
            oc.see(buf[i]);
        got += k;
        if (k == 0) std::this_thread::yield();
    }
    for (auto& t : ps)
        t.join();
    EXPECT_EQ(oc.errors, 0u);
    for (auto v : oc.next)
        EXPECT_EQ(v, n);
    EXPECT_TRUE(q.empty());
}

TEST(stress, multicursor_producers_join_and_leave) {
    // 3 waves of 3 producers; each producer opens a lane, pushes, closes. Lanes are
    // added and freed while the consumer polls.
    const std::uint64_t n = 10000 * scale;
    constexpr int waves = 3, per_wave = 3;
    pq::multicursor<std::uint64_t> q(32, 4);
    std::atomic<bool> done{false};
    order_check oc(waves * per_wave);
    std::uint64_t got = 0;
    std::thread consumer([&] {
        std::uint64_t buf[32];
        while (got < n * waves * per_wave) {
            const std::size_t k = q.pop_burst(buf, 32);
            for (std::size_t i = 0; i < k; ++i)
                oc.see(buf[i]);
            got += k;
            if (k == 0) std::this_thread::yield();
        }
        done = true;
    });
    for (int w = 0; w < waves; ++w) {
        std::vector<std::thread> ps;
        for (int i = 0; i < per_wave; ++i)
            ps.emplace_back([&, id = w * per_wave + i] {
                auto h = q.add_producer();
                while (!h.valid()) { // all lanes busy: wait for the consumer to free one
                    std::this_thread::yield();
                    h = q.add_producer();
                }
                produce(id, n, [&](auto* b, std::size_t k) { return h.push_burst(b, k); });
                h.close();
            });
        for (auto& t : ps)
            t.join();
    }
    consumer.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(oc.errors, 0u);
    for (auto v : oc.next)
        EXPECT_EQ(v, n);
}

/// Release-hook accounting: every published item must be released exactly once.
struct release_count {
    std::vector<std::uint8_t> times;
    static void hook(std::uint64_t* items, std::size_t n, void* ctx) noexcept {
        auto* self = static_cast<release_count*>(ctx);
        for (std::size_t i = 0; i < n; ++i)
            ++self->times[seq_of(items[i])];
    }
};

void turbine_stress(pq::slow_policy policy) {
    const std::uint64_t n = 40000 * scale;
    release_count rc;
    rc.times.assign(n, 0);
    pq::turbine<std::uint64_t>::options o;
    o.policy = policy;
    o.max_subscribers = 16; // 3 sessions + hand-off (<= 4 in the mail, 1 each side)
    o.on_release = &release_count::hook;
    o.release_ctx = &rc;
    o.initial_index = SIZE_MAX - 5000;
    {
        pq::turbine<std::uint64_t> t(64, o);
        std::atomic<bool> producer_done{false};
        std::atomic<std::uint64_t> sessions{0}, errors{0}, items_seen{0};

        // A subscriber session: join, read a while, leave. Checks the items it sees are
        // consecutive (backpressure, drop_newest) or increasing with gaps == missed (evict).
        auto session = [&](pq::turbine<std::uint64_t>::subscriber s, std::uint64_t budget,
                           bool leave_when_empty = false) {
            if (!s.valid()) return s;
            while (!s.active() && !producer_done)
                std::this_thread::yield();
            std::uint64_t last = UINT64_MAX, first = UINT64_MAX, seen = 0;
            while (seen < budget) {
                auto v = s.peek(1 + seen % 16);
                for (auto x : v) {
                    const auto q = seq_of(x);
                    if (first == UINT64_MAX) first = q;
                    if (last != UINT64_MAX && q <= last) ++errors; // reorder / duplicate
                    if (policy != pq::slow_policy::evict && last != UINT64_MAX && q != last + 1)
                        ++errors; // loss
                    last = q;
                }
                s.release(v.size());
                seen += v.size();
                if (v.empty()) {
                    if (leave_when_empty || (producer_done && s.lag() == 0)) break;
                    std::this_thread::yield();
                }
            }
            if (policy == pq::slow_policy::evict && first != UINT64_MAX && s.missed() == 0 &&
                last - first + 1 != seen)
                ++errors;
            items_seen += seen;
            ++sessions;
            return s; // caller drops it (unsubscribe)
        };

        std::vector<std::thread> subs;
        for (int i = 0; i < 3; ++i)
            subs.emplace_back([&, i] {
                while (!producer_done) {
                    auto s = session(t.subscribe(), 500 + 700 * i);
                    (void)s; // leaves here
                }
            });
        // Cursor hand-off: thread A reads, detaches, passes the token over a link to B.
        pq::link<pq::turbine<std::uint64_t>::cursor_token> mail(4);
        std::thread hand_a([&] {
            while (!producer_done) {
                auto s = t.subscribe();
                if (!s.valid()) {
                    std::this_thread::yield();
                    continue;
                }
                while (!s.active() && !producer_done)
                    std::this_thread::yield();
                std::uint64_t buf[8];
                (void)s.pop_burst(buf, 8);
                auto tok = s.detach();
                while (!mail.try_push(tok))
                    std::this_thread::yield();
            }
        });
        std::thread hand_b([&] {
            pq::turbine<std::uint64_t>::cursor_token tok;
            for (;;) {
                if (mail.try_pop(tok)) {
                    auto s = session(t.attach(tok), 300, true); // reads what is there, leaves
                    (void)s;
                } else if (producer_done && mail.empty()) {
                    break;
                } else {
                    std::this_thread::yield();
                }
            }
        });

        std::uint64_t buf[32];
        for (std::uint64_t seq = 0; seq < n;) {
            const std::size_t want = std::size_t(n - seq < 32 ? n - seq : 1 + seq % 32);
            for (std::size_t i = 0; i < want; ++i)
                buf[i] = make_item(0, seq + i);
            const std::size_t k = t.push_burst(buf, want);
            seq += k; // drop_newest: refused items are simply re-offered
            // Pace the producer a little so subscribers join and leave mid-stream even
            // when nothing gates it (evict never waits).
            if (k && (seq & 511) < k) std::this_thread::sleep_for(std::chrono::microseconds(20));
            if (k == 0) std::this_thread::yield();
        }
        producer_done = true;
        for (auto& th : subs)
            th.join();
        hand_a.join();
        hand_b.join(); // drains the mail before it stops
        pq::turbine<std::uint64_t>::cursor_token tok;
        while (mail.try_pop(tok))
            (void)t.attach(tok); // leftover cursors leave
        EXPECT_EQ(t.subscribers(), 0u);
        EXPECT_EQ(errors.load(), 0u);
        EXPECT_GT(sessions.load(), 1u);
        EXPECT_GT(items_seen.load(), 0u);
    } // ~turbine releases what is left
    std::uint64_t bad = 0;
    for (auto c : rc.times)
        bad += c != 1;
    EXPECT_EQ(bad, 0u) << "release hook must run exactly once per item";
}

TEST(stress, turbine_backpressure_join_leave_handoff) {
    turbine_stress(pq::slow_policy::backpressure);
}
TEST(stress, turbine_drop_newest_join_leave_handoff) {
    turbine_stress(pq::slow_policy::drop_newest);
}
TEST(stress, turbine_evict_join_leave_handoff) {
    turbine_stress(pq::slow_policy::evict);
}

TEST(stress, turbine_release_hook_exactly_once) {
    const std::uint64_t n = 40000 * scale;
    release_count rc;
    rc.times.assign(n, 0);
    {
        pq::turbine<std::uint64_t>::options o;
        o.on_release = &release_count::hook;
        o.release_ctx = &rc;
        o.policy = pq::slow_policy::evict;
        pq::turbine<std::uint64_t> t(32, o);
        auto s1 = t.subscribe(), s2 = t.subscribe();
        t.service();
        std::atomic<bool> done{false};
        auto reader = [&](pq::turbine<std::uint64_t>::subscriber& s, int pace) {
            std::uint64_t last = 0;
            bool any = false;
            while (!done || s.lag() != 0) {
                auto v = s.peek(pace);
                for (auto x : v) {
                    EXPECT_TRUE(!any || seq_of(x) > last);
                    last = seq_of(x);
                    any = true;
                }
                s.release(v.size());
                if (v.empty()) std::this_thread::yield();
            }
        };
        std::thread a([&] { reader(s1, 32); });
        std::thread b([&] { reader(s2, 1); }); // slow: gets evicted
        std::uint64_t buf[16];
        for (std::uint64_t seq = 0; seq < n;) {
            for (auto& v : buf)
                v = seq < n ? make_item(0, seq++) : make_item(0, n - 1);
            std::size_t k = 16;
            if (seq == n && n % 16) k = n % 16;
            std::size_t d = 0;
            while (d < k)
                d += t.push_burst(buf + d, k - d);
        }
        done = true;
        a.join();
        b.join();
    }
    // After ~turbine every item has been released exactly once.
    std::uint64_t bad = 0;
    for (auto c : rc.times)
        bad += c != 1;
    EXPECT_EQ(bad, 0u);
}

TEST(stress, channel_close_after_stream) {
    const std::uint64_t n = 50000 * scale;
    auto [tx, rx] = pq::make_channel<std::uint64_t>(64);
    std::thread p([&, tx = std::move(tx)]() mutable {
        produce(0, n, [&](auto* b, std::size_t k) { return tx.push_burst(b, k); });
        tx.close();
    });
    order_check oc(1);
    std::uint64_t buf[32];
    for (;;) {
        bool closed = false;
        const std::size_t k = rx.pop_burst(buf, 32, &closed);
        for (std::size_t i = 0; i < k; ++i)
            oc.see(buf[i]);
        if (closed) break;
        if (k == 0) std::this_thread::yield();
    }
    p.join();
    EXPECT_EQ(oc.errors, 0u);
    EXPECT_EQ(oc.next[0], n);
}

TEST(stress, priority_lanes_over_links) {
    const std::uint64_t n = 30000 * scale;
    pq::priority_lanes<pq::link<std::uint64_t>> pl(
        pq::lane_discipline::weighted, {4, 1},
        [](std::size_t) { return std::make_unique<pq::link<std::uint64_t>>(64); });
    std::thread p0([&] {
        produce(0, n, [&](auto* b, std::size_t k) { return pl.lane(0).push_burst(b, k); });
    });
    std::thread p1([&] {
        produce(1, n, [&](auto* b, std::size_t k) { return pl.lane(1).push_burst(b, k); });
    });
    order_check oc(2);
    std::uint64_t buf[32], got = 0;
    while (got < 2 * n) {
        const std::size_t k = pl.pop_burst(buf, 32);
        for (std::size_t i = 0; i < k; ++i)
            oc.see(buf[i]);
        got += k;
        if (k == 0) std::this_thread::yield();
    }
    p0.join();
    p1.join();
    EXPECT_EQ(oc.errors, 0u);
}

TEST(stress, pipes_two_writers) {
    const std::uint64_t n = 5000 * scale;
    auto q = pq::pipe_queue<std::uint64_t>::create();
    ASSERT_TRUE(q.ok());
    auto& pipe = *q;
    std::thread w0(
        [&] { produce(0, n, [&](auto* b, std::size_t k) { return pipe.push_burst(b, k); }); });
    std::thread w1(
        [&] { produce(1, n, [&](auto* b, std::size_t k) { return pipe.push_burst(b, k); }); });
    order_check oc(2);
    std::uint64_t buf[32], got = 0;
    while (got < 2 * n) {
        const std::size_t k = pipe.pop_burst(buf, 32);
        for (std::size_t i = 0; i < k; ++i)
            oc.see(buf[i]);
        got += k;
        if (k == 0) std::this_thread::yield();
    }
    w0.join();
    w1.join();
    EXPECT_EQ(oc.errors, 0u);
}

} // namespace
