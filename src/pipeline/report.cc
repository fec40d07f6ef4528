#include "pipeline/report.hh"

#include <cinttypes>
#include <cstdio>
#include <sstream>

#include "base/clock.hh"
#include "metrics/exposition.hh"
#include "net/port.hh"
#include "pipeline/edges.hh"
#include "pipeline/latency.hh"

namespace pk::pipeline {
namespace {

std::string json_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        o += c;
    }
    return o;
}

/// `"key": value` pairs joined by ", " (a JSON object's body).
class json_fields {
public:
    template <typename V>
    json_fields& add(const std::string& k, const V& v) {
        _o << (_first ? "" : ", ") << "\"" << json_escape(k) << "\": " << v;
        _first = false;
        return *this;
    }
    json_fields& str(const std::string& k, const std::string& v) {
        return add(k, "\"" + json_escape(v) + "\"");
    }
    std::string obj() const { return "{" + _o.str() + "}"; }

private:
    std::ostringstream _o;
    bool _first = true;
};

std::string port_json(const net::port& pt) {
    const net::port_stats st = pt.stats();
    json_fields f;
    f.str("device", pt.name());
    f.add("socket", pt.socket()); // -1: unknown, pool and rings on any socket
    f.add("link_up", pt.link_up() ? "true" : "false");
    f.add("link_changes", pt.link_changes());
    for (auto [k, v] : {std::pair{"ipackets", st.ipackets},
                        {"opackets", st.opackets},
                        {"ibytes", st.ibytes},
                        {"obytes", st.obytes},
                        {"imissed", st.imissed},
                        {"ierrors", st.ierrors},
                        {"oerrors", st.oerrors},
                        {"rx_nombuf", st.rx_nombuf}})
        f.add(k, v);
    return f.obj();
}

double busy_ratio(std::uint64_t busy, std::uint64_t idle) noexcept {
    return busy + idle ? static_cast<double>(busy) / static_cast<double>(busy + idle) : 0.0;
}

} // namespace

std::string totals::summary() const {
    char b[256];
    std::snprintf(b, sizeof b,
                  "in %" PRIu64 " (generated %" PRIu64 ", received %" PRIu64 ") out %" PRIu64
                  " consumed %" PRIu64 " dropped %" PRIu64 " queued %" PRIu64,
                  in(), generated, received, transmitted, consumed, dropped, queued);
    return b;
}

totals sum(const graph& g) {
    totals t;
    for (auto& s : g.stages()) {
        auto& c = s->counters();
        (s->is(role::rx_source) ? t.received : t.generated) += c.produced.load();
        t.transmitted += c.transmitted.load();
        (s->is(role::sink) ? t.consumed : t.dropped) += s->dropped_total();
    }
    t.queued = g.queued();
    t.fanout = g.fanout();
    t.referenced = g.referenced();
    t.released = g.released();
    return t;
}

std::map<std::string, std::uint64_t> drops_by_reason(const graph& g) {
    std::map<std::string, std::uint64_t> by;
    for (auto& s : g.stages())
        if (!s->is(role::sink))
            for (std::size_t r = 0; r < s->reasons().size(); ++r)
                if (auto v = s->counters().dropped[r].load()) by[s->reasons()[r]] += v;
    return by;
}

std::string final_account(const graph& g, double elapsed_s) {
    totals t = sum(g);
    char b[512];
    std::snprintf(b, sizeof b, "final: %s in %.1fs — %s\n", t.summary().c_str(), elapsed_s,
                  t.balanced() ? "every packet accounted for" : "ACCOUNTING MISMATCH");
    std::string o = b;
    for (auto& [r, v] : drops_by_reason(g))
        o += "  dropped " + std::to_string(v) + " " + r + "\n";
    if (t.fanout)
        o += "  broadcast: " + std::to_string(t.fanout) + " deliveries to subscribers (" +
             std::to_string(t.fanout - t.referenced) + " in place, " +
             std::to_string(t.referenced) + " with a reference), " + std::to_string(t.released) +
             " packets released by the rings\n";
    return o;
}

