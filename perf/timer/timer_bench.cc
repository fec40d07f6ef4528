// Timer benchmarks: pk::timer::wheel against DPDK's rte_timer, same process, one thread
// (the benchmark thread, lcore 0). The argument is the pending count N (1K, 64K, 1M); both
// sides see the same random sequence (deadlines within 10 s, victims, insertion order).
//
//  timer_schedule/<impl>: N pending; per batch, cancel K random pending timers (untimed),
//    then time arming K new ones at random deadlines (wheel::schedule | rte_timer_reset).
//  timer_cancel/<impl>:   N pending; per batch, time cancelling K timers picked uniformly
//    from the whole pending set (wheel::cancel | rte_timer_stop), then re-arm K (untimed).
//  timer_expire/<impl>:   time arming N timers at random deadlines and handling every
//    expiry: wheel on a mock TSC clock drained with select() bursts of 256 | rte_timer with
//    deadlines placed in the past, fired by one rte_timer_manage() with a counting callback.
//
// K = min(1024, N / 16), so the pending count stays within 6% of N. Batches are timed with
// the TSC and only the timed phase counts: items_per_second (what perf/ratios.py compares)
// and ns_per_op are counters; the time column covers both phases and set-up is excluded.
// rte_timer uses its everyday API: rte_timer_init once per timer, rte_timer_reset(SINGLE,
// this lcore), rte_timer_stop, rte_timer_manage; rte_timer_reset also reads the TSC (its
// ticks are relative) where the wheel takes an absolute deadline.
//
// Expectations (issue 4): >= 5x rte_timer at 64K and 1M for all three. The wheel's
// schedule and cancel are O(1) (append to a slot's head block; swap-remove with its last
// entry), a few cache misses each; rte_timer walks a 10-level skiplist (O(log n) misses)
// for every reset and stop. Expiry streams 256-byte blocks through <= 3 cascades where
// rte_timer inserts each timer into the skiplist and walks the fired list twice.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_timer.h>

#include "base/clock.hh"
#include "timer/wheel.hh"
#include "../common/stamp.hh"

namespace {

constexpr std::uint64_t seed_fill = 1;   // deadlines of the initial N pending
constexpr std::uint64_t seed_churn = 2;  // victims and new deadlines of schedule/cancel
constexpr std::uint64_t seed_expire = 3; // deadlines of timer_expire
constexpr std::size_t select_burst = 256;

std::uint64_t tsc_hz() {
    return rte_get_tsc_hz();
}
std::uint64_t window() {
    return 10 * tsc_hz();
}

// splitmix64: cheap, and the same sequence on both sides.
struct rng {
    std::uint64_t s;
    std::uint64_t next() noexcept {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
};

// Deadline offsets in [1, range].
std::vector<std::uint64_t> random_offsets(std::size_t n, std::uint64_t range, std::uint64_t seed) {
    rng r{seed};
    std::vector<std::uint64_t> v(n);
    for (auto& x : v)
        x = 1 + r.below(range);
    return v;
}

std::uint32_t batch_of(std::uint32_t n) {
    return std::min<std::uint32_t>(1024, n / 16);
}

void report(benchmark::State& st, std::uint64_t ops, std::uint64_t cycles) {
    const double s = static_cast<double>(cycles) / static_cast<double>(tsc_hz());
    st.counters["items_per_second"] = s > 0 ? static_cast<double>(ops) / s : 0.0;
    pk::bench::stamp(st);
    st.counters["ns_per_op"] = ops > 0 ? s * 1e9 / static_cast<double>(ops) : 0.0;
}

enum class timed_phase { schedule, cancel };

// The schedule/cancel loop, shared by both sides. Side provides:
//   take(j): removes pending[j] (swap with the last) into the next victim slot;
//   cancel_victims(): cancels every victim (timed for timer_cancel);
//   schedule(offs): arms offs.size() timers at those offsets (timed for timer_schedule);
//   pending(): the pending count.
template <typename Side>
void churn(benchmark::State& st, Side& side, std::uint32_t n, timed_phase timed) {
    const std::uint32_t k = batch_of(n);
    const std::uint64_t win = window();
    rng r{seed_churn};
    std::vector<std::uint64_t> offs(k);
    std::uint64_t cycles = 0;
    std::uint64_t ops = 0;
    for (auto _ : st) {
        for (std::uint32_t i = 0; i < k; ++i)
            side.take(r.below(n - i));
        const std::uint64_t t0 = pk::tsc::now();
        side.cancel_victims();
        const std::uint64_t t1 = pk::tsc::now();
        for (auto& o : offs)
            o = 1 + r.below(win);
        const std::uint64_t t2 = pk::tsc::now();
        side.schedule(offs);
        const std::uint64_t t3 = pk::tsc::now();
        cycles += timed == timed_phase::cancel ? t1 - t0 : t3 - t2;
        ops += k;
    }
    if (!side.ok()) st.SkipWithError("a schedule or cancel failed");
    if (side.pending() != n) st.SkipWithError("the pending count drifted");
    report(st, ops, cycles);
}

// ---- pktkernel side ------------------------------------------------------------------------

pk::timer::wheel_config mock_tsc_config(std::uint32_t capacity) {
    pk::timer::wheel_config cfg;
    cfg.capacity = capacity;
    cfg.tick = tsc_hz() / 100'000; // 10 us
    cfg.origin = 0;                // mock clock: the wheel's time starts at 0
    return cfg;
}

class wheel_side {
public:
    // N timers pending at random deadlines within the window; the mock clock stays at 0.
    explicit wheel_side(std::uint32_t n)
        : _w(std::make_unique<pk::timer::wheel>(mock_tsc_config(n))) {
        const auto fill = random_offsets(n, window(), seed_fill);
        _pending.reserve(n);
        for (std::uint32_t i = 0; i < n; ++i)
            _pending.push_back(_w->schedule(fill[i], i));
        _ok = std::all_of(_pending.begin(), _pending.end(),
                          [](pk::timer::handle h) { return h.valid(); });
        _victims.resize(batch_of(n));
    }

