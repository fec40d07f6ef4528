#include "app/lifecycle.hh"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "app/commands.hh"
#include "app/console.hh"
#include "app/health.hh"
#include "app/telemetry.hh"
#include "base/clock.hh"
#include "metrics/http.hh"
#include "metrics/registry.hh"
#include "net/eal.hh"
#include "net/pci.hh"
#include "net/port.hh"
#include "pipeline/graph.hh"
#include "pipeline/plan.hh"
#include "pipeline/pollers.hh"
#include "pipeline/registry.hh"
#include "pipeline/report.hh"
#include "sched/dpdk_launch.hh"
#include "sched/group.hh"

namespace pk::app {
namespace {

using pipeline::totals;

int fail(const error& e, const char* what = nullptr) {
    if (e.code == errc::invalid_argument) {
        std::fprintf(stderr, "%s\n", e.message.c_str());
        return 2;
    }
    std::fprintf(stderr, "pktkernel: %s%s%s\n", what ? what : "", what ? ": " : "",
                 e.message.c_str());
    return 1;
}

net::eal_config eal_of(const pipeline::config& cfg, const pipeline::plan& p,
                       const run_options& opt) {
    net::eal_config ec;
    ec.lcores = p.eal_lcores;
    ec.hugepages = *cfg.eal.hugepages;
    if (*cfg.eal.memory_mb) ec.memory_mb = *cfg.eal.memory_mb;
    ec.file_prefix = *cfg.eal.file_prefix;
    ec.extra = *cfg.eal.extra_args;
    ec.extra.push_back("--main-lcore=" + std::to_string(p.main_lcore));
    ec.extra.insert(ec.extra.end(), opt.eal_args.begin(), opt.eal_args.end());
    ec.log_level = log::get_level();
    // PCI ports go to EAL's allow list (devargs with them); --no-pci only without any.
    for (const auto& port : cfg.ports)
        if (auto pci = net::parse_pci(*port.device)) {
            ec.pci = true;
            ec.allow.push_back(pci->allow());
        }
    return ec;
}

/// Every PCI port's function exists and is bound to a driver DPDK can use — checked on
/// sysfs before EAL starts, so a wrong binding is a config-time refusal (exit 2), not
/// an EAL probe failure.
status check_devices(const pipeline::config& cfg) {
    for (const auto& port : cfg.ports) {
        auto pci = net::parse_pci(*port.device);
        if (!pci) continue;
        if (auto st = net::check_pci_binding(*pci, "port '" + *port.name + "'"); !st)
            return make_error(errc::invalid_argument,
                              pipeline::format(cfg.error_at(port.device.at, st.err().message)));
    }
    return {};
}

/// One line a second: packet rates in and out, losses, what is queued, the busiest
/// reactor (busy share of the last second).
class status_line {
public:
    status_line(const pipeline::plan& p, sched::reactor_group& rg, std::uint64_t t0)
        : _p(p), _rg(rg), _t0(t0), _last_t(t0), _cycles(rg.size()) {}

