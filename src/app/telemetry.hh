// DPDK telemetry for a running pipeline: pktkernel's state next to DPDK's own
// (`/ethdev/stats`, `/mempool/list`, ...) in `dpdk-telemetry.py`.
//
//   /pktkernel/totals            the packet account (in, transmitted, dropped, queued, ...)
//   /pktkernel/stages[,NAME]     every stage's counters; with a name, its outputs and
//                                drops by reason
//   /pktkernel/reactors          rounds, busy/idle cycles, busy percent, lcore and CPU
//   /pktkernel/edges             every edge (e0, e1, ... in graph order): from, to, kind,
//                                size, direct call or queue
//   /pktkernel/flows             the load balancers' buckets and packets per output
//
// The commands answer on DPDK's telemetry thread, reading the counters the reactors
// write (single-writer atomics). DPDK cannot unregister a command, so they are
// registered once per process and bound to a pipeline by a `telemetry_binding`; while
// none is bound they answer {"error": "no pipeline running"}. Binding and unbinding
// take a mutex the commands hold while they read: never on the packet path.
#pragma once

#include "pipeline/config.hh"
#include "pipeline/graph.hh"
#include "pipeline/plan.hh"
#include "sched/group.hh"

namespace pk::app {

class telemetry_binding {
public:
    /// Registers the commands (first time only) and binds them to this pipeline; every
    /// argument must outlive the binding.
    telemetry_binding(const pipeline::config& cfg, const pipeline::plan& p,
                      const pipeline::graph& g, sched::reactor_group& rg);
    /// Unbinds: later calls answer with an error, never touch the pipeline.
    ~telemetry_binding();
    telemetry_binding(const telemetry_binding&) = delete;
    telemetry_binding& operator=(const telemetry_binding&) = delete;
};

} // namespace pk::app
