#include "app/telemetry.hh"

#include <mutex>
#include <string>

#include <rte_telemetry.h>

#include "base/log.hh"
#include "pipeline/report.hh"
#include "pipeline/stage.hh"

namespace pk::app {
namespace {

struct bound {
    const pipeline::config* cfg = nullptr;
    const pipeline::plan* plan = nullptr;
    const pipeline::graph* g = nullptr;
    sched::reactor_group* rg = nullptr;
};

std::mutex g_mu;  // guards g_now: the telemetry thread reads, the control thread binds
bound g_now;
bool g_registered = false;

/// A dict key or string value DPDK accepts (it truncates at RTE_TEL_MAX_STRING_LEN).
std::string clip(const std::string& s) {
    return s.size() < RTE_TEL_MAX_STRING_LEN ? s : s.substr(0, RTE_TEL_MAX_STRING_LEN - 1);
}

int not_running(rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "error", "no pipeline running");
    return 0;
}

/// Runs `fill(bound&)` under the binding lock, or answers "no pipeline running".
template <typename F>
int with_pipeline(rte_tel_data* d, F fill) {
    std::lock_guard lk(g_mu);
    if (!g_now.g) return not_running(d);
    return fill(g_now);
}

int cmd_totals(const char*, const char*, rte_tel_data* d) {
    return with_pipeline(d, [d](bound& b) {
        const pipeline::totals t = pipeline::sum(*b.g);
        rte_tel_data_start_dict(d);
        rte_tel_data_add_dict_string(d, "pipeline", clip(*b.cfg->name).c_str());
        for (auto [k, v] : t.fields())
            rte_tel_data_add_dict_u64(d, k, v);
        rte_tel_data_add_dict_u64(d, "balanced", t.balanced() ? 1 : 0);
        return 0;
    });
}

/// One stage: counters, and with `detail` its outputs and drops by reason.
rte_tel_data* stage_dict(const pipeline::stage& s, bool detail) {
    rte_tel_data* c = rte_tel_data_alloc();
    if (!c) return nullptr;
    const auto& k = s.counters();
    rte_tel_data_start_dict(c);
    rte_tel_data_add_dict_string(c, "type", clip(s.type()).c_str());
    rte_tel_data_add_dict_u64(c, "reactor", s.reactor());
    rte_tel_data_add_dict_u64(c, "in", k.in.load());
    rte_tel_data_add_dict_u64(c, "produced", k.produced.load());
    rte_tel_data_add_dict_u64(c, "transmitted", k.transmitted.load());
    rte_tel_data_add_dict_u64(c, "dropped", s.dropped_total());
    rte_tel_data_add_dict_u64(c, "held", s.held());
    if (!detail) return c;
    rte_tel_data* outs = rte_tel_data_alloc();
    rte_tel_data* drops = rte_tel_data_alloc();
    if (outs && drops) {
        rte_tel_data_start_dict(outs);
        for (std::size_t i = 0; i < s.outputs().size(); ++i)
            rte_tel_data_add_dict_u64(outs, clip(s.outputs()[i]).c_str(), k.out[i].load());
        rte_tel_data_start_dict(drops);
        for (std::size_t i = 0; i < s.reasons().size(); ++i)
            rte_tel_data_add_dict_u64(drops, clip(s.reasons()[i]).c_str(), k.dropped[i].load());
        rte_tel_data_add_dict_container(c, "out", outs, 0);
        rte_tel_data_add_dict_container(c, "dropped_by_reason", drops, 0);
    } else {
        rte_tel_data_free(outs);
        rte_tel_data_free(drops);
    }
    return c;
}

int cmd_stages(const char*, const char* params, rte_tel_data* d) {
    return with_pipeline(d, [d, params](bound& b) {
        rte_tel_data_start_dict(d);
        const std::string want = params ? params : "";
        for (auto& s : b.g->stages()) {
            if (!want.empty() && s->name() != want) continue;
            if (rte_tel_data* c = stage_dict(*s, !want.empty()))
                rte_tel_data_add_dict_container(d, clip(s->name()).c_str(), c, 0);
        }
        if (!want.empty() && !b.g->find_stage(want))
            rte_tel_data_add_dict_string(d, "error", clip("no stage '" + want + "'").c_str());
        return 0;
    });
}

int cmd_reactors(const char*, const char*, rte_tel_data* d) {
    return with_pipeline(d, [d](bound& b) {
        rte_tel_data_start_dict(d);
        for (unsigned i = 0; i < b.rg->size() && i < b.plan->reactors.size(); ++i) {
            const auto& c = (*b.rg)[i].counters();
            const auto& rp = b.plan->reactors[i];
            rte_tel_data* r = rte_tel_data_alloc();
            if (!r) break;
            const std::uint64_t busy = c.busy_cycles.load(), idle = c.idle_cycles.load();
            rte_tel_data_start_dict(r);
            rte_tel_data_add_dict_u64(r, "lcore", rp.lcore);
            rte_tel_data_add_dict_u64(r, "cpu", rp.cpu);
            rte_tel_data_add_dict_u64(r, "rounds", c.rounds.load());
            rte_tel_data_add_dict_u64(r, "busy_rounds", c.busy_rounds.load());
            rte_tel_data_add_dict_u64(r, "busy_cycles", busy);
            rte_tel_data_add_dict_u64(r, "idle_cycles", idle);
            rte_tel_data_add_dict_u64(r, "busy_percent", busy + idle ? busy * 100 / (busy + idle) : 0);
            rte_tel_data_add_dict_u64(r, "timers_fired", c.timers_fired.load());
            rte_tel_data_add_dict_container(d, clip(rp.name).c_str(), r, 0);
        }
        return 0;
    });
}

int cmd_edges(const char*, const char*, rte_tel_data* d) {
    return with_pipeline(d, [d](bound& b) {
        // A dict "e0", "e1", ... in graph order: DPDK 22.11 arrays cannot hold dicts.
        rte_tel_data_start_dict(d);
        unsigned i = 0;
        for (const auto& e : b.g->edges()) {
            rte_tel_data* c = rte_tel_data_alloc();
            if (!c) break;
            rte_tel_data_start_dict(c);
            rte_tel_data_add_dict_string(c, "from", clip(e.from).c_str());
            rte_tel_data_add_dict_string(c, "to", clip(e.to).c_str());
            rte_tel_data_add_dict_string(c, "kind", e.kind);
            rte_tel_data_add_dict_u64(c, "size", e.size);
            rte_tel_data_add_dict_u64(c, "direct", e.direct ? 1 : 0);
            rte_tel_data_add_dict_container(d, ("e" + std::to_string(i++)).c_str(), c, 0);
        }
        return 0;
    });
}

int cmd_flows(const char*, const char*, rte_tel_data* d) {
    return with_pipeline(d, [d](bound& b) {
        rte_tel_data_start_dict(d);
        for (auto& s : b.g->stages()) {
            if (!s->is(pipeline::role::balancer)) continue;
            rte_tel_data* c = rte_tel_data_alloc();
            rte_tel_data* outs = rte_tel_data_alloc();
            if (!c || !outs) {
                rte_tel_data_free(c);
                rte_tel_data_free(outs);
                break;
            }
            rte_tel_data_start_dict(c);
            for (auto& [k, v, counter] : s->extra())
                rte_tel_data_add_dict_u64(c, clip(k).c_str(), v);
            rte_tel_data_start_dict(outs);
            for (std::size_t k = 0; k < s->outputs().size(); ++k)
                rte_tel_data_add_dict_u64(outs, clip(s->outputs()[k]).c_str(),
                                          s->counters().out[k].load());
            rte_tel_data_add_dict_container(c, "packets_per_output", outs, 0);
            rte_tel_data_add_dict_container(d, clip(s->name()).c_str(), c, 0);
        }
        return 0;
    });
}

void register_once() {
    if (g_registered) return;
    g_registered = true;
    struct {
        const char* name;
        telemetry_cb fn;
        const char* help;
    } cmds[] = {
        {"/pktkernel/totals", cmd_totals, "The packet account. Takes no parameters"},
        {"/pktkernel/stages", cmd_stages,
         "Every stage's counters. Parameter: a stage name for its outputs and drops"},
        {"/pktkernel/reactors", cmd_reactors, "Every reactor's rounds and cycles. No parameters"},
        {"/pktkernel/edges", cmd_edges, "Every edge of the graph. Takes no parameters"},
        {"/pktkernel/flows", cmd_flows, "The load balancers' state. Takes no parameters"},
    };
    for (auto& c : cmds)
        if (rte_telemetry_register_cmd(c.name, c.fn, c.help) != 0)
            PK_WARN("telemetry", "cannot register %s", c.name);
}

} // namespace

telemetry_binding::telemetry_binding(const pipeline::config& cfg, const pipeline::plan& p,
                                     const pipeline::graph& g, sched::reactor_group& rg) {
    register_once();
    std::lock_guard lk(g_mu);
    g_now = bound{&cfg, &p, &g, &rg};
}

telemetry_binding::~telemetry_binding() {
    std::lock_guard lk(g_mu);
    g_now = bound{};
}

} // namespace pk::app
