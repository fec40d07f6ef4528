// The per-core flow table: lookups against a reference map under insert/expire churn,
// a full table refusing new flows, idle aging (a flow that keeps sending never expires,
// an idle one expires within one tick of its timeout), top-N. Time is abstract here:
// the table is driven with explicit `now` values (units of 1, tick 10).
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "flow/table.hh"

namespace {

using pk::flow::flow_entry;
using pk::flow::flow_key;
using pk::flow::table;

flow_key key_of(std::uint32_t i) {
    flow_key k;
    k.family = 4;
    k.proto = 17;
    k.src[0] = 10;
    k.src[1] = static_cast<std::uint8_t>(i >> 16);
    k.src[2] = static_cast<std::uint8_t>(i >> 8);
    k.src[3] = static_cast<std::uint8_t>(i);
    k.dst = {10, 0, 1, 1};
    k.src_port = static_cast<std::uint16_t>(1024 + i % 60000);
    k.dst_port = 5000;
    return k;
}

TEST(FlowTable, FindsWhatItHoldsAndCountsPacketsAndBytes) {
    table t(100, 1000, 10, 0);
    for (std::uint32_t i = 0; i < 100; ++i)
        ASSERT_NE(t.touch(key_of(i), pk::flow::key_hash(key_of(i)), 64, 1), table::none);
    const std::uint32_t id = t.touch(key_of(7), pk::flow::key_hash(key_of(7)), 100, 5);
    EXPECT_EQ(t.size(), 100u);
    EXPECT_EQ(t.created(), 100u);
    EXPECT_EQ(t.find(key_of(7), pk::flow::key_hash(key_of(7))), id);
    EXPECT_EQ(t[id].packets, 2u);
    EXPECT_EQ(t[id].bytes, 164u);
    EXPECT_EQ(t[id].first_seen, 1u);
    EXPECT_EQ(t[id].last_seen, 5u);
    EXPECT_EQ(t.find(key_of(100), pk::flow::key_hash(key_of(100))), table::none);
}

TEST(FlowTable, AFullTableRefusesNewFlowsAndCountsThem) {
    table t(8, 1000, 10, 0);
    for (std::uint32_t i = 0; i < 8; ++i)
        t.touch(key_of(i), pk::flow::key_hash(key_of(i)), 64, 0);
    EXPECT_EQ(t.touch(key_of(8), pk::flow::key_hash(key_of(8)), 64, 0), table::none);
    EXPECT_EQ(t.full(), 1u);
    EXPECT_NE(t.touch(key_of(3), pk::flow::key_hash(key_of(3)), 64, 0), table::none)
        << "a known flow is still found";
}

TEST(FlowTable, ColludingHashesStayFindableAcrossRemovals) {
    // Every key hashes to one of 4 values: long probe runs, removals in the middle.
    table t(256, 100, 10, 0);
    std::map<std::uint32_t, std::uint32_t> ids; // key index -> id
    std::mt19937 rng(3);
    std::uint64_t now = 0;
    for (int round = 0; round < 2000; ++round) {
        const std::uint32_t i = rng() % 400;
        const std::uint32_t h = i % 4;
        if (ids.count(i) && rng() % 3 == 0) {
            t.erase(ids[i]);
            ids.erase(i);
        } else {
            const std::uint32_t id = t.touch(key_of(i), h, 64, now);
            if (id != table::none) ids[i] = id;
        }
        for (auto& [k, id] : ids)
            ASSERT_EQ(t.find(key_of(k), k % 4), id) << "round " << round << " key " << k;
        ASSERT_EQ(t.size(), ids.size());
    }
}

TEST(FlowTable, AgesOutIdleFlowsOnlyAndMatchesAReferenceUnderChurn) {
    // Flows arrive and send for a random while; the reference says which are idle for
    // longer than `idle` (+ one tick of lateness, the wheel's guarantee).
    constexpr std::uint64_t idle = 500, tick = 10;
    table t(4096, idle, tick, 0);
    std::map<std::uint32_t, std::uint64_t> last; // live flows: key -> last packet time
    std::mt19937 rng(11);
    std::uint64_t gone = 0;
    for (std::uint64_t now = 1; now < 20000; ++now) {
        for (int j = 0; j < 3; ++j) {
            const std::uint32_t i = rng() % 3000;
            // A third of the keys stop sending at some point; the rest keep going.
            if (i % 3 == 0 && now > 5000 + i) continue;
            ASSERT_NE(t.touch(key_of(i), pk::flow::key_hash(key_of(i)), 64, now), table::none);
            last[i] = now;
        }
        gone += t.expire(now, [&](const flow_entry& e, std::uint32_t) {
            const std::uint32_t i = static_cast<std::uint32_t>(e.key.src[1]) << 16 |
                                    static_cast<std::uint32_t>(e.key.src[2]) << 8 | e.key.src[3];
            ASSERT_TRUE(last.count(i));
            EXPECT_GE(now - last[i], idle) << "expired early";
            EXPECT_EQ(e.last_seen, last[i]);
            last.erase(i);
        });
        for (auto& [i, at] : last)
            if (now - at > idle + 2 * tick) {
                ADD_FAILURE() << "flow " << i << " idle " << now - at << " not expired";
                return;
            }
    }
    EXPECT_EQ(gone, t.expired());
    EXPECT_EQ(t.size(), last.size());
    EXPECT_GT(gone, 500u);
    for (std::uint32_t i = 0; i < 3000; i += 3)
        EXPECT_FALSE(last.count(i)) << "flow " << i << " stopped sending and is still held";
}

TEST(FlowTable, AFlowThatKeepsSendingIsNeverExpired) {
    table t(16, 100, 10, 0);
    const flow_key k = key_of(1);
    for (std::uint64_t now = 0; now < 10000; now += 50) {
        t.touch(k, pk::flow::key_hash(k), 64, now);
        t.expire(now, [&](const flow_entry&, std::uint32_t) { ADD_FAILURE() << "expired at " << now; });
    }
    EXPECT_EQ(t.size(), 1u);
    std::size_t n = 0;
    for (std::uint64_t now = 10000; now < 10200; now += 5)
        n += t.expire(now, [](const flow_entry&, std::uint32_t) {});
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(t.size(), 0u);
    EXPECT_NE(t.touch(k, pk::flow::key_hash(k), 64, 10200), table::none) << "its id is free again";
}

TEST(FlowTable, TopListsTheBusiestFlowsMostFirst) {
    table t(64, 1000, 10, 0);
    for (std::uint32_t i = 0; i < 50; ++i)
        for (std::uint32_t p = 0; p <= i; ++p)
            t.touch(key_of(i), pk::flow::key_hash(key_of(i)), 64, 0);
    flow_entry top[5];
    ASSERT_EQ(t.top(top, 5), 5u);
    for (unsigned j = 0; j < 5; ++j)
        EXPECT_EQ(top[j].packets, 50u - j);
    flow_entry all[64];
    EXPECT_EQ(t.top(all, 64), 50u);
}

} // namespace
