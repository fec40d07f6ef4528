#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "base/cacheline.hh"
#include "base/clock.hh"
#include "base/log.hh"
#include "base/result.hh"

using namespace pk;

TEST(clock, hz_is_plausible_and_now_is_monotonic) {
    auto hz = tsc::hz();
    EXPECT_GT(hz, 100'000'000u); // any machine we run on ticks faster than 100 MHz
    EXPECT_LT(hz, 10'000'000'000u);
    auto a = tsc::now();
    auto b = tsc::now();
    EXPECT_LE(a, b);
}

TEST(clock, calibration_matches_steady_clock_within_5_percent) {
    auto t0 = std::chrono::steady_clock::now();
    auto c0 = tsc::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto c1 = tsc::now();
    auto t1 = std::chrono::steady_clock::now();
    double wall = std::chrono::duration<double>(t1 - t0).count();
    double measured = tsc::to_seconds(c1 - c0);
    EXPECT_NEAR(measured / wall, 1.0, 0.05);
}

TEST(clock, conversions_round_trip) {
    auto c = tsc::from_us(1000);
    EXPECT_NEAR(tsc::to_ns(c), 1e6, 1e6 * 0.001);
}

TEST(result, holds_value_or_error) {
    result<int> ok = 42;
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, 42);
    result<int> bad = make_error(errc::not_found, "no such port 'eth9'");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.err().code, errc::not_found);
    EXPECT_EQ(bad.err().message, "no such port 'eth9'");
    status s;
    EXPECT_TRUE(s);
    status f = make_error(errc::io, "x");
    EXPECT_FALSE(f);
    EXPECT_STREQ(to_string(errc::dpdk), "DPDK error");
}

TEST(log, levels_parse_and_filter) {
    EXPECT_EQ(log::parse_level("debug"), log::level::debug);
    EXPECT_EQ(log::parse_level("warning"), log::level::warn);
    EXPECT_FALSE(log::parse_level("loud").has_value());
    auto old = log::get_level();
    log::set_level(log::level::warn);
    EXPECT_FALSE(log::enabled(log::level::info));
    EXPECT_TRUE(log::enabled(log::level::error));
    log::set_level(old);
}

TEST(cacheline, padded_separates_neighbours) {
    padded<int> a[2];
    auto d = reinterpret_cast<char*>(&a[1]) - reinterpret_cast<char*>(&a[0]);
    EXPECT_EQ(static_cast<std::size_t>(d), destructive_interference);
}
