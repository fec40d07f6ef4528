// TSC clock: cycle counter reads on the hot path, calibrated once to convert to time.
//
// `tsc::now()` is a raw RDTSC (x86) or CNTVCT (Arm) read: ~20 cycles, monotonic on
// machines with an invariant TSC (constant_tsc + nonstop_tsc). `tsc::hz()` is
// calibrated against std::chrono::steady_clock on first use (about 20 ms) unless
// `tsc::set_hz()` was called first, e.g. with rte_get_tsc_hz() once EAL is up.
// Where no cycle counter exists, now() falls back to steady_clock nanoseconds and
// hz() is 1e9, so plain-C++ layers and their tests run anywhere.
#pragma once

#include <chrono>
#include <cstdint>

#include "base/compiler.hh"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define PK_HAVE_TSC 1
#elif defined(__aarch64__)
#define PK_HAVE_TSC 1
#else
#define PK_HAVE_TSC 0
#endif

namespace pk::tsc {

/// Current cycle count. Any core may call it; no serialisation (use for intervals
/// of hundreds of cycles or more).
PK_ALWAYS_INLINE std::uint64_t now() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#elif defined(__aarch64__)
    std::uint64_t v;
    asm volatile("mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
#endif
}

/// Cycles per second (calibrated once, thread-safe).
std::uint64_t hz() noexcept;

/// Override the calibration (e.g. with rte_get_tsc_hz()). Call before any hz() user.
void set_hz(std::uint64_t hz) noexcept;

/// Conversions; exact enough for timeouts and reporting.
inline std::uint64_t from_ns(std::uint64_t ns) noexcept {
    return static_cast<std::uint64_t>(static_cast<double>(ns) * static_cast<double>(hz()) / 1e9);
}
inline std::uint64_t from_us(std::uint64_t us) noexcept {
    return from_ns(us * 1000);
}
inline double to_ns(std::uint64_t cycles) noexcept {
    return static_cast<double>(cycles) * 1e9 / static_cast<double>(hz());
}
inline double to_seconds(std::uint64_t cycles) noexcept {
    return static_cast<double>(cycles) / static_cast<double>(hz());
}

} // namespace pk::tsc
