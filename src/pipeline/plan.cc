#include "pipeline/plan.hh"

#include <algorithm>
#include <cinttypes>
#include <map>
#include <set>

#include "net/port.hh"
#include "pipeline/registry.hh"

namespace pk::pipeline {
namespace {

std::string at_text(mark m) {
    return std::to_string(m.line) + ":" + std::to_string(m.col);
}

std::string names_or_none(const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v)
        s += (s.empty() ? "" : ", ") + x;
    return s.empty() ? "none" : s;
}

sched::reactor_config to_sched(const reactor_config& rc) {
    sched::reactor_config c;
    c.discipline.kind = *rc.discipline;
    for (unsigned b = 0; b < priority_buckets; ++b)
        c.discipline.polls[b] = (*rc.polls)[b];
    c.discipline.bucket_count = priority_buckets;
    c.idle = *rc.idle;
    // A pipeline poller's work is the packets it moved: an empty poll means an empty
    // queue, and polling it again in the same round only burns cycles. `polls` is the
    // most a busy poller gets per round (NET sources already stop at an empty burst).
    c.stop_on_idle = true;
    return c;
}

/// Builds a plan, collecting every problem before it gives up.
class planner {
public:
    planner(const config& cfg, const registry& reg, plan& p) : _cfg(cfg), _reg(reg), _p(p) {}

    void fail(mark at, std::string msg) { _errors.push_back(_cfg.error_at(at, std::move(msg))); }
    bool failed() const noexcept { return !_errors.empty(); }
    pk::error to_error() const {
        std::string m = format(_errors);
        if (!m.empty()) m.pop_back();
        return make_error(errc::invalid_argument, std::move(m));
    }

    void reactors(const topology::machine& m);
    void place_stages();
    void place_timers();
    void graph(unsigned reactors);
    void budget();

private:
    const stage_schema* schema(unsigned stage) const {
        auto* t = _reg.find(*_cfg.stages[stage].type);
        return t ? &t->schema : nullptr;
    }
    int reactor_index(const std::string& ref) const;
    void edge(std::size_t i, std::map<std::pair<unsigned, std::string>, unsigned>& by_output,
              std::map<unsigned, unsigned>& by_target,
              std::map<std::pair<unsigned, std::string>, std::size_t>& outputs_used);
    void no_writer_after_broadcast();
    void in_place_subscribers();
    void tx_queues();

    const config& _cfg;
    const registry& _reg;
    plan& _p;
    std::vector<diagnostic> _errors;
};

std::string cpu_list(const topology::machine& m) {
    std::vector<unsigned> v;
    for (auto& c : m.cpus)
        v.push_back(c.os_index);
    std::sort(v.begin(), v.end());
    std::string out;
    for (std::size_t i = 0; i < v.size();) {
        std::size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1)
            ++j;
        out += (out.empty() ? "" : ",") + std::to_string(v[i]) +
               (j > i ? "-" + std::to_string(v[j]) : std::string());
        i = j + 1;
    }
    return out;
}

