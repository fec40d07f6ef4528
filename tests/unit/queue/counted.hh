// Test element that counts live objects, so leaks and double destroys fail a test.
#pragma once

#include <cstdint>
#include <gtest/gtest.h>

namespace pk::queue::testing {

struct counted {
    static inline int live = 0;
    static inline int destroyed_twice = 0;
    static constexpr std::uint32_t alive_tag = 0xA11CE5u;

    std::uint64_t value = 0;
    std::uint32_t tag = alive_tag;

    counted() noexcept { ++live; }
    explicit counted(std::uint64_t v) noexcept : value(v) { ++live; }
    counted(const counted& o) noexcept : value(o.value) { ++live; }
    counted(counted&& o) noexcept : value(o.value) { ++live; }
    counted& operator=(const counted& o) noexcept {
        value = o.value;
        return *this;
    }
    counted& operator=(counted&& o) noexcept {
        value = o.value;
        return *this;
    }
    ~counted() {
        if (tag != alive_tag) ++destroyed_twice;
        tag = 0xDEADu;
        --live;
    }
};

/// Fixture base: every test starts and must end with zero live objects.
class live_objects : public ::testing::Test {
protected:
    void SetUp() override {
        counted::live = 0;
        counted::destroyed_twice = 0;
    }
    void TearDown() override {
        EXPECT_EQ(counted::live, 0) << "leaked or over-destroyed objects";
        EXPECT_EQ(counted::destroyed_twice, 0);
    }
};

} // namespace pk::queue::testing