    void take(std::uint64_t j) noexcept {
        _victims[_nv++] = _pending[j];
        _pending[j] = _pending.back();
        _pending.pop_back();
    }
    void cancel_victims() noexcept {
        bool ok = true;
        for (std::uint32_t i = 0; i < _nv; ++i)
            ok &= _w->cancel(_victims[i]);
        _nv = 0;
        _ok &= ok;
    }
    void schedule(const std::vector<std::uint64_t>& offs) noexcept {
        const std::uint32_t task = 7;
        for (std::size_t i = 0; i < offs.size(); ++i)
            _victims[i] = _w->schedule(offs[i], task);
        for (std::size_t i = 0; i < offs.size(); ++i) {
            _ok &= _victims[i].valid();
            _pending.push_back(_victims[i]);
        }
    }
    std::size_t pending() const noexcept { return _w->pending(); }
    bool ok() const noexcept { return _ok; }
    double bytes_per_timer() const noexcept {
        return static_cast<double>(_w->memory_bytes()) / static_cast<double>(_w->capacity());
    }

private:
    std::unique_ptr<pk::timer::wheel> _w;
    std::vector<pk::timer::handle> _pending;
    std::vector<pk::timer::handle> _victims; // this batch's victims, then its new handles
    std::uint32_t _nv = 0;
    bool _ok = true;
};

void churn_pktkernel(benchmark::State& st, timed_phase timed) {
    const auto n = static_cast<std::uint32_t>(st.range(0));
    wheel_side side(n);
    churn(st, side, n, timed);
    st.counters["bytes_per_timer"] = side.bytes_per_timer();
}

void timer_schedule_pktkernel(benchmark::State& st) {
    churn_pktkernel(st, timed_phase::schedule);
}
void timer_cancel_pktkernel(benchmark::State& st) {
    churn_pktkernel(st, timed_phase::cancel);
}

void timer_expire_pktkernel(benchmark::State& st) {
    const auto n = static_cast<std::uint32_t>(st.range(0));
    const pk::timer::wheel_config cfg = mock_tsc_config(n);
    auto w = std::make_unique<pk::timer::wheel>(cfg);
    const std::uint64_t win = window();
    const auto offs = random_offsets(n, win, seed_expire);
    pk::timer::expired buf[select_burst];
    std::uint64_t base = 0; // mock clock: every round starts where the last one ended
    std::uint64_t sum = 0;
    bool armed = true;
    // One round: arm all n, advance the clock past the window, drain. Returns how many fired.
    auto round = [&]() noexcept {
        for (std::uint32_t i = 0; i < n; ++i)
            armed &= w->schedule(base + offs[i], i).valid();
        const std::uint64_t end = base + win + cfg.tick;
        std::uint64_t fired = 0;
        std::size_t m;
        while ((m = w->select(end, buf, select_burst)) > 0) {
            for (std::size_t i = 0; i < m; ++i)
                sum += buf[i].task_id;
            fired += m;
        }
        base = end;
        return fired;
    };
    // Untimed first round: pages the wheel's blocks in (rte_timer_init touched rte_timer's).
    bool all = round() == n;
    std::uint64_t fired = 0;
    std::uint64_t cycles = 0;
    for (auto _ : st) {
        const std::uint64_t t0 = pk::tsc::now();
        fired += round();
        cycles += pk::tsc::now() - t0;
    }
    benchmark::DoNotOptimize(sum);
    all &= fired == st.iterations() * std::uint64_t{n};
    if (!armed) st.SkipWithError("wheel::schedule failed");
    if (!all) st.SkipWithError("not every timer expired");
    report(st, fired, cycles);
    st.counters["bytes_per_timer"] =
        static_cast<double>(w->memory_bytes()) / static_cast<double>(cfg.capacity);
}

// ---- rte_timer side ------------------------------------------------------------------------

void rte_timers_init() {
    rte_timer_subsystem_init(); // -EALREADY after the first call: fine
}

void noop_cb(rte_timer*, void*) {}

void count_cb(rte_timer*, void* arg) {
    ++*static_cast<std::uint64_t*>(arg);
}

// Stops the given timers cheaply: in deadline order each one is at the list head.
void stop_all(std::vector<rte_timer*>& ts) {
    std::sort(ts.begin(), ts.end(),
              [](const rte_timer* a, const rte_timer* b) { return a->expire < b->expire; });
    for (rte_timer* t : ts)
        rte_timer_stop(t);
}

// rte_timer storage: one per cache line pair (120 bytes, padded to 128 and aligned), so a
// skiplist step reads expire and sl_next[0..6] from one line. Kinder to rte_timer than a
// plain array (DPDK's test_timer_perf strides 120 bytes).
struct alignas(RTE_CACHE_LINE_SIZE) rte_slot {
    rte_timer t;
};

class rte_side {
public:
    // N timers pending at the same random deadlines as the wheel's (pending[i] = timer i).
    // Armed in deadline order (appends: fast set-up); the skiplist is the same as after
    // random-order arming (levels are random per node) and timer i still sits at a random
    // place in memory relative to its list position.
    explicit rte_side(std::uint32_t n) : _ts(n), _lcore(rte_lcore_id()) {
        rte_timers_init();
        const auto fill = random_offsets(n, window(), seed_fill);
        std::vector<std::uint32_t> order(n);
        std::iota(order.begin(), order.end(), 0u);
        std::sort(order.begin(), order.end(),
                  [&](std::uint32_t a, std::uint32_t b) { return fill[a] < fill[b]; });
        for (rte_slot& s : _ts)
            rte_timer_init(&s.t);
        for (std::uint32_t i : order)
            _ok &= rte_timer_reset(&_ts[i].t, fill[i], SINGLE, _lcore, noop_cb, nullptr) == 0;
        _pending.reserve(n);
        for (rte_slot& s : _ts)
            _pending.push_back(&s.t);
        _victims.resize(batch_of(n));
    }
    // Every timer stopped before the array goes: rte_timer_manage on this lcore (in
    // timer_expire) must not find them.
    ~rte_side() { stop_all(_pending); }
    rte_side(const rte_side&) = delete;
    rte_side& operator=(const rte_side&) = delete;

