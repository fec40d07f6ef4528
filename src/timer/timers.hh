// The timer layer's public face, in the seed's terms: create / cancel / select / poll.
//
// A `timers` object is one core's TIMERS source: a hierarchical wheel for oneshot
// timers (wheel.hh) plus a fixed list of interval timers (interval.hh). An entry is
// (deadline or interval, task id); select(now) hands out a burst of expired entries, and
// the reactor makes each entry's task runnable.
//
//   pk::timer::timers t({pk::timer::wheel_config::tsc(1 << 20)});
//   auto h = t.create(pk::timer::oneshot{pk::tsc::now() + pk::tsc::from_us(500)}, task);
//   auto p = t.create(pk::timer::interval{pk::tsc::from_us(100'000)}, stats_task);
//   pk::timer::expired burst[32];
//   std::size_t n = t.select(pk::tsc::now(), burst, 32);   // or t.poll(now, fn)
//
// Guarantees are those of wheel (never early, at most one tick late, O(1) create and
// cancel, deadline order within a wheel burst) and interval_list (drift-free, missed
// periods counted). In a burst, interval entries come first. Owning core only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "timer/interval.hh"
#include "timer/types.hh"
#include "timer/wheel.hh"

namespace pk::timer {

/// Fires once at `deadline` (absolute time units).
struct oneshot {
    std::uint64_t deadline;
};

/// Fires every `period` units, first at `first` (0: one period after the last select's
/// `now`, i.e. after "now" as the timers object knows it).
struct interval {
    std::uint64_t period;
    std::uint64_t first = 0;
};

class timers {
public:
    struct config {
        wheel_config wheel;
        std::uint32_t intervals = 64; ///< capacity of the interval list
    };

    explicit timers(const config& cfg)
        : _wheel(cfg.wheel), _intervals(cfg.intervals), _now(cfg.wheel.origin) {}

    /// Arms a oneshot timer. Invalid handle if the wheel is full.
    [[nodiscard]] handle create(oneshot o, std::uint32_t task_id) noexcept {
        return _wheel.schedule(o.deadline, task_id);
    }
    /// Arms an interval timer. Invalid handle if the list is full or period is 0.
    [[nodiscard]] handle create(interval iv, std::uint32_t task_id) noexcept {
        const std::uint64_t first = iv.first != 0 ? iv.first : _now + iv.period;
        return _intervals.add(first, iv.period, task_id);
    }
    /// Disarms either kind. False for a stale handle (already fired or cancelled).
    bool cancel(handle h) noexcept {
        return (h.id() & interval_list::handle_flag) ? _intervals.cancel(h) : _wheel.cancel(h);
    }
    bool is_pending(handle h) const noexcept {
        return (h.id() & interval_list::handle_flag) ? _intervals.is_active(h)
                                                     : _wheel.is_pending(h);
    }

    /// Up to `max` expired entries at `now` into `out` (intervals first, then oneshots
    /// in deadline order); returns the count. Call again if it returned `max`.
    [[nodiscard]] std::size_t select(std::uint64_t now, expired* out, std::size_t max) noexcept {
        _now = now;
        std::size_t n = _intervals.select(now, out, max);
        return n + _wheel.select(now, out + n, max - n);
    }

    /// Calls fn(const expired&) for everything due at `now` (at most `max`); fn may
    /// create and cancel timers, including ones due in this same poll (a cancelled one
    /// is not called). Returns how many were called.
    template <typename F>
    std::size_t poll(std::uint64_t now, F&& fn,
                     std::size_t max = std::numeric_limits<std::size_t>::max()) noexcept {
        _now = now;
        std::size_t fired = 0;
        expired buf[16];
        while (fired < max) {
            const std::size_t want = max - fired < 16 ? max - fired : 16;
            const std::size_t n = _intervals.select(now, buf, want);
            for (std::size_t i = 0; i < n; ++i) {
                if (!_intervals.is_active(buf[i].h)) continue; // cancelled by a callback
                fn(static_cast<const expired&>(buf[i]));
                ++fired;
            }
            if (n < want) break;
        }
        if (fired < max) fired += _wheel.poll(now, fn, max - fired);
        return fired;
    }

    /// Earliest time anything may be due (lower bound; for idle sleeping decisions).
    std::uint64_t next_due_hint() const noexcept {
        const std::uint64_t w = _wheel.next_due_hint();
        if (_intervals.active() == 0) return w;
        const std::uint64_t i = _intervals.next_deadline();
        return static_cast<std::int64_t>(i - w) < 0 ? i : w;
    }

    std::size_t pending() const noexcept { return _wheel.pending() + _intervals.active(); }
    wheel& oneshots() noexcept { return _wheel; }
    interval_list& intervals() noexcept { return _intervals; }

private:
    wheel _wheel;
    interval_list _intervals;
    std::uint64_t _now;
};

} // namespace pk::timer