/// Reactors on lcores and CPUs. `lcore: N` runs on CPU N (DPDK's -l meaning) unless
/// `cpu:` says otherwise; a reactor that names neither gets the next free lcore id and a
/// CPU from the topology plan, among CPUs no other reactor named. The control thread
/// takes eal.control_cpu, else a CPU no reactor uses, else the last CPU.
void planner::reactors(const topology::machine& m) {
    const auto& rs = _cfg.reactors;
    unsigned n = rs.automatic ? *rs.count : static_cast<unsigned>(rs.list.size());
    if (rs.automatic && n == 0)
        n = m.cpus.size() > 1 ? static_cast<unsigned>(m.cpus.size() - 1) : 1;
    auto exists = [&](unsigned cpu) {
        return std::any_of(m.cpus.begin(), m.cpus.end(),
                           [cpu](const topology::cpu& c) { return c.os_index == cpu; });
    };
    std::set<unsigned> lcores;
    std::vector<unsigned> named;
    std::vector<int> cpu(n, -1);
    for (unsigned i = 0; i < n && !rs.automatic; ++i) {
        const reactor_config& rc = rs.list[i];
        if (rc.lcore.given()) lcores.insert(*rc.lcore);
        if (!rc.cpu.given() && !rc.lcore.given()) continue;
        const auto& at = rc.cpu.given() ? rc.cpu : rc.lcore;
        if (!exists(*at)) {
            fail(at.at, "reactor '" + *rc.name + "' is on " +
                            (rc.cpu.given() ? "CPU " + std::to_string(*at)
                                            : "lcore " + std::to_string(*at) + ", i.e. CPU " +
                                                  std::to_string(*at)) +
                            ", which this machine does not have (CPUs: " + cpu_list(m) +
                            "); give it 'cpu:' to run it elsewhere, or leave 'lcore' out to "
                            "have one planned");
            continue;
        }
        cpu[i] = static_cast<int>(*at);
        named.push_back(*at);
    }
    unsigned unplaced = static_cast<unsigned>(std::count(cpu.begin(), cpu.end(), -1));
    auto lp = topology::plan(m, {.lcores = std::max(unplaced, 1u), .exclude = named});
    if (!lp) {
        fail(rs.at, "cannot place " + std::to_string(n) + " reactors: " + lp.err().message);
        return;
    }
    unsigned next_lcore = 1, k = 0;
    for (unsigned i = 0; i < n; ++i) {
        const reactor_config& rc = rs.automatic ? rs.defaults : rs.list[i];
        reactor_plan r;
        r.name = rs.automatic ? "r" + std::to_string(i) : *rc.name;
        r.id = std::to_string(rs.automatic ? i : *rc.id);
        if (!rs.automatic && rc.lcore.given()) {
            r.lcore = *rc.lcore;
        } else {
            while (lcores.count(next_lcore))
                ++next_lcore;
            r.lcore = next_lcore;
            lcores.insert(next_lcore);
        }
        r.cpu = cpu[i] >= 0 ? cpu[i] : static_cast<int>(lp->worker_cpus[k++]);
        r.cfg = to_sched(rc);
        _p.reactors.push_back(std::move(r));
    }
    // The control thread (status line, console, stop) takes the lowest lcore no reactor uses.
    while (lcores.count(_p.main_lcore))
        ++_p.main_lcore;
    std::set<int> used;
    for (auto& r : _p.reactors)
        used.insert(r.cpu);
    _p.oversubscribed = used.size() < _p.reactors.size();
    // Reactors on one CPU run cooperatively on the first one's lcore thread: busy-polling
    // threads that the OS time-slices burn their slices on empty polls and leave their
    // queues unserved for milliseconds. A reactor there never sleeps (it would stop the
    // others on its thread): adaptive becomes pause.
    std::map<int, unsigned> lead; // CPU → the first reactor placed on it
    std::map<int, unsigned> on_cpu;
    for (unsigned i = 0; i < _p.reactors.size(); ++i) {
        lead.emplace(_p.reactors[i].cpu, i);
        ++on_cpu[_p.reactors[i].cpu];
    }
    for (reactor_plan& r : _p.reactors) {
        r.thread = lead[r.cpu];
        if (on_cpu[r.cpu] > 1 && r.cfg.idle == sched::idle_policy::adaptive)
            r.cfg.idle = sched::idle_policy::pause;
    }
    if (_cfg.eal.control_cpu.given()) {
        if (!exists(*_cfg.eal.control_cpu))
            fail(_cfg.eal.control_cpu.at,
                 "control_cpu " + std::to_string(*_cfg.eal.control_cpu) +
                     " is not a CPU of this machine (CPUs: " + cpu_list(m) + ")");
        _p.main_cpu = static_cast<int>(*_cfg.eal.control_cpu);
    } else {
        _p.main_cpu = static_cast<int>(m.cpus.back().os_index);
        for (auto c = m.cpus.rbegin(); c != m.cpus.rend(); ++c)
            if (!used.count(static_cast<int>(c->os_index))) {
                _p.main_cpu = static_cast<int>(c->os_index);
                break;
            }
    }
    _p.eal_lcores = std::to_string(_p.main_lcore) + "@" + std::to_string(_p.main_cpu);
    for (auto& r : _p.reactors)
        _p.eal_lcores += "," + std::to_string(r.lcore) + "@" + std::to_string(r.cpu);
}