/// A lanes edge's lanes, highest first: [{"queued": N, "refused": M}, ...]; other edges: [].
static std::string lanes_json(const edge_queue* q) {
    std::string o = "[";
    for (unsigned l = 0; q && l < q->lanes(); ++l)
        o += (l ? ", " : "") + json_fields().add("queued", q->lane_queued(l)).add("refused", q->lane_refused(l)).obj();
    return o + "]";
}

std::string stats_json(const config& cfg, const plan& p, const graph& g, sched::reactor_group& rg,
                       double elapsed_s) {
    std::ostringstream o;
    totals t = sum(g);
    o << "{\n  \"pipeline\": \"" << json_escape(*cfg.name) << "\",\n  \"elapsed_s\": " << elapsed_s
      << ",\n  \"eal_lcores\": \"" << p.eal_lcores << "\",\n  \"control\": "
      << json_fields().add("lcore", p.main_lcore).add("cpu", p.main_cpu).obj() << ",\n";
    json_fields tf;
    for (auto [k, v] : t.fields())
        tf.add(k, v);
    o << "  \"totals\": " << tf.add("balanced", t.balanced() ? "true" : "false").obj() << ",\n";
    o << "  \"peer_faults\": " << net::peer_guard::faults() << ",\n";
    json_fields by;
    for (auto& [r, v] : drops_by_reason(g))
        by.add(r, v);
    o << "  \"drops_by_reason\": " << by.obj() << ",\n  \"ports\": {";
    for (std::size_t i = 0; i < g.ports().size(); ++i) {
        o << (i ? "," : "") << "\n    \"" << json_escape(*cfg.ports[i].name)
          << "\": " << port_json(*g.ports()[i]);
    }
    o << "\n  },\n  \"pools\": [";
    const auto pools = g.pools().info();
    for (std::size_t i = 0; i < pools.size(); ++i)
        o << (i ? "," : "") << "\n    "
          << json_fields()
                 .str("name", pools[i].name)
                 .add("socket", pools[i].socket)
                 .add("size", pools[i].size)
                 .add("reserved", pools[i].reserved)
                 .add("in_use", pools[i].in_use)
                 .add("data_room", pools[i].data_room)
                 .obj();
    o << "\n  ],\n  \"stages\": {";
    for (std::size_t i = 0; i < g.stages().size(); ++i) {
        auto& s = g.stages()[i];
        auto& c = s->counters();
        json_fields outs, drops, f;
        for (std::size_t k = 0; k < s->outputs().size(); ++k)
            outs.add(s->outputs()[k], c.out[k].load());
        for (std::size_t k = 0; k < s->reasons().size(); ++k)
            if (auto v = c.dropped[k].load(); v && !s->is(role::sink))
                drops.add(s->reasons()[k], v);
        f.str("type", s->type())
            .str("reactor", p.reactors[s->reactor()].name)
            .add("in", c.in.load())
            .add("produced", c.produced.load())
            .add("transmitted", c.transmitted.load())
            .add("consumed", s->is(role::sink) ? s->dropped_total() : 0)
            .add("held", s->held())
            .add("out", outs.obj())
            .add("dropped", drops.obj());
        for (auto& [k, v, counter] : s->extra())
            f.add(k, v);
        if (const auto* h = s->latency(); h && h->count())
            f.add("latency_ns", json_fields()
                                    .add("count", h->count())
                                    .add("p50", h->quantile_ns(0.5))
                                    .add("p99", h->quantile_ns(0.99))
                                    .add("p999", h->quantile_ns(0.999))
                                    .obj());
        o << (i ? "," : "") << "\n    \"" << json_escape(s->name()) << "\": " << f.obj();
    }
    o << "\n  },\n  \"reactors\": {";
    for (unsigned i = 0; i < rg.size(); ++i) {
        auto& c = rg[i].counters();
        std::uint64_t busy = c.busy_cycles.load(), idle = c.idle_cycles.load();
        o << (i ? "," : "") << "\n    \"" << json_escape(p.reactors[i].name) << "\": "
          << json_fields()
                 .add("lcore", p.reactors[i].lcore)
                 .add("cpu", p.reactors[i].cpu)
                 .add("rounds", c.rounds.load())
                 .add("timers_fired", c.timers_fired.load())
                 .add("busy_cycles", busy)
                 .add("idle_cycles", idle)
                 .add("busy_ratio", busy_ratio(busy, idle))
                 .obj();
    }
    o << "\n  },\n  \"edges\": [";
    for (std::size_t i = 0; i < g.edges().size(); ++i) {
        auto& e = g.edges()[i];
        o << (i ? "," : "") << "\n    "
          << json_fields()
                 .str("from", e.from)
                 .str("to", e.to)
                 .str("queue", e.kind)
                 .add("direct", e.direct ? "true" : "false")
                 .add("size", e.size)
                 .add("queued", e.queue ? e.queue->queued() : 0)
                 .add("lanes", lanes_json(e.queue))
                 .obj();
    }
    o << "\n  ]\n}\n";
    return o.str();
}

