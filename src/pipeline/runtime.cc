#include "pipeline/runtime.hh"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <rte_lcore.h>

#include "base/clock.hh"
#include "metrics/http.hh"
#include "metrics/registry.hh"
#include "net/console.hh"
#include "net/eal.hh"
#include "net/port.hh"
#include "pipeline/graph.hh"
#include "pipeline/registry.hh"
#include "sched/dpdk_launch.hh"
#include "sched/group.hh"
#include "sched/source.hh"
#include "sched/task.hh"
#include "topology/topology.hh"

namespace pk::pipeline {
namespace {

// ---------------------------------------------------------------------------------------
// Pollers placed on reactors

/// A port_rx stage as the reactor's NET source (the stage does the rx_burst and
/// passes the burst down its chain).
class stage_net_source final : public sched::net_source {
public:
    explicit stage_net_source(stage& s) : _s(s) {}
    std::uint32_t poll_burst(sched::reactor&, std::uint32_t) noexcept override { return _s.poll(); }
    const char* name() const noexcept override { return _s.name().c_str(); }

private:
    stage& _s;
};

/// A source stage (generator) or an edge consumer as a task in a priority bucket.
class poll_task final : public sched::task {
public:
    poll_task(stage* s, edge_source* e) : _s(s), _e(e) {}
    sched::poll_result poll(sched::reactor&) noexcept override {
        return sched::poll_result::ran(_e ? _e->poll() : _s->poll());
    }

private:
    stage* _s;
    edge_source* _e;
};

/// Per reactor: TX deadlines, broadcast-ring release, and the drain step of a stop.
class housekeeping_task final : public sched::task {
public:
    housekeeping_task(graph& g, unsigned r, std::vector<stage*> stages)
        : _g(g), _r(r), _stages(std::move(stages)) {}
    sched::poll_result poll(sched::reactor&) noexcept override {
        std::uint32_t w = _g.service(_r);
        std::uint64_t now = tsc::now();
        for (auto* s : _stages)
            w += s->tick(now);
        if (PK_UNLIKELY(_drain_requested.load(std::memory_order_acquire)) &&
            !_drained.load(std::memory_order_relaxed)) {
            for (auto* s : _stages)
                s->drain();
            _g.service(_r);
            _drained.store(true, std::memory_order_release);
        }
        return sched::poll_result::ran(w);
    }
    void request_drain() noexcept { _drain_requested.store(true, std::memory_order_release); }
    bool drained() const noexcept { return _drained.load(std::memory_order_acquire); }

private:
    graph& _g;
    unsigned _r;
    std::vector<stage*> _stages;
    std::atomic<bool> _drain_requested{false}, _drained{false};
};

/// A config `timers:` entry: wakes every `interval` on its reactor (drift-free: the
/// next deadline is the previous one plus the period) and runs its action there.
///   stats   — logs the pipeline totals (received, transmitted, dropped, queued)
///   flush   — flushes every TX buffer of the reactor's port_tx stages now
///   service — releases broadcast-ring slots every cursor has passed
class timer_action_task final : public sched::task {
public:
    enum class action : std::uint8_t { stats, flush, service };
    timer_action_task(graph& g, unsigned r, std::string name, action a, std::uint64_t period,
                      std::vector<stage*> stages)
        : _g(g), _r(r), _name(std::move(name)), _a(a), _period(period), _stages(std::move(stages)) {
    }