    void take(std::uint64_t j) noexcept {
        _victims[_nv++] = _pending[j];
        _pending[j] = _pending.back();
        _pending.pop_back();
    }
    void cancel_victims() noexcept {
        int rc = 0;
        for (std::uint32_t i = 0; i < _nv; ++i)
            rc |= rte_timer_stop(_victims[i]);
        _ok &= rc == 0;
    }
    // Re-arms the stopped victims, last stopped first (as the wheel's id free list does).
    void schedule(const std::vector<std::uint64_t>& offs) noexcept {
        int rc = 0;
        for (std::size_t i = 0; i < offs.size(); ++i)
            rc |= rte_timer_reset(_victims[_nv - 1 - i], offs[i], SINGLE, _lcore, noop_cb, nullptr);
        _ok &= rc == 0;
        for (std::size_t i = 0; i < offs.size(); ++i)
            _pending.push_back(_victims[_nv - 1 - i]);
        _nv = 0;
    }
    // Pending timers as rte_timer sees them (a full scan: call once, after the loop).
    std::size_t pending() const noexcept {
        return static_cast<std::size_t>(
            std::count_if(_ts.begin(), _ts.end(), [](const rte_slot& s) {
                return rte_timer_pending(const_cast<rte_timer*>(&s.t)) != 0;
            }));
    }
    bool ok() const noexcept { return _ok; }

private:
    std::vector<rte_slot> _ts;
    std::vector<rte_timer*> _pending;
    std::vector<rte_timer*> _victims;
    std::uint32_t _nv = 0;
    unsigned _lcore;
    bool _ok = true;
};

void churn_rte(benchmark::State& st, timed_phase timed) {
    const auto n = static_cast<std::uint32_t>(st.range(0));
    rte_side side(n);
    churn(st, side, n, timed);
    st.counters["bytes_per_timer"] = sizeof(rte_slot);
}

void timer_schedule_rte(benchmark::State& st) {
    churn_rte(st, timed_phase::schedule);
}
void timer_cancel_rte(benchmark::State& st) {
    churn_rte(st, timed_phase::cancel);
}

void timer_expire_rte(benchmark::State& st) {
    rte_timers_init();
    const auto n = static_cast<std::uint32_t>(st.range(0));
    const unsigned lcore = rte_lcore_id();
    const std::uint64_t win = window();
    const auto offs = random_offsets(n, win, seed_expire);
    std::vector<rte_slot> ts(n);
    for (rte_slot& s : ts)
        rte_timer_init(&s.t);
    // expire = now + ticks (mod 2^64) = now - window - 1 s + offset: spread over the
    // window, ending 1 s in the past, so one rte_timer_manage() fires them all.
    const std::uint64_t back = win + tsc_hz();
    std::uint64_t fired = 0;
    std::uint64_t cycles = 0;
    int rc = 0;
    for (auto _ : st) {
        const std::uint64_t t0 = pk::tsc::now();
        for (std::uint32_t i = 0; i < n; ++i)
            rc |= rte_timer_reset(&ts[i].t, offs[i] - back, SINGLE, lcore, count_cb, &fired);
        rte_timer_manage();
        cycles += pk::tsc::now() - t0;
    }
    if (rc != 0) st.SkipWithError("rte_timer_reset failed");
    if (fired != st.iterations() * std::uint64_t{n}) st.SkipWithError("not every timer expired");
    report(st, fired, cycles);
    st.counters["bytes_per_timer"] = sizeof(rte_slot);
}

void pending_args(benchmark::internal::Benchmark* b) {
    b->Arg(1024)->Arg(65536)->Arg(1048576)->ArgName("pending");
}

} // namespace

BENCHMARK(timer_schedule_pktkernel)->Name("timer_schedule/pktkernel")->Apply(pending_args);
BENCHMARK(timer_schedule_rte)->Name("timer_schedule/rte_timer")->Apply(pending_args);
BENCHMARK(timer_cancel_pktkernel)->Name("timer_cancel/pktkernel")->Apply(pending_args);
BENCHMARK(timer_cancel_rte)->Name("timer_cancel/rte_timer")->Apply(pending_args);
BENCHMARK(timer_expire_pktkernel)
    ->Name("timer_expire/pktkernel")
    ->Apply(pending_args)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(timer_expire_rte)
    ->Name("timer_expire/rte_timer")
    ->Apply(pending_args)
    ->Unit(benchmark::kMillisecond);
