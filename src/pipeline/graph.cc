#include "pipeline/graph.hh"

#include <algorithm>
#include <map>
#include <set>

#include "base/compiler.hh"
#include "base/log.hh"
#include "net/port.hh"
#include "pipeline/registry.hh"
#include "queue/link.hh"
#include "queue/mpsc.hh"
#include "queue/turbine.hh"

namespace pk::pipeline {

// ---------------------------------------------------------------------------------------
// Edges

/// Common base: every edge is owned by the graph.
class graph::edge {
public:
    virtual ~edge() = default;
    virtual std::uint64_t queued() const noexcept = 0;
};

namespace {

/// Waits for room (backpressure) until the graph aborts; returns how many were taken.
template <typename Push>
PK_ALWAYS_INLINE std::uint16_t push_with_policy(Push&& push, rte_mbuf** pkts, std::uint16_t n,
                                                bool backpressure,
                                                const std::atomic<bool>& abort) noexcept {
    std::uint16_t k = static_cast<std::uint16_t>(push(pkts, n));
    if (PK_LIKELY(k == n) || !backpressure) return k;
    while (k < n && !abort.load(std::memory_order_relaxed)) {
        cpu_relax();
        k = static_cast<std::uint16_t>(k + push(pkts + k, static_cast<std::uint16_t>(n - k)));
    }
    return k;
}

/// Frees every packet left in a queue (teardown; the consumer side of q).
template <typename Q>
void free_all(Q& q) noexcept {
    rte_mbuf* b[burst_size];
    while (auto n = q.pop_burst(b, burst_size))
        rte_pktmbuf_free_bulk(b, static_cast<unsigned>(n));
}

/// The consumer end shared by link and sub edges: pops bursts from Q and hands them to
/// the target stage; a torn-down graph (no graceful stop) still frees what Q holds.
template <typename Q>
class queue_edge : public graph::edge, public edge_source {
public:
    queue_edge(std::size_t size, stage& target, bool backpressure, const std::atomic<bool>& abort)
        : _q(size), _target(target), _bp(backpressure), _abort(abort) {}
    ~queue_edge() override { free_all(_q); }

    std::uint32_t poll() noexcept override {
        rte_mbuf* b[burst_size];
        auto n = static_cast<std::uint16_t>(_q.pop_burst(b, burst_size));
        if (n) _target.receive(b, n);
        return n;
    }
    std::uint64_t queued() const noexcept override { return _q.size(); }
    stage& target() const noexcept override { return _target; }

protected:
    Q _q;
    stage& _target;
    bool _bp;
    const std::atomic<bool>& _abort;
};

/// link / channel across reactors: one SPSC ring, one producer stage, one consumer.
class link_edge final : public queue_edge<queue::link<rte_mbuf*>>, public edge_sink {
public:
    using queue_edge::queue_edge;
    std::uint16_t push(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        return push_with_policy(
            [this](rte_mbuf** p, std::uint16_t k) { return _q.push_burst(p, k); }, pkts, n, _bp,
            _abort);
    }
};

/// sub: several producers (on any reactors) into one consumer, multicursor form: one
/// SPSC lane per producer, polled by the consumer — no CAS on the hot path. Lanes are
/// opened at build and closed only at teardown, so queued() may be read from the
/// control thread while the pipeline runs.
class sub_edge final : public queue_edge<queue::multicursor<rte_mbuf*>> {
public:
    using queue_edge::queue_edge;
    ~sub_edge() override { _producers.clear(); } // close the lanes; the base drains them

    /// One producer handle per incoming edge.
    class producer final : public edge_sink {
    public:
        producer(sub_edge& e, bool wait) : _e(e), _p(e._q.add_producer()), _wait(wait) {}
        bool valid() const noexcept { return _p.valid(); }
        std::uint16_t push(rte_mbuf** pkts, std::uint16_t n) noexcept override {
            return push_with_policy(
                [this](rte_mbuf** p, std::uint16_t k) { return _p.push_burst(p, k); }, pkts, n,
                _wait, _e._abort);
        }

    private:
        sub_edge& _e;
        queue::multicursor<rte_mbuf*>::producer _p;
        bool _wait; ///< backpressure, and the consumer runs elsewhere (see wait_for_room)
    };

