// Flow load-balancing dispatch (pktkernel-bench; EAL up with lcores 0@0,1@1).
//
//   lb_dispatch/<impl>   One dispatcher on lcore 0 (CPU 0) spreads bursts of 32 packets
//                        over 4 workers; one worker thread on lcore 1 (CPU 1) serves all
//                        4 worker endpoints in turn and counts what it gets. Same
//                        packets for every impl: 65,536 mbuf headers (never freed or
//                        touched beyond the tag) carrying a precomputed flow hash, flows
//                        drawn Zipf(1.1) over 10,000, the same sequence. Figure: packets
//                        per second handed to workers (items_per_second), worker share
//                        max/mean (`share`).
//     pktkernel    flow::balancer (1,024 buckets, rebalancing every 1 ms, moves held
//                  until the old worker's drain marker) into 4 queue::link SPSC rings
//                  of 1,024, in batches of 32 per worker (the rest every 8 bursts; the
//                  flow_balance stage: at the end of the round); the marker is
//                  answered by the worker thread's per-link
//                  taken count (a release store per burst), checked by the dispatcher
//                  once per burst — the stage does the same over the reactor mesh
//     dsw          event_dsw0: one atomic queue, producer port 0 enqueues NEW events
//                  (flow_id = the hash), worker ports 1..4 linked to the queue, each
//                  dequeue releasing the previous burst; DSW migrates flows itself
//     distributor  rte_distributor in burst mode (RTE_DIST_ALG_BURST), 4 worker ids:
//                  the dispatcher calls rte_distributor_process on each burst (the
//                  tag is the same hash); the worker thread serves the 4 ids with the
//                  non-blocking rte_distributor_poll_pkt after one request_pkt per
//                  id (no packets returned, as the other two return none), so one
//                  thread can serve all four without the blocking get_pkt handshake
//
//   lb_migrate/pktkernel The same setup; after 300 ms the popular flows change (the Zipf
//                        ranks rotate): time until the per-worker share of a 1 ms window
//                        is back within 1.10 of even (`converge_ms`; -1: not in 2 s).
//                        No DSW side: DSW moves flows by each port's busy time, and one
//                        thread serving all four ports makes them look equally busy
//                        (measured with a fresh device per run: no balanced window in 2 s
//                        in any repetition; with one device reused: 1 ms to never, by
//                        where its flows happened to sit). A fair DSW figure needs a
//                        thread per port: not on this 2-CPU machine.
#define ALLOW_EXPERIMENTAL_API 1 // rte_event_maintain (22.11)
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_bus_vdev.h>
#include <rte_distributor.h>
#include <rte_eventdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "base/clock.hh"
#include "flow/balancer.hh"
#include "queue/link.hh"

namespace {

constexpr unsigned workers = 4;
constexpr unsigned burst = 32;
constexpr std::size_t pool = 65536;
constexpr std::uint32_t flows = 10000;

/// The packets: mbuf headers only, each with a flow hash; `order` is the sequence of
/// packets the dispatcher sends (Zipf(1.1) flows), `rotated` the same after a load
/// shift (ranks rotated by 4,999 flows).
struct traffic {
    std::vector<rte_mbuf> mbufs = std::vector<rte_mbuf>(pool);
    std::vector<std::uint32_t> hash_of_flow = std::vector<std::uint32_t>(flows);
    std::vector<std::uint32_t> flow_a, flow_b; ///< per slot: flow before / after the shift
    traffic() {
        std::mt19937_64 rng(1);
        for (auto& h : hash_of_flow)
            h = static_cast<std::uint32_t>(rng());
        std::vector<double> cdf(flows);
        double sum = 0, acc = 0;
        for (std::uint32_t k = 0; k < flows; ++k)
            sum += 1.0 / std::pow(k + 1.0, 1.1);
        for (std::uint32_t k = 0; k < flows; ++k)
            cdf[k] = acc += 1.0 / std::pow(k + 1.0, 1.1) / sum;
        for (std::size_t i = 0; i < pool; ++i) {
            const double u = std::uniform_real_distribution<double>(0, 1)(rng);
            const auto f = static_cast<std::uint32_t>(
                std::min<std::ptrdiff_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin(),
                                         flows - 1));
            flow_a.push_back(f);
            flow_b.push_back((f + 4999) % flows);
        }
    }
    /// Tags slot i for phase a or b (the hash the dispatcher uses).
    rte_mbuf* packet(std::size_t i, bool shifted) noexcept {
        rte_mbuf* m = &mbufs[i];
        m->hash.usr = hash_of_flow[shifted ? flow_b[i] : flow_a[i]];
        return m;
    }
};
traffic& packets() {
    static traffic t;
    return t;
}

/// What the worker thread counts, per worker endpoint (its own cache lines).
struct alignas(128) worker_count {
    std::atomic<std::uint64_t> got{0};
};