int planner::reactor_index(const std::string& ref) const {
    for (unsigned i = 0; i < _p.reactors.size(); ++i)
        if (_p.reactors[i].name == ref || _p.reactors[i].id == ref) return static_cast<int>(i);
    return -1;
}

void planner::place_stages() {
    for (auto& sc : _cfg.stages) {
        const std::string& ref = *sc.reactor;
        int i = ref.empty() ? 0 : reactor_index(ref);
        if (i < 0)
            fail(sc.reactor.at, "stage '" + *sc.name + "' names reactor '" + ref +
                                    "', which the plan does not have (" +
                                    std::to_string(_p.reactors.size()) + " reactors)");
        _p.stage_reactor.push_back(static_cast<unsigned>(std::max(i, 0)));
    }
}

void planner::place_timers() {
    for (auto& tc : _cfg.timers) {
        timer_plan t;
        t.name = *tc.name;
        const std::string& a = *tc.action; // the loader allows these three
        t.action = a == "flush"     ? timer_action::flush
                   : a == "service" ? timer_action::service
                                    : timer_action::stats;
        int i = tc.reactor->empty() ? 0 : reactor_index(*tc.reactor);
        if (i < 0)
            fail(tc.reactor.at, "timer '" + t.name + "' names reactor '" + *tc.reactor +
                                    "', which the plan does not have");
        t.reactor = static_cast<unsigned>(std::max(i, 0));
        t.period_ns = static_cast<std::uint64_t>(tc.interval->count());
        _p.timers.push_back(std::move(t));
    }
}

void planner::graph(unsigned reactors) {
    for (std::size_t i = 0; i < _cfg.stages.size(); ++i) {
        const stage_schema* s = schema(static_cast<unsigned>(i));
        if (!s) fail(_cfg.stages[i].type.at, "unknown stage type '" + *_cfg.stages[i].type + "'");
        _p.stage_roles.push_back(!s ? role_set{} : s->roles_of ? s->roles_of(_cfg.stages[i].params) : s->roles);
        if (_p.stage_reactor[i] >= reactors)
            fail(_cfg.stages[i].at, "stage '" + *_cfg.stages[i].name + "' is placed on reactor " +
                                        std::to_string(_p.stage_reactor[i]) + " of " +
                                        std::to_string(reactors));
    }
    if (failed()) return;
    std::map<std::pair<unsigned, std::string>, unsigned> by_output;       // → queue
    std::map<unsigned, unsigned> by_target;                               // → queue
    std::map<std::pair<unsigned, std::string>, std::size_t> outputs_used; // → first edge
    for (std::size_t i = 0; i < _cfg.edges.size(); ++i)
        edge(i, by_output, by_target, outputs_used);
    if (failed()) return;
    no_writer_after_broadcast();
    in_place_subscribers();
    tx_queues();
}