void collect_metrics(std::vector<metrics::family>& out, const config& cfg, const plan& p,
                     const graph& g, sched::reactor_group& rg) {
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
        const std::string& r = p.reactors[s->reactor()].name;
        auto lbl = [&](const char* k, std::string v) {
            return metrics::label_set{
                {"stage", s->name()}, {"type", s->type()}, {"reactor", r}, {k, std::move(v)}};
        };
        in.add(lbl("direction", "in"), c.in.load());
        if (s->is_source()) in.add(lbl("direction", "produced"), c.produced.load());
        if (s->is(role::tx_sink)) in.add(lbl("direction", "transmitted"), c.transmitted.load());
        for (std::size_t k = 0; k < s->outputs().size(); ++k)
            outp.add(lbl("output", s->outputs()[k]), c.out[k].load());
        for (std::size_t k = 0; k < s->reasons().size(); ++k)
            drops.add(lbl("reason", s->reasons()[k]), c.dropped[k].load());
        held.add({{"stage", s->name()}}, s->held());
        for (auto& x : s->extra()) {
            // A value in nanoseconds (an `_ns` word in its name) is exported in seconds,
            // Prometheus's base unit: migration_hold_ns_max → migration_hold_seconds_max.
            std::string name = x.name;
            const auto ns = name.find("_ns");
            const bool in_ns = ns != std::string::npos &&
                               (ns + 3 == name.size() || name[ns + 3] == '_');
            if (in_ns) name.replace(ns, 3, "_seconds");
            family f("pktkernel_stage_" + name,
                     "Stage-specific " + std::string(x.counter ? "count" : "value") + " '" +
                         x.name + "' (see docs/CONFIG.md)",
                     x.counter ? metric_type::counter : metric_type::gauge);
            if (in_ns)
                f.add({{"stage", s->name()}, {"type", s->type()}},
                      static_cast<double>(x.value) * 1e-9);
            else
                f.add({{"stage", s->name()}, {"type", s->type()}}, x.value);
            out.push_back(std::move(f));
        }
    }
    family lat("pktkernel_latency_seconds",
               "RX (or creation) to TX hand-off latency of the packets a stage transmits",
               metric_type::histogram);
    const double hz = static_cast<double>(tsc::hz());
    for (auto& s : g.stages()) {
        const auto* h = s->latency();
        if (!h) continue;
        metrics::histogram_value v;
        auto oct = h->octaves();
        for (std::size_t k = 0; k < oct.size(); ++k) {
            if (k + 1 < oct.size()) v.bounds.push_back(static_cast<double>(oct[k].first - 1) / hz);
            v.counts.push_back(oct[k].second);
        }
        v.sum = static_cast<double>(h->sum_cycles()) / hz;
        lat.add(std::move(v), {{"pipeline", *cfg.name}, {"stage", s->name()}});
    }
    out.push_back(std::move(lat));
    out.push_back(std::move(in));
    out.push_back(std::move(outp));
    out.push_back(std::move(drops));
    out.push_back(std::move(held));

    totals t = sum(g);
    family lq("pktkernel_edge_lane_queued_packets",
              "Packets in each lane of a lanes edge (lane 0 the highest class)", metric_type::gauge);
    family lr("pktkernel_edge_lane_refused_packets_total",
              "Packets a full lane of a lanes edge refused (dropped or parked by the producer)",
              metric_type::counter);
    for (auto& e : g.edges())
        for (unsigned l = 0; e.queue && l < e.queue->lanes(); ++l) {
            const metrics::label_set ls{{"from", e.from}, {"to", e.to}, {"lane", std::to_string(l)}};
            lq.add(ls, e.queue->lane_queued(l));
            lr.add(ls, e.queue->lane_refused(l));
        }
    if (!lq.samples.empty()) {
        out.push_back(std::move(lq));
        out.push_back(std::move(lr));
    }

    family q("pktkernel_queued_packets", "Packets in queues between stages and held by stages",
             metric_type::gauge);
    q.add({}, t.queued);
    out.push_back(std::move(q));
    family fan("pktkernel_broadcast_references_total",
               "Broadcast rings: deliveries to subscribers (fanout), the deliveries that took "
               "a reference (referenced) and packets released",
               metric_type::counter);
    fan.add({{"kind", "fanout"}}, t.fanout);
    fan.add({{"kind", "referenced"}}, t.referenced);
    fan.add({{"kind", "released"}}, t.released);
    out.push_back(std::move(fan));

    // Reactors: every counter the scheduler keeps.
    std::map<std::string, family> rf;
    for (unsigned i = 0; i < rg.size(); ++i) {
        metrics::label_set base{{"reactor", p.reactors[i].name},
                                {"lcore", std::to_string(p.reactors[i].lcore)}};
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
    family pl("pktkernel_port_link_up", "1 when the port's link is up (as last polled)",
              metric_type::gauge);
    family plc("pktkernel_port_link_changes_total",
               "Link transitions seen on the port (a flap between two polls counts two)",
               metric_type::counter);
    for (std::size_t i = 0; i < g.ports().size(); ++i) {
        auto st = g.ports()[i]->stats();
        const std::string& n = *cfg.ports[i].name;
        pl.add({{"port", n}}, g.ports()[i]->link_up() ? 1 : 0);
        plc.add({{"port", n}}, g.ports()[i]->link_changes());
        pp.add({{"port", n}, {"direction", "rx"}}, st.ipackets);
        pp.add({{"port", n}, {"direction", "tx"}}, st.opackets);
        for (auto [kind, v] : {std::pair{"imissed", st.imissed},
                               {"ierrors", st.ierrors},
                               {"oerrors", st.oerrors},
                               {"rx_nombuf", st.rx_nombuf}})
            pe.add({{"port", n}, {"kind", kind}}, v);
    }
    out.push_back(std::move(pp));
    out.push_back(std::move(pe));
    out.push_back(std::move(pl));
    out.push_back(std::move(plc));
    family pf("pktkernel_peer_faults_total",
              "Memif bursts cut short because the peer unmapped the shared memory mid-burst "
              "(resumed; their packets are counted as peer_gone / tx_peer_gone drops)",
              metric_type::counter);
    pf.add({}, net::peer_guard::faults());
    out.push_back(std::move(pf));
}