    /// nullptr when every lane is taken (multicursor's default: 64 producers).
    edge_sink* add_producer(bool wait) {
        auto p = std::make_unique<producer>(*this, wait);
        if (!p->valid()) return nullptr;
        _producers.push_back(std::move(p));
        return _producers.back().get();
    }

private:
    std::vector<std::unique_ptr<producer>> _producers;
};

void free_released(rte_mbuf** items, std::size_t n, void*) noexcept {
    rte_pktmbuf_free_bulk(items, static_cast<unsigned>(n));
}

} // namespace

/// pub: one broadcast ring per publishing output; each subscriber has a cursor and
/// reads the packets in place. A subscriber takes its own reference to each packet it
/// passes on (an atomic refcount increment: no clone, no copy) while the ring still
/// holds its own; the ring drops its reference in the release hook, once every cursor
/// has passed the slot.
class graph::pub_ring final : public graph::edge, public edge_sink {
public:
    pub_ring(std::size_t size, queue::slow_policy policy, unsigned reactor,
             const std::atomic<bool>& abort)
        : _ring(size, make_options(policy)), _reactor(reactor), _abort(abort),
          _bp(policy == queue::slow_policy::backpressure) {}

    class cursor final : public edge_source {
    public:
        cursor(pub_ring& r, stage& target) : _sub(r._ring.subscribe()), _target(target) {}
        bool valid() const noexcept { return _sub.valid(); }
        std::uint32_t poll() noexcept override {
            auto s = _sub.peek(burst_size);
            if (s.empty()) return 0;
            rte_mbuf* b[burst_size];
            std::uint16_t n = static_cast<std::uint16_t>(s.size());
            for (std::uint16_t i = 0; i < n; ++i) {
                b[i] = s[i];
                // Always atomic: rte_mbuf_refcnt_update() takes a non-atomic fast path when
                // it reads 1, which races with the other subscribers adding theirs.
                __rte_mbuf_refcnt_update(b[i], 1);
            }
            _sub.release(n);
            _delivered.add(n);
            _target.receive(b, n);
            return n;
        }
        std::uint64_t queued() const noexcept override { return _sub.lag(); }
        stage& target() const noexcept override { return _target; }
        std::uint64_t delivered() const noexcept { return _delivered.load(); }
        std::uint64_t missed() const noexcept { return _sub.missed(); }

    private:
        queue::turbine<rte_mbuf*>::subscriber _sub;
        stage& _target;
        sched::counter _delivered;
    };

    /// `wait` false: the publisher must never wait for this subscriber (it runs on the
    /// publisher's reactor, or the edge closes a cycle), so the ring never waits.
    cursor* add_subscriber(stage& target, bool wait) {
        if (!wait) _bp = false;
        _cursors.push_back(std::make_unique<cursor>(*this, target));
        return _cursors.back()->valid() ? _cursors.back().get() : nullptr;
    }