void planner::edge(std::size_t i, std::map<std::pair<unsigned, std::string>, unsigned>& by_output,
                   std::map<unsigned, unsigned>& by_target,
                   std::map<std::pair<unsigned, std::string>, std::size_t>& outputs_used) {
    const edge_config& ec = _cfg.edges[i];
    edge_plan e;
    e.cfg = &ec;
    e.kind = find_edge_kind(*ec.queue);
    auto index = [&](std::string_view name) -> int {
        for (std::size_t k = 0; k < _cfg.stages.size(); ++k)
            if (*_cfg.stages[k].name == name) return static_cast<int>(k);
        return -1;
    };
    int from = index(ec.from_stage), to = index(*ec.to);
    if (!e.kind) return fail(ec.queue.at, "unknown edge kind '" + *ec.queue + "'");
    if (from < 0) return fail(ec.from.at, "unknown stage '" + ec.from_stage + "'");
    if (to < 0) return fail(ec.to.at, "unknown stage '" + *ec.to + "'");
    e.from = static_cast<unsigned>(from);
    e.to = static_cast<unsigned>(to);
    const std::string from_name = ec.from_stage + "." + ec.from_output;
    const stage_schema* fs = schema(e.from);
    if (fs && !fs->outputs.empty() &&
        std::find(fs->outputs.begin(), fs->outputs.end(), ec.from_output) == fs->outputs.end())
        return fail(ec.from.at, "stage '" + ec.from_stage + "' (" + *_cfg.stages[e.from].type +
                                    ") has no output '" + ec.from_output +
                                    "'; its outputs: " + names_or_none(fs->outputs));

    // One output feeds one edge, or any number of edges of a kind shared by output.
    auto key = std::make_pair(e.from, ec.from_output);
    if (auto used = outputs_used.find(key); used != outputs_used.end()) {
        const edge_kind* first = _p.edges[used->second].kind;
        if (e.kind->shared != sharing::by_output)
            return fail(ec.at, "output '" + from_name +
                                   "' is already connected; to feed several stages use "
                                   "queue: pub (broadcast) or a flow_balance stage");
        if (first != e.kind)
            return fail(ec.at, "output '" + from_name + "' is already connected by a non-" +
                                   e.kind->name +
                                   " edge; one output feeds one link, or any "
                                   "number of " +
                                   e.kind->name + " edges");
    } else {
        outputs_used.emplace(key, i);
    }

    const bool bp = *ec.overflow == overflow_policy::backpressure;
    const unsigned rf = _p.stage_reactor[e.from], rt = _p.stage_reactor[e.to];
    const bool same = rf == rt;
    const bool same_thread = same || (rf < _p.reactors.size() && rt < _p.reactors.size() &&
                                      _p.reactors[rf].thread == _p.reactors[rt].thread);
    // Backpressure waits for the consumer to make room; that wait can never end when
    // the consumer runs on the producer's own reactor or thread (reactors sharing a
    // CPU), and a cycle of waiting edges across reactors can deadlock. There a full
    // queue drops (counted as queue_full).
    e.wait = bp && !*ec.allow_cycle && !same_thread;
    // A direct call around a cycle would recurse without bound: a queue breaks the loop.
    e.direct = !e.kind->always_queued && same && !*ec.allow_cycle;
    if (!e.direct) {
        unsigned* shared = nullptr;
        if (e.kind->shared == sharing::by_output) {
            auto it = by_output.find(key);
            shared = it == by_output.end() ? nullptr : &it->second;
        } else if (e.kind->shared == sharing::by_target) {
            auto it = by_target.find(e.to);
            shared = it == by_target.end() ? nullptr : &it->second;
        }
        if (shared) {
            queue_plan& q = _p.queues[*shared];
            const edge_config& f = *q.first;
            if (e.kind->shared == sharing::by_output &&
                (*f.size != *ec.size || *f.overflow != *ec.overflow))
                fail(ec.at, std::string(e.kind->name) + " edges from '" + from_name +
                                "' share one broadcast ring: give them the same size and "
                                "overflow (the first, at " +
                                at_text(f.at) + ", says size " + std::to_string(*f.size) +
                                ", overflow " + yaml_name(*f.overflow) + ")");
            if (e.kind->shared == sharing::by_target && *f.size != *ec.size)
                fail(ec.size.given() ? ec.size.at : ec.at,
                     std::string(e.kind->name) + " edges into '" + *ec.to +
                         "' share one queue: give them the same size (the first, at " +
                         at_text(f.at) + ", says " + std::to_string(*f.size) + ")");
            if (++q.edges > e.kind->max_share)
                fail(ec.at, e.kind->shared == sharing::by_output
                                ? "too many subscribers on '" + from_name + "' (at most " +
                                      std::to_string(e.kind->max_share) + ")"
                                : "too many producers on the " + std::string(e.kind->name) +
                                      " queue into '" + *ec.to + "' (at most " +
                                      std::to_string(e.kind->max_share) + ")");
            e.queue = static_cast<int>(*shared);
        } else {
            e.queue = static_cast<int>(_p.queues.size());
            _p.queues.push_back({e.kind, &ec, _p.stage_reactor[e.from], 1});
            if (e.kind->shared == sharing::by_output) by_output.emplace(key, e.queue);
            if (e.kind->shared == sharing::by_target) by_target.emplace(e.to, e.queue);
        }
    }
    _p.edges.push_back(e);
}

