// pktkernel: the command-line entry point.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include "app/cli.hh"
#include "app/demo.hh"
#include "base/clock.hh"
#include "base/log.hh"
#include "net/eal.hh"
#include "topology/topology.hh"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

int fail_usage(const std::string& msg) {
    std::fprintf(stderr, "pktkernel: %s\n", msg.c_str());
    return 2;
}

void print_status(const pk::app::demo_counters& c, const pk::app::demo_counters& prev,
                  double elapsed, double dt) {
    double rx = static_cast<double>(c.rx - prev.rx) / dt / 1e6;
    double tx = static_cast<double>(c.tx - prev.tx) / dt / 1e6;
    std::uint64_t drops = c.drop_gen_tx_full + c.drop_tx_full + c.drop_nombuf;
    double busy = c.total_cycles ? 100.0 * static_cast<double>(c.busy_cycles) /
                                       static_cast<double>(c.total_cycles)
                                 : 0;
    std::printf("[%6.1fs] rx %7.3f Mpps  tx %7.3f Mpps  drops %llu  busiest lcore 0 %5.1f%%\n",
                elapsed, rx, tx, static_cast<unsigned long long>(drops), busy);
    std::fflush(stdout);
}

bool write_stats_json(const std::string& path, const pk::app::demo_counters& c, double elapsed) {
    std::ofstream f(path);
    if (!f) return false;
    f << "{\n"
      << "  \"elapsed_s\": " << elapsed << ",\n"
      << "  \"pipeline\": \"builtin-demo\",\n"
      << "  \"totals\": {\"received\": " << c.generated << ", \"transmitted\": " << c.delivered
      << ", \"queued\": 0, \"dropped\": " << (c.drop_gen_tx_full + c.drop_tx_full) << "},\n"
      << "  \"ports\": {\"net_ring0\": {\"rx\": " << c.rx << ", \"tx\": " << c.generated - c.drop_gen_tx_full
      << "}, \"net_ring1\": {\"rx\": " << c.delivered << ", \"tx\": " << c.tx << "}},\n"
      << "  \"drops\": {\"gen_tx_full\": " << c.drop_gen_tx_full
      << ", \"tx_full\": " << c.drop_tx_full << ", \"nombuf\": " << c.drop_nombuf << "},\n"
      << "  \"reactors\": {\"0\": {\"busy_cycles\": " << c.busy_cycles
      << ", \"total_cycles\": " << c.total_cycles << "}}\n"
      << "}\n";
    return static_cast<bool>(f);
}

} // namespace

int main(int argc, char** argv) {
    auto parsed = pk::app::parse(argc, argv);
    if (!parsed) return fail_usage(parsed.err().message);
    auto& opt = parsed.value();
    if (opt.help) {
        std::fputs(pk::app::usage().c_str(), stdout);
        return 0;
    }
    if (opt.version) {
        std::puts(pk::app::version().c_str());
        return 0;
    }
    if (opt.log_level) pk::log::set_level(*opt.log_level);
    if (opt.topology) {
        auto m = pk::topology::discover();
        if (!m) {
            std::fprintf(stderr, "pktkernel: topology: %s\n", m.err().message.c_str());
            return 1;
        }
        std::fputs(pk::topology::describe(*m).c_str(), stdout);
        auto p = pk::topology::plan(*m, {.lcores = m->cpus.size() > 1 ? unsigned(m->cpus.size() - 1) : 1u});
        if (p) std::printf("automatic lcore plan: --lcores '%s'%s\n", p->eal_lcores().c_str(),
                           p->oversubscribed ? " (oversubscribed)" : "");
        return 0;
    }
    if (!opt.config.empty()) {
        std::ifstream in(opt.config);
        if (!in)
            return fail_usage("cannot open config '" + opt.config + "': " + std::strerror(errno) +
                              "; pass an existing pipeline file, e.g. --config pipelines/default.yaml");
        try {
            (void)YAML::LoadFile(opt.config);
        } catch (const YAML::Exception& e) {
            return fail_usage(opt.config + ":" + std::to_string(e.mark.line + 1) + ":" +
                              std::to_string(e.mark.column + 1) + ": " + e.msg);
        }
    }

    pk::net::eal_config ecfg;
    ecfg.vdevs = {"net_ring0", "net_ring1"};
    ecfg.extra = opt.eal_args;
    ecfg.log_level = pk::log::get_level();
    auto eal = pk::net::eal_session::start(ecfg);
    if (!eal) {
        std::fprintf(stderr, "pktkernel: %s\n", eal.err().message.c_str());
        return 1;
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    pk::app::demo_counters last{}, c{};
    double last_t = 0;
    std::uint64_t t0 = pk::tsc::now();
    int rc = pk::app::run_demo(
        g_stop, opt.duration_s.value_or(0),
        [&](const pk::app::demo_counters& now, double elapsed) {
            print_status(now, last, elapsed, elapsed - last_t);
            last = now;
            last_t = elapsed;
        },
        c);
    double elapsed = pk::tsc::to_seconds(pk::tsc::now() - t0);
    std::printf("final: generated %llu rx %llu tx %llu delivered %llu dropped %llu in %.1fs\n",
                (unsigned long long)c.generated, (unsigned long long)c.rx,
                (unsigned long long)c.tx, (unsigned long long)c.delivered,
                (unsigned long long)(c.drop_gen_tx_full + c.drop_tx_full + c.drop_nombuf), elapsed);
    if (!opt.stats_json.empty() && !write_stats_json(opt.stats_json, c, elapsed)) {
        std::fprintf(stderr, "pktkernel: cannot write --stats-json '%s': %s\n",
                     opt.stats_json.c_str(), std::strerror(errno));
        rc = 1;
    }
    return rc;
}