    std::uint16_t push(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        return push_with_policy(
            [this](rte_mbuf** p, std::uint16_t k) {
                auto c = _ring.push_burst(p, k);
                if (c < k) _ring.service();
                return c;
            },
            pkts, n, _bp, _abort);
    }
    std::uint32_t service() noexcept { return static_cast<std::uint32_t>(_ring.service()); }
    std::uint64_t queued() const noexcept override { return _ring.size(); }
    std::uint64_t released() const noexcept { return _ring.released(); }
    std::uint64_t delivered() const noexcept {
        std::uint64_t t = 0;
        for (auto& c : _cursors)
            t += c->delivered();
        return t;
    }
    unsigned reactor() const noexcept { return _reactor; }

private:
    static queue::turbine<rte_mbuf*>::options make_options(queue::slow_policy p) {
        queue::turbine<rte_mbuf*>::options o;
        o.policy = p;
        o.max_subscribers = 32;
        o.on_release = free_released;
        return o;
    }
    queue::turbine<rte_mbuf*> _ring;
    unsigned _reactor;
    const std::atomic<bool>& _abort;
    bool _bp;
    std::vector<std::unique_ptr<cursor>> _cursors; // destroyed before _ring (declared after)
};

// ---------------------------------------------------------------------------------------
// Build

namespace {

net::port_config to_net(const port_config& pc) {
    net::port_config c;
    c.device = pc.device;
    c.rx_queues = static_cast<std::uint16_t>(*pc.rx_queues);
    c.tx_queues = static_cast<std::uint16_t>(*pc.tx_queues);
    c.rx_desc = static_cast<std::uint16_t>(*pc.rx_desc);
    c.tx_desc = static_cast<std::uint16_t>(*pc.tx_desc);
    c.rss = pc.rss.enabled.given() ? *pc.rss.enabled : *pc.rx_queues > 1;
    c.rss_hf = 0;
    for (auto& t : *pc.rss.types) {
        if (t == "ip" || t == "ipv4" || t == "ipv6")
            c.rss_hf |= RTE_ETH_RSS_IP;
        else if (t == "tcp")
            c.rss_hf |= RTE_ETH_RSS_TCP;
        else if (t == "udp")
            c.rss_hf |= RTE_ETH_RSS_UDP;
        else if (t == "sctp")
            c.rss_hf |= RTE_ETH_RSS_SCTP;
        else if (t == "l2" || t == "eth")
            c.rss_hf |= RTE_ETH_RSS_ETH;
    }
    c.mtu = pc.mtu.given() ? static_cast<std::uint16_t>(*pc.mtu) : 0;
    c.promiscuous = *pc.promiscuous;
    if (pc.mempool.size.given()) c.mbufs = *pc.mempool.size;
    c.mbuf_cache = *pc.mempool.cache;
    c.mbuf_data_room = static_cast<std::uint16_t>(*pc.mempool.data_room);
    return c;
}

queue::slow_policy to_slow(overflow_policy p) {
    switch (p) {
    case overflow_policy::backpressure:
        return queue::slow_policy::backpressure;
    case overflow_policy::evict:
        return queue::slow_policy::evict;
    case overflow_policy::drop:
    case overflow_policy::drop_newest:
        return queue::slow_policy::drop_newest;
    }
    return queue::slow_policy::backpressure;
}

std::string join_names(const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v)
        s += (s.empty() ? "" : ", ") + x;
    return s.empty() ? "none" : s;
}

} // namespace

