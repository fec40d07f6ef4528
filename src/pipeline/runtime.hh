// The pipeline runtime: from a validated config to running reactors and back.
//
// run() resolves the reactor plan (explicit, or `auto` from the hwloc topology),
// starts EAL with a matching --lcores map, builds the graph (ports, stages, edges),
// places every poller on its reactor — port_rx stages as NET sources, edge consumers
// and other sources as tasks in their stage's priority bucket, plus one housekeeping
// task per reactor for TX deadlines and broadcast-ring release — launches the reactors
// on EAL lcores and runs the control loop on the main lcore: a status line every
// second, the stop conditions (duration, SIGINT/SIGTERM, `quit` on the console) and
// the graceful stop:
//   1. sources stop producing (port_rx stops receiving, generators stop);
//   2. wait until every queue between stages is empty (bounded: 5 s);
//   3. each reactor drains its stages (flushes TX buffers) in its own thread;
//   4. reactors stop and are joined; ports stop; final stats are printed and written.
// Control thread only.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "base/log.hh"
#include "pipeline/config.hh"

namespace pk::pipeline {

struct run_options {
    std::optional<double> duration_s;  ///< none: until a signal or `quit`
    std::string stats_json;            ///< write final counters here
    std::string metrics;               ///< ADDR:PORT override ("" = config)
    std::vector<std::string> eal_args; ///< appended to the config's EAL args
    bool status_line = true;           ///< one line a second on stdout
    std::atomic<bool>* stop = nullptr; ///< set by signal handlers
};

/// Runs `cfg` until stopped; returns the process exit code (0 ok, 1 runtime failure;
/// errors that are the config's fault are printed as FILE:LINE:COL and return 2).
int run(const config& cfg, const run_options& opt);

} // namespace pk::pipeline