/// max / mean of per-worker deltas.
double share(const std::uint64_t* a, const std::uint64_t* b) {
    std::uint64_t sum = 0, hi = 0;
    for (unsigned w = 0; w < workers; ++w) {
        sum += b[w] - a[w];
        hi = std::max(hi, b[w] - a[w]);
    }
    return sum ? static_cast<double>(hi) * workers / static_cast<double>(sum) : 0;
}

/// The three implementations behind one interface: dispatch a burst, serve workers.
class impl {
public:
    virtual ~impl() = default;
    /// Dispatcher: hands all n on (retrying while the workers' queues are full).
    virtual void dispatch(rte_mbuf** pkts, unsigned n) noexcept = 0;
    /// Worker thread: one pass over every worker endpoint; adds to got[w].
    virtual void serve(worker_count* got) noexcept = 0;
};

// ---- pktkernel ------------------------------------------------------------------------
class pk_impl final : public impl, private pk::flow::handoff {
public:
    pk_impl() {
        for (unsigned w = 0; w < workers; ++w)
            _q.push_back(std::make_unique<pk::queue::link<rte_mbuf*>>(1024));
        pk::flow::balancer_config c;
        c.buckets = 1024;
        c.interval = pk::tsc::from_us(1000);
        _bal.configure(c, workers, this);
    }
    void dispatch(rte_mbuf** pkts, unsigned n) noexcept override {
        std::uint64_t now = pk::tsc::now();
        _bal.tick(now);
        if (_pending) check_markers(now);
        for (unsigned i = 0; i < n; ++i) {
            const int w = _bal.route(pkts[i]->hash.usr, pkts[i]);
            if (w >= 0) _stage[w][_k[w]++] = pkts[i];
        }
        const bool flush = ++_bursts % 8 == 0; // bound the wait of a quiet worker
        for (unsigned w = 0; w < workers; ++w)
            if (_k[w] >= burst || (flush && _k[w])) {
                push_all(w, _stage[w], _k[w]);
                _k[w] = 0;
            }
    }
    void serve(worker_count* got) noexcept override {
        rte_mbuf* b[burst];
        for (unsigned w = 0; w < workers; ++w) {
            const std::size_t n = _q[w]->pop_burst(b, burst);
            if (!n) continue;
            got[w].got.store(got[w].got.load(std::memory_order_relaxed) + n,
                             std::memory_order_relaxed);
            _taken[w].got.store(_taken[w].got.load(std::memory_order_relaxed) + n,
                                std::memory_order_release); // the drain marker's answer
        }
    }

private:
    void push_all(unsigned w, rte_mbuf** p, unsigned n) noexcept {
        while (n) {
            const auto k = static_cast<unsigned>(_q[w]->push_burst(p, n));
            _sent[w] += k;
            p += k;
            n -= k;
        }
    }
    void check_markers(std::uint64_t now) noexcept {
        for (unsigned i = 0; i < _pending;) {
            if (_taken[_markers[i].from].got.load(std::memory_order_acquire) >= _markers[i].marker) {
                const std::uint64_t token = _markers[i].token;
                _markers[i] = _markers[--_pending];
                _bal.drained(token, now);
            } else {
                ++i;
            }
        }
    }
    std::uint64_t sent(unsigned w) noexcept override {
        push_all(w, _stage[w], _k[w]); // staged packets go first
        _k[w] = 0;
        return _sent[w];
    }
    drain request_drain(unsigned from, std::uint64_t marker, std::uint64_t token) noexcept override {
        if (_pending == max_markers) return drain::refused;
        _markers[_pending++] = {from, marker, token};
        return drain::pending;
    }
    std::uint16_t deliver(unsigned w, rte_mbuf** pkts, std::uint16_t n, bool) noexcept override {
        push_all(w, pkts, n);
        return n;
    }

    struct marker {
        unsigned from;
        std::uint64_t marker, token;
    };
    static constexpr unsigned max_markers = 64;
    std::vector<std::unique_ptr<pk::queue::link<rte_mbuf*>>> _q;
    pk::flow::balancer _bal;
    std::uint64_t _sent[workers] = {};
    worker_count _taken[workers];
    marker _markers[max_markers];
    unsigned _pending = 0;
    rte_mbuf* _stage[workers][2 * burst];
    unsigned _k[workers] = {};
    std::uint64_t _bursts = 0;
};