result<std::unique_ptr<graph>> graph::build(const config& cfg, const registry& reg,
                                            const std::vector<unsigned>& stage_reactor,
                                            unsigned reactors) {
    std::unique_ptr<graph> g(new graph());
    g->_cfg = cfg;
    g->_pools = std::make_unique<net::mempool_set>();
    g->_sources.resize(reactors);
    auto fail = [&](mark at, const std::string& msg) -> error {
        return make_error(errc::invalid_argument, format(cfg.error_at(at, msg)));
    };

    for (auto& pc : cfg.ports) {
        auto p = net::port::open(to_net(pc), g->_pools.get());
        if (!p)
            return make_error(
                p.err().code,
                format(cfg.error_at(pc.device.at, "port '" + *pc.name + "': " + p.err().message)));
        g->_port_names.push_back(*pc.name);
        g->_ports.push_back(std::move(*p));
    }

    for (std::size_t i = 0; i < cfg.stages.size(); ++i) {
        auto& sc = cfg.stages[i];
        auto* t = reg.find(*sc.type);
        if (!t) return fail(sc.type.at, "unknown stage type '" + *sc.type + "'");
        stage_args a{*sc.name, *sc.type, &sc.params, g.get(), stage_reactor[i]};
        try {
            auto s = t->make(a);
            if (!s) return fail(sc.at, "stage '" + *sc.name + "': " + s.err().message);
            g->_stages.push_back(std::move(*s));
        } catch (const std::exception& e) {
            return fail(sc.at, "stage '" + *sc.name + "': " + e.what());
        }
    }

    // Broadcast rings are shared by every pub edge leaving the same output.
    std::map<std::pair<stage*, unsigned>, pub_ring*> pubs;
    std::map<std::pair<stage*, unsigned>, const edge_config*> pub_first;
    std::map<stage*, const edge_config*> sub_first;
    std::map<stage*, sub_edge*> subs;
    for (auto& ec : cfg.edges) {
        stage* from = g->find_stage(ec.from_stage);
        stage* to = g->find_stage(*ec.to);
        if (!from) return fail(ec.from.at, "unknown stage '" + ec.from_stage + "'");
        if (!to) return fail(ec.to.at, "unknown stage '" + *ec.to + "'");
        int out = from->output_index(ec.from_output);
        if (out < 0)
            return fail(ec.from.at, "stage '" + from->name() + "' (" + from->type() +
                                        ") has no output '" + ec.from_output +
                                        "'; its outputs: " + join_names(from->outputs()));
        auto o = static_cast<unsigned>(out);
        const route& existing = from->route_of(o);
        bool bp = *ec.overflow == overflow_policy::backpressure;
        // Backpressure waits for the consumer to make room; that wait can never end when
        // the consumer runs on the producer's own reactor, and a cycle of waiting edges
        // across reactors can deadlock. There a full queue drops (counted as queue_full).
        bool wait = bp && !*ec.allow_cycle && from->reactor() != to->reactor();
        bool queued = *ec.queue == queue_kind::pub || *ec.queue == queue_kind::sub ||
                      *ec.allow_cycle || from->reactor() != to->reactor(); // else a direct call
        if (bp && !wait && queued)
            PK_INFO("pipeline", "%s -> %s: %s; a full queue drops (queue_full) instead of waiting",
                    (ec.from_stage + "." + ec.from_output).c_str(), ec.to->c_str(),
                    *ec.allow_cycle ? "allow_cycle edge" : "consumer on the producer's reactor");
        edge_info info{ec.from_stage + "." + ec.from_output, *ec.to, *ec.queue, false, *ec.size};

        if (*ec.queue == queue_kind::pub) {
            auto key = std::make_pair(from, o);
            pub_ring* ring = pubs.count(key) ? pubs[key] : nullptr;
            if (ring) {
                const edge_config& first = *pub_first[key];
                if (*first.size != *ec.size || *first.overflow != *ec.overflow)
                    return fail(ec.at, "pub edges from '" + info.from +
                                           "' share one broadcast ring: "
                                           "give them the same size and overflow (the first, at " +
                                           std::to_string(first.at.line) + ":" +
                                           std::to_string(first.at.col) + ", says size " +
                                           std::to_string(*first.size) + ", overflow " +
                                           to_string(*first.overflow) + ")");
            } else {
                if (existing.direct || existing.edge)
                    return fail(
                        ec.at,
                        "output '" + info.from +
                            "' is already connected by a "
                            "non-pub edge; one output feeds one link, or any number of pub edges");
                g->_pubs.push_back(std::make_unique<pub_ring>(*ec.size, to_slow(*ec.overflow),
                                                              from->reactor(), g->_abort));
                ring = g->_pubs.back().get();
                pubs[key] = ring;
                pub_first[key] = &ec;
                from->connect(o, route{nullptr, ring});
            }
            auto* c = ring->add_subscriber(*to, wait);
            if (!c) return fail(ec.at, "too many subscribers on '" + info.from + "' (at most 32)");
            g->_sources[to->reactor()].push_back(c);
        } else {
            if (existing.direct || existing.edge)
                return fail(
                    ec.at, "output '" + info.from +
                               "' is already connected; to feed "
                               "several stages use queue: pub (broadcast) or a flow_balance stage");
            if (*ec.queue == queue_kind::sub) {
                sub_edge* s = subs.count(to) ? subs[to] : nullptr;
                if (s && *sub_first[to]->size != *ec.size)
                    return fail(ec.size.given() ? ec.size.at : ec.at,
                                "sub edges into '" + to->name() +
                                    "' share one queue: give them the "
                                    "same size (the first, at " +
                                    std::to_string(sub_first[to]->at.line) + ":" +
                                    std::to_string(sub_first[to]->at.col) + ", says " +
                                    std::to_string(*sub_first[to]->size) + ")");
                if (!s) {
                    auto e = std::make_unique<sub_edge>(*ec.size, *to, bp, g->_abort);
                    s = e.get();
                    subs[to] = s;
                    sub_first[to] = &ec;
                    g->_sources[to->reactor()].push_back(s);
                    g->_edges.push_back(std::move(e));
                }
                auto* p = s->add_producer(wait);
                if (!p)
                    return fail(ec.at, "too many producers on the sub queue into '" + to->name() +
                                           "' (at most 64)");
                from->connect(o, route{nullptr, p});
            } else if (from->reactor() == to->reactor() && !*ec.allow_cycle) {
                from->connect(o, route{to, nullptr}); // run to completion: a direct call
                info.direct = true;
            } else {
                // Across reactors, or an allow_cycle edge on one reactor: a direct call
                // around a cycle would recurse without bound, a queue breaks the loop.
                auto e = std::make_unique<link_edge>(*ec.size, *to, wait, g->_abort);
                from->connect(o, route{nullptr, e.get()});
                g->_sources[to->reactor()].push_back(e.get());
                g->_edges.push_back(std::move(e));
            }
        }
        g->_edge_info.push_back(std::move(info));
    }

    // Broadcast packets are shared in place by every subscriber: nothing downstream of a
    // pub edge may write into them.
    for (auto& ec : cfg.edges) {
        if (*ec.queue != queue_kind::pub) continue;
        std::vector<std::string> todo{*ec.to};
        std::set<std::string> seen;
        while (!todo.empty()) {
            std::string n = std::move(todo.back());
            todo.pop_back();
            if (!seen.insert(n).second) continue;
            stage* s = g->find_stage(n);
            if (s && s->writes_packets()) {
                auto* sc = cfg.find_stage(n);
                return fail(sc ? sc->type.at : ec.at,
                            "stage '" + n + "' (" + s->type() +
                                ") writes into packets, but it gets "
                                "broadcast packets from '" +
                                ec.from_stage +
                                "' that every subscriber "
                                "shares in place; move it before the publishing stage");
            }
            for (auto& e2 : cfg.edges)
                if (e2.from_stage == n) todo.push_back(*e2.to);
        }
    }

    for (std::size_t i = 0; i < g->_stages.size(); ++i) {
        auto& s = g->_stages[i];
        if (auto st = s->start(); !st)
            return fail(cfg.stages[i].at, "stage '" + s->name() + "': " + st.err().message);
    }
    return g;
}

