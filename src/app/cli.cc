#include "app/cli.hh"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace pk::app {

std::string version() {
    return "pktkernel " PK_VERSION " (DPDK " PK_DPDK_VERSION ")";
}

std::string usage() {
    return R"(usage: pktkernel [options] [-- EAL args]
       pktkernel ctl [--socket PATH] COMMAND     (talk to a running pktkernel)

Runs a packet-processing pipeline declared in YAML on DPDK poll-mode reactors.

options:
  -c, --config FILE        pipeline to run (e.g. pipelines/default.yaml)
      --check FILE         validate FILE and print its plan (reactors, CPUs, stages,
                           edges, memory) without starting anything; exit 0 or 2
  -d, --duration SECONDS   stop after this long (default: until Ctrl-C / SIGTERM)
      --stats-json PATH    write the final counters as JSON on exit
      --metrics ADDR:PORT  serve Prometheus /metrics there (overrides the config)
      --log-level LEVEL    trace|debug|info|warn|error|off (default info)
      --topology           print this machine's NUMA nodes, cores and SMT siblings
  -h, --help               this text
  -V, --version            version and DPDK version
  -- EAL args              passed to rte_eal_init after the config's own

exit codes: 0 success, 1 runtime failure, 2 bad usage or bad config
)";
}

namespace {
error usage_error(const std::string& what) {
    return make_error(errc::invalid_argument,
                      what + "; run 'pktkernel --help' for the list of options");
}

bool takes_value(std::string_view name) {
    return name == "config" || name == "check" || name == "duration" || name == "stats-json" ||
           name == "metrics" || name == "log-level";
}
} // namespace

result<options> parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--") {
            for (int j = i + 1; j < argc; ++j)
                o.eal_args.emplace_back(argv[j]);
            break;
        }
        std::string name;
        std::optional<std::string> value;
        if (arg.starts_with("--")) {
            auto eq = arg.find('=');
            name = std::string(arg.substr(2, eq == std::string_view::npos ? arg.npos : eq - 2));
            if (eq != std::string_view::npos) value = std::string(arg.substr(eq + 1));
        } else if (arg.size() == 2 && arg[0] == '-') {
            switch (arg[1]) {
            case 'c':
                name = "config";
                break;
            case 'd':
                name = "duration";
                break;
            case 'h':
                name = "help";
                break;
            case 'V':
                name = "version";
                break;
            default:
                return usage_error("unknown option '" + std::string(arg) + "'");
            }
        } else {
            return usage_error("unexpected argument '" + std::string(arg) +
                               "' (did you mean --config " + std::string(arg) + "?)");
        }
        if (takes_value(name) && !value) {
            if (i + 1 >= argc) return usage_error("option '--" + name + "' needs a value");
            value = argv[++i];
        } else if (!takes_value(name) && value) {
            return usage_error("option '--" + name + "' takes no value");
        }

        if (name == "help")
            o.help = true;
        else if (name == "version")
            o.version = true;
        else if (name == "topology")
            o.topology = true;
        else if (name == "config")
            o.config = *value;
        else if (name == "check") {
            o.config = *value;
            o.check = true;
        } else if (name == "stats-json")
            o.stats_json = *value;
        else if (name == "metrics") {
            if (value->find(':') == std::string::npos)
                return usage_error("--metrics wants ADDR:PORT, e.g. 127.0.0.1:9100, got '" +
                                   *value + "'");
            o.metrics = *value;
        } else if (name == "duration") {
            char* end = nullptr;
            errno = 0;
            double d = std::strtod(value->c_str(), &end);
            if (errno || end == value->c_str() || *end != '\0' || !(d > 0) || d > 1e7)
                return usage_error("--duration wants a positive number of seconds, got '" + *value +
                                   "'");
            o.duration_s = d;
        } else if (name == "log-level") {
            auto l = log::parse_level(*value);
            if (!l)
                return usage_error("--log-level wants trace|debug|info|warn|error|off, got '" +
                                   *value + "'");
            o.log_level = l;
        } else {
            return usage_error("unknown option '--" + name + "'");
        }
    }
    return o;
}

} // namespace pk::app
