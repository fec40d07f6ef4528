// Pollers: a built graph placed on its reactors.
//
// Per reactor: port_rx-like stages (role rx_source) become NET sources; other sources
// become tasks in their stage's priority bucket, and the edge consumers one task per
// bucket (a pass over its edges); config timers become tasks woken by the reactor's
// interval timers; queues into an adaptive reactor on another CPU wake it when they
// fill; one housekeeping task (lowest bucket, once a round) runs the TX deadlines of
// the stages that tick, broadcast-ring release and, on request, the drain step of a
// graceful stop on the reactor's own thread.
//
// Threads: attach() and the stop steps on the control thread, before the reactors
// launch and while they run; the pollers themselves on their reactors.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "pipeline/graph.hh"
#include "pipeline/plan.hh"
#include "sched/group.hh"

namespace pk::pipeline {

class pollers {
public:
    /// Places every poller of `g` on `rg` (one reactor per plan reactor).
    pollers(const config& cfg, const plan& p, graph& g, sched::reactor_group& rg);
    ~pollers();
    pollers(const pollers&) = delete;
    pollers& operator=(const pollers&) = delete;

    /// Asks every reactor to drain its stages (flush TX buffers) and waits until each
    /// has, or until `limit` passes. Returns true when all drained.
    bool drain(std::chrono::milliseconds limit);

    class housekeeping;
    class timer_task;

private:
    std::vector<std::unique_ptr<sched::source>> _net;
    std::vector<std::unique_ptr<sched::task>> _tasks;
    std::vector<housekeeping*> _hk;
};

} // namespace pk::pipeline
