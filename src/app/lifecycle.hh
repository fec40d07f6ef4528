// The process lifecycle of `pktkernel --config FILE`: plan, EAL, graph, reactors, the
// control loop and the graceful stop.
//
// run() plans the validated config (reactors on lcores and CPUs, stages, edges), starts
// EAL with that --lcores map, builds the graph, places its pollers on the reactors,
// starts the ports and the metrics exporter, launches the reactors on their lcores and
// runs the control loop on the main lcore: a status line every second, the console,
// the stop conditions (duration, SIGINT/SIGTERM, `quit`) and the graceful stop:
//   1. sources stop producing (port_rx stops receiving, generators stop);
//   2. wait until every queue between stages is empty (bounded: 5 s);
//   3. each reactor drains its stages (flushes TX buffers) in its own thread;
//   4. reactors stop and are joined; what is left is settled; ports stop; the final
//      account is printed (and written with --stats-json).
// check() does everything up to EAL and prints the plan (`pktkernel --check`).
// Control thread only.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/config.hh"

namespace pk::app {

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
int run(const pipeline::config& cfg, const run_options& opt);

/// Plans `cfg` on this machine without starting anything and prints the plan (exit 0),
/// or prints every problem as FILE:LINE:COL (exit 2).
int check(const pipeline::config& cfg);

} // namespace pk::app
