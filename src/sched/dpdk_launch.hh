// DPDK lcore launch adapter: run reactors on EAL worker lcores (rte_eal_remote_launch).
//
// Use it in the application (EAL is up): build a reactor_group, register tasks and
// sources, then `launch(group, lcores)` puts reactor i on lcores[i]. The main lcore
// cannot be remote-launched: run its reactor on the calling thread (`r.run()`) or drive
// it with run_once(). `wait()` joins the lcores after `group.request_stop()`.
// Call from the main lcore only.
#pragma once

#include <span>

#include "base/result.hh"
#include "sched/group.hh"

namespace pk::sched::dpdk {

/// Launches reactor `reactors[i]` on worker lcore `lcores[i]`. Fails (launching nothing)
/// if an lcore is not an enabled worker in WAIT state, or the spans differ in size.
status launch(reactor_group& g, std::span<const unsigned> reactors,
              std::span<const unsigned> lcores);
/// Launches several reactors per lcore: the thread of `lcores[i]` runs the reactors
/// `shared[i]` in turns (one round each, in order) until every one has exited — how
/// reactors placed on one CPU share it without the OS time-slicing them. A reactor there
/// must not use the adaptive idle policy (its sleep would stop the others).
status launch_shared(reactor_group& g, std::span<const std::vector<unsigned>> shared,
                     std::span<const unsigned> lcores);
/// Reactor i on lcores[i] for every reactor of the group.
status launch(reactor_group& g, std::span<const unsigned> lcores);
/// Waits for the given lcores to return (after request_stop).
void wait(std::span<const unsigned> lcores) noexcept;

} // namespace pk::sched::dpdk
