#include "base/clock.hh"

#include <atomic>
#include <thread>

namespace pk::tsc {
namespace {

std::atomic<std::uint64_t> g_hz{0};

std::uint64_t calibrate() noexcept {
#if PK_HAVE_TSC
    using clock = std::chrono::steady_clock;
    // Take the best of three short windows: a preempted window only lengthens wall
    // time, so the lowest estimate of ns per cycle is the least disturbed one.
    double best = 0;
    for (int i = 0; i < 3; ++i) {
        auto t0 = clock::now();
        auto c0 = now();
        std::this_thread::sleep_for(std::chrono::milliseconds(7));
        auto c1 = now();
        auto t1 = clock::now();
        double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
        double est = static_cast<double>(c1 - c0) * 1e9 / ns;
        if (est > best) best = est;
    }
    return static_cast<std::uint64_t>(best);
#else
    return 1'000'000'000ull;
#endif
}

} // namespace

std::uint64_t hz() noexcept {
    auto v = g_hz.load(std::memory_order_relaxed);
    if (PK_LIKELY(v != 0)) return v;
    std::uint64_t expected = 0;
    auto measured = calibrate();
    g_hz.compare_exchange_strong(expected, measured, std::memory_order_relaxed);
    return g_hz.load(std::memory_order_relaxed);
}

void set_hz(std::uint64_t v) noexcept {
    g_hz.store(v, std::memory_order_relaxed);
}

} // namespace pk::tsc