/// Broadcast packets are shared in place by every subscriber: nothing downstream of a
/// shared-by-output edge may write into them.
void planner::no_writer_after_broadcast() {
    for (const edge_plan& e : _p.edges) {
        if (e.kind->shared != sharing::by_output) continue;
        std::vector<unsigned> todo{e.to};
        std::set<unsigned> seen;
        while (!todo.empty()) {
            unsigned n = todo.back();
            todo.pop_back();
            if (!seen.insert(n).second) continue;
            const stage_config& sc = _cfg.stages[n];
            if (_p.stage_roles[n].has(role::writes_packets))
                return fail(sc.type.at, "stage '" + *sc.name + "' (" + *sc.type +
                                            ") writes into packets, but it gets broadcast "
                                            "packets from '" +
                                            e.cfg->from_stage +
                                            "' that every subscriber shares in place; move it "
                                            "before the publishing stage");
            for (const edge_plan& e2 : _p.edges)
                if (e2.from == n) todo.push_back(e2.to);
        }
    }
}

/// A subscriber reads in place (no reference, no atomic per packet) when every stage
/// from it on disposes of each packet inside its call — observers only, joined by direct
/// calls on its reactor, and fed by nothing from outside the chain. Any other subscriber
/// takes a reference per packet, as it must to keep or forward one.
void planner::in_place_subscribers() {
    _p.stage_on_loan.assign(_cfg.stages.size(), false);
    for (edge_plan& e : _p.edges) {
        if (e.kind->shared != sharing::by_output || e.direct) continue;
        std::vector<unsigned> chain{e.to};
        bool ok = true;
        for (std::size_t i = 0; ok && i < chain.size(); ++i) {
            const unsigned n = chain[i];
            ok = _p.stage_roles[n].has(role::observer) && !_p.stage_on_loan[n];
            for (const edge_plan& e2 : _p.edges) {
                if (!ok || e2.from != n) continue;
                if (!e2.direct)
                    ok = false;
                else if (std::find(chain.begin(), chain.end(), e2.to) == chain.end())
                    chain.push_back(e2.to);
            }
        }
        // Fed by nothing outside the chain (the subscriber only by this edge).
        for (std::size_t i = 0; ok && i < chain.size(); ++i)
            for (const edge_plan& e2 : _p.edges)
                if (e2.to == chain[i] && &e2 != &e &&
                    std::find(chain.begin(), chain.end(), e2.from) == chain.end())
                    ok = false;
        if (!ok) continue;
        e.in_place = true;
        for (unsigned n : chain)
            _p.stage_on_loan[n] = true;
    }
}