graph::~graph() {
    _sources.clear();
    _pubs.clear(); // releases what the rings still hold
    _edges.clear();
    _stages.clear();
    for (auto& p : _ports)
        if (p->started()) (void)p->stop();
    _ports.clear();
    _pools.reset();
}

net::port* graph::find_port(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < _ports.size(); ++i)
        if (_port_names[i] == name) return _ports[i].get();
    return nullptr;
}

stage* graph::find_stage(std::string_view name) const noexcept {
    for (auto& s : _stages)
        if (s->name() == name) return s.get();
    return nullptr;
}

result<rte_mempool*> graph::mempool(int socket, unsigned mbufs) {
    return _pools->reserve(socket < 0 ? 0 : socket, mbufs);
}

status graph::claim_tx(std::uint16_t port, std::uint16_t queue, unsigned reactor) {
    std::uint32_t key = static_cast<std::uint32_t>(port) << 16 | queue;
    for (auto& [k, r] : _tx_claims)
        if (k == key && r != reactor)
            return make_error(
                errc::invalid_argument,
                "TX queue " + std::to_string(queue) + " of port " + std::to_string(port) +
                    " is already used by reactor " + std::to_string(r) +
                    "; DPDK TX queues are per lcore: give this port_tx another queue");
    _tx_claims.emplace_back(key, reactor);
    return {};
}

std::uint64_t graph::queued() const noexcept {
    std::uint64_t q = 0;
    for (auto& e : _edges)
        q += e->queued();
    for (auto& p : _pubs)
        q += p->queued();
    for (auto& s : _stages)
        q += s->held();
    return q;
}

std::uint64_t graph::released() const noexcept {
    std::uint64_t r = 0;
    for (auto& p : _pubs)
        r += p->released();
    return r;
}

std::uint64_t graph::fanout() const noexcept {
    std::uint64_t r = 0;
    for (auto& p : _pubs)
        r += p->delivered();
    return r;
}

std::uint32_t graph::service(unsigned reactor) noexcept {
    std::uint32_t w = 0;
    for (auto& p : _pubs)
        if (p->reactor() == reactor) w += p->service();
    return w;
}

void graph::settle() noexcept {
    // One thread polls every consumer: a producer waiting for room would wait forever.
    abort_waits();
    for (int pass = 0; pass < 1000; ++pass) {
        std::uint64_t moved = 0;
        for (unsigned r = 0; r < _sources.size(); ++r) {
            moved += service(r);
            for (auto* e : _sources[r])
                moved += e->poll();
        }
        for (auto& s : _stages)
            s->drain();
        if (moved == 0) break;
    }
    for (unsigned r = 0; r < _sources.size(); ++r)
        service(r);
}

status graph::start_ports() {
    for (std::size_t i = 0; i < _ports.size(); ++i)
        if (auto s = _ports[i]->start(); !s)
            return make_error(s.err().code, "port '" + _port_names[i] + "': " + s.err().message);
    return {};
}

status graph::stop_ports() {
    for (auto& p : _ports)
        if (p->started())
            if (auto s = p->stop(); !s) return s;
    return {};
}

} // namespace pk::pipeline
