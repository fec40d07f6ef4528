// Timer wheel: deadlines, ordering, cancel, re-arm, level boundaries, overflow, wrap.
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "timer/wheel.hh"

namespace {

using pk::timer::expired;
using pk::timer::handle;
using pk::timer::wheel;
using pk::timer::wheel_config;

wheel_config cfg(std::uint32_t cap, std::uint64_t tick, std::uint64_t origin = 0) {
    wheel_config c;
    c.capacity = cap;
    c.tick = tick;
    c.origin = origin;
    return c;
}

std::vector<expired> drain(wheel& w, std::uint64_t now, std::size_t max = 64) {
    std::vector<expired> all;
    std::vector<expired> buf(max);
    for (;;) {
        const std::size_t n = w.select(now, buf.data(), max);
        all.insert(all.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        if (n < max) return all;
    }
}

TEST(TimerWheel, NeverEarlyAtMostOneTickLate) {
    for (std::uint64_t d : {1ull, 9ull, 10ull, 11ull, 105ull, 640ull, 641ull, 40960ull}) {
        wheel w(cfg(16, 10));
        const handle h = w.schedule(d, 7);
        ASSERT_TRUE(h.valid());
        EXPECT_TRUE(drain(w, d - 1).empty()) << d;
        const auto got = drain(w, d + 10 - 1); // ceil to the tick: <= tick - 1 late
        ASSERT_EQ(got.size(), 1u) << d;
        EXPECT_EQ(got[0].deadline, d);
        EXPECT_EQ(got[0].task_id, 7u);
        EXPECT_EQ(got[0].h, h);
        EXPECT_EQ(got[0].missed, 0u);
        EXPECT_EQ(w.pending(), 0u);
        EXPECT_FALSE(w.is_pending(h));
        EXPECT_FALSE(w.cancel(h)) << "a fired handle is stale";
    }
}

TEST(TimerWheel, ExactTickFiresOnItsTick) {
    wheel w(cfg(16, 10));
    (void)w.schedule(30, 1);
    EXPECT_TRUE(drain(w, 29).empty());
    EXPECT_EQ(drain(w, 30).size(), 1u);
}

TEST(TimerWheel, SameTickFiresInDeadlineOrder) {
    wheel w(cfg(64, 100));
    for (std::uint64_t d : {150ull, 120ull, 199ull, 101ull, 180ull, 200ull, 160ull})
        (void)w.schedule(d, static_cast<std::uint32_t>(d));
    const auto got = drain(w, 200);
    ASSERT_EQ(got.size(), 7u);
    const std::uint64_t want[] = {101, 120, 150, 160, 180, 199, 200};
    for (std::size_t i = 0; i < 7; ++i)
        EXPECT_EQ(got[i].deadline, want[i]);
}

TEST(TimerWheel, OneSelectIsInDeadlineOrderAcrossTicksAndLevels) {
    wheel w(cfg(4096, 3));
    std::uint64_t x = 12345;
    for (int i = 0; i < 3000; ++i) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        (void)w.schedule(1 + (x >> 33) % 200000, static_cast<std::uint32_t>(i));
    }
    const auto got = drain(w, 200000 + 3, 4096);
    ASSERT_EQ(got.size(), 3000u);
    for (std::size_t i = 1; i < got.size(); ++i)
        ASSERT_LE(got[i - 1].deadline, got[i].deadline);
}

TEST(TimerWheel, SmallBurstsDrainABigTickInOrderWithCancelsAndArrivals) {
    wheel w(cfg(1024, 1000));
    std::vector<handle> hs;
    for (std::uint32_t i = 0; i < 200; ++i)
        hs.push_back(w.schedule(5001 + (i * 7919) % 999, i)); // all in tick 6
    expired buf[7];
    std::vector<expired> got;
    std::size_t n = w.select(6000, buf, 7);
    ASSERT_EQ(n, 7u);
    got.insert(got.end(), buf, buf + n);
    // The slot is now sorted in place; cancel some of the rest, add a past one.
    int cancelled = 0;
    for (std::uint32_t i = 0; i < 200; i += 3)
        if (w.cancel(hs[i])) ++cancelled;
    const handle late = w.schedule(10, 999); // long past: joins the current tick
    ASSERT_TRUE(late.valid());
    for (;;) {
        n = w.select(6000, buf, 7);
        got.insert(got.end(), buf, buf + n);
        if (n < 7) break;
    }
    // 7 fired first, `cancelled` of the others never, plus the late one.
    std::size_t fired_before = 7;
    EXPECT_EQ(got.size(), 200u - static_cast<std::size_t>(cancelled) + 1u);
    for (std::size_t i = 0; i < got.size(); ++i)
        for (std::uint32_t c = 0; c < 200; c += 3)
            if (i >= fired_before) {
                EXPECT_NE(got[i].h, hs[c]);
            }
    for (std::size_t i = 1; i < fired_before; ++i)
        EXPECT_LE(got[i - 1].deadline, got[i].deadline);
    EXPECT_EQ(got[fired_before].deadline, 10u) << "the past arrival is the earliest";
    for (std::size_t i = fired_before + 2; i < got.size(); ++i)
        EXPECT_LE(got[i - 1].deadline, got[i].deadline);
    EXPECT_EQ(w.pending(), 0u);
}

TEST(TimerWheel, PastDeadlineFiresOnTheNextSelect) {
    wheel w(cfg(16, 10, 1000));
    EXPECT_TRUE(drain(w, 5000).empty());
    (void)w.schedule(4000, 1);       // in the past
    (void)w.schedule(5, 2);          // before the origin
    (void)w.schedule(5000, 3);       // exactly now: ticks align, due
    const auto got = drain(w, 5000); // same now
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].task_id, 2u);
    EXPECT_EQ(got[1].task_id, 1u);
    EXPECT_EQ(got[2].task_id, 3u);
}