    void print(const pipeline::graph& g, std::uint64_t now) {
        const double dt = tsc::to_seconds(now - _last_t);
        _last_t = now;
        totals t = pipeline::sum(g);
        double busiest = 0;
        std::string who = "-";
        for (unsigned r = 0; r < _rg.size(); ++r) {
            auto& c = _rg[r].counters();
            std::uint64_t b = c.busy_cycles.load(), i = c.idle_cycles.load();
            std::uint64_t db = b - _cycles[r].first, di = i - _cycles[r].second;
            _cycles[r] = {b, i};
            double ratio =
                db + di ? 100.0 * static_cast<double>(db) / static_cast<double>(db + di) : 0;
            if (ratio >= busiest) {
                busiest = ratio;
                who = _p.reactors[r].name;
            }
        }
        auto mpps = [dt](std::uint64_t now_v, std::uint64_t last_v) {
            return static_cast<double>(now_v - last_v) / dt / 1e6;
        };
        std::printf("[%6.1fs] in %7.3f Mpps (rx %.3f, gen %.3f)  out %7.3f Mpps  dropped %" PRIu64
                    "  queued %" PRIu64 "  busiest %s %5.1f%%\n",
                    tsc::to_seconds(now - _t0), mpps(t.in(), _last.in()),
                    mpps(t.received, _last.received), mpps(t.generated, _last.generated),
                    mpps(t.transmitted, _last.transmitted), t.dropped, t.queued, who.c_str(),
                    busiest);
        std::fflush(stdout);
        _last = t;
    }

private:
    const pipeline::plan& _p;
    sched::reactor_group& _rg;
    std::uint64_t _t0, _last_t;
    totals _last{};
    std::vector<std::pair<std::uint64_t, std::uint64_t>> _cycles;
};

std::unique_ptr<console> open_console(const pipeline::config& cfg, const pipeline::graph& g,
                                      sched::reactor_group& rg, const pipeline::plan& p) {
    auto c = console::create();
    if (!c) {
        PK_WARN("console", "%s", c.err().message.c_str());
        return nullptr;
    }
    add_commands(**c, g, rg, p);
    if (!cfg.console.socket->empty())
        if (auto st = (*c)->listen(*cfg.console.socket); !st)
            PK_WARN("console", "control socket: %s", st.err().message.c_str());
    struct stat sb {};
    if (*cfg.console.use_stdin && fstat(STDIN_FILENO, &sb) == 0 &&
        (isatty(STDIN_FILENO) || S_ISFIFO(sb.st_mode)))
        (void)(*c)->attach_stdin();
    return std::move(*c);
}

/// Steps 1–4 of the graceful stop (lifecycle.hh).
void stop(pipeline::graph& g, pipeline::pollers& pl, sched::reactor_group& rg,
          const std::vector<unsigned>& lcores) {
    for (auto& s : g.stages())
        s->quiesce();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    unsigned calm = 0;
    while (calm < 3 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        // Held packets in TX buffers flush on their deadline; queues drain by polling.
        calm = g.queued() == 0 ? calm + 1 : 0;
    }
    if (calm < 3) {
        PK_WARN("pipeline", "stop: %" PRIu64 " packets still queued after 5 s; draining anyway",
                g.queued());
        g.abort_waits();
    }
    (void)pl.drain(std::chrono::seconds(5));
    rg.request_stop();
    sched::dpdk::wait(lcores);
    // The reactors have exited: this thread is the only one left touching the graph.
    // Anything a source emitted between the queue check and its quiesce is moved on
    // and drained here, so the final account ends with nothing queued.
    g.settle();
}

} // namespace

int check(const pipeline::config& cfg) {
    auto plan = pipeline::make_plan(cfg, pipeline::registry::global());
    if (!plan) return fail(plan.err(), "plan");
    if (auto st = check_devices(cfg); !st) return fail(st.err());
    std::fputs(plan->describe(cfg).c_str(), stdout);
    std::printf("%s: ok\n", cfg.file.c_str());
    return 0;
}

int run(const pipeline::config& cfg, const run_options& opt) {
    auto plan = pipeline::make_plan(cfg, pipeline::registry::global());
    if (!plan) return fail(plan.err(), "plan");
    if (auto st = check_devices(cfg); !st) return fail(st.err());
    auto eal = net::eal_session::start(eal_of(cfg, *plan, opt));
    if (!eal) return fail(eal.err());
    PK_INFO("pipeline", "plan:\n%s", plan->describe(cfg).c_str());
    for (std::size_t i = 0; i < plan->pools.size(); ++i)
        if (plan->pools[i].mbufs < plan->pools[i].needed)
            PK_WARN("pipeline",
                    "port '%s': mempool.size %u is below the %u mbufs its packets can "
                    "occupy at once; expect rx_nombuf when the pipeline fills up",
                    cfg.ports[i].name->c_str(), plan->pools[i].mbufs, plan->pools[i].needed);

    auto built = pipeline::graph::build(cfg, pipeline::registry::global(), *plan);
    if (!built) return fail(built.err());
    std::unique_ptr<pipeline::graph> g = std::move(*built);

    std::vector<sched::reactor_config> rcfg;
    std::vector<unsigned> lcores;
    for (auto& r : plan->reactors) {
        rcfg.push_back(r.cfg);
        lcores.push_back(r.lcore);
    }
    sched::reactor_group rg(rcfg);
    pipeline::pollers pl(cfg, *plan, *g, rg);
    if (auto s = g->start_ports(); !s) return fail(s.err());

    // /healthz and /readyz (declared before the exporter, which calls its probes).
    health hl(*plan, *g, rg);

    // Prometheus text format on /metrics, up before the reactors.
    metrics::registry mreg;
    metrics::registration mcol;
    std::unique_ptr<metrics::exporter> exporter;
    std::string listen =
        !opt.metrics.empty() ? opt.metrics : (*cfg.metrics.enabled ? *cfg.metrics.listen : "");
    if (!listen.empty()) {
        mcol = mreg.add([&cfg, &plan, &g, &rg](std::vector<metrics::family>& out) {
            pipeline::collect_metrics(out, cfg, *plan, *g, rg);
            metrics::family build("pktkernel_build_info",
                                  "Build of the running binary: version, DPDK version, compiler",
                                  metrics::metric_type::gauge);
            build.add(
                {{"version", PK_VERSION}, {"dpdk", PK_DPDK_VERSION}, {"compiler", __VERSION__}}, 1);
            out.push_back(std::move(build));
        });
        auto ex = metrics::exporter::start(mreg, listen);
        if (!ex) {
            std::fprintf(stderr, "pktkernel: metrics: %s\n", ex.err().message.c_str());
            return 2;
        }
        exporter = std::move(*ex);
        exporter->set_probes(hl.healthz(), hl.readyz());
    }

    // DPDK telemetry (dpdk-telemetry.py): /pktkernel/... next to DPDK's own commands.
    std::optional<telemetry_binding> tel;
    tel.emplace(cfg, *plan, *g, rg);

    // Reactors placed on one CPU run in turns on the lcore of the first of them.
    std::vector<std::vector<unsigned>> by_lead(plan->reactors.size()), shared;
    std::vector<unsigned> leads;
    for (unsigned i = 0; i < plan->reactors.size(); ++i)
        by_lead[plan->reactors[i].thread].push_back(i);
    for (unsigned i = 0; i < plan->reactors.size(); ++i)
        if (!by_lead[i].empty()) {
            leads.push_back(plan->reactors[i].lcore);
            shared.push_back(std::move(by_lead[i]));
        }
    if (auto s = sched::dpdk::launch_shared(rg, shared, leads); !s)
        return fail(s.err(), "cannot launch the reactors");
    PK_INFO("pipeline", "'%s' running: %zu stages, %zu edges, %u reactors (--lcores %s)",
            cfg.name->c_str(), g->stages().size(), g->edges().size(), rg.size(),
            plan->eal_lcores.c_str());
    std::unique_ptr<console> con = open_console(cfg, *g, rg, *plan);
    hl.set_running(true);

    // The control loop: status line, link polling, console, stop conditions.
    const std::uint64_t hz = tsc::hz();
    const std::uint64_t t0 = tsc::now();
    const std::uint64_t end =
        opt.duration_s ? t0 + static_cast<std::uint64_t>(*opt.duration_s * static_cast<double>(hz))
                       : UINT64_MAX;
    std::uint64_t next = t0 + hz;
    status_line status(*plan, rg, t0);
    while (!(opt.stop && opt.stop->load(std::memory_order_relaxed)) &&
           !(con && con->quit_requested())) {
        std::uint64_t now = tsc::now();
        if (now >= next) {
            next += hz;
            hl.update(now);
            if (opt.status_line) status.print(*g, now);
            if (now > next + hz) next = now + hz; // we were descheduled: do not catch up
        }
        if (now >= end) break;
        // Links every loop (~5 ms): a non-blocking query, and a peer that is there
        // for less than a second (a memif client that connects and dies) still shows.
        for (auto& p : g->ports())
            p->poll_link();
        if (con)
            con->run_for(std::chrono::milliseconds(5));
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    hl.set_running(false);
    con.reset(); // closes the control socket: no command may look at a stopping graph
    exporter.reset();
    tel.reset(); // the telemetry commands answer "no pipeline running" from here on
    mcol = {};

    stop(*g, pl, rg, lcores);
    double elapsed = tsc::to_seconds(tsc::now() - t0);
    std::fputs(pipeline::final_account(*g, elapsed).c_str(), stdout);
    int rc = pipeline::sum(*g).balanced() ? 0 : 1;
    if (!opt.stats_json.empty()) {
        std::ofstream f(opt.stats_json);
        f << pipeline::stats_json(cfg, *plan, *g, rg, elapsed);
        if (!f) {
            std::fprintf(stderr, "pktkernel: cannot write --stats-json '%s'\n",
                         opt.stats_json.c_str());
            rc = 1;
        }
    }
    (void)g->stop_ports();
    g.reset();
    return rc;
}

} // namespace pk::app
