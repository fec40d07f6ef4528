// Timer benchmarks: pk::timer::wheel against DPDK's rte_timer in the same process.
//
//  timer_schedule_cancel/<impl>: with 1M timers pending (random deadlines within 10 s),
//    schedule then cancel one more timer at a random deadline within 10 s. One item =
//    one schedule + one cancel. rte_timer: rte_timer_reset + rte_timer_stop, one lcore.
//  timer_expire/<impl>: 1M timers with random deadlines spread over 1 s (same random
//    sequence, same insertion order for both), then the clock is advanced past all of
//    them and every expiry is handled (counted). One item = one expiration.
//    pktkernel: mock clock in TSC units, 10 us tick, select() bursts of 256.
//    rte_timer: deadlines placed 1..2 s in the past (rte_timer_reset adds `ticks` to
//    the current TSC modulo 2^64), then one rte_timer_manage() fires them all with
//    a counting callback. Setup is excluded from the timing for both.
//
// Expectations (issue 4): schedule_cancel >= 5x rte_timer (O(1) wheel vs an O(log n)
// skiplist), expire >= 3x (entries stream through 256-byte blocks; rte_timer walks a
// pointer-linked list twice).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_timer.h>

#include "base/clock.hh"
#include "timer/wheel.hh"

namespace {

constexpr std::uint32_t pending_timers = 1'000'000;
constexpr std::size_t n_offsets = 1u << 16;

std::uint64_t tsc_hz() {
    return rte_get_tsc_hz();
}

std::vector<std::uint64_t> random_offsets(std::size_t n, std::uint64_t range, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::uint64_t> v(n);
    for (auto& x : v)
        x = 1 + rng() % range;
    return v;
}

// ---- timer_schedule_cancel -------------------------------------------------------------

void timer_schedule_cancel_pktkernel(benchmark::State& st) {
    const std::uint64_t window = 10 * tsc_hz();
    pk::timer::wheel_config cfg;
    cfg.capacity = pending_timers + 16;
    cfg.tick = pk::tsc::from_us(10);
    cfg.origin = 0;
    auto w = std::make_unique<pk::timer::wheel>(cfg);
    const auto fill = random_offsets(pending_timers, window, 1);
    for (std::uint32_t i = 0; i < pending_timers; ++i)
        (void)w->schedule(fill[i], i);
    const auto offs = random_offsets(n_offsets, window, 2);
    std::size_t i = 0;
    for (auto _ : st) {
        const pk::timer::handle h = w->schedule(offs[i++ & (n_offsets - 1)], 7);
        benchmark::DoNotOptimize(h);
        const bool ok = w->cancel(h);
        benchmark::DoNotOptimize(ok);
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
    st.counters["pending"] = static_cast<double>(w->pending());
    st.counters["bytes_per_timer"] = static_cast<double>(w->memory_bytes()) / cfg.capacity;
}

void noop_cb(rte_timer*, void*) {}

// Stops every pending timer cheaply: in deadline order each stop is at the list head.
void stop_all(std::vector<rte_timer>& ts) {
    std::vector<std::uint32_t> idx(ts.size());
    std::iota(idx.begin(), idx.end(), 0u);
    std::sort(idx.begin(), idx.end(),
              [&](std::uint32_t a, std::uint32_t b) { return ts[a].expire < ts[b].expire; });
    for (std::uint32_t i : idx)
        rte_timer_stop(&ts[i]);
}

void timer_schedule_cancel_rte(benchmark::State& st) {
    st.counters["bytes_per_timer"] = sizeof(rte_timer);
    rte_timer_subsystem_init(); // -EALREADY after the first call: fine
    const unsigned lcore = rte_lcore_id();
    const std::uint64_t window = 10 * tsc_hz();
    std::vector<rte_timer> ts(pending_timers);
    const auto fill = random_offsets(pending_timers, window, 1);
    // Armed in deadline order (appends: fast set-up); the skiplist is the same as after
    // random-order arming (levels are random per node) and timer i still sits at a
    // random place in memory relative to its list position.
    std::vector<std::uint32_t> order(pending_timers);
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return fill[a] < fill[b]; });
    for (std::uint32_t i : order) {
        rte_timer_init(&ts[i]);
        if (rte_timer_reset(&ts[i], fill[i], SINGLE, lcore, noop_cb, nullptr) != 0) {
            st.SkipWithError("rte_timer_reset failed");
            return;
        }
    }
    rte_timer extra;
    rte_timer_init(&extra);
    const auto offs = random_offsets(n_offsets, window, 2);
    std::size_t i = 0;
    for (auto _ : st) {
        const int r =
            rte_timer_reset(&extra, offs[i++ & (n_offsets - 1)], SINGLE, lcore, noop_cb, nullptr);
        benchmark::DoNotOptimize(r);
        const int s = rte_timer_stop(&extra);
        benchmark::DoNotOptimize(s);
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
    stop_all(ts); // after the timed loop
}

// ---- timer_expire ------------------------------------------------------------------------

void timer_expire_pktkernel(benchmark::State& st) {
    const std::uint64_t hz = tsc_hz();
    pk::timer::wheel_config cfg;
    cfg.capacity = pending_timers;
    cfg.tick = pk::tsc::from_us(10);
    cfg.origin = 0;
    auto w = std::make_unique<pk::timer::wheel>(cfg);
    const auto offs = random_offsets(pending_timers, hz, 3);
    std::uint64_t base = 0;
    std::uint64_t fired = 0;
    pk::timer::expired buf[256];
    for (auto _ : st) {
        st.PauseTiming();
        for (std::uint32_t i = 0; i < pending_timers; ++i)
            (void)w->schedule(base + offs[i], i);
        const std::uint64_t end = base + hz + cfg.tick;
        st.ResumeTiming();
        std::uint64_t sum = 0;
        std::size_t n;
        while ((n = w->select(end, buf, 256)) > 0) {
            for (std::size_t k = 0; k < n; ++k)
                sum += buf[k].task_id;
            fired += n;
        }
        benchmark::DoNotOptimize(sum);
        base = end;
    }
    if (fired != st.iterations() * std::uint64_t{pending_timers})
        st.SkipWithError("not every timer expired");
    st.SetItemsProcessed(static_cast<std::int64_t>(fired));
}

void count_cb(rte_timer*, void* arg) {
    ++*static_cast<std::uint64_t*>(arg);
}

void timer_expire_rte(benchmark::State& st) {
    rte_timer_subsystem_init();
    const unsigned lcore = rte_lcore_id();
    const std::uint64_t hz = tsc_hz();
    std::vector<rte_timer> ts(pending_timers);
    const auto offs = random_offsets(pending_timers, hz, 3);
    std::uint64_t fired = 0;
    for (auto _ : st) {
        st.PauseTiming();
        // expire = now + ticks (mod 2^64) = now - 2 s + offset: spread over a past second.
        for (std::uint32_t i = 0; i < pending_timers; ++i) {
            rte_timer_init(&ts[i]);
            (void)rte_timer_reset(&ts[i], offs[i] - 2 * hz, SINGLE, lcore, count_cb, &fired);
        }
        st.ResumeTiming();
        rte_timer_manage();
    }
    if (fired != st.iterations() * std::uint64_t{pending_timers})
        st.SkipWithError("not every timer expired");
    st.SetItemsProcessed(static_cast<std::int64_t>(fired));
}

} // namespace

BENCHMARK(timer_schedule_cancel_pktkernel)->Name("timer_schedule_cancel/pktkernel");
BENCHMARK(timer_schedule_cancel_rte)->Name("timer_schedule_cancel/rte_timer");
BENCHMARK(timer_expire_pktkernel)->Name("timer_expire/pktkernel")->Unit(benchmark::kMillisecond);
BENCHMARK(timer_expire_rte)->Name("timer_expire/rte_timer")->Unit(benchmark::kMillisecond);