TEST(TimerWheel, CancelledTimersNeverFire) {
    wheel w(cfg(16, 1));
    const handle a = w.schedule(10, 1);
    const handle b = w.schedule(10, 2);
    const handle c = w.schedule(100000, 3);
    EXPECT_TRUE(w.cancel(a));
    EXPECT_FALSE(w.cancel(a)) << "double cancel";
    EXPECT_TRUE(w.cancel(c));
    EXPECT_FALSE(w.cancel(handle{})) << "default handle";
    EXPECT_EQ(w.pending(), 1u);
    const auto got = drain(w, 1000000);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].h, b);
    // The freed id is reused with a new generation: the old handle stays stale.
    const handle d = w.schedule(2000000, 4);
    EXPECT_FALSE(w.cancel(a));
    EXPECT_TRUE(w.cancel(d));
}

TEST(TimerWheel, CancelAnotherTimerInsideACallback) {
    wheel w(cfg(64, 10));
    const handle a = w.schedule(100, 1);
    const handle b = w.schedule(101, 2); // same tick, same burst
    const handle c = w.schedule(500, 3); // later tick
    const handle d = w.schedule(105, 4);
    std::vector<std::uint32_t> fired;
    const std::size_t n = w.poll(1000, [&](const expired& e) {
        fired.push_back(e.task_id);
        if (e.task_id == 1) {
            EXPECT_TRUE(w.cancel(b));
            EXPECT_TRUE(w.cancel(c));
        }
    });
    EXPECT_EQ(n, 2u);
    EXPECT_EQ(fired, (std::vector<std::uint32_t>{1, 4}));
    EXPECT_FALSE(w.is_pending(a));
    EXPECT_FALSE(w.is_pending(d));
    EXPECT_EQ(w.pending(), 0u);
    EXPECT_TRUE(drain(w, 100000).empty());
}

