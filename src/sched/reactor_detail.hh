// Private to the reactor's sources (reactor.cc, reactor_tasks.cc).
#pragma once

#include "sched/reactor.hh"
#include "timer/timers.hh"

namespace pk::sched {

/// TIMERS: the hierarchical wheel of pk::timer (oneshots) and the interval list
/// (periodic), one per reactor, in the reactor's clock.
struct reactor::timer_state : timer::timers {
    using timer::timers::timers;
};

constexpr unsigned src_idx(source_kind k) noexcept {
    return static_cast<unsigned>(k);
}

} // namespace pk::sched
