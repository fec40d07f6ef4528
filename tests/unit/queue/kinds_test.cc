// SUB, PUB, CHANNEL, priority lanes and the backends: single-thread behaviour.
#include <cstdint>
#include <numeric>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "counted.hh"
#include "queue/queue.hh"

namespace pq = pk::queue;
using pk::queue::testing::counted;
using pq::slow_policy;

namespace {

// ---- SUB: mpsc_ring -------------------------------------------------------------------

TEST(mpsc_ring, boundaries_and_wrap_near_size_max) {
    pq::mpsc_ring<std::uint64_t> q(8, SIZE_MAX - 3);
    std::uint64_t in[12], out[12];
    std::iota(in, in + 12, 0);
    EXPECT_EQ(q.push_burst(in, 12), 8u);
    EXPECT_FALSE(q.try_push(in[0]));
    EXPECT_EQ(q.size(), 8u);
    EXPECT_EQ(q.pop_burst(out, 5), 5u);
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(out[i], std::uint64_t(i));
    EXPECT_EQ(q.push_burst(in + 8, 4), 4u); // crosses the counter wrap and the slot wrap
    EXPECT_EQ(q.pop_burst(out, 12), 7u);
    for (int i = 0; i < 7; ++i)
        EXPECT_EQ(out[i], std::uint64_t(5 + i));
    EXPECT_TRUE(q.empty());
    std::uint64_t v;
    EXPECT_FALSE(q.try_pop(v));
}

// ---- SUB: multicursor -------------------------------------------------------------------

TEST(multicursor, per_producer_fifo_and_lane_lifecycle) {
    pq::multicursor<std::uint64_t> q(4, 2);
    auto a = q.add_producer();
    auto b = q.add_producer();
    ASSERT_TRUE(a.valid());
    ASSERT_TRUE(b.valid());
    EXPECT_FALSE(q.add_producer().valid()); // max_producers = 2
    EXPECT_EQ(q.lanes(), 2u);
    for (std::uint64_t i = 0; i < 4; ++i) {
        ASSERT_TRUE(a.try_push(100 + i));
        ASSERT_TRUE(b.try_push(200 + i));
    }
    EXPECT_FALSE(a.try_push(999)); // lane a full; b is independent
    EXPECT_EQ(q.size(), 8u);
    std::uint64_t out[16];
    std::size_t n = q.pop_burst(out, 16);
    ASSERT_EQ(n, 8u);
    std::uint64_t na = 100, nb = 200;
    for (std::size_t i = 0; i < n; ++i) {
        if (out[i] < 200)
            EXPECT_EQ(out[i], na++);
        else
            EXPECT_EQ(out[i], nb++);
    }
    // Close a with items pending: they are still delivered, then the lane is freed.
    ASSERT_TRUE(a.try_push(104));
    a.close();
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(q.pop_burst(out, 16), 1u);
    EXPECT_EQ(out[0], 104u);
    EXPECT_EQ(q.pop_burst(out, 16), 0u); // drained and closed: lane freed
    EXPECT_EQ(q.lanes(), 1u);
    auto c = q.add_producer(); // reuses the freed slot
    EXPECT_TRUE(c.valid());
    EXPECT_EQ(q.lanes(), 2u);
}

class multicursor_objects : public pk::queue::testing::live_objects {};
TEST_F(multicursor_objects, destructor_frees_open_lanes) {
    {
        pq::multicursor<counted> q(8);
        auto a = q.add_producer();
        ASSERT_TRUE(a.try_push(counted(1)));
        ASSERT_TRUE(a.try_push(counted(2)));
        a.close();
        auto b = q.add_producer();
        ASSERT_TRUE(b.try_push(counted(3)));
        counted out;
        ASSERT_TRUE(q.try_pop(out));
        b.close();
    }
}

// ---- PUB: turbine ---------------------------------------------------------------------

struct release_log {
    std::vector<std::uint64_t> released;
    static void hook(std::uint64_t* items, std::size_t n, void* ctx) noexcept {
        auto* self = static_cast<release_log*>(ctx);
        self->released.insert(self->released.end(), items, items + n);
    }
};

pq::turbine<std::uint64_t>::options opts(release_log& log, slow_policy p, std::size_t start = 0) {
    pq::turbine<std::uint64_t>::options o;
    o.policy = p;
    o.max_subscribers = 4;
    o.on_release = &release_log::hook;
    o.release_ctx = &log;
    o.initial_index = start;
    return o;
}

TEST(turbine, every_subscriber_sees_every_item_in_place) {
    release_log log;
    pq::turbine<std::uint64_t> t(8, opts(log, slow_policy::backpressure));
    auto s1 = t.subscribe(), s2 = t.subscribe();
    EXPECT_FALSE(s1.active()); // pending until the producer runs
    EXPECT_EQ(t.service(), 0u);
    EXPECT_TRUE(s1.active());
    EXPECT_EQ(t.subscribers(), 2u);
    std::uint64_t in[5] = {1, 2, 3, 4, 5};
    EXPECT_EQ(t.push_burst(in, 5), 5u);
    auto v1 = s1.peek();
    auto v2 = s2.peek();
    ASSERT_EQ(v1.size(), 5u);
    ASSERT_EQ(v2.size(), 5u);
    EXPECT_EQ(v1.data(), v2.data()); // same slots: no copy
    EXPECT_EQ(v1[4], 5u);
    s1.release(5);
    EXPECT_EQ(s1.lag(), 0u);
    EXPECT_EQ(s2.lag(), 5u);
    t.service();
    EXPECT_TRUE(log.released.empty()); // s2 has not passed them yet
    s2.release(3);
    t.service();
    EXPECT_EQ(log.released, (std::vector<std::uint64_t>{1, 2, 3}));
    s2.release(2);
    t.service();
    t.service();
    EXPECT_EQ(log.released.size(), 5u); // exactly once each
    EXPECT_EQ(t.released(), 5u);
}

TEST(turbine, backpressure_gates_on_slowest_and_releases_on_wrap) {
    release_log log;
    pq::turbine<std::uint64_t> t(4, opts(log, slow_policy::backpressure, SIZE_MAX - 2));
    auto fast = t.subscribe(), slow = t.subscribe();
    t.service();
    std::uint64_t in[6] = {10, 11, 12, 13, 14, 15};
    EXPECT_EQ(t.push_burst(in, 6), 4u); // slow cursor gates at capacity
    std::uint64_t out[8];
    EXPECT_EQ(fast.pop_burst(out, 8), 4u);
    EXPECT_EQ(t.push_burst(in + 4, 2), 0u); // still gated by slow
    EXPECT_EQ(t.dropped(), 0u);
    EXPECT_EQ(slow.pop_burst(out, 2), 2u);
    EXPECT_EQ(out[0], 10u);
    EXPECT_EQ(t.push_burst(in + 4, 2), 2u); // room for 2; 10 and 11 released
    EXPECT_EQ(log.released, (std::vector<std::uint64_t>{10, 11}));
    EXPECT_EQ(slow.pop_burst(out, 8), 4u);
    EXPECT_EQ(out[0], 12u);
    EXPECT_EQ(out[3], 15u);
}

TEST(turbine, releases_in_batches_long_before_the_ring_is_full) {
    release_log log;
    auto o = opts(log, slow_policy::backpressure);
    o.release_batch = 8;
    pq::turbine<std::uint64_t> t(64, o);
    auto s = t.subscribe();
    t.service();
    std::uint64_t in[4], out[4], next = 0;
    for (int round = 0; round < 10; ++round) { // 40 items through a 64-slot ring
        for (auto& v : in)
            v = next++;
        ASSERT_EQ(t.push_burst(in, 4), 4u);
        ASSERT_EQ(s.pop_burst(out, 4), 4u);
    }
    // Never full, yet the producer released what the cursor had passed once 8 were
    // held: at most one batch plus the last burst is still held.
    EXPECT_GE(log.released.size(), 40u - 8u - 4u);
    EXPECT_LE(t.size(), 8u + 4u);
    for (std::size_t i = 0; i < log.released.size(); ++i)
        ASSERT_EQ(log.released[i], i); // in order, exactly once
    pq::turbine<std::uint64_t> lazy(64, [&] {
        auto l = opts(log, slow_policy::backpressure);
        l.release_batch = 1000; // above capacity / 2: capped there
        return l;
    }());
    auto s2 = lazy.subscribe();
    lazy.service();
    for (int i = 0; i < 8; ++i) {
        for (auto& v : in)
            v = next++;
        ASSERT_EQ(lazy.push_burst(in, 4), 4u);
        ASSERT_EQ(s2.pop_burst(out, 4), 4u);
    }
    EXPECT_EQ(lazy.size(), 32u); // 32 held: not yet capacity / 2 at any push
    for (auto& v : in)
        v = next++;
    ASSERT_EQ(lazy.push_burst(in, 4), 4u); // 32 held at this push: released first
    EXPECT_EQ(lazy.size(), 4u);
}

TEST(turbine, drop_newest_counts_refused_items) {
    release_log log;
    pq::turbine<std::uint64_t> t(4, opts(log, slow_policy::drop_newest));
    auto s = t.subscribe();
    t.service();
    std::uint64_t in[6] = {1, 2, 3, 4, 5, 6};
    EXPECT_EQ(t.push_burst(in, 6), 4u);
    EXPECT_EQ(t.dropped(), 2u);
    EXPECT_FALSE(t.try_push(7));
    EXPECT_EQ(t.dropped(), 3u);
    std::uint64_t out[8];
    EXPECT_EQ(s.pop_burst(out, 8), 4u);
    EXPECT_EQ(out[3], 4u);
}

TEST(turbine, evict_moves_lagging_cursor_and_counts_missed) {
    release_log log;
    pq::turbine<std::uint64_t> t(8, opts(log, slow_policy::evict));
    auto fast = t.subscribe(), slow = t.subscribe();
    t.service();
    std::uint64_t out[16];
    std::uint64_t next = 0;
    for (int round = 0; round < 3; ++round) {
        std::uint64_t in[4];
        for (auto& v : in)
            v = next++;
        EXPECT_EQ(t.push_burst(in, 4), 4u); // never refused: the slow cursor is evicted
        EXPECT_EQ(fast.pop_burst(out, 16), 4u);
    }
    EXPECT_GT(t.evictions(), 0u);
    EXPECT_GT(slow.missed(), 0u);
    // What the slow cursor still gets + what it missed == everything published.
    std::size_t got = slow.pop_burst(out, 16);
    EXPECT_EQ(got + slow.missed(), next);
    EXPECT_EQ(out[got - 1], next - 1); // it sees the newest items, in order
    for (std::size_t i = 1; i < got; ++i)
        EXPECT_EQ(out[i], out[i - 1] + 1);
    t.service();
    EXPECT_EQ(log.released.size(), next); // every slot released exactly once
}

TEST(turbine, join_sees_only_new_items_and_leave_stops_gating) {
    release_log log;
    pq::turbine<std::uint64_t> t(4, opts(log, slow_policy::backpressure));
    auto a = t.subscribe();
    t.service();
    EXPECT_TRUE(t.try_push(1));
    auto b = t.subscribe();     // joins after item 1
    EXPECT_TRUE(t.try_push(2)); // activates b at head (before 2)
    std::uint64_t out[4];
    EXPECT_EQ(b.pop_burst(out, 4), 1u);
    EXPECT_EQ(out[0], 2u);
    EXPECT_EQ(a.lag(), 2u);
    // a leaves without reading: nothing gates the producer any more except b.
    a.unsubscribe();
    EXPECT_EQ(t.subscribers(), 1u);
    std::uint64_t in[4] = {3, 4, 5, 6};
    EXPECT_EQ(t.push_burst(in, 4), 4u);
    EXPECT_EQ(log.released, (std::vector<std::uint64_t>{1, 2}));
    EXPECT_FALSE(t.subscribe().valid() == false); // a's record is reusable
}

TEST(turbine, cursor_hand_off_keeps_position_and_gating) {
    release_log log;
    pq::turbine<std::uint64_t> t(4, opts(log, slow_policy::backpressure));
    auto s = t.subscribe();
    t.service();
    std::uint64_t in[4] = {1, 2, 3, 4};
    EXPECT_EQ(t.push_burst(in, 4), 4u);
    std::uint64_t out[4];
    EXPECT_EQ(s.pop_burst(out, 1), 1u);
    auto token = s.detach(); // e.g. sent to another core over a link<cursor_token>
    EXPECT_FALSE(s.valid());
    EXPECT_EQ(t.subscribers(), 1u);
    EXPECT_EQ(t.push_burst(in, 2), 1u); // still gated by the detached cursor at 1
    auto moved = t.attach(token);
    ASSERT_TRUE(moved.valid());
    EXPECT_EQ(moved.pop_burst(out, 4), 4u);
    EXPECT_EQ(out[0], 2u);
    EXPECT_EQ(out[3], 1u); // the item pushed during transit
}

class turbine_objects : public pk::queue::testing::live_objects {};
TEST_F(turbine_objects, objects_destroyed_once_after_all_cursors) {
    {
        pq::turbine<counted> t(4);
        auto a = t.subscribe(), b = t.subscribe();
        t.service();
        for (int i = 0; i < 3; ++i)
            ASSERT_TRUE(t.try_push(counted(i)));
        EXPECT_EQ(counted::live, 3);
        auto va = a.peek();
        ASSERT_EQ(va.size(), 3u);
        a.release(3);
        t.service();
        EXPECT_EQ(counted::live, 3); // b still holds them
        counted out;
        ASSERT_TRUE(b.try_pop(out));
        EXPECT_EQ(out.value, 0u);
        t.service();
        EXPECT_EQ(counted::live, 3); // 2 in ring + out
    }
}

// ---- CHANNEL ---------------------------------------------------------------------------

TEST(channel, receiver_drains_then_sees_closed) {
    auto [tx, rx] = pq::make_channel<int>(4);
    int v = 0;
    EXPECT_EQ(rx.try_pop(v), pq::recv_status::empty);
    ASSERT_TRUE(tx.try_push(1));
    ASSERT_TRUE(tx.try_push(2));
    tx.close();
    EXPECT_EQ(rx.try_pop(v), pq::recv_status::item);
    EXPECT_EQ(v, 1);
    EXPECT_EQ(rx.try_pop(v), pq::recv_status::item);
    EXPECT_EQ(v, 2);
    EXPECT_EQ(rx.try_pop(v), pq::recv_status::closed);
    EXPECT_EQ(rx.try_pop(v), pq::recv_status::closed);
}

TEST(channel, closed_receiver_refuses_pushes) {
    auto [tx, rx] = pq::make_channel<int>(4);
    rx.close();
    EXPECT_TRUE(tx.receiver_closed());
    EXPECT_FALSE(tx.try_push(1));
}

// ---- priority lanes ----------------------------------------------------------------------

TEST(priority_lanes, strict_serves_higher_lanes_first) {
    pq::priority_lanes<pq::vec<int>> p(pq::lane_discipline::strict, {1, 1, 1}, [](std::size_t) {
        return std::make_unique<pq::vec<int>>(8);
    });
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(p.try_push(2, 200 + i));
        ASSERT_TRUE(p.try_push(0, i));
    }
    ASSERT_TRUE(p.try_push(1, 100));
    int out[8];
    ASSERT_EQ(p.pop_burst(out, 8), 7u);
    EXPECT_EQ(std::vector<int>(out, out + 7), (std::vector<int>{0, 1, 2, 100, 200, 201, 202}));
}