    sched::poll_result poll(sched::reactor& r) noexcept override {
        if (_next == 0) {
            _next = r.now() + _period;
        } else {
            run();
            _fired.add(1);
            _next += _period;
            if (_next <= r.now()) _next = r.now() + _period; // late by more than a period
        }
        r.sleep_until(*this, _next);
        return sched::poll_result::wait(1);
    }
    std::uint64_t fired() const noexcept { return _fired.load(); }

private:
    void run() noexcept {
        switch (_a) {
        case action::stats: {
            std::uint64_t rx = 0, tx = 0, dr = 0;
            for (auto& s : _g.stages()) {
                rx += s->counters().produced.load();
                tx += s->counters().transmitted.load();
                dr += s->dropped_total();
            }
            PK_INFO("timer",
                    "%s: received %" PRIu64 " transmitted %" PRIu64 " dropped %" PRIu64
                    " queued %" PRIu64,
                    _name.c_str(), rx, tx, dr, _g.queued());
            break;
        }
        case action::flush:
            for (auto* s : _stages)
                s->tick(UINT64_MAX);
            break;
        case action::service:
            _g.service(_r);
            break;
        }
    }
    graph& _g;
    unsigned _r;
    std::string _name;
    action _a;
    std::uint64_t _period, _next = 0;
    std::vector<stage*> _stages;
    sched::counter _fired;
};

// ---------------------------------------------------------------------------------------
// Plan

struct reactor_plan {
    std::string name;
    unsigned lcore = 0;
    int cpu = -1;
    sched::reactor_config cfg;
};

sched::reactor_config to_sched(const reactor_config& rc) {
    sched::reactor_config c;
    switch (*rc.discipline) {
    case discipline::weighted:
        c.discipline.kind = sched::discipline_kind::weighted_priority;
        break;
    case discipline::round_robin:
        c.discipline.kind = sched::discipline_kind::round_robin;
        break;
    case discipline::tree:
        c.discipline.kind = sched::discipline_kind::tree;
        break;
    }
    for (unsigned b = 0; b < priority_buckets; ++b)
        c.discipline.polls[b] = (*rc.polls)[b];
    c.discipline.bucket_count = priority_buckets;
    switch (*rc.idle) {
    case idle_policy::busy:
        c.idle = sched::idle_policy::busy;
        break;
    case idle_policy::pause:
        c.idle = sched::idle_policy::pause;
        break;
    case idle_policy::adaptive:
        c.idle = sched::idle_policy::adaptive;
        break;
    }
    return c;
}

struct plan_result {
    std::vector<reactor_plan> reactors;
    unsigned main_lcore = 0;
    int main_cpu = -1;
    std::string eal_lcores;
};

result<plan_result> make_plan(const config& cfg) {
    auto machine = topology::discover();
    if (!machine) return machine.err();
    plan_result p;
    std::vector<const reactor_config*> rcs;
    unsigned n = 0;
    if (cfg.reactors.automatic) {
        n = *cfg.reactors.count;
        if (n == 0)
            n = machine->cpus.size() > 1 ? static_cast<unsigned>(machine->cpus.size() - 1) : 1;
    } else {
        n = static_cast<unsigned>(cfg.reactors.list.size());
    }
    auto lp = topology::plan(*machine, {.lcores = n});
    if (!lp) return lp.err();
    std::set<unsigned> used;
    for (unsigned i = 0; i < n; ++i) {
        reactor_plan r;
        const reactor_config& rc =
            cfg.reactors.automatic ? cfg.reactors.defaults : cfg.reactors.list[i];
        r.name = cfg.reactors.automatic ? "r" + std::to_string(i) : *rc.name;
        r.lcore = cfg.reactors.automatic ? i + 1 : *rc.lcore;
        r.cpu = static_cast<int>(lp->worker_cpus[i]);
        r.cfg = to_sched(rc);
        used.insert(r.lcore);
        p.reactors.push_back(std::move(r));
    }
    // The main lcore: the lowest id no reactor uses (control thread: stats, console).
    while (used.count(p.main_lcore))
        ++p.main_lcore;
    p.main_cpu = static_cast<int>(lp->main_cpu);
    p.eal_lcores = std::to_string(p.main_lcore) + "@" + std::to_string(p.main_cpu);
    for (auto& r : p.reactors)
        p.eal_lcores += "," + std::to_string(r.lcore) + "@" + std::to_string(r.cpu);
    return p;
}

/// Index in the plan of the reactor `ref` names (its name, or its id: the list index
/// for planned reactors, `id:` for explicit ones); -1 if none.
int reactor_index(const config& cfg, const plan_result& p, const std::string& ref) {
    for (unsigned i = 0; i < p.reactors.size(); ++i)
        if (p.reactors[i].name == ref ||
            std::to_string(cfg.reactors.automatic ? i : *cfg.reactors.list[i].id) == ref)
            return static_cast<int>(i);
    return -1;
}

/// Index of the reactor a stage runs on ("" → reactor 0; a name or an id).
result<std::vector<unsigned>> place_stages(const config& cfg, const plan_result& p) {
    std::vector<unsigned> where;
    for (auto& sc : cfg.stages) {
        const std::string& ref = *sc.reactor;
        if (ref.empty()) {
            where.push_back(0);
            continue;
        }
        int i = reactor_index(cfg, p, ref);
        if (i >= 0) {
            where.push_back(static_cast<unsigned>(i));
            continue;
        }
        return make_error(
            errc::invalid_argument,
            format(cfg.error_at(sc.reactor.at, "stage '" + *sc.name + "' names reactor '" + ref +
                                                   "', which the plan does not have (" +
                                                   std::to_string(p.reactors.size()) +
                                                   " reactors)")));
    }
    return where;
}

struct timer_plan {
    std::string name;
    unsigned reactor = 0;
    timer_action_task::action act{};
    std::uint64_t period = 0; ///< TSC cycles
};

/// The config's timers on reactors, actions checked before anything starts.
result<std::vector<timer_plan>> place_timers(const config& cfg, const plan_result& p) {
    std::vector<timer_plan> out;
    for (auto& tc : cfg.timers) {
        timer_plan t;
        t.name = *tc.name;
        const std::string& a = *tc.action;
        if (a == "stats")
            t.act = timer_action_task::action::stats;
        else if (a == "flush")
            t.act = timer_action_task::action::flush;
        else if (a == "service")
            t.act = timer_action_task::action::service;
        else
            return make_error(
                errc::invalid_argument,
                format(cfg.error_at(tc.action.at, "unknown timer action '" + a +
                                                      "' (allowed: stats, flush, service)")));
        const std::string& ref = *tc.reactor;
        int i = ref.empty() ? 0 : reactor_index(cfg, p, ref);
        t.reactor = static_cast<unsigned>(i < 0 ? 0 : i);
        if (i < 0)
            return make_error(
                errc::invalid_argument,
                format(cfg.error_at(tc.reactor.at, "timer '" + t.name + "' names reactor '" + ref +
                                                       "', which the plan does not have")));
        t.period = tsc::from_ns(static_cast<std::uint64_t>(tc.interval->count()));
        out.push_back(std::move(t));
    }
    return out;
}

// ---------------------------------------------------------------------------------------
// Counters

struct totals {
    std::uint64_t received = 0, transmitted = 0, dropped = 0, queued = 0, fanout = 0, released = 0;
    bool balanced() const noexcept {
        return received + fanout == transmitted + dropped + released + queued;
    }
};

totals sum(const graph& g) {
    totals t;
    for (auto& s : g.stages()) {
        auto& c = s->counters();
        t.received += c.produced.load();
        t.transmitted += c.transmitted.load();
        t.dropped += s->dropped_total();
    }
    t.queued = g.queued();
    t.fanout = g.fanout();
    t.released = g.released();
    return t;
}

std::string json_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        o += c;
    }
    return o;
}

