// Fixed list of interval (periodic) timers: stats flush, rebalancing, flow aging.
//
// When to use: a few periodic jobs per core (tens). Each select scans the list, so it is
// meant for small lists; thousands of timers belong in the wheel.
//
// Guarantees
//  - Drift-free: the k-th firing is due at first + k * period, whenever it was observed
//    (next = previous deadline + period, never now + period).
//  - When select is late by one or more whole periods the entry fires once, with
//    `expired::missed` = the number of periods skipped, and resumes on the grid.
//  - Never early: fires only when now >= its deadline.
//  - Fixed capacity chosen at construction; add/cancel/select are noexcept and
//    allocation-free.
//
// Handles carry `handle_flag` in their id so the `timers` facade can tell them from
// wheel handles. Threading: owning core only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/compiler.hh"
#include "timer/types.hh"

namespace pk::timer {

class interval_list {
public:
    static constexpr std::uint32_t handle_flag = 0x80000000u;

    explicit interval_list(std::uint32_t capacity = 64) : _slots(capacity) {}

    /// Arms a periodic timer: first due at `first`, then every `period` (> 0) units.
    /// Returns an invalid handle when the list is full or period is 0.
    [[nodiscard]] handle add(std::uint64_t first, std::uint64_t period,
                             std::uint32_t task_id) noexcept {
        if (period == 0) return handle{};
        for (std::uint32_t i = 0; i < _slots.size(); ++i) {
            slot& s = _slots[i];
            if (s.gen & 1u) continue;
            s.next = first;
            s.period = period;
            s.task = task_id;
            ++s.gen;
            ++_active;
            if (i >= _used) _used = i + 1;
            if (static_cast<std::int64_t>(first - _next_min) < 0 || _active == 1) _next_min = first;
            return handle::make(i | handle_flag, s.gen);
        }
        return handle{};
    }

    /// Stops a periodic timer. False for a stale or foreign handle.
    bool cancel(handle h) noexcept {
        if (!is_active(h)) return false;
        ++_slots[h.id() & ~handle_flag].gen;
        --_active;
        return true;
    }

    bool is_active(handle h) const noexcept {
        const std::uint32_t i = h.id() & ~handle_flag;
        return (h.id() & handle_flag) && (h.gen() & 1u) && i < _slots.size() &&
               _slots[i].gen == h.gen();
    }

    /// Writes up to `max` due entries into `out` and advances each to its next
    /// deadline on the grid; returns how many.
    [[nodiscard]] std::size_t select(std::uint64_t now, expired* out, std::size_t max) noexcept {
        if (_active == 0 || static_cast<std::int64_t>(now - _next_min) < 0 || max == 0) return 0;
        std::size_t n = 0;
        bool complete = true;
        std::uint64_t next_min = 0;
        bool have_min = false;
        const std::uint32_t used = _used;
        for (std::uint32_t k = 0; k < used; ++k) {
            // Start where the last full burst stopped, so a small max cannot starve.
            std::uint32_t i = _cursor + k;
            if (i >= used) i -= used;
            slot& s = _slots[i];
            if (!(s.gen & 1u)) continue;
            if (static_cast<std::int64_t>(now - s.next) >= 0) {
                if (n == max) {
                    complete = false;
                    _cursor = i;
                    break;
                }
                const std::uint64_t late = now - s.next;
                const std::uint64_t fires = late / s.period + 1;
                const std::uint64_t missed = fires - 1;
                out[n++] =
                    expired{s.next, s.task,
                            missed > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<std::uint32_t>(missed),
                            handle::make(i | handle_flag, s.gen)};
                s.next += fires * s.period; // drift-free: stays on the grid
            }
            if (!have_min || static_cast<std::int64_t>(s.next - next_min) < 0) {
                next_min = s.next;
                have_min = true;
            }
        }
        if (complete) _next_min = next_min;
        // else leave _next_min <= now: the next select rescans from _cursor.
        return n;
    }

    /// Next deadline of the earliest entry (meaningful when active() > 0).
    std::uint64_t next_deadline() const noexcept { return _next_min; }
    std::size_t active() const noexcept { return _active; }
    std::size_t capacity() const noexcept { return _slots.size(); }

private:
    struct slot {
        std::uint64_t next = 0;
        std::uint64_t period = 0;
        std::uint32_t task = 0;
        std::uint32_t gen = 0; // odd: active
    };
    std::vector<slot> _slots;
    std::uint64_t _next_min = 0;
    std::uint32_t _active = 0;
    std::uint32_t _used = 0; // slots [0, _used) may be active
    std::uint32_t _cursor = 0;
};

} // namespace pk::timer
