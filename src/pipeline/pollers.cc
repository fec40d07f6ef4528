#include "pipeline/pollers.hh"

#include <array>
#include <atomic>
#include <thread>

#include "base/clock.hh"
#include "base/log.hh"
#include "pipeline/report.hh"
#include "sched/reactor.hh"
#include "sched/source.hh"
#include "sched/task.hh"

namespace pk::pipeline {
namespace {

/// An rx_source stage (port_rx) as the reactor's NET source: the stage does the
/// rx_burst and passes the burst down its chain.
class stage_net_source final : public sched::net_source {
public:
    explicit stage_net_source(stage& s) : _s(s) {}
    std::uint32_t poll_burst(sched::reactor&, std::uint32_t) noexcept override {
        return PK_UNLIKELY(_s.blocked()) ? 0 : _s.poll(); // parked below: RX waits in the NIC
    }
    const char* name() const noexcept override { return _s.name().c_str(); }

private:
    stage& _s;
};

/// A source stage (generator) as a task in its priority bucket.
class source_task final : public sched::task {
public:
    explicit source_task(stage& s) : _s(s) {}
    sched::poll_result poll(sched::reactor&) noexcept override {
        return sched::poll_result::ran(PK_UNLIKELY(_s.blocked()) ? 0 : _s.poll());
    }

private:
    stage& _s;
};

/// The edge consumers of one priority bucket of a reactor as one task: a poll is one
/// pass that pops up to a burst from each edge. One task instead of one per edge keeps
/// an idle round short (an empty edge costs a pop, not a task's turn); the bucket's
/// weight still applies, as repeated passes while any edge has packets.
class edge_task final : public sched::task {
public:
    void add(edge_source* e) { _edges.push_back(e); }
    sched::poll_result poll(sched::reactor&) noexcept override {
        std::uint32_t w = 0;
        for (edge_source* e : _edges)
            w += e->poll();
        return sched::poll_result::ran(w);
    }
    /// A reactor's wake check (sched::reactor::add_wake_check): a packet in any edge.
    static bool has_packets(const void* self) noexcept {
        for (const edge_source* e : static_cast<const edge_task*>(self)->_edges)
            if (e->queued() != 0) return true;
        return false;
    }

private:
    std::vector<edge_source*> _edges;
};

} // namespace

/// Per reactor: TX deadlines, broadcast-ring release, and the drain step of a stop.
class pollers::housekeeping final : public sched::task {
public:
    housekeeping(graph& g, unsigned r, std::vector<stage*> stages)
        : _g(g), _r(r), _stages(std::move(stages)) {
        for (auto* s : _stages) {
            if (s->ticks()) _tickers.push_back(s);
            if (s->may_park()) _parkers.push_back(s);
        }
    }
    sched::poll_result poll(sched::reactor&) noexcept override {
        std::uint32_t w = _g.service(_r);
        for (auto* s : _parkers) // backpressure: what full edges refused, pushed on
            w += s->retry_parked();
        if (!_tickers.empty()) {
            const std::uint64_t now = tsc::now();
            for (auto* s : _tickers)
                w += s->tick(now);
        }
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
    std::vector<stage*> _tickers; ///< the stages whose tick() does something
    std::vector<stage*> _parkers; ///< the stages with a backpressure edge out
    std::atomic<bool> _drain_requested{false}, _drained{false};
};

/// A config `timers:` entry: an interval timer of its reactor (drift-free, missed
/// periods folded into one wake) that runs its action there.
class pollers::timer_task final : public sched::task {
public:
    timer_task(graph& g, unsigned r, const timer_plan& t, std::vector<stage*> stages)
        : _g(g), _r(r), _t(t), _period(tsc::from_ns(t.period_ns)), _stages(std::move(stages)) {}