std::string stats_json(const config& cfg, const graph& g, sched::reactor_group& rg,
                       const plan_result& plan, double elapsed) {
    std::ostringstream o;
    totals t = sum(g);
    std::map<std::string, std::uint64_t> by_reason;
    for (auto& s : g.stages())
        for (std::size_t r = 0; r < s->reasons().size(); ++r)
            if (auto v = s->counters().dropped[r].load()) by_reason[s->reasons()[r]] += v;
    o << "{\n  \"pipeline\": \"" << json_escape(*cfg.name) << "\",\n  \"elapsed_s\": " << elapsed
      << ",\n";
    o << "  \"totals\": {\"received\": " << t.received << ", \"transmitted\": " << t.transmitted
      << ", \"dropped\": " << t.dropped << ", \"queued\": " << t.queued
      << ", \"fanout\": " << t.fanout << ", \"released\": " << t.released
      << ", \"balanced\": " << (t.balanced() ? "true" : "false") << "},\n";
    o << "  \"drops_by_reason\": {";
    bool first = true;
    for (auto& [r, v] : by_reason) {
        o << (first ? "" : ", ") << "\"" << json_escape(r) << "\": " << v;
        first = false;
    }
    o << "},\n  \"ports\": {";
    first = true;
    for (std::size_t i = 0; i < g.ports().size(); ++i) {
        auto& p = g.ports()[i];
        auto st = p->stats();
        o << (first ? "" : ",") << "\n    \"" << json_escape(*cfg.ports[i].name)
          << "\": {\"device\": \"" << json_escape(p->name()) << "\", \"ipackets\": " << st.ipackets
          << ", \"opackets\": " << st.opackets << ", \"ibytes\": " << st.ibytes
          << ", \"obytes\": " << st.obytes << ", \"imissed\": " << st.imissed
          << ", \"ierrors\": " << st.ierrors << ", \"oerrors\": " << st.oerrors
          << ", \"rx_nombuf\": " << st.rx_nombuf << "}";
        first = false;
    }
    o << "\n  },\n  \"stages\": {";
    first = true;
    for (auto& s : g.stages()) {
        auto& c = s->counters();
        o << (first ? "" : ",") << "\n    \"" << json_escape(s->name()) << "\": {\"type\": \""
          << s->type() << "\", \"reactor\": \"" << json_escape(plan.reactors[s->reactor()].name)
          << "\", \"in\": " << c.in.load() << ", \"produced\": " << c.produced.load()
          << ", \"transmitted\": " << c.transmitted.load() << ", \"held\": " << s->held()
          << ", \"out\": {";
        bool f2 = true;
        for (std::size_t k = 0; k < s->outputs().size(); ++k) {
            o << (f2 ? "" : ", ") << "\"" << json_escape(s->outputs()[k])
              << "\": " << c.out[k].load();
            f2 = false;
        }
        o << "}, \"dropped\": {";
        f2 = true;
        for (std::size_t k = 0; k < s->reasons().size(); ++k) {
            if (!c.dropped[k].load()) continue;
            o << (f2 ? "" : ", ") << "\"" << json_escape(s->reasons()[k])
              << "\": " << c.dropped[k].load();
            f2 = false;
        }
        o << "}";
        for (auto& [k, v] : s->extra())
            o << ", \"" << json_escape(k) << "\": " << v;
        o << "}";
        first = false;
    }
    o << "\n  },\n  \"reactors\": {";
    for (unsigned i = 0; i < rg.size(); ++i) {
        auto& c = rg[i].counters();
        std::uint64_t busy = c.busy_cycles.load(), idle = c.idle_cycles.load();
        o << (i ? "," : "") << "\n    \"" << json_escape(plan.reactors[i].name)
          << "\": {\"lcore\": " << plan.reactors[i].lcore << ", \"cpu\": " << plan.reactors[i].cpu
          << ", \"rounds\": " << c.rounds.load() << ", \"timers_fired\": " << c.timers_fired.load()
          << ", \"busy_cycles\": " << busy << ", \"idle_cycles\": " << idle << ", \"busy_ratio\": "
          << (busy + idle ? static_cast<double>(busy) / static_cast<double>(busy + idle) : 0.0)
          << "}";
    }
    o << "\n  },\n  \"edges\": [";
    for (std::size_t i = 0; i < g.edges().size(); ++i) {
        auto& e = g.edges()[i];
        o << (i ? "," : "") << "\n    {\"from\": \"" << json_escape(e.from) << "\", \"to\": \""
          << json_escape(e.to) << "\", \"queue\": \"" << to_string(e.kind)
          << "\", \"direct\": " << (e.direct ? "true" : "false") << ", \"size\": " << e.size << "}";
    }
    o << "\n  ]\n}\n";
    return o.str();
}