/// DPDK TX queues are per lcore: one (port, queue) is used from one reactor only. A
/// stage that names no queue on a port with several TX queues gets one: its reactor's
/// queue if the reactor already transmits on that port, else the lowest free one.
void planner::tx_queues() {
    _p.stage_tx_queue.assign(_cfg.stages.size(), 0);
    std::map<std::pair<std::string, std::int64_t>, unsigned> owner; // → stage
    auto claim = [&](unsigned i, const std::string& port, std::int64_t q, mark at) {
        _p.stage_tx_queue[i] = static_cast<std::uint16_t>(q);
        auto [it, fresh] = owner.emplace(std::make_pair(port, q), i);
        unsigned other = it->second;
        if (fresh || _p.stage_reactor[other] == _p.stage_reactor[i]) return;
        fail(at, "TX queue " + std::to_string(q) + " of port '" + port +
                     "' is already used by stage '" + *_cfg.stages[other].name + "' on reactor '" +
                     _p.reactors[_p.stage_reactor[other]].name +
                     "'; DPDK TX queues are per lcore: give this stage another queue (or the "
                     "port more tx_queues and no explicit queue)");
    };
    struct pending {
        unsigned stage;
        std::string port;
    };
    std::vector<pending> automatic;
    for (unsigned i = 0; i < _cfg.stages.size(); ++i) {
        const stage_schema* s = schema(i);
        const node& params = _cfg.stages[i].params;
        const param_spec* port = nullptr;
        const param_spec* queue = nullptr;
        for (const auto& ps : s->params) {
            if (ps.type == param_type::port && !port) port = &ps;
            if (ps.type == param_type::tx_queue) queue = &ps;
        }
        if (!port || !queue) continue;
        std::string name = params.string_or(port->name, "");
        if (const node* q = params.find(queue->name))
            claim(i, name, to_integer(*q).value_or(0), q->at);
        else
            automatic.push_back({i, std::move(name)});
    }
    for (const auto& a : automatic) {
        std::uint32_t queues = 1;
        for (const auto& pc : _cfg.ports)
            if (*pc.name == a.port) queues = *pc.tx_queues;
        std::int64_t q = -1;
        for (const auto& [key, st] : owner) // this reactor's queue on the port, if any
            if (key.first == a.port && _p.stage_reactor[st] == _p.stage_reactor[a.stage]) {
                q = key.second;
                break;
            }
        for (std::int64_t c = 0; q < 0 && c < std::int64_t(queues); ++c)
            if (!owner.count({a.port, c})) q = c;
        if (q < 0) {
            if (queues == 1) {
                q = 0; // the single queue: claim() says who has it
            } else {
                fail(_cfg.stages[a.stage].at,
                     "port '" + a.port + "' has " + std::to_string(queues) +
                         " tx_queues and every one is used by another reactor; stage '" +
                         *_cfg.stages[a.stage].name + "' on reactor '" +
                         _p.reactors[_p.stage_reactor[a.stage]].name +
                         "' needs its own: raise the port's tx_queues");
                continue;
            }
        }
        claim(a.stage, a.port, q, _cfg.stages[a.stage].at);
    }
}

void planner::budget() {
    // An mbuf in a pool: the data room plus struct rte_mbuf and the pool's object header.
    constexpr std::uint64_t overhead = 128 + 64;
    const auto lcores = static_cast<unsigned>(_p.reactors.size() + 1); // + control
    for (auto& pc : _cfg.ports) {
        pool_plan pp;
        // Downstream of this port's port_rx stages: each stage may park a burst, each
        // queue fill up (a broadcast ring's slots are shared by its edges: once).
        std::vector<bool> seen(_cfg.stages.size()), queue_seen(_p.queues.size());
        std::vector<unsigned> todo;
        for (unsigned i = 0; i < _cfg.stages.size(); ++i)
            if (*_cfg.stages[i].type == "port_rx")
                if (const node* port = _cfg.stages[i].params.find("port");
                    port && port->text == *pc.name)
                    todo.push_back(i);
        while (!todo.empty()) {
            const unsigned st = todo.back();
            todo.pop_back();
            if (seen[st]) continue;
            seen[st] = true;
            pp.stages += burst_size;
            for (const auto& e : _p.edges) {
                if (e.from != st || !e.cfg) continue;
                if (!e.direct && e.queue >= 0) {
                    const bool shared_ring = e.kind && e.kind->shared == sharing::by_output;
                    if (!shared_ring || !queue_seen[static_cast<std::size_t>(e.queue)])
                        pp.queues += *e.cfg->size;
                    queue_seen[static_cast<std::size_t>(e.queue)] = true;
                }
                todo.push_back(e.to);
            }
        }
        // The port's own share as the port layer counts it (net::mbuf_budget), the
        // pipeline's share from the graph walk above.
        net::port_config nc;
        nc.rx_queues = static_cast<std::uint16_t>(*pc.rx_queues);
        nc.tx_queues = static_cast<std::uint16_t>(*pc.tx_queues);
        nc.rx_desc = static_cast<std::uint16_t>(*pc.rx_desc);
        nc.tx_desc = static_cast<std::uint16_t>(*pc.tx_desc);
        nc.mbuf_cache = *pc.mempool.cache;
        nc.pipeline_mbufs = pp.queues + pp.stages;
        const net::mbuf_budget b = net::mbuf_budget_of(nc, lcores);
        pp.rx = static_cast<std::uint32_t>(b.rx);
        pp.tx = static_cast<std::uint32_t>(b.tx);
        pp.bursts = static_cast<std::uint32_t>(b.bursts);
        pp.caches = static_cast<std::uint32_t>(b.caches);
        pp.needed = static_cast<std::uint32_t>(b.total());
        pp.given = pc.mempool.size.given();
        pp.mbufs = pp.given ? *pc.mempool.size : net::pow2_minus1(pp.needed);
        pp.bytes = std::uint64_t(pp.mbufs) * (*pc.mempool.data_room + overhead);
        _p.pool_bytes += pp.bytes;
        _p.pools.push_back(pp);
    }
    for (unsigned i = 0; i < _cfg.stages.size(); ++i)
        if (const stage_schema* s = schema(i); s && s->pool_mbufs) {
            const auto n = static_cast<std::uint32_t>(s->pool_mbufs(_cfg.stages[i].params));
            _p.stage_pools.emplace_back(i, n);
            _p.pool_bytes += std::uint64_t(n) * (2048 + 128 + overhead);
        }
    if (*_cfg.eal.hugepages) return;
    const std::uint64_t mb = *_cfg.eal.memory_mb ? *_cfg.eal.memory_mb : 1024;
    _p.memory_bytes = mb << 20;
    if (_p.pool_bytes > _p.memory_bytes)
        fail(_cfg.eal.memory_mb.given() ? _cfg.eal.memory_mb.at : _cfg.eal.at,
             "the packet pools need " + std::to_string(_p.pool_bytes >> 20) + " MiB but EAL has " +
                 std::to_string(mb) +
                 " MiB (raise eal.memory_mb, or shrink the ports' mempool sizes and the "
                 "stages' mbufs)");
}

} // namespace