std::string show_stages(const graph& g, const plan& p) {
    std::string o =
        "stage            type          reactor        in          out     dropped  held\n";
    for (auto& s : g.stages()) {
        auto& c = s->counters();
        std::uint64_t out = c.transmitted.load();
        for (std::size_t k = 0; k < s->outputs().size(); ++k)
            out += c.out[k].load();
        char line[200];
        std::snprintf(line, sizeof line,
                      "%-16s %-13s %-8s %12" PRIu64 " %12" PRIu64 " %10" PRIu64 "%s %5" PRIu64 "\n",
                      s->name().c_str(), s->type().c_str(), p.reactors[s->reactor()].name.c_str(),
                      c.in.load() + c.produced.load(), out, s->dropped_total(),
                      s->is(role::sink) ? "c" : " ", s->held());
        o += line;
    }
    return o + "(c: consumed by a sink stage, not lost)\n";
}

std::string show_reactors(sched::reactor_group& rg, const plan& p) {
    std::string o = "reactor  lcore cpu       rounds  busy%   tasks\n";
    for (unsigned i = 0; i < rg.size(); ++i) {
        auto& c = rg[i].counters();
        char line[160];
        std::snprintf(
            line, sizeof line, "%-8s %5u %3d %12" PRIu64 " %6.1f %7zu\n",
            p.reactors[i].name.c_str(), p.reactors[i].lcore, p.reactors[i].cpu, c.rounds.load(),
            100.0 * busy_ratio(c.busy_cycles.load(), c.idle_cycles.load()), rg[i].live_tasks());
        o += line;
    }
    return o;
}