/// Prometheus families for the running pipeline, read at scrape time (HTTP thread):
/// stage, edge and reactor counters are single-writer relaxed atomics, port counters
/// come from the ethdev.
void collect_metrics(std::vector<metrics::family>& out, const config& cfg, const graph& g,
                     sched::reactor_group& rg, const plan_result& plan) {
    using metrics::family;
    using metrics::metric_type;
    family in("pktkernel_stage_packets_total",
              "Packets by stage and direction: in (handed to the stage), produced (by a source), "
              "transmitted (to a device)",
              metric_type::counter);
    family outp("pktkernel_stage_output_packets_total", "Packets a stage passed on, by output",
                metric_type::counter);
    family drops("pktkernel_drops_total", "Packets dropped, by stage and reason",
                 metric_type::counter);
    family held("pktkernel_stage_held_packets", "Packets held inside a stage (TX buffers)",
                metric_type::gauge);
    for (auto& s : g.stages()) {
        auto& c = s->counters();
        const std::string& r = plan.reactors[s->reactor()].name;
        auto lbl = [&](const char* k, std::string v) {
            return metrics::label_set{
                {"stage", s->name()}, {"type", s->type()}, {"reactor", r}, {k, std::move(v)}};
        };
        in.add(lbl("direction", "in"), c.in.load());
        if (s->is_source()) in.add(lbl("direction", "produced"), c.produced.load());
        if (s->type() == "port_tx") in.add(lbl("direction", "transmitted"), c.transmitted.load());
        for (std::size_t k = 0; k < s->outputs().size(); ++k)
            outp.add(lbl("output", s->outputs()[k]), c.out[k].load());
        for (std::size_t k = 0; k < s->reasons().size(); ++k)
            drops.add(lbl("reason", s->reasons()[k]), c.dropped[k].load());
        held.add({{"stage", s->name()}}, s->held());
        for (auto& [k, v] : s->extra()) {
            family x("pktkernel_stage_" + k,
                     "Stage-specific value '" + k + "' (see docs/CONFIG.md)", metric_type::gauge);
            x.add({{"stage", s->name()}, {"type", s->type()}}, v);
            out.push_back(std::move(x));
        }
    }
    out.push_back(std::move(in));
    out.push_back(std::move(outp));
    out.push_back(std::move(drops));
    out.push_back(std::move(held));

    totals t = sum(g);
    family q("pktkernel_queued_packets", "Packets in queues between stages and held by stages",
             metric_type::gauge);
    q.add({}, t.queued);
    out.push_back(std::move(q));
    family fan("pktkernel_broadcast_references_total",
               "Broadcast rings: references taken by subscribers (fanout) and packets released",
               metric_type::counter);
    fan.add({{"kind", "fanout"}}, t.fanout);
    fan.add({{"kind", "released"}}, t.released);
    out.push_back(std::move(fan));

    // Reactors: every counter the scheduler keeps.
    std::map<std::string, family> rf;
    for (unsigned i = 0; i < rg.size(); ++i) {
        metrics::label_set base{{"reactor", plan.reactors[i].name},
                                {"lcore", std::to_string(plan.reactors[i].lcore)}};
        rg[i].counters().visit([&](const char* name, const char* label, std::uint64_t v) {
            std::string n = name;
            bool gauge = n == "timer_lateness_max";
            std::string fam = "pktkernel_reactor_" + n + (gauge ? "_cycles" : "_total");
            auto it = rf.find(fam);
            if (it == rf.end())
                it = rf.emplace(fam, family(fam, "Reactor counter " + n,
                                            gauge ? metric_type::gauge : metric_type::counter))
                         .first;
            auto l = base;
            if (label) l.push_back({n.rfind("bucket_", 0) == 0 ? "bucket" : "source", label});
            it->second.add(std::move(l), v);
        });
    }
    for (auto& [k, f] : rf)
        out.push_back(std::move(f));

    // Ports: the device's own counters.
    family pp("pktkernel_port_packets_total", "Packets by port and direction (ethdev stats)",
              metric_type::counter);
    family pe("pktkernel_port_errors_total",
              "Port errors: imissed (no RX descriptor), ierrors, oerrors, rx_nombuf",
              metric_type::counter);
    for (std::size_t i = 0; i < g.ports().size(); ++i) {
        auto st = g.ports()[i]->stats();
        const std::string& n = *cfg.ports[i].name;
        pp.add({{"port", n}, {"direction", "rx"}}, st.ipackets);
        pp.add({{"port", n}, {"direction", "tx"}}, st.opackets);
        pe.add({{"port", n}, {"kind", "imissed"}}, st.imissed);
        pe.add({{"port", n}, {"kind", "ierrors"}}, st.ierrors);
        pe.add({{"port", n}, {"kind", "oerrors"}}, st.oerrors);
        pe.add({{"port", n}, {"kind", "rx_nombuf"}}, st.rx_nombuf);
    }
    out.push_back(std::move(pp));
    out.push_back(std::move(pe));
}

