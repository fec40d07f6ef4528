// MAILBOX (self-sequenced SPSC ring): capacity rules, FIFO to the boundary, the slot's
// seq as publication mark (gap-free, caller's value ignored), peek at the wrap point,
// 32-bit sequence wrap, records larger than a line.
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include <gtest/gtest.h>

#include "queue/mailbox.hh"

namespace pq = pk::queue;

namespace {

struct alignas(64) rec {
    std::uint16_t kind = 0;
    std::uint16_t from = 0;
    std::uint32_t seq = 0;
    std::uint64_t a[7] = {};
};
static_assert(sizeof(rec) == 64);

struct big {
    std::uint64_t head = 0;
    std::uint32_t pad = 0;
    std::uint32_t seq = 0;
    std::uint64_t body[20] = {};
};

rec make(std::uint64_t v) {
    rec r;
    r.kind = static_cast<std::uint16_t>(v & 0xffff);
    r.from = 7;
    r.seq = 0xdeadbeef; // ignored: the mailbox numbers records itself
    for (int i = 0; i < 7; ++i)
        r.a[i] = v * 10 + static_cast<std::uint64_t>(i);
    return r;
}

TEST(mailbox, rejects_bad_capacity) {
    EXPECT_THROW(pq::mailbox<rec>(0), std::invalid_argument);
    EXPECT_THROW(pq::mailbox<rec>(3), std::invalid_argument);
    EXPECT_THROW(pq::mailbox<rec>(1000), std::invalid_argument);
    EXPECT_NO_THROW(pq::mailbox<rec>(1));
}

TEST(mailbox, fresh_slots_are_not_published) {
    pq::mailbox<rec> q(8);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.front(), nullptr);
    EXPECT_TRUE(q.peek().empty());
    EXPECT_EQ(q.size(), 0u);
    EXPECT_EQ(q.free_space(), 8u);
}

TEST(mailbox, fifo_to_capacity_and_seq_is_the_position) {
    pq::mailbox<rec> q(8);
    for (std::uint64_t i = 0; i < 8; ++i)
        ASSERT_TRUE(q.try_push(make(i)));
    EXPECT_FALSE(q.try_push(make(99))) << "full";
    EXPECT_EQ(q.size(), 8u);
    EXPECT_EQ(q.free_space(), 0u);
    auto s = q.peek();
    ASSERT_EQ(s.size(), 8u);
    for (std::uint64_t i = 0; i < 8; ++i) {
        EXPECT_EQ(s[i].seq, i);
        EXPECT_EQ(s[i].kind, i);
        EXPECT_EQ(s[i].from, 7);
        EXPECT_EQ(s[i].a[6], i * 10 + 6);
    }
    q.release(3);
    EXPECT_EQ(q.size(), 5u);
    EXPECT_EQ(q.free_space(), 3u);
    ASSERT_TRUE(q.try_push(make(8)));
    // peek stops at the wrap point: slots 3..7 are contiguous, slot 0 (seq 8) follows.
    s = q.peek();
    ASSERT_EQ(s.size(), 5u);
    EXPECT_EQ(s[0].seq, 3u);
    q.release(5);
    s = q.peek();
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].seq, 8u);
    EXPECT_EQ(s[0].a[0], 80u);
    q.release(1);
    EXPECT_TRUE(q.empty());
}

TEST(mailbox, peek_bounded_by_n_and_release_partial) {
    pq::mailbox<rec> q(16);
    for (std::uint64_t i = 0; i < 10; ++i)
        ASSERT_TRUE(q.try_push(make(i)));
    auto s = q.peek(4);
    ASSERT_EQ(s.size(), 4u);
    q.release(2);
    s = q.peek(4);
    ASSERT_EQ(s.size(), 4u);
    EXPECT_EQ(s[0].seq, 2u);
    EXPECT_EQ(q.front()->seq, 2u);
}

TEST(mailbox, previous_lap_is_never_mistaken_for_new) {
    // Capacity 1: every push reuses the same slot; after a release the old record
    // (seq n) sits where n + 1 is expected and must not be taken again.
    pq::mailbox<rec> q(1);
    for (std::uint64_t i = 0; i < 100; ++i) {
        ASSERT_TRUE(q.try_push(make(i)));
        EXPECT_FALSE(q.try_push(make(i)));
        ASSERT_NE(q.front(), nullptr);
        EXPECT_EQ(q.front()->a[0], i * 10);
        q.release(1);
        EXPECT_TRUE(q.empty()) << "lap " << i;
    }
}

TEST(mailbox, wraps_the_32_bit_sequence) {
    const std::size_t start = (std::size_t{1} << 32) - 5;
    pq::mailbox<rec> q(4, start);
    EXPECT_TRUE(q.empty());
    std::uint64_t next = 0;
    for (std::uint64_t i = 0; i < 40; ++i) {
        ASSERT_TRUE(q.try_push(make(i)));
        if (i % 3 == 2) {
            for (auto s = q.peek(); !s.empty(); s = q.peek()) {
                for (const rec& r : s) {
                    EXPECT_EQ(r.a[0], next * 10);
                    EXPECT_EQ(r.seq, static_cast<std::uint32_t>(start + next));
                    ++next;
                }
                q.release(s.size());
            }
        }
    }
    for (auto s = q.peek(); !s.empty(); s = q.peek()) {
        next += s.size();
        q.release(s.size());
    }
    EXPECT_EQ(next, 40u);
}

TEST(mailbox, wraps_size_t_positions) {
    pq::mailbox<rec> q(8, SIZE_MAX - 3);
    for (std::uint64_t i = 0; i < 8; ++i)
        ASSERT_TRUE(q.try_push(make(i)));
    EXPECT_EQ(q.size(), 8u);
    std::uint64_t seen = 0;
    for (auto s = q.peek(); !s.empty(); s = q.peek()) {
        for (const rec& r : s)
            EXPECT_EQ(r.a[0], (seen++) * 10);
        q.release(s.size());
    }
    EXPECT_EQ(seen, 8u);
}

TEST(mailbox, records_larger_than_a_line) {
    pq::mailbox<big> q(4);
    big b;
    b.head = 1;
    b.pad = 2;
    for (int i = 0; i < 20; ++i)
        b.body[i] = 100u + static_cast<std::uint64_t>(i);
    ASSERT_TRUE(q.try_push(b));
    b.head = 3;
    ASSERT_TRUE(q.try_push(b));
    auto s = q.peek();
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].head, 1u);
    EXPECT_EQ(s[0].pad, 2u);
    EXPECT_EQ(s[0].body[19], 119u);
    EXPECT_EQ(s[1].head, 3u);
    EXPECT_EQ(s[1].seq, 1u);
}

} // namespace