    sched::poll_result poll(sched::reactor& r) noexcept override {
        if (!_armed) {
            _armed = r.every(*this, _period);
            if (!_armed)
                PK_WARN("timer", "%s: the reactor's interval list is full", _t.name.c_str());
        } else {
            (void)take_missed(); // a late reactor runs the action once, not once per period
            run();
        }
        return sched::poll_result::wait(1);
    }

private:
    void run() noexcept {
        switch (_t.action) {
        case timer_action::stats: {
            totals t = sum(_g);
            PK_INFO("timer", "%s: %s", _t.name.c_str(), t.summary().c_str());
            break;
        }
        case timer_action::flush:
            for (auto* s : _stages)
                s->tick(UINT64_MAX);
            break;
        case timer_action::service:
            _g.service(_r);
            break;
        }
    }
    graph& _g;
    unsigned _r;
    const timer_plan& _t;
    std::uint64_t _period;
    bool _armed = false;
    std::vector<stage*> _stages;
};

pollers::pollers(const config& cfg, const plan& p, graph& g, sched::reactor_group& rg) {
    // A consumer that sleeps when idle (adaptive) is woken by its producers, unless both
    // share a CPU: there the wake-up would preempt the producer for every burst, and
    // the consumer gets the CPU when the producer's time slice ends anyway.
    for (auto h : g.hops())
        if (rg[h.to].config().idle == sched::idle_policy::adaptive &&
            p.reactors[h.to].cpu != p.reactors[h.from].cpu)
            h.queue->wake_after_push(rg[h.to]);
    for (unsigned r = 0; r < rg.size(); ++r) {
        std::vector<stage*> mine;
        for (std::size_t i = 0; i < g.stages().size(); ++i) {
            stage* s = g.stages()[i].get();
            if (s->reactor() != r) continue;
            mine.push_back(s);
            s->bind(rg[r]);
            const auto bucket = static_cast<std::uint8_t>(*cfg.stages[i].priority);
            if (s->is(role::rx_source)) {
                auto src = std::make_unique<stage_net_source>(*s);
                src->bucket = bucket;
                rg[r].add_net(*src);
                _net.push_back(std::move(src));
            } else if (s->is(role::source)) {
                _tasks.push_back(std::make_unique<source_task>(*s));
                rg[r].spawn(*_tasks.back(), {.bucket = bucket});
            }
        }
        std::array<std::unique_ptr<edge_task>, priority_buckets> edges;
        const auto& dc = rg[r].config().discipline;
        std::array<std::uint32_t, 4> weights{1, 1, 1, 1}; // other disciplines: lanes alike
        if (dc.kind == sched::discipline_kind::weighted_priority)
            for (unsigned b = 0; b < weights.size(); ++b)
                weights[b] = dc.polls[std::min<unsigned>(b, dc.bucket_count - 1)];
        for (auto* e : g.sources_of(r)) {
            e->use_weights(weights);
            const auto bucket =
                static_cast<std::uint8_t>(*cfg.find_stage(e->target().name())->priority);
            if (!edges[bucket]) edges[bucket] = std::make_unique<edge_task>();
            edges[bucket]->add(e);
        }
        for (unsigned b = 0; b < priority_buckets; ++b)
            if (edges[b]) {
                rg[r].spawn(*edges[b], {.bucket = static_cast<std::uint8_t>(b)});
                if (rg[r].config().idle == sched::idle_policy::adaptive)
                    rg[r].add_wake_check(&edge_task::has_packets, edges[b].get());
                _tasks.push_back(std::move(edges[b]));
            }
        for (auto& t : p.timers)
            if (t.reactor == r) {
                _tasks.push_back(std::make_unique<timer_task>(g, r, t, mine));
                rg[r].spawn(*_tasks.back(), {.bucket = 0});
            }
        // Once a round is enough for TX deadlines and ring release: the lowest bucket.
        auto hk = std::make_unique<housekeeping>(g, r, std::move(mine));
        _hk.push_back(hk.get());
        rg[r].spawn(*hk, {.bucket = static_cast<std::uint8_t>(priority_buckets - 1)});
        _tasks.push_back(std::move(hk));
    }
}

pollers::~pollers() = default;

bool pollers::drain(std::chrono::milliseconds limit) {
    for (auto* h : _hk)
        h->request_drain();
    auto deadline = std::chrono::steady_clock::now() + limit;
    bool all = true;
    for (auto* h : _hk) {
        while (!h->drained() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        all = all && h->drained();
    }
    return all;
}

} // namespace pk::pipeline