/// Console commands over the running graph (control thread; allocate freely).
void add_pipeline_commands(net::console& con, const graph& g, sched::reactor_group& rg,
                           const plan_result& plan) {
    con.add(
        "show stages",
        [&g, &plan](std::string_view) {
            std::string o =
                "stage            type          reactor        in          out     dropped  held\n";
            for (auto& s : g.stages()) {
                std::uint64_t out = 0;
                for (std::size_t k = 0; k < s->outputs().size(); ++k)
                    out += s->counters().out[k].load();
                out += s->counters().transmitted.load();
                char line[200];
                std::snprintf(
                    line, sizeof line,
                    "%-16s %-13s %-8s %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %5" PRIu64 "\n",
                    s->name().c_str(), s->type().c_str(), plan.reactors[s->reactor()].name.c_str(),
                    s->counters().in.load() + s->counters().produced.load(), out,
                    s->dropped_total(), s->held());
                o += line;
            }
            return o;
        },
        "every stage: packets in (or produced), out (or transmitted), dropped, held");
    con.add(
        "show reactors",
        [&rg, &plan](std::string_view) {
            std::string o = "reactor  lcore cpu       rounds  busy%   tasks\n";
            for (unsigned i = 0; i < rg.size(); ++i) {
                auto& c = rg[i].counters();
                std::uint64_t b = c.busy_cycles.load(), id = c.idle_cycles.load();
                char line[160];
                std::snprintf(line, sizeof line, "%-8s %5u %3d %12" PRIu64 " %6.1f %7zu\n",
                              plan.reactors[i].name.c_str(), plan.reactors[i].lcore,
                              plan.reactors[i].cpu, c.rounds.load(),
                              b + id ? 100.0 * static_cast<double>(b) / static_cast<double>(b + id)
                                     : 0.0,
                              rg[i].live_tasks());
                o += line;
            }
            return o;
        },
        "every reactor: lcore, CPU, rounds, busy ratio, live tasks");
    con.add(
        "show queues",
        [&g](std::string_view) {
            std::string o = "from                 to               queue    size  direct\n";
            for (auto& e : g.edges()) {
                char line[160];
                std::snprintf(line, sizeof line, "%-20s %-16s %-7s %5u  %s\n", e.from.c_str(),
                              e.to.c_str(), to_string(e.kind), e.size,
                              e.direct ? "yes (call)" : "no");
                o += line;
            }
            char tail[96];
            std::snprintf(tail, sizeof tail, "queued now: %" PRIu64 " packets\n", g.queued());
            return o + tail;
        },
        "every edge: kind, size, direct call or queue; packets queued now");
    con.add(
        "show timers",
        [&rg, &plan](std::string_view) {
            std::string o = "reactor  armed      fired      max lateness (cycles)\n";
            for (unsigned i = 0; i < rg.size(); ++i) {
                auto& c = rg[i].counters();
                char line[128];
                std::snprintf(line, sizeof line, "%-8s %-10" PRIu64 " %-10" PRIu64 " %" PRIu64 "\n",
                              plan.reactors[i].name.c_str(), c.timers_armed.load(),
                              c.timers_fired.load(), c.timer_lateness_max.load());
                o += line;
            }
            return o;
        },
        "timer wheel activity per reactor");
    con.add(
        "show flows",
        [&g](std::string_view) {
            std::string o;
            for (auto& s : g.stages()) {
                if (s->type() != "flow_balance") continue;
                o += s->name() + ":";
                for (auto& [k, v] : s->extra())
                    o += " " + k + "=" + std::to_string(v);
                o += "; packets per output:";
                for (std::size_t k = 0; k < s->outputs().size(); ++k)
                    if (auto v = s->counters().out[k].load())
                        o += " " + s->outputs()[k] + "=" + std::to_string(v);
                o += "\n";
            }
            return o.empty() ? std::string("(no flow_balance stage)\n") : o;
        },
        "flow balancers: buckets, workers, packets per worker");
    con.add_stats("pipeline", [&g] {
        totals t = sum(g);
        char line[256];
        std::snprintf(line, sizeof line,
                      "received %" PRIu64 " transmitted %" PRIu64 " dropped %" PRIu64
                      " queued %" PRIu64 " fanout %" PRIu64 " released %" PRIu64 " (%s)\n",
                      t.received, t.transmitted, t.dropped, t.queued, t.fanout, t.released,
                      t.balanced() ? "balanced" : "in flight");
        return std::string(line);
    });
}

} // namespace

