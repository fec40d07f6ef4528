// rte_ring adapter: same backend concept, bursts and wrap, SP/SC across two threads.
#include <cstdint>
#include <thread>

#include <gtest/gtest.h>

#include "queue/backend.hh"
#include "queue/rte_ring.hh"

namespace pq = pk::queue;

namespace {

TEST(rte_ring_queue, backend_semantics_and_wrap) {
    static_assert(pq::backend<pq::rte_ring_queue<std::uintptr_t>>);
    auto r = pq::rte_ring_queue<std::uintptr_t>::create("qt_sem", 8);
    ASSERT_TRUE(r.ok()) << r.err().message;
    auto& q = *r;
    EXPECT_EQ(q.capacity(), 8u);
    std::uintptr_t in[12], out[12];
    for (std::uintptr_t i = 0; i < 12; ++i)
        in[i] = i + 1;
    for (int round = 0; round < 5; ++round) { // wraps the ring several times
        EXPECT_EQ(q.push_burst(in, 12), 8u);
        EXPECT_FALSE(q.try_push(in[0]));
        EXPECT_EQ(q.size(), 8u);
        EXPECT_EQ(q.pop_burst(out, 5), 5u);
        EXPECT_EQ(out[4], 5u);
        EXPECT_EQ(q.pop_burst(out, 12), 3u);
        EXPECT_EQ(out[2], 8u);
        EXPECT_TRUE(q.empty());
    }
}

TEST(rte_ring_queue, duplicate_name_is_an_error) {
    auto a = pq::rte_ring_queue<void*>::create("qt_dup", 16);
    ASSERT_TRUE(a.ok());
    auto b = pq::rte_ring_queue<void*>::create("qt_dup", 16);
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.err().message.find("qt_dup"), std::string::npos);
}

TEST(rte_ring_queue, mp_sc_two_producers_keep_order) {
    auto r = pq::rte_ring_queue<std::uintptr_t>::create("qt_mpsc", 64, pq::ring_sync::mp_sc);
    ASSERT_TRUE(r.ok());
    auto& q = *r;
    constexpr std::uintptr_t n = 20000;
    auto produce = [&](std::uintptr_t id) {
        for (std::uintptr_t s = 0; s < n;)
            if (q.try_push(id << 32 | s)) ++s;
    };
    std::thread a(produce, 0), b(produce, 1);
    std::uintptr_t next[2] = {0, 0}, buf[32], got = 0, errors = 0;
    while (got < 2 * n) {
        const std::size_t k = q.pop_burst(buf, 32);
        for (std::size_t i = 0; i < k; ++i) {
            const auto id = buf[i] >> 32;
            if ((buf[i] & 0xffffffffu) != next[id]++) ++errors;
        }
        got += k;
    }
    a.join();
    b.join();
    EXPECT_EQ(errors, 0u);
}

} // namespace
