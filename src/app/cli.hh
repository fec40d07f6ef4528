// Command-line options of the pktkernel binary.
//
// parse() never exits: it returns the options or an error whose message says what to
// do; main() prints it and exits 2 (usage error) before anything starts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/log.hh"
#include "base/result.hh"

namespace pk::app {

struct options {
    bool help = false;
    bool version = false;
    bool topology = false;
    std::string config;               ///< --config FILE (or --check FILE)
    bool check = false;               ///< --check: validate and print the plan, run nothing
    std::optional<double> duration_s; ///< --duration SECONDS (none: until Ctrl-C)
    std::string stats_json;           ///< --stats-json PATH
    std::string metrics;              ///< --metrics ADDR:PORT (overrides config)
    std::optional<log::level> log_level;
    std::vector<std::string> eal_args; ///< everything after "--"
};

result<options> parse(int argc, char** argv);

/// The --help text.
std::string usage();
std::string version();

} // namespace pk::app