TEST(TimerWheel, RearmInsideTheCallbackIsDriftFree) {
    wheel w(cfg(16, 10));
    const std::uint64_t period = 1000;
    handle h = w.schedule(period, 9);
    std::vector<std::uint64_t> deadlines;
    for (std::uint64_t now = 0; now < 20 * period + 7; now += 7) {
        w.poll(now, [&](const expired& e) {
            deadlines.push_back(e.deadline);
            EXPECT_FALSE(w.cancel(e.h)) << "the firing handle is already stale";
            h = w.schedule(e.deadline + period, e.task_id);
            EXPECT_TRUE(h.valid());
        });
    }
    ASSERT_EQ(deadlines.size(), 20u);
    for (std::size_t i = 0; i < deadlines.size(); ++i)
        EXPECT_EQ(deadlines[i], (i + 1) * period);
    EXPECT_EQ(w.pending(), 1u);
}

TEST(TimerWheel, RearmAtAPastDeadlineFiresInTheSamePollUpToMax) {
    wheel w(cfg(16, 10));
    (void)w.schedule(50, 1);
    int calls = 0;
    const std::size_t n = w.poll(
        100,
        [&](const expired& e) {
            ++calls;
            (void)w.schedule(e.deadline, e.task_id); // due again at once
        },
        5);
    EXPECT_EQ(n, 5u);
    EXPECT_EQ(calls, 5);
    EXPECT_EQ(w.pending(), 1u);
}

TEST(TimerWheel, EveryLevelBoundary) {
    // Tick 1 so deadlines are exact ticks; timers at and around each 64^L.
    std::vector<std::uint64_t> ds;
    for (unsigned lv = 1; lv <= 8; ++lv) {
        const std::uint64_t b = 1ull << (6 * lv);
        for (std::uint64_t d : {b - 1, b, b + 1, 2 * b - 1, 63 * b})
            ds.push_back(d);
    }
    for (int mode = 0; mode < 3; ++mode) {
        wheel w(cfg(256, 1));
        for (std::size_t i = 0; i < ds.size(); ++i)
            (void)w.schedule(ds[i], static_cast<std::uint32_t>(i));
        std::vector<std::uint64_t> sorted = ds;
        std::sort(sorted.begin(), sorted.end());
        if (mode == 0) { // one jump over everything
            const auto got = drain(w, sorted.back());
            ASSERT_EQ(got.size(), ds.size());
            for (std::size_t i = 0; i < got.size(); ++i)
                EXPECT_EQ(got[i].deadline, sorted[i]);
        } else {
            // Visit each deadline: one unit before (nothing), then exactly at it.
            std::size_t i = 0;
            while (i < sorted.size()) {
                const std::uint64_t d = sorted[i];
                std::size_t same = 0;
                while (i + same < sorted.size() && sorted[i + same] == d)
                    ++same;
                if (mode == 2) {
                    EXPECT_TRUE(drain(w, d - 1).empty()) << d;
                }
                const auto got = drain(w, d);
                ASSERT_EQ(got.size(), same) << d;
                for (const auto& e : got)
                    EXPECT_EQ(e.deadline, d);
                i += same;
            }
        }
        EXPECT_EQ(w.pending(), 0u);
    }
}

TEST(TimerWheel, BeyondRangeGoesToOverflowAndStillFiresOnTime) {
    wheel w(cfg(64, 1));
    const std::uint64_t range = 1ull << wheel::wheel_bits;
    const std::uint64_t ds[] = {range - 1, range, range + 5, 3 * range + 17, 40 * range + 1, 7};
    for (std::uint64_t d : ds)
        (void)w.schedule(d, 0);
    std::uint64_t prev = 0;
    std::vector<std::uint64_t> sorted(std::begin(ds), std::end(ds));
    std::sort(sorted.begin(), sorted.end());
    for (std::uint64_t d : sorted) {
        EXPECT_TRUE(drain(w, d - 1).empty()) << d;
        const auto got = drain(w, d);
        ASSERT_EQ(got.size(), 1u) << d;
        EXPECT_EQ(got[0].deadline, d);
        EXPECT_GT(d, prev);
        prev = d;
    }
    EXPECT_EQ(w.pending(), 0u);
}