TEST(priority_lanes, weighted_shares_by_weight_without_starvation) {
    pq::priority_lanes<pq::vec<int>> p(pq::lane_discipline::weighted, {3, 1}, [](std::size_t) {
        return std::make_unique<pq::vec<int>>(64);
    });
    for (int i = 0; i < 40; ++i) {
        ASSERT_TRUE(p.try_push(0, i));
        ASSERT_TRUE(p.try_push(1, 1000 + i));
    }
    int counts[2] = {0, 0};
    int last[2] = {-1, 999};
    for (int i = 0; i < 40; ++i) {
        int v;
        ASSERT_TRUE(p.try_pop(v));
        const int lane = v >= 1000;
        ++counts[lane];
        EXPECT_GT(v, last[lane]); // FIFO within a lane
        last[lane] = v;
    }
    EXPECT_EQ(counts[0], 30);
    EXPECT_EQ(counts[1], 10);
}

// ---- backends --------------------------------------------------------------------------

template <typename Q>
void exercise_backend(Q& q, std::size_t cap) {
    static_assert(pq::backend<Q>);
    typename Q::value_type in[64], out[64];
    for (std::size_t i = 0; i < 64; ++i)
        in[i] = typename Q::value_type(i + 1);
    std::size_t pushed = q.push_burst(in, cap);
    EXPECT_EQ(pushed, cap);
    EXPECT_EQ(q.pop_burst(out, 64), cap);
    for (std::size_t i = 0; i < cap; ++i)
        EXPECT_EQ(out[i], in[i]);
    EXPECT_TRUE(q.try_push(in[5]));
    typename Q::value_type v{};
    EXPECT_TRUE(q.try_pop(v));
    EXPECT_EQ(v, in[5]);
    EXPECT_FALSE(q.try_pop(v));
}