int run(const config& cfg, const run_options& opt) {
    auto plan = make_plan(cfg);
    if (!plan) {
        std::fprintf(stderr, "pktkernel: %s\n", plan.err().message.c_str());
        return 1;
    }
    auto where = place_stages(cfg, *plan);
    if (!where) {
        std::fprintf(stderr, "%s\n", where.err().message.c_str());
        return 2;
    }
    auto timers = place_timers(cfg, *plan);
    if (!timers) {
        std::fprintf(stderr, "%s\n", timers.err().message.c_str());
        return 2;
    }

    net::eal_config ec;
    ec.lcores = plan->eal_lcores;
    ec.hugepages = *cfg.eal.hugepages;
    if (*cfg.eal.memory_mb) ec.memory_mb = *cfg.eal.memory_mb;
    ec.file_prefix = *cfg.eal.file_prefix;
    ec.extra = *cfg.eal.extra_args;
    ec.extra.push_back("--main-lcore=" + std::to_string(plan->main_lcore));
    ec.extra.insert(ec.extra.end(), opt.eal_args.begin(), opt.eal_args.end());
    ec.log_level = log::get_level();
    auto eal = net::eal_session::start(ec);
    if (!eal) {
        std::fprintf(stderr, "pktkernel: %s\n", eal.err().message.c_str());
        return 1;
    }

    std::unique_ptr<graph> g;
    {
        auto built = graph::build(cfg, registry::global(), *where,
                                  static_cast<unsigned>(plan->reactors.size()));
        if (!built) {
            std::fprintf(stderr, "%s\n", built.err().message.c_str());
            return built.err().code == errc::invalid_argument ? 2 : 1;
        }
        g = std::move(*built);
    }

    std::vector<sched::reactor_config> rcfg;
    for (auto& r : plan->reactors)
        rcfg.push_back(r.cfg);
    sched::reactor_group rg(rcfg);

    std::vector<std::unique_ptr<stage_net_source>> rx;
    std::vector<std::unique_ptr<poll_task>> tasks;
    std::vector<std::unique_ptr<housekeeping_task>> hk;
    std::vector<std::unique_ptr<timer_action_task>> ticks;
    for (unsigned r = 0; r < rg.size(); ++r) {
        std::vector<stage*> mine;
        for (std::size_t i = 0; i < g->stages().size(); ++i) {
            stage* s = g->stages()[i].get();
            if (s->reactor() != r) continue;
            mine.push_back(s);
            if (!s->is_source()) continue;
            if (s->type() == "port_rx") {
                rx.push_back(std::make_unique<stage_net_source>(*s));
                rx.back()->bucket = static_cast<std::int32_t>(*cfg.stages[i].priority);
                rg[r].add_net(*rx.back());
            } else {
                tasks.push_back(std::make_unique<poll_task>(s, nullptr));
                rg[r].spawn(*tasks.back(),
                            {.bucket = static_cast<std::uint8_t>(*cfg.stages[i].priority)});
            }
        }
        for (auto* e : g->sources_of(r)) {
            auto& sc = *cfg.find_stage(e->target().name());
            tasks.push_back(std::make_unique<poll_task>(nullptr, e));
            rg[r].spawn(*tasks.back(), {.bucket = static_cast<std::uint8_t>(*sc.priority)});
        }
        for (auto& t : *timers)
            if (t.reactor == r) {
                ticks.push_back(
                    std::make_unique<timer_action_task>(*g, r, t.name, t.act, t.period, mine));
                rg[r].spawn(*ticks.back(), {.bucket = 0});
            }
        // Once a round is enough for TX deadlines and ring release: the lowest bucket.
        hk.push_back(std::make_unique<housekeeping_task>(*g, r, std::move(mine)));
        rg[r].spawn(*hk.back(), {.bucket = static_cast<std::uint8_t>(priority_buckets - 1)});
    }

    if (auto s = g->start_ports(); !s) {
        std::fprintf(stderr, "pktkernel: %s\n", s.err().message.c_str());
        return 1;
    }
    // ---- metrics: Prometheus text format on /metrics ---------------------------------------
    metrics::registry mreg;
    metrics::registration mcol;
    std::unique_ptr<metrics::exporter> exporter;
    std::string listen =
        !opt.metrics.empty() ? opt.metrics : (*cfg.metrics.enabled ? *cfg.metrics.listen : "");
    if (!listen.empty()) {
        mcol = mreg.add([&cfg, &g, &rg, &plan](std::vector<metrics::family>& out) {
            collect_metrics(out, cfg, *g, rg, *plan);
        });
        auto ex = metrics::exporter::start(mreg, listen);
        if (!ex) {
            std::fprintf(stderr, "pktkernel: metrics: %s\n", ex.err().message.c_str());
            return 2;
        }
        exporter = std::move(*ex);
    }

    std::vector<unsigned> lcores;
    for (auto& r : plan->reactors)
        lcores.push_back(r.lcore);
    if (auto s = sched::dpdk::launch(rg, lcores); !s) {
        std::fprintf(stderr, "pktkernel: cannot launch the reactors: %s\n",
                     s.err().message.c_str());
        return 1;
    }
    PK_INFO("pipeline", "'%s' running: %zu stages, %zu edges, %u reactors (--lcores %s)",
            cfg.name->c_str(), g->stages().size(), g->edges().size(), rg.size(),
            plan->eal_lcores.c_str());

    // ---- console: stdin (a terminal or a pipe) and the control socket --------------------
    std::unique_ptr<net::console> con;
    if (auto c = net::console::create()) {
        con = std::move(*c);
        net::add_port_commands(*con);
        add_pipeline_commands(*con, *g, rg, *plan);
        if (!cfg.console.socket->empty())
            if (auto st = con->listen(*cfg.console.socket); !st)
                PK_WARN("console", "control socket: %s", st.err().message.c_str());
        struct stat sb {};
        if (*cfg.console.use_stdin && fstat(STDIN_FILENO, &sb) == 0 &&
            (isatty(STDIN_FILENO) || S_ISFIFO(sb.st_mode)))
            (void)con->attach_stdin();
    } else {
        PK_WARN("console", "%s", c.err().message.c_str());
    }

    // ---- control loop -------------------------------------------------------------------
    const std::uint64_t hz = tsc::hz();
    const std::uint64_t t0 = tsc::now();
    const std::uint64_t end =
        opt.duration_s ? t0 + static_cast<std::uint64_t>(*opt.duration_s * static_cast<double>(hz))
                       : UINT64_MAX;
    std::uint64_t next = t0 + hz;
    totals last{};
    std::uint64_t last_rx = 0, last_gen = 0, last_t = t0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> last_cycles(rg.size());
    while (!(opt.stop && opt.stop->load(std::memory_order_relaxed)) &&
           !(con && con->quit_requested())) {
        std::uint64_t now = tsc::now();
        if (now >= next) {
            double dt = tsc::to_seconds(now - last_t);
            last_t = now;
            next += hz;
            totals t = sum(*g);
            std::uint64_t rxp = 0, gen = 0;
            for (auto& s : g->stages())
                (s->type() == "port_rx" ? rxp : gen) += s->counters().produced.load();
            double busiest = 0;
            std::string who = "-";
            for (unsigned r = 0; r < rg.size(); ++r) {
                auto& c = rg[r].counters();
                std::uint64_t b = c.busy_cycles.load(), i = c.idle_cycles.load();
                std::uint64_t db = b - last_cycles[r].first, di = i - last_cycles[r].second;
                last_cycles[r] = {b, i};
                double ratio =
                    db + di ? 100.0 * static_cast<double>(db) / static_cast<double>(db + di) : 0;
                if (ratio >= busiest) {
                    busiest = ratio;
                    who = plan->reactors[r].name;
                }
            }
            for (auto& p : g->ports())
                p->poll_link();
            if (opt.status_line) {
                std::printf("[%6.1fs] rx %7.3f Mpps  tx %7.3f Mpps%s  drops %" PRIu64
                            "  queued %" PRIu64 "  busiest %s %5.1f%%\n",
                            tsc::to_seconds(now - t0),
                            static_cast<double>(rxp - last_rx) / dt / 1e6,
                            static_cast<double>(t.transmitted - last.transmitted) / dt / 1e6,
                            gen ? ("  gen " +
                                   std::to_string(static_cast<double>(gen - last_gen) / dt / 1e6)
                                       .substr(0, 5) +
                                   " Mpps")
                                      .c_str()
                                : "",
                            t.dropped, t.queued, who.c_str(), busiest);
                std::fflush(stdout);
            }
            last = t;
            last_rx = rxp;
            last_gen = gen;
            if (now > next + hz) next = now + hz; // we were descheduled: do not catch up
        }
        if (now >= end) break;
        if (con)
            con->run_for(std::chrono::milliseconds(5));
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    con.reset(); // closes the control socket: no command may look at a stopping graph
    exporter.reset();
    mcol = {};

    // ---- graceful stop --------------------------------------------------------------------
    for (auto& s : g->stages())
        s->quiesce();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    unsigned calm = 0;
    while (calm < 3 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        // Held packets in TX buffers flush on their deadline; queues drain by polling.
        calm = g->queued() == 0 ? calm + 1 : 0;
    }
    if (calm < 3) {
        PK_WARN("pipeline", "stop: %" PRIu64 " packets still queued after 5 s; draining anyway",
                g->queued());
        g->abort_waits();
    }
    for (auto& h : hk)
        h->request_drain();
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (auto& h : hk)
        while (!h->drained() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    rg.request_stop();
    sched::dpdk::wait(lcores);
    // The reactors have exited: this thread is the only one left touching the graph.
    // Anything a source emitted between the queue check and its quiesce is moved on
    // and drained here, so the final account ends with nothing queued.
    g->settle();
    double elapsed = tsc::to_seconds(tsc::now() - t0);

    totals t = sum(*g);
    std::printf("final: received %" PRIu64 " transmitted %" PRIu64 " dropped %" PRIu64
                " queued %" PRIu64 "%s in %.1fs — %s\n",
                t.received, t.transmitted, t.dropped, t.queued,
                t.fanout ? (" fanout " + std::to_string(t.fanout) + " released " +
                            std::to_string(t.released))
                               .c_str()
                         : "",
                elapsed, t.balanced() ? "every packet accounted for" : "ACCOUNTING MISMATCH");
    int rc = t.balanced() ? 0 : 1;
    if (!opt.stats_json.empty()) {
        std::ofstream f(opt.stats_json);
        f << stats_json(cfg, *g, rg, *plan, elapsed);
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

} // namespace pk::pipeline