std::string show_queues(const graph& g) {
    std::string o = "from                 to               queue    size  direct\n";
    for (auto& e : g.edges()) {
        char line[160];
        std::snprintf(line, sizeof line, "%-20s %-16s %-7s %5u  %s\n", e.from.c_str(), e.to.c_str(),
                      e.kind, e.size, e.direct ? "yes (call)" : "no");
        o += line;
        for (unsigned l = 0; e.queue && l < e.queue->lanes(); ++l) {
            std::snprintf(line, sizeof line, "  lane %u: %llu queued, %llu refused\n", l,
                          static_cast<unsigned long long>(e.queue->lane_queued(l)),
                          static_cast<unsigned long long>(e.queue->lane_refused(l)));
            o += line;
        }
    }
    return o + "queued now: " + std::to_string(g.queued()) + " packets\n";
}

std::string show_timers(sched::reactor_group& rg, const plan& p) {
    std::string o = "reactor  armed      fired      max lateness (cycles)\n";
    for (unsigned i = 0; i < rg.size(); ++i) {
        auto& c = rg[i].counters();
        char line[128];
        std::snprintf(line, sizeof line, "%-8s %-10" PRIu64 " %-10" PRIu64 " %" PRIu64 "\n",
                      p.reactors[i].name.c_str(), c.timers_armed.load(), c.timers_fired.load(),
                      c.timer_lateness_max.load());
        o += line;
    }
    return o;
}

std::string show_flows(const graph& g) {
    std::string o;
    for (auto& s : g.stages()) {
        if (!s->is(role::balancer)) {
            o += s->flow_report(); // flow tables: their top flows, per reactor
            continue;
        }
        o += s->name() + ":";
        for (auto& [k, v, counter] : s->extra())
            o += " " + k + "=" + std::to_string(v);
        o += "; packets per output:";
        for (std::size_t k = 0; k < s->outputs().size(); ++k)
            if (auto v = s->counters().out[k].load())
                o += " " + s->outputs()[k] + "=" + std::to_string(v);
        o += "\n";
    }
    return o.empty() ? std::string("(no balancer stage)\n") : o;
}

std::string stats_section(const graph& g) {
    totals t = sum(g);
    std::string o = t.summary() + (t.balanced() ? " (balanced)" : " (in flight)") + "\n";
    if (t.fanout)
        o += "broadcast: " + std::to_string(t.fanout) + " deliveries (" +
             std::to_string(t.referenced) + " with a reference), " + std::to_string(t.released) +
             " released\n";
    return o;
}

} // namespace pk::pipeline
