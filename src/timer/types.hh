// Timer handles and expired entries, shared by the wheel, the interval list and the
// `timers` facade.
//
// A handle names one arming of one timer: (id, generation). Generations of armed timers
// are odd, so a default handle (0) never matches, and a handle goes stale the moment its
// timer fires or is cancelled — cancelling a stale handle is a safe no-op that returns
// false. Handles are plain values: copy them freely, on the owning core only.
#pragma once

#include <cstdint>

namespace pk::timer {

/// One arming of a timer. `valid()` is false for the default handle and for the handle
/// returned when the pool is exhausted.
struct handle {
    std::uint64_t value = 0;

    static constexpr handle make(std::uint32_t id, std::uint32_t gen) noexcept {
        return handle{(static_cast<std::uint64_t>(gen) << 32) | id};
    }
    constexpr std::uint32_t id() const noexcept { return static_cast<std::uint32_t>(value); }
    constexpr std::uint32_t gen() const noexcept { return static_cast<std::uint32_t>(value >> 32); }
    constexpr bool valid() const noexcept { return value != 0; }
    friend constexpr bool operator==(handle, handle) noexcept = default;
};

/// One expiry handed out by `select`: which task to make runnable and when it was due.
struct expired {
    std::uint64_t deadline; ///< the deadline the timer was armed for (caller's time units)
    std::uint32_t task_id;  ///< the task id given to create/schedule
    std::uint32_t missed;   ///< interval timers: whole periods skipped (reactor late); else 0
    handle h;               ///< the handle returned by create/schedule (now stale for oneshots)
};
static_assert(sizeof(expired) == 24, "expired is a 24-byte burst element");

} // namespace pk::timer
