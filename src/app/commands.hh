// The operator console's commands over a running pipeline: each asks a layer for its
// report (ports: net/port.hh; stages, reactors, queues, timers, flows: pipeline/report.hh).
// Control thread only.
#pragma once

#include "app/console.hh"
#include "pipeline/graph.hh"
#include "pipeline/plan.hh"
#include "sched/group.hh"

namespace pk::app {

/// `show ports|stages|reactors|queues|timers|flows` and the `stats` sections.
void add_commands(console& con, const pipeline::graph& g, sched::reactor_group& rg,
                  const pipeline::plan& p);

} // namespace pk::app