// ---- event_dsw ------------------------------------------------------------------------
class dsw_impl final : public impl {
public:
    dsw_impl() {
        _dev = rte_event_dev_get_dev_id("event_dsw0");
        if (_dev < 0) {
            if (rte_vdev_init("event_dsw0", nullptr) != 0) return;
            _dev = rte_event_dev_get_dev_id("event_dsw0");
        }
        if (_dev < 0) return;
        const auto dev = static_cast<std::uint8_t>(_dev);
        rte_event_dev_info info;
        rte_event_dev_info_get(dev, &info);
        rte_event_dev_config c{};
        c.nb_event_queues = 1;
        c.nb_event_ports = workers + 1;
        c.nb_events_limit = std::min<std::int32_t>(info.max_num_events, 4096);
        c.nb_event_queue_flows = info.max_event_queue_flows;
        c.nb_event_port_dequeue_depth = info.max_event_port_dequeue_depth;
        c.nb_event_port_enqueue_depth = info.max_event_port_enqueue_depth;
        if (rte_event_dev_configure(dev, &c) != 0) return;
        rte_event_queue_conf q{};
        rte_event_queue_default_conf_get(dev, 0, &q);
        q.schedule_type = RTE_SCHED_TYPE_ATOMIC;
        if (rte_event_queue_setup(dev, 0, &q) != 0) return;
        for (unsigned p = 0; p <= workers; ++p) {
            rte_event_port_conf pc{};
            rte_event_port_default_conf_get(dev, static_cast<std::uint8_t>(p), &pc);
            if (rte_event_port_setup(dev, static_cast<std::uint8_t>(p), &pc) != 0) return;
            if (p > 0 && rte_event_port_link(dev, static_cast<std::uint8_t>(p), nullptr, nullptr, 0) != 1)
                return;
        }
        _ok = rte_event_dev_start(dev) == 0;
    }
    // Lives for the process: EAL objects torn down at exit by EAL itself.
    bool ok() const noexcept { return _ok; }
    void dispatch(rte_mbuf** pkts, unsigned n) noexcept override {
        rte_event ev[burst];
        for (unsigned i = 0; i < n; ++i) {
            ev[i] = {};
            ev[i].flow_id = pkts[i]->hash.usr & 0xfffff;
            ev[i].op = RTE_EVENT_OP_NEW;
            ev[i].sched_type = RTE_SCHED_TYPE_ATOMIC;
            ev[i].queue_id = 0;
            ev[i].event_type = RTE_EVENT_TYPE_CPU;
            ev[i].mbuf = pkts[i];
        }
        const auto dev = static_cast<std::uint8_t>(_dev);
        for (unsigned done = 0; done < n;) {
            done += rte_event_enqueue_new_burst(dev, 0, ev + done, static_cast<std::uint16_t>(n - done));
            rte_event_maintain(dev, 0, 0); // DSW buffers a producer's events until flushed
        }
    }
    void serve(worker_count* got) noexcept override {
        const auto dev = static_cast<std::uint8_t>(_dev);
        rte_event ev[burst];
        for (unsigned w = 0; w < workers; ++w) {
            const std::uint16_t n =
                rte_event_dequeue_burst(dev, static_cast<std::uint8_t>(w + 1), ev, burst, 0);
            if (n)
                got[w].got.store(got[w].got.load(std::memory_order_relaxed) + n,
                                 std::memory_order_relaxed);
        }
    }

private:
    int _dev = -1;
    bool _ok = false;
};

// ---- rte_distributor ------------------------------------------------------------------
class distributor_impl final : public impl {
public:
    /// A fresh instance per run (its memzone is named after a run counter and kept).
    distributor_impl() {
        static unsigned runs = 0;
        const std::string name = "pk_lb" + std::to_string(runs++);
        _d = rte_distributor_create(name.c_str(), static_cast<unsigned>(rte_socket_id()), workers,
                                    RTE_DIST_ALG_BURST);
    }
    bool ok() const noexcept { return _d != nullptr; }
    void dispatch(rte_mbuf** pkts, unsigned n) noexcept override {
        // 0 until a worker id has asked for packets; then all n (each flow's packets go to
        // the id that has that flow in flight, the rest to the next id with room).
        for (unsigned done = 0; done < n;)
            done += static_cast<unsigned>(rte_distributor_process(_d, pkts + done, n - done));
    }
    void serve(worker_count* got) noexcept override {
        rte_mbuf* b[8]; // a worker gets at most one cache line of 8 (the burst API's unit)
        for (unsigned w = 0; w < workers; ++w) {
            // One request makes the id active (nothing is ever returned); after that
            // each poll that takes a line tells the distributor the line is free. A
            // second request could spin until the distributor handles it, while the
            // distributor spins for another id this thread serves.
            if (!_asked[w]) {
                rte_distributor_request_pkt(_d, w, nullptr, 0);
                _asked[w] = true;
            }
            const int n = rte_distributor_poll_pkt(_d, w, b);
            if (n <= 0) continue;
            got[w].got.store(got[w].got.load(std::memory_order_relaxed) + static_cast<unsigned>(n),
                             std::memory_order_relaxed);
        }
    }

private:
    rte_distributor* _d = nullptr;
    bool _asked[workers] = {}; ///< worker thread only
};

