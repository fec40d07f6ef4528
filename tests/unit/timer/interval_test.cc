// Interval list and the `timers` facade.
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "timer/timers.hh"

namespace {

using pk::timer::expired;
using pk::timer::handle;
using pk::timer::interval_list;
using pk::timer::timers;

TEST(IntervalList, DriftFreeWhenPolledLate) {
    interval_list l(4);
    const handle h = l.add(100, 100, 5);
    ASSERT_TRUE(h.valid());
    expired out[4];
    EXPECT_EQ(l.select(99, out, 4), 0u);
    // Observed 37 units late: still due at 200 next, not 237.
    ASSERT_EQ(l.select(137, out, 4), 1u);
    EXPECT_EQ(out[0].deadline, 100u);
    EXPECT_EQ(out[0].missed, 0u);
    EXPECT_EQ(out[0].task_id, 5u);
    EXPECT_EQ(out[0].h, h);
    EXPECT_EQ(l.select(199, out, 4), 0u);
    ASSERT_EQ(l.select(200, out, 4), 1u);
    EXPECT_EQ(out[0].deadline, 200u);
}

TEST(IntervalList, CountsMissedPeriods) {
    interval_list l(4);
    (void)l.add(100, 100, 1);
    expired out[4];
    ASSERT_EQ(l.select(100, out, 4), 1u);
    // The reactor stalls: 200, 300, 400 pass unobserved; fires once at 450.
    ASSERT_EQ(l.select(450, out, 4), 1u);
    EXPECT_EQ(out[0].deadline, 200u);
    EXPECT_EQ(out[0].missed, 2u);
    EXPECT_EQ(l.select(499, out, 4), 0u);
    ASSERT_EQ(l.select(500, out, 4), 1u);
    EXPECT_EQ(out[0].deadline, 500u);
    EXPECT_EQ(out[0].missed, 0u);
}

TEST(IntervalList, CancelAndCapacity) {
    interval_list l(2);
    const handle a = l.add(10, 10, 1);
    const handle b = l.add(15, 10, 2);
    EXPECT_FALSE(l.add(10, 10, 3).valid()) << "full";
    EXPECT_FALSE(l.add(10, 0, 3).valid()) << "period 0";
    EXPECT_TRUE(l.cancel(a));
    EXPECT_FALSE(l.cancel(a));
    expired out[4];
    ASSERT_EQ(l.select(1000, out, 4), 1u);
    EXPECT_EQ(out[0].h, b);
    const handle c = l.add(2000, 10, 3);
    EXPECT_TRUE(c.valid());
    EXPECT_FALSE(l.cancel(a)) << "slot reused, old handle stale";
    EXPECT_EQ(l.active(), 2u);
}

TEST(IntervalList, SmallBurstsDoNotStarveLaterEntries) {
    interval_list l(8);
    for (std::uint32_t i = 0; i < 8; ++i)
        (void)l.add(10, 10, i);
    expired out[3];
    std::vector<int> seen(8, 0);
    std::size_t n;
    while ((n = l.select(10, out, 3)) > 0)
        for (std::size_t i = 0; i < n; ++i)
            ++seen[out[i].task_id];
    for (int s : seen)
        EXPECT_EQ(s, 1);
}

TEST(Timers, CreateCancelSelectBothKinds) {
    timers::config c;
    c.wheel.capacity = 64;
    c.wheel.tick = 10;
    timers t(c);
    const handle o1 = t.create(pk::timer::oneshot{500}, 1);
    const handle o2 = t.create(pk::timer::oneshot{600}, 2);
    const handle p = t.create(pk::timer::interval{300}, 3); // first at 0 + 300
    ASSERT_TRUE(o1.valid() && o2.valid() && p.valid());
    EXPECT_NE(o1.id() & interval_list::handle_flag, interval_list::handle_flag);
    EXPECT_EQ(t.pending(), 3u);
    EXPECT_TRUE(t.cancel(o2));
    expired out[8];
    std::size_t n = t.select(500, out, 8);
    ASSERT_EQ(n, 2u);
    EXPECT_EQ(out[0].task_id, 3u); // interval (300) first, then the oneshot
    EXPECT_EQ(out[0].missed, 0u);
    EXPECT_EQ(out[1].task_id, 1u);
    EXPECT_TRUE(t.is_pending(p));
    EXPECT_TRUE(t.cancel(p));
    EXPECT_FALSE(t.is_pending(p));
    EXPECT_EQ(t.select(100000, out, 8), 0u);
    EXPECT_EQ(t.pending(), 0u);
}

TEST(Timers, PollCallbacksCancelIntervalsAndOneshots) {
    timers::config c;
    c.wheel.capacity = 64;
    c.wheel.tick = 1;
    timers t(c);
    handle p2;
    handle o;
    const handle p1 = t.create(pk::timer::interval{100, 100}, 1);
    p2 = t.create(pk::timer::interval{100, 100}, 2);
    o = t.create(pk::timer::oneshot{100}, 3);
    std::vector<std::uint32_t> fired;
    t.poll(100, [&](const expired& e) {
        fired.push_back(e.task_id);
        if (e.task_id == 1) {
            EXPECT_TRUE(t.cancel(p2));
            EXPECT_TRUE(t.cancel(o));
        }
    });
    EXPECT_EQ(fired, std::vector<std::uint32_t>{1});
    EXPECT_TRUE(t.is_pending(p1));
    fired.clear();
    t.poll(200, [&](const expired& e) { fired.push_back(e.task_id); });
    EXPECT_EQ(fired, std::vector<std::uint32_t>{1});
}

} // namespace