result<plan> make_plan(const config& cfg, const registry& reg, const topology::machine& m) {
    plan p;
    planner b(cfg, reg, p);
    b.reactors(m);
    if (b.failed()) return b.to_error();
    b.place_stages();
    b.place_timers();
    if (!b.failed()) b.graph(static_cast<unsigned>(p.reactors.size()));
    b.budget();
    if (b.failed()) return b.to_error();
    return p;
}

result<plan> make_plan(const config& cfg, const registry& reg) {
    auto m = topology::discover();
    if (!m) return m.err();
    return make_plan(cfg, reg, *m);
}

result<plan> plan_graph(const config& cfg, const registry& reg, std::vector<unsigned> stage_reactor,
                        unsigned reactors) {
    plan p;
    for (unsigned i = 0; i < std::max(reactors, 1u); ++i) {
        p.reactors.push_back({"r" + std::to_string(i), std::to_string(i)});
        p.reactors.back().thread = i; // no placement: a thread each
    }
    p.stage_reactor = std::move(stage_reactor);
    p.stage_reactor.resize(cfg.stages.size(), 0);
    planner b(cfg, reg, p);
    b.graph(static_cast<unsigned>(p.reactors.size()));
    if (b.failed()) return b.to_error();
    return p;
}

std::string plan::edge_from(std::size_t i) const {
    return edges[i].cfg->from_stage + "." + edges[i].cfg->from_output;
}

