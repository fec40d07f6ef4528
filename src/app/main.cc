// pktkernel: the command-line entry point.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>
#include <unistd.h>

#include "app/cli.hh"
#include "app/console.hh"
#include "app/lifecycle.hh"
#include "base/log.hh"
#include "pipeline/config.hh"
#include "pipeline/registry.hh"
#include "topology/topology.hh"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) {
    g_stop.store(true, std::memory_order_relaxed);
}

int fail_usage(const std::string& msg) {
    std::fprintf(stderr, "pktkernel: %s\n", msg.c_str());
    return 2;
}

} // namespace

/// `pktkernel ctl [--socket PATH] COMMAND...`: one console command to a running
/// pktkernel over its control socket; prints the reply.
int ctl(int argc, char** argv) {
    std::string path =
        std::getenv("PKTKERNEL_SOCKET") ? std::getenv("PKTKERNEL_SOCKET") : "/tmp/pktkernel.sock";
    std::string cmd;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--socket" && i + 1 < argc) {
            path = argv[++i];
        } else if (a.rfind("--socket=", 0) == 0) {
            path = a.substr(9);
        } else {
            if (!cmd.empty()) cmd += ' ';
            cmd += a;
        }
    }
    if (cmd.empty())
        return fail_usage(
            "usage: pktkernel ctl [--socket PATH] COMMAND (e.g. 'show stages', 'stats', "
            "'help', 'quit'); the socket is the pipeline's console.socket");
    auto r = pk::app::console_client(path, cmd);
    if (!r) {
        std::fprintf(stderr, "pktkernel ctl: %s\n", r.err().message.c_str());
        return 1;
    }
    std::fputs(r->c_str(), stdout);
    return 0;
}

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "ctl") return ctl(argc, argv);
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
        auto p = pk::topology::plan(
            *m, {.lcores = m->cpus.size() > 1 ? unsigned(m->cpus.size() - 1) : 1u});
        if (p)
            std::printf("automatic lcore plan: --lcores '%s'%s\n", p->eal_lcores().c_str(),
                        p->oversubscribed ? " (oversubscribed)" : "");
        return 0;
    }
    if (opt.config.empty())
        return fail_usage("no pipeline given; pass one with --config, e.g. "
                          "--config pipelines/default.yaml (see 'pktkernel --help')");

    // Load and validate everything before EAL, ports or threads exist.
    auto cfg = pk::pipeline::load_file(opt.config, pk::pipeline::registry::global().validation());
    if (!cfg) {
        const auto& ds = cfg.diagnostics();
        std::fputs(pk::pipeline::format(ds).c_str(), stderr);
        if (cfg.err().code == pk::errc::invalid_argument)
            std::fprintf(stderr, "pktkernel: %zu error%s in %s; nothing was started\n", ds.size(),
                         ds.size() == 1 ? "" : "s", opt.config.c_str());
        else
            std::fprintf(stderr, "pktkernel: pass an existing pipeline file, e.g. --config "
                                 "pipelines/default.yaml\n");
        return 2;
    }

    if (opt.check) return pk::app::check(*cfg);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    pk::app::run_options ro;
    ro.duration_s = opt.duration_s;
    ro.stats_json = opt.stats_json;
    ro.metrics = opt.metrics;
    ro.eal_args = opt.eal_args;
    ro.stop = &g_stop;
    return pk::app::run(*cfg, ro);
}