TEST(backends, vec_link_turbine_lane_vec_deque_pipes) {
    pq::vec<int> v(16);
    exercise_backend(v, 16);
    EXPECT_FALSE(v.push_burst(std::vector<int>(17, 1).data(), 17) != 16);
    pq::link<int> l(16);
    exercise_backend(l, 16);
    pq::turbine_lane<int> tl(16);
    exercise_backend(tl, 16);
    pq::vec_deque<int> d(2);
    exercise_backend(d, 40); // grows past its initial capacity
    EXPECT_GE(d.capacity(), 40u);
    auto p = pq::pipe_queue<std::uint64_t>::create();
    ASSERT_TRUE(p.ok());
    exercise_backend(*p, 32);
    EXPECT_GT(p->capacity(), 0u);
}

TEST(pipes, pipe_reports_readable_and_adopt_wraps_fds) {
    auto p = pq::pipe_queue<std::uint32_t>::create();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->size(), 0u);
    ASSERT_TRUE(p->try_push(7u));
    EXPECT_EQ(p->size(), 1u);
    auto reader = pq::pipe_queue<std::uint32_t>::adopt(p->read_fd(), -1);
    std::uint32_t v = 0;
    EXPECT_TRUE(reader.try_pop(v));
    EXPECT_EQ(v, 7u);
    EXPECT_FALSE(reader.try_push(1u)); // no write side
}

TEST(pipes, wakeup_counts_notifications) {
    auto w = pq::wakeup::create();
    ASSERT_TRUE(w.ok());
    EXPECT_GE(w->fd(), 0);
    EXPECT_EQ(w->drain(), 0u);
    w->notify();
    w->notify();
    EXPECT_EQ(w->drain(), 2u);
    EXPECT_EQ(w->drain(), 0u);
}

TEST(vec_deque_objects, grows_without_leaks) {
    counted::live = 0;
    {
        pq::vec_deque<counted> d(2);
        for (int i = 0; i < 20; ++i)
            ASSERT_TRUE(d.try_push(counted(i)));
        counted out;
        ASSERT_TRUE(d.try_pop(out));
        EXPECT_EQ(out.value, 0u);
    }
    EXPECT_EQ(counted::live, 0);
}

} // namespace
