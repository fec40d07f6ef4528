// LINK (SPSC ring): boundaries, bursts, zero-copy, wrap-around, object lifetimes.
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "counted.hh"
#include "queue/link.hh"

namespace pq = pk::queue; // plain `link` would clash with POSIX ::link()
using pk::queue::testing::counted;

namespace {

TEST(link, rejects_non_power_of_two) {
    EXPECT_THROW(pq::link<int>(0), std::invalid_argument);
    EXPECT_THROW(pq::link<int>(3), std::invalid_argument);
    EXPECT_THROW(pq::link<int>(1000), std::invalid_argument);
    EXPECT_NO_THROW(pq::link<int>(1));
    EXPECT_NO_THROW(pq::link<int>(1024));
}

TEST(link, capacity_one_boundaries) {
    pq::link<int> q(1);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.capacity(), 1u);
    EXPECT_TRUE(q.try_push(7));
    EXPECT_TRUE(q.full());
    EXPECT_FALSE(q.try_push(8));
    int v = 0;
    EXPECT_TRUE(q.try_pop(v));
    EXPECT_EQ(v, 7);
    EXPECT_FALSE(q.try_pop(v));
    EXPECT_TRUE(q.empty());
}

TEST(link, fills_exactly_to_capacity_fifo) {
    pq::link<int> q(8);
    for (int i = 0; i < 8; ++i)
        ASSERT_TRUE(q.try_push(i));
    EXPECT_EQ(q.size(), 8u);
    EXPECT_FALSE(q.try_push(99));
    for (int i = 0; i < 8; ++i) {
        int v = -1;
        ASSERT_TRUE(q.try_pop(v));
        EXPECT_EQ(v, i);
    }
    EXPECT_EQ(q.size(), 0u);
}

TEST(link, bursts_return_counts_and_wrap) {
    // Exact semantics: on a fresh ring, 20 into 16 pushes 16; popping 20 pops 16.
    pq::link<std::uint64_t> r(16);
    std::vector<std::uint64_t> src(20);
    for (std::size_t i = 0; i < 20; ++i)
        src[i] = 100 + i;
    EXPECT_EQ(r.push_burst(src.data(), 20), 16u);
    EXPECT_EQ(r.push_burst(src.data(), 1), 0u);
    std::vector<std::uint64_t> dst(20, 0);
    EXPECT_EQ(r.pop_burst(dst.data(), 5), 5u);
    for (std::size_t i = 0; i < 5; ++i)
        EXPECT_EQ(dst[i], 100 + i);
    EXPECT_EQ(r.push_burst(src.data() + 16, 4), 4u); // wraps
    EXPECT_EQ(r.pop_burst(dst.data(), 20), 15u);
    for (std::size_t i = 0; i < 11; ++i)
        EXPECT_EQ(dst[i], 105 + i);
    for (std::size_t i = 0; i < 4; ++i)
        EXPECT_EQ(dst[11 + i], 116 + i);
}

TEST(link, sequence_survives_index_wrap_near_size_max) {
    // Counters start 5 below SIZE_MAX: they wrap through zero during the test.
    pq::link<std::uint64_t> q(8, SIZE_MAX - 5);
    std::uint64_t pushed = 0, popped = 0;
    std::uint64_t buf[8];
    for (int round = 0; round < 100; ++round) {
        std::uint64_t src[5];
        for (auto& s : src)
            s = pushed++;
        std::size_t n = q.push_burst(src, 5);
        pushed -= 5 - n;
        std::size_t m = q.pop_burst(buf, 3 + round % 4);
        for (std::size_t i = 0; i < m; ++i)
            ASSERT_EQ(buf[i], popped++);
        ASSERT_LE(q.size(), 8u);
    }
    std::size_t m;
    while ((m = q.pop_burst(buf, 8)) != 0)
        for (std::size_t i = 0; i < m; ++i)
            ASSERT_EQ(buf[i], popped++);
    EXPECT_EQ(popped, pushed);
    EXPECT_TRUE(q.empty());
}