/// pktkernel and rte_distributor: a fresh instance for each run; DSW: one device for
/// the process (set up once, never closed: EAL tears it down at exit).
impl* get(const std::string& kind) {
    static pk_impl* pk = nullptr;
    static distributor_impl* dist = nullptr;
    static dsw_impl* dsw = nullptr;
    if (kind == "pktkernel") {
        delete pk;
        pk = new pk_impl;
        return pk;
    }
    if (kind == "distributor") {
        delete dist;
        dist = new distributor_impl;
        return dist->ok() ? dist : nullptr;
    }
    if (!dsw) dsw = new dsw_impl;
    return dsw->ok() ? dsw : nullptr;
}

struct worker_thread {
    impl* im;
    worker_count got[workers];
    std::atomic<bool> stop{false};
    static int main(void* arg) {
        auto* t = static_cast<worker_thread*>(arg);
        while (!t->stop.load(std::memory_order_relaxed))
            t->im->serve(t->got);
        for (int i = 0; i < 1000; ++i) // what is still queued
            t->im->serve(t->got);
        return 0;
    }
};

void snapshot(const worker_thread& t, std::uint64_t* out) {
    for (unsigned w = 0; w < workers; ++w)
        out[w] = t.got[w].got.load(std::memory_order_relaxed);
}

/// One run: a fresh `kind`, its worker thread on lcore 1, the dispatcher here.
class run {
public:
    run(benchmark::State& state, const char* kind) : _im(get(kind)), _wt{_im} {
        if (!_im)
            state.SkipWithError((std::string(kind) + ": could not be set up").c_str());
        else if (rte_eal_remote_launch(&worker_thread::main, &_wt, 1) != 0)
            state.SkipWithError("lcore 1 busy");
        else
            _running = true;
    }
    ~run() { stop(); }
    bool ok() const noexcept { return _running; }
    void stop() {
        if (!_running) return;
        _wt.stop.store(true);
        rte_eal_wait_lcore(1);
        _running = false;
    }
    /// Dispatches the next burst of the packet sequence (before or after the shift).
    void one_burst(bool shifted) noexcept {
        rte_mbuf* b[burst];
        for (unsigned i = 0; i < burst; ++i, _slot = (_slot + 1) % pool)
            b[i] = _t.packet(_slot, shifted);
        _im->dispatch(b, burst);
    }
    void run_for(std::uint64_t cycles, bool shifted) noexcept {
        const std::uint64_t end = pk::tsc::now() + cycles;
        while (pk::tsc::now() < end)
            one_burst(shifted);
    }
    void counts(std::uint64_t* out) const { snapshot(_wt, out); }

private:
    impl* _im;
    worker_thread _wt;
    traffic& _t = packets();
    std::size_t _slot = 0;
    bool _running = false;
};

void lb_dispatch(benchmark::State& state, const char* kind) {
    run r(state, kind);
    if (!r.ok()) return;
    for (int i = 0; i < 20000; ++i) // warm-up: rebalanced (pktkernel, dsw) before timing
        r.one_burst(false);
    std::uint64_t a[workers], z[workers];
    r.counts(a);
    for (auto _ : state)
        r.one_burst(false);
    r.stop();
    r.counts(z);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * burst));
    state.counters["share"] = share(a, z);
    state.counters["at_s"] = pk::tsc::to_seconds(pk::tsc::now());
}

/// Time from a load shift to a 1 ms window whose worker shares are within 1.10.
void lb_migrate(benchmark::State& state, const char* kind) {
    for (auto _ : state) {
        run r(state, kind);
        if (!r.ok()) return;
        const std::uint64_t ms = pk::tsc::from_us(1000);
        r.run_for(300 * ms, false); // settle on the first mix
        const std::uint64_t shift = pk::tsc::now();
        double converged = -1;
        std::uint64_t a[workers], z[workers];
        while (pk::tsc::now() - shift < 2000 * ms) {
            r.counts(a);
            r.run_for(ms, true);
            r.counts(z);
            if (share(a, z) <= 1.10) {
                converged = pk::tsc::to_seconds(pk::tsc::now() - shift) * 1e3;
                break;
            }
        }
        r.stop();
        state.counters["converge_ms"] = converged; // -1: not within 2 s
        state.counters["at_s"] = pk::tsc::to_seconds(pk::tsc::now());
    }
}

} // namespace

BENCHMARK_CAPTURE(lb_dispatch, pktkernel, "pktkernel")->UseRealTime();
BENCHMARK_CAPTURE(lb_dispatch, dsw, "dsw")->UseRealTime();
BENCHMARK_CAPTURE(lb_dispatch, distributor, "distributor")->UseRealTime();
BENCHMARK_CAPTURE(lb_migrate, pktkernel, "pktkernel")->Iterations(1)->UseRealTime();