TEST(TimerWheel, TickWrapAcrossTheEndOfTheClock) {
    // The clock starts just below 2^64 and wraps; so do the deadlines.
    const std::uint64_t origin = std::numeric_limits<std::uint64_t>::max() - 5000;
    wheel w(cfg(64, 10, origin));
    const std::uint64_t a = origin + 3000;  // before the wrap
    const std::uint64_t b = origin + 7000;  // after the wrap: a small number
    const std::uint64_t c = origin + 64000; // several slots later
    EXPECT_LT(b, a);
    (void)w.schedule(c, 3);
    (void)w.schedule(b, 2);
    (void)w.schedule(a, 1);
    EXPECT_TRUE(drain(w, origin + 2999).empty());
    auto got = drain(w, origin + 3000);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].task_id, 1u);
    EXPECT_TRUE(drain(w, b - 1).empty());
    got = drain(w, b);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].task_id, 2u);
    got = drain(w, c + 9);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].deadline, c);
}

TEST(TimerWheel, SlotIndexWrapsAtEveryLevel) {
    // Start the clock just before a level-3 boundary and schedule across it.
    wheel w(cfg(64, 1));
    const std::uint64_t b3 = 1ull << 18;
    EXPECT_TRUE(drain(w, b3 - 70).empty()); // _cur now sits at slot 62 of level 0
    for (std::uint64_t d = b3 - 66; d < b3 + 66; d += 11)
        (void)w.schedule(d, 0);
    std::size_t total = 0;
    for (std::uint64_t now = b3 - 70; now < b3 + 70; ++now) {
        const auto got = drain(w, now);
        for (const auto& e : got)
            EXPECT_EQ(e.deadline, now);
        total += got.size();
    }
    EXPECT_EQ(total, 12u);
}

TEST(TimerWheel, FullPoolReturnsInvalidHandle) {
    wheel w(cfg(4, 1));
    handle hs[4];
    for (auto& h : hs) {
        h = w.schedule(100, 0);
        ASSERT_TRUE(h.valid());
    }
    EXPECT_FALSE(w.schedule(100, 0).valid());
    EXPECT_TRUE(w.cancel(hs[2]));
    EXPECT_TRUE(w.schedule(100, 0).valid());
    EXPECT_EQ(drain(w, 100).size(), 4u);
}

TEST(TimerWheel, ManyTimersInOneTickFillEveryBlock) {
    wheel w(cfg(5000, 1));
    for (std::uint32_t i = 0; i < 5000; ++i)
        ASSERT_TRUE(w.schedule(1000, i).valid());
    EXPECT_FALSE(w.schedule(1000, 0).valid());
    EXPECT_EQ(drain(w, 1000, 33).size(), 5000u);
    for (std::uint32_t i = 0; i < 5000; ++i)
        ASSERT_TRUE(w.schedule(2000 + i, i).valid());
    EXPECT_EQ(drain(w, 10000, 5000).size(), 5000u);
}

TEST(TimerWheel, MemoryPerPendingTimerIsAtMost32Bytes) {
    static_assert(wheel::bytes_per_timer <= 32);
    // Everything allocated, divided by the timers it can hold, at the benchmark's size
    // and at a small size where the fixed per-slot slack weighs more.
    wheel big(cfg(1'000'000, 1));
    EXPECT_LE(static_cast<double>(big.memory_bytes()) / 1e6, 25.0);
    wheel small(cfg(32768, 1));
    EXPECT_LE(static_cast<double>(small.memory_bytes()) / 32768.0, 32.0);
}

} // namespace