TEST(link, reserve_commit_peek_release_zero_copy) {
    pq::link<std::uint32_t> q(8, UINT64_MAX - 2);
    auto w = q.reserve(5);
    ASSERT_EQ(w.size(), 3u); // stops at the wrap point: slots 5,6,7 of 8
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = 10 + std::uint32_t(i);
    q.commit(w.size());
    auto w2 = q.reserve(5);
    ASSERT_EQ(w2.size(), 5u); // slots 0..4
    for (std::size_t i = 0; i < w2.size(); ++i)
        w2[i] = 13 + std::uint32_t(i);
    q.commit(2);
    EXPECT_EQ(q.size(), 5u);
    auto r = q.peek();
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0], 10u);
    std::uint32_t* p = &r[0];
    q.release(1);
    auto r2 = q.peek(10);
    ASSERT_EQ(r2.size(), 2u);
    EXPECT_EQ(&r2[0], p + 1); // same memory: no copy
    q.release(2);
    auto r3 = q.peek();
    ASSERT_EQ(r3.size(), 2u);
    EXPECT_EQ(r3[0], 13u);
    EXPECT_EQ(r3[1], 14u);
    q.release(2);
    EXPECT_TRUE(q.empty());
    EXPECT_TRUE(q.peek().empty());
    EXPECT_EQ(q.front(), nullptr);
}

class link_objects : public pk::queue::testing::live_objects {};

TEST_F(link_objects, no_leak_no_double_destroy) {
    {
        pq::link<counted> q(4, SIZE_MAX - 1); // wraps during the test
        std::uint64_t next_in = 0, next_out = 0;
        for (int round = 0; round < 10; ++round) {
            while (q.try_emplace(next_in))
                ++next_in; // fill
            EXPECT_TRUE(q.full());
            counted extra(999);
            EXPECT_FALSE(q.try_push(extra)); // full: the argument is untouched
            EXPECT_EQ(extra.value, 999u);
            counted out;
            for (int k = 0; k < 1 + round % 4; ++k) {
                ASSERT_TRUE(q.try_pop(out));
                EXPECT_EQ(out.value, next_out++);
            }
        }
        EXPECT_EQ(counted::live, int(q.size())); // only the ring's objects remain
        EXPECT_GT(q.size(), 0u);
    }
    EXPECT_EQ(counted::live, 0); // ~link destroyed what was left, once each
}

TEST_F(link_objects, bursts_and_release_destroy_each_object_once) {
    pq::link<counted> q(8);
    std::vector<counted> src(6);
    for (std::size_t i = 0; i < src.size(); ++i)
        src[i].value = i;
    EXPECT_EQ(q.push_burst(src.data(), 6), 6u);
    EXPECT_EQ(counted::live, 12);
    std::vector<counted> dst(3);
    EXPECT_EQ(q.pop_burst(dst.data(), 3), 3u);
    EXPECT_EQ(dst[2].value, 2u);
    EXPECT_EQ(counted::live, 6 + 3 + 3);
    auto r = q.peek();
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].value, 3u);
    q.release(2);
    EXPECT_EQ(counted::live, 6 + 3 + 1);
    // The last one is destroyed by ~link when dst/src go out of scope later.
}

TEST(link, two_threads_fifo) {
    pq::link<std::uint64_t> q(64);
    constexpr std::uint64_t n = 200000;
    std::thread prod([&] {
        for (std::uint64_t i = 0; i < n;)
            if (q.try_push(i)) ++i;
    });
    std::uint64_t expect = 0;
    std::uint64_t buf[32];
    while (expect < n) {
        std::size_t m = q.pop_burst(buf, 32);
        for (std::size_t i = 0; i < m; ++i)
            ASSERT_EQ(buf[i], expect++);
    }
    prod.join();
    EXPECT_TRUE(q.empty());
}

} // namespace
