#include "pipeline/graph.hh"

#include <algorithm>

#include "base/compiler.hh"
#include "base/log.hh"
#include "net/port.hh"
#include "pipeline/registry.hh"

namespace pk::pipeline {

// ---------------------------------------------------------------------------------------
// Build

namespace {

/// `pool`: the plan's sizing (nullptr from plan_graph(), which sizes nothing: then
/// `mempool.size`, else net::mbufs_needed()).
net::port_config to_net(const port_config& pc, const pool_plan* pool) {
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
    if (pool)
        c.mbufs = pool->mbufs; // sized from the graph (plan.hh), or mempool.size
    else if (pc.mempool.size.given())
        c.mbufs = *pc.mempool.size;
    c.mbuf_cache = *pc.mempool.cache;
    c.mbuf_data_room = static_cast<std::uint16_t>(*pc.mempool.data_room);
    return c;
}

} // namespace

result<std::unique_ptr<graph>> graph::build(const config& cfg, const registry& reg, const plan& p) {
    std::unique_ptr<graph> g(new graph());
    g->_pools = std::make_unique<net::mempool_set>();
    g->_sources.resize(p.reactors.size());
    auto fail = [&](mark at, const std::string& msg) -> error {
        return make_error(errc::invalid_argument, format(cfg.error_at(at, msg)));
    };

    for (std::size_t i = 0; i < cfg.ports.size(); ++i) {
        const port_config& pc = cfg.ports[i];
        auto port = net::port::open(to_net(pc, i < p.pools.size() ? &p.pools[i] : nullptr),
                                    g->_pools.get());
        if (!port)
            return make_error(port.err().code,
                              format(cfg.error_at(pc.device.at, "port '" + *pc.name +
                                                                    "': " + port.err().message)));
        g->_port_names.push_back(*pc.name);
        g->_ports.push_back(std::move(*port));
    }

    for (std::size_t i = 0; i < cfg.stages.size(); ++i) {
        auto& sc = cfg.stages[i];
        auto* t = reg.find(*sc.type);
        if (!t) return fail(sc.type.at, "unknown stage type '" + *sc.type + "'");
        stage_args a{*sc.name,
                     *sc.type,
                     &sc.params,
                     g.get(),
                     p.stage_reactor[i],
                     t->schema.roles,
                     i < p.stage_tx_queue.size() ? p.stage_tx_queue[i] : std::uint16_t(0)};
        try {
            auto s = t->make(a);
            if (!s) return fail(sc.at, "stage '" + *sc.name + "': " + s.err().message);
            if (i < p.stage_on_loan.size()) (*s)->set_on_loan(p.stage_on_loan[i]);
            g->_stages.push_back(std::move(*s));
        } catch (const std::exception& e) {
            return fail(sc.at, "stage '" + *sc.name + "': " + e.what());
        }
    }

    for (auto& q : p.queues) {
        g->_queues.push_back(q.kind->make(*q.first->size, *q.first->overflow, g->_abort));
        g->_queue_reactor.push_back(q.producer_reactor);
    }
    std::vector<edge_sink*> producer(p.queues.size(), nullptr); // shared by output: one
    for (const edge_plan& e : p.edges) {
        const edge_config& ec = *e.cfg;
        stage& from = *g->_stages[e.from];
        stage& to = *g->_stages[e.to];
        int out = from.output_index(ec.from_output);
        if (out < 0)
            return fail(ec.from.at, "stage '" + from.name() + "' (" + from.type() +
                                        ") has no output '" + ec.from_output + "'");
        edge_info info{ec.from_stage + "." + ec.from_output, *ec.to, e.kind->name, e.direct,
                       *ec.size};
        if (e.direct) {
            from.connect(static_cast<unsigned>(out), route{&to, nullptr});
        } else {
            edge_queue& q = *g->_queues[static_cast<std::size_t>(e.queue)];
            info.queue = &q;
            if (*ec.overflow == overflow_policy::backpressure && !e.wait)
                PK_INFO("pipeline",
                        "%s -> %s: %s; a full queue drops (queue_full) instead of "
                        "waiting",
                        info.from.c_str(), info.to.c_str(),
                        *ec.allow_cycle ? "allow_cycle edge"
                                        : "consumer on the producer's reactor or thread");
            edge_sink*& sink = producer[static_cast<std::size_t>(e.queue)];
            if (e.kind->shared != sharing::by_output || !sink) sink = q.add_producer(e.wait);
            if (!sink)
                return fail(ec.at, "the " + std::string(e.kind->name) +
                                       " queue of this edge takes no more producers");
            if (auto* c = q.add_consumer(to, e.wait, e.in_place))
                g->_sources[to.reactor()].push_back(c);
            // After the consumer: it may take the waiting away (a pub ring whose
            // subscriber runs on the publisher's reactor), and connect() asks.
            from.connect(static_cast<unsigned>(out), route{nullptr, sink});
            g->_hops.push_back({&q, from.reactor(), to.reactor()});
        }
        g->_edge_info.push_back(std::move(info));
    }

    // Backpressure: a stage that may park packets stops the entries of its chain — the
    // sources and edge consumers it is reached from by direct calls — taking input.
    std::vector<bool> entry(g->_stages.size());
    for (std::size_t i = 0; i < g->_stages.size(); ++i)
        entry[i] = g->_stages[i]->is_source();
    for (const edge_plan& e : p.edges)
        if (!e.direct) entry[e.to] = true;
    for (std::size_t i = 0; i < g->_stages.size(); ++i) {
        if (!entry[i]) continue;
        std::vector<stage*> todo{g->_stages[i].get()}, seen;
        while (!todo.empty()) {
            stage* s = todo.back();
            todo.pop_back();
            if (std::find(seen.begin(), seen.end(), s) != seen.end()) continue;
            seen.push_back(s);
            if (s->may_park()) s->add_entry(g->_stages[i].get());
            for (unsigned o = 0; o < s->outputs().size(); ++o)
                if (stage* d = s->route_of(o).direct) todo.push_back(d);
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
    _queues.clear(); // frees what the queues still hold (rings: releases it)
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
    return _pools->reserve(socket < 0 ? SOCKET_ID_ANY : socket, mbufs);
}

std::uint64_t graph::queued() const noexcept {
    std::uint64_t q = 0;
    for (auto& e : _queues)
        q += e->queued();
    for (auto& s : _stages)
        q += s->held() + s->parked();
    return q;
}

std::uint64_t graph::released() const noexcept {
    std::uint64_t r = 0;
    for (auto& q : _queues)
        r += q->released();
    return r;
}

std::uint64_t graph::fanout() const noexcept {
    std::uint64_t r = 0;
    for (auto& q : _queues)
        r += q->fanout();
    return r;
}

std::uint64_t graph::referenced() const noexcept {
    std::uint64_t r = 0;
    for (auto& q : _queues)
        r += q->referenced();
    return r;
}

std::uint32_t graph::service(unsigned reactor) noexcept {
    std::uint32_t w = 0;
    for (std::size_t i = 0; i < _queues.size(); ++i)
        if (_queue_reactor[i] == reactor) w += _queues[i]->service();
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
            moved += s->retry_parked();
        for (auto& s : _stages)
            s->drain();
        if (moved == 0) break;
    }
    for (auto& s : _stages) // a consumer that never took them: counted, not lost
        s->drop_parked();
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