std::string plan::describe(const config& cfg) const {
    std::string o = "pipeline '" + *cfg.name + "': " + std::to_string(reactors.size()) +
                    " reactors, " + std::to_string(cfg.stages.size()) + " stages, " +
                    std::to_string(edges.size()) + " edges\n";
    std::set<int> cpus;
    for (auto& r : reactors)
        cpus.insert(r.cpu);
    o += "reactors (EAL --lcores " + eal_lcores + "; control thread on lcore " +
         std::to_string(main_lcore) + ", CPU " + std::to_string(main_cpu) + ")" +
         (oversubscribed ? " — oversubscribed: " + std::to_string(reactors.size()) +
                               " reactors share " + std::to_string(cpus.size()) +
                               " CPUs; reactors on one CPU run in turns on one thread"
                         : "") +
         "\n";
    char line[256];
    for (unsigned r = 0; r < reactors.size(); ++r) {
        const auto& rp = reactors[r];
        std::snprintf(line, sizeof line, "  %-10s lcore %-3u cpu %-3d %s, idle %s%s%s\n",
                      rp.name.c_str(), rp.lcore, rp.cpu, sched::to_string(rp.cfg.discipline.kind),
                      sched::to_string(rp.cfg.idle),
                      rp.thread != r ? ", runs on the thread of " : "",
                      rp.thread != r ? reactors[rp.thread].name.c_str() : "");
        o += line;
        std::string st;
        for (unsigned i = 0; i < cfg.stages.size(); ++i)
            if (stage_reactor[i] == r)
                st +=
                    (st.empty() ? "" : ", ") + *cfg.stages[i].name + " (" + *cfg.stages[i].type +
                    (*cfg.stages[i].priority ? ", bucket " + std::to_string(*cfg.stages[i].priority)
                                             : std::string()) +
                    (i < stage_roles.size() && stage_roles[i].has(role::tx_sink) &&
                             i < stage_tx_queue.size()
                         ? ", tx queue " + std::to_string(stage_tx_queue[i])
                         : std::string()) +
                    ")";
        o += "             stages: " + (st.empty() ? std::string("none") : st) + "\n";
    }
    o += "edges\n";
    for (std::size_t i = 0; i < edges.size(); ++i) {
        const edge_plan& e = edges[i];
        std::string how;
        if (e.direct) {
            how = "direct call (same reactor)";
        } else {
            const edge_config& f = *queues[e.queue].first;
            how = "queue #" + std::to_string(e.queue) + ", " + std::to_string(*f.size) +
                  " slots, " + reactors[stage_reactor[e.from]].name + " -> " +
                  reactors[stage_reactor[e.to]].name + ", " +
                  (e.wait ? "waits when full"
                          : std::string("full: ") + (*f.overflow == overflow_policy::backpressure
                                                         ? "drop (queue_full; a wait could not end)"
                                                         : yaml_name(*f.overflow)));
            if (e.in_place) how += ", read in place (no reference)";
        }
        std::snprintf(line, sizeof line, "  %-22s -> %-16s %-8s %s\n", edge_from(i).c_str(),
                      e.cfg->to->c_str(), e.kind->name, how.c_str());
        o += line;
    }
    if (!timers.empty()) o += "timers\n";
    for (auto& t : timers) {
        static const char* const names[] = {"stats", "flush", "service"};
        std::snprintf(line, sizeof line, "  %-12s %-8s every %" PRIu64 " us on %s\n",
                      t.name.c_str(), names[static_cast<unsigned>(t.action)], t.period_ns / 1000,
                      reactors[t.reactor].name.c_str());
        o += line;
    }
    o += "packet pools: " + std::to_string((pool_bytes + (1 << 20) - 1) >> 20) + " MiB" +
         (memory_bytes ? " of " + std::to_string(memory_bytes >> 20) + " MiB EAL memory"
                       : std::string(" (hugepages)")) +
         "\n";
    for (std::size_t i = 0; i < pools.size() && i < cfg.ports.size(); ++i) {
        const pool_plan& pp = pools[i];
        char line[320];
        std::snprintf(line, sizeof line,
                      "  %-12s %7u mbufs, %" PRIu64 " MiB: in flight at most rx %u + tx %u + "
                      "bursts %u + caches %u + queues %u + stages %u = %u%s\n",
                      cfg.ports[i].name->c_str(), pp.mbufs, (pp.bytes + (1 << 20) - 1) >> 20, pp.rx,
                      pp.tx, pp.bursts, pp.caches, pp.queues, pp.stages, pp.needed,
                      !pp.given              ? ""
                      : pp.mbufs < pp.needed ? " (mempool.size given, below that: rx_nombuf "
                                               "when the pipeline fills up)"
                                             : " (mempool.size given)");
        o += line;
    }
    for (const auto& [i, n] : stage_pools) {
        char line[200];
        std::snprintf(line, sizeof line, "  %-12s %7u mbufs: the %s stage's own pool\n",
                      cfg.stages[i].name->c_str(), n, cfg.stages[i].type->c_str());
        o += line;
    }
    return o;
}

} // namespace pk::pipeline
