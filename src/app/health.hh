// /healthz and /readyz for a running pipeline, judged by the control thread.
//
// healthz: 200 when every reactor is making rounds (its round counter moved within the
// last `stall` interval) and every port's link is up; 503 with the first reason
// otherwise ("reactor 'io' made no round for 2.1 s", "port 'wire': link down").
// readyz: 200 once the reactors are launched and until the graceful stop begins.
// The control thread samples the counters and links once a second (update()); the
// probes, which run on the exporter's threads, read only that verdict.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/http.hh"
#include "pipeline/graph.hh"
#include "pipeline/plan.hh"
#include "sched/group.hh"

namespace pk::app {

class health {
public:
    health(const pipeline::plan& p, const pipeline::graph& g, sched::reactor_group& rg,
           double stall_s = 2.0);
    /// Control thread: sample reactors and links (after the ports' poll_link()).
    void update(std::uint64_t now_tsc);
    /// Control thread: the reactors run / the graceful stop begins.
    void set_running(bool running);
    /// The probes for metrics::exporter::set_probes (any thread).
    metrics::exporter::probe healthz();
    metrics::exporter::probe readyz();

private:
    const pipeline::plan& _p;
    const pipeline::graph& _g;
    sched::reactor_group& _rg;
    std::uint64_t _stall;
    std::vector<std::uint64_t> _rounds, _moved_at; ///< control thread only
    std::mutex _mu;                               ///< guards the verdicts below
    bool _running = false;
    metrics::exporter::probe_result _health{false, "starting"};
};

} // namespace pk::app
