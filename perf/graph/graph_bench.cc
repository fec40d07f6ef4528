// Stage-graph benchmarks (pktkernel-bench, EAL up with lcores 0@0,1@1, --no-huge). Both run
// on the benchmark thread only (EAL main lcore 0, CPU 0), on the same B mbufs of one
// rte_pktmbuf_pool, through source -> 4 touch stages -> sink; each touch increments the
// data byte at offset 22 (an IPv4 TTL's place) of every packet:
//   graph_chain4/pktkernel/burst:B  reactor::run_once() of the pipeline built as the runtime
//                                   builds it (YAML -> plan_graph -> graph::build -> pollers):
//                                   bench_rx -> 4 bench_touch -> bench_sink, direct routes,
//                                   stages from PK_REGISTER_STAGE; a round polls the source
//                                   10 times, each poll emits the B mbufs in bursts of <= 64
//   graph_chain4/rte_graph/burst:B  rte_graph_walk(): source node (RTE_NODE_SOURCE_F) copies
//                                   the B pointers into its next stream, 4 touch nodes pass
//                                   it on with rte_node_next_stream_move, a sink node counts
//
// Details. pktkernel: bench_rx is an rx_source like port_rx (the reactor's NET source, 10
// polls a round under the default discipline); each poll copies the B pointers into a
// 64-slot array as rx_burst would and emit()s it, so B = 256 is 4 bursts of 64
// (pipeline::burst_size) each running to completion down the chain; bench_sink counts
// them transmitted. The round's own work (mesh, housekeeping task: TX ticks) is included.
// rte_graph: one walk = B packets in one stream (RTE_GRAPH_BURST_SIZE is 256). Debian's
// DPDK 22.11 has RTE_LIBRTE_GRAPH_STATS=1 (DPDK's default rte_config.h): the walk reads
// the TSC around every node call and counts calls and objects per node; build with
// -DPK_BENCH_RTE_GRAPH_NO_STATS for the walk without it.
// Neither side allocates or frees in the loop: the sink hands the packets back to the
// source's array. The pool's data room is small (128 bytes) on purpose: under --no-huge a
// pool object may not cross a 4 KiB page, so default 2176-byte mbufs sit one per page at the
// same page offset and all B collide in the same L1 sets (~100 cycles/packet on both sides,
// the graph overhead lost in L2 latency). Both sides use the same B consecutive mbufs.
// Counters: `cycles` = TSC cycles per packet, median over batches of ~16K packets (a
// preempted minority of batches on this shared 2-CPU VM does not move it); `cycles_mean` =
// all cycles / packets; items_per_second = packets/s. Every run checks that the sink saw
// every packet (and, pktkernel, every stage) and that each mbuf's byte went up by 4 per
// pass, else SkipWithError: the benchmark cannot silently measure nothing.
// Expected: pktkernel <= rte_graph at both bursts. A hand-written loop doing the same 4
// touches costs ~3.6 cycles/packet (32 packets at a time); pktkernel adds ~1-1.5 (stage
// hops, then the reactor round), rte_graph ~6 with its stats, ~1.5 without. At 256
// rte_graph runs each node over the whole stream (512 lines, all of a 32 KiB L1) while
// pktkernel's 64-packet bursts stay in L1.
// Measured (2-vCPU AMD EPYC VM, 2.1 GHz TSC, 2026-12-01; median cycles/packet):
// pktkernel 4.7 / 5.7, rte_graph 9.5 / 9.6 at burst 32 / 256 (rte_graph without stats:
// ~5.2 / ~10.3).
#define ALLOW_EXPERIMENTAL_API 1 // rte_graph is experimental in DPDK 22.11
#ifdef PK_BENCH_RTE_GRAPH_NO_STATS
#undef RTE_LIBRTE_GRAPH_STATS // from rte_config.h (pkg-config: -include rte_config.h)
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_graph.h>
#include <rte_graph_worker.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#include "../common/bench_stage.hh"
#include "../common/pipeline_fixture.hh"
#include "../common/stamp.hh"
#include "base/clock.hh"
#include "pipeline/stage.hh"

namespace {

namespace pp = pk::pipeline;

constexpr std::uint16_t max_burst = 256; ///< RTE_GRAPH_BURST_SIZE: one stream holds it
constexpr std::uint32_t touch_offset = 22;
constexpr unsigned touch_stages = 4;
constexpr std::uint64_t batch_packets = 16384;
constexpr int warmup_iterations = 1000;

static_assert(max_burst <= RTE_GRAPH_BURST_SIZE, "a source burst must fit one rte_graph stream");

// ---- shared by both sides ----------------------------------------------------------------

/// One pool for both sides, never freed (pool names are process-wide). 128 bytes of data
/// room: see the top of the file.
rte_mempool* bench_pool() {
    static rte_mempool* mp =
        rte_pktmbuf_pool_create("pk_graph_bench", 1023, 0, 0, RTE_PKTMBUF_HEADROOM + 128,
                                static_cast<int>(rte_socket_id()));
    return mp;
}

/// B mbufs with 64 bytes of zeroed data, freed at the end of the benchmark run: always
/// the B lowest-addressed mbufs of the pool, consecutive in memory, so every run of either
/// side uses the same packets. (The pool's ring hands out a different, scattered set after
/// each free; under --no-huge every 4 KiB page has the same 9 object offsets, and a
/// scattered set can crowd more than 8 lines into one L1 set: a per-run lottery.)
class mbuf_set {
public:
    explicit mbuf_set(std::uint16_t n) : _n(0) {
        rte_mempool* mp = bench_pool();
        if (!mp) return;
        std::vector<rte_mbuf*> all(rte_mempool_avail_count(mp)); // no per-lcore cache: exact
        if (all.size() < n || rte_pktmbuf_alloc_bulk(mp, all.data(), all.size()) != 0) return;
        std::sort(all.begin(), all.end());
        rte_pktmbuf_free_bulk(all.data() + n, static_cast<unsigned>(all.size() - n));
        std::copy_n(all.begin(), n, _m);
        _n = n;
        for (std::uint16_t i = 0; i < n; ++i)
            std::memset(rte_pktmbuf_append(_m[i], 64), 0, 64);
    }
    ~mbuf_set() {
        if (_n) rte_pktmbuf_free_bulk(_m, _n);
    }
    mbuf_set(const mbuf_set&) = delete;
    mbuf_set& operator=(const mbuf_set&) = delete;

    bool ok() const noexcept { return _n != 0; }
    rte_mbuf** pkts() noexcept { return _m; }
    /// True when every packet's byte went through `touches` increments.
    bool touched(std::uint64_t touches) const noexcept {
        for (std::uint16_t i = 0; i < _n; ++i)
            if (rte_pktmbuf_mtod(_m[i], const std::uint8_t*)[touch_offset] !=
                static_cast<std::uint8_t>(touches))
                return false;
        return true;
    }

private:
    rte_mbuf* _m[max_burst];
    std::uint16_t _n;
};

PK_ALWAYS_INLINE void touch(rte_mbuf* m) noexcept {
    rte_pktmbuf_mtod(m, std::uint8_t*)[touch_offset] += 1;
}

/// Cycles per packet over batches of about batch_packets packets; the median batch is
/// reported. `packets()` (called once per batch) returns packets through the sink so far.
class packet_timer {
public:
    explicit packet_timer(std::uint64_t per_iteration)
        : _every(std::max<std::uint64_t>(1, batch_packets /
                                                std::max<std::uint64_t>(1, per_iteration))) {
        _samples.reserve(1 << 20);
    }
    template <typename F>
    PK_ALWAYS_INLINE void tick(F&& packets) noexcept {
        if (PK_UNLIKELY(++_k == _every)) {
            const std::uint64_t now = pk::tsc::now(), p = packets();
            if (p > _p0 && _samples.size() < _samples.capacity())
                _samples.push_back(static_cast<double>(now - _t0) / static_cast<double>(p - _p0));
            _t0 = now;
            _p0 = p;
            _k = 0;
        }
    }
    void start(std::uint64_t packets) noexcept {
        _p0 = packets;
        _t0 = pk::tsc::now();
    }
    double median() {
        if (_samples.empty()) return 0;
        auto mid = _samples.begin() + static_cast<std::ptrdiff_t>(_samples.size() / 2);
        std::nth_element(_samples.begin(), mid, _samples.end());
        return *mid;
    }

private:
    std::uint64_t _every, _k = 0, _t0 = 0, _p0 = 0;
    std::vector<double> _samples;
};

void report(benchmark::State& st, packet_timer& pt, std::uint64_t cycles, std::uint64_t packets) {
    st.counters["cycles"] = pt.median();
    pk::bench::stamp(st);
    st.counters["cycles_mean"] =
        static_cast<double>(cycles) / static_cast<double>(packets ? packets : 1);
    st.SetItemsProcessed(static_cast<std::int64_t>(packets));
}

// ---- pktkernel: stages ---------------------------------------------------------------------

/// What the running benchmark hands its bench_rx stage (read by the constructor, during
/// graph::build()): the packets to emit on every poll.
struct rx_input {
    rte_mbuf** pkts = nullptr;
    std::uint16_t n = 0;
};
rx_input bench_rx_input;

/// bench_rx: an rx_source standing in for port_rx: every poll hands the same B packets
/// down its output, in bursts of at most pp::burst_size, as rx_burst would fill them.
class bench_rx final : public pp::stage {
public:
    explicit bench_rx(const pp::stage_args& a)
        : stage(a), _pkts(bench_rx_input.pkts), _n(bench_rx_input.n) {}
    std::uint32_t poll() noexcept override {
        if (quiesced()) return 0;
        count_produced(_n);
        for (std::uint16_t i = 0; i < _n; i += pp::burst_size) {
            const auto k = static_cast<std::uint16_t>(std::min<int>(pp::burst_size, _n - i));
            rte_mbuf* burst[pp::burst_size];
            std::memcpy(burst, _pkts + i, k * sizeof(rte_mbuf*));
            emit(0, burst, k);
        }
        return _n;
    }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override { emit(0, pkts, n); }

private:
    rte_mbuf** _pkts;
    std::uint16_t _n;
};

/// bench_touch: increments one data byte of every packet, passes them on.
class bench_touch final : public pp::stage {
public:
    explicit bench_touch(const pp::stage_args& a) : stage(a) {}

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        for (std::uint16_t i = 0; i < n; ++i)
            touch(pkts[i]);
        emit(0, pkts, n);
    }
};

/// bench_sink: the packets go back to bench_rx's array (never freed): counted as
/// transmitted, as a port_tx would count what it handed to the NIC.
class bench_sink final : public pp::stage {
public:
    explicit bench_sink(const pp::stage_args& a) : stage(a) {}

protected:
    void process(rte_mbuf**, std::uint16_t n) noexcept override { count_transmitted(n); }
};

PK_REGISTER_STAGE("bench_rx", bench_rx,
                  pk::bench::stage_schema(false, true, {pp::role::rx_source}),
                  "benchmark source: emits the same preallocated mbufs on every poll");
PK_REGISTER_STAGE("bench_touch", bench_touch,
                  pk::bench::stage_schema(true, true, {pp::role::writes_packets}),
                  "benchmark stage: increments one data byte of every packet");
PK_REGISTER_STAGE("bench_sink", bench_sink,
                  pk::bench::stage_schema(true, false, {pp::role::tx_sink}),
                  "benchmark sink: counts packets as transmitted, frees nothing");

constexpr const char* chain4_yaml = R"(name: graph_chain4
stages:
  - {name: rx, type: bench_rx}
  - {name: t0, type: bench_touch}
  - {name: t1, type: bench_touch}
  - {name: t2, type: bench_touch}
  - {name: t3, type: bench_touch}
  - {name: sink, type: bench_sink}
edges:
  - {from: rx, to: t0}
  - {from: t0, to: t1}
  - {from: t1, to: t2}
  - {from: t2, to: t3}
  - {from: t3, to: sink}
)";

void graph_chain4_pktkernel(benchmark::State& st) {
    const auto burst = static_cast<std::uint16_t>(st.range(0));
    mbuf_set m(burst);
    if (!m.ok()) return st.SkipWithError("cannot allocate mbufs from pk_graph_bench");
    bench_rx_input = {m.pkts(), burst};

    // As app/lifecycle.cc runs a pipeline, with plan_graph() (one reactor, no lcores or
    // CPUs to plan) in place of make_plan().
    pk::bench::pipeline_fixture f(chain4_yaml, "graph_chain4.yaml", 1);
    if (!f.ok()) return st.SkipWithError(f.error().c_str());
    pp::graph* g = &f.graph();
    for (auto& e : g->edges())
        if (!e.direct) return st.SkipWithError("an edge is not a direct route");
    pk::sched::reactor& r = f.reactor(0);
    pp::stage* rx = g->find_stage("rx");
    const pp::stage* sink = g->find_stage("sink");
    auto sunk = [sink] { return sink->counters().in.load(); };

    for (int i = 0; i < warmup_iterations; ++i)
        r.run_once();
    const std::uint64_t per_round = sunk() / warmup_iterations;
    const std::uint64_t p0 = sunk();
    packet_timer pt(per_round);
    pt.start(p0);
    const std::uint64_t c0 = pk::tsc::now();
    for (auto _ : st) {
        r.run_once();
        pt.tick(sunk);
    }
    const std::uint64_t c1 = pk::tsc::now();
    const std::uint64_t passes = rx->counters().produced.load() / burst;
    bool flowed = sunk() == passes * burst && sink->counters().transmitted.load() == sunk();
    for (const char* t : {"t0", "t1", "t2", "t3"})
        flowed = flowed && g->find_stage(t)->counters().in.load() == sunk();
    if (!flowed || !m.touched(passes * touch_stages))
        st.SkipWithError("packets did not pass through all 4 stages");
    report(st, pt, c1 - c0, sunk() - p0);
    st.counters["pkts_per_round"] = static_cast<double>(per_round);
}
BENCHMARK(graph_chain4_pktkernel)
    ->Name("graph_chain4/pktkernel")
    ->Arg(32)
    ->Arg(256)
    ->ArgName("burst");

// ---- rte_graph: nodes ----------------------------------------------------------------------

/// The source node's context (node->ctx), filled by its init from rte_input.
struct rte_src_ctx {
    rte_mbuf** pkts;
    std::uint16_t n;
};
static_assert(sizeof(rte_src_ctx) <= RTE_NODE_CTX_SZ, "the source context must fit node->ctx");
rte_src_ctx rte_input;

int src_init(const rte_graph*, rte_node* node) {
    std::memcpy(node->ctx, &rte_input, sizeof rte_input);
    return 0;
}

std::uint16_t src_process(rte_graph* graph, rte_node* node, void**, std::uint16_t) {
    rte_src_ctx c;
    std::memcpy(&c, node->ctx, sizeof c);
    void** to = rte_node_next_stream_get(graph, node, 0, c.n);
    rte_memcpy(to, c.pkts, c.n * sizeof(void*));
    rte_node_next_stream_put(graph, node, 0, c.n);
    return c.n;
}

std::uint16_t touch_process(rte_graph* graph, rte_node* node, void** objs, std::uint16_t n) {
    for (std::uint16_t i = 0; i < n; ++i)
        touch(static_cast<rte_mbuf*>(objs[i]));
    rte_node_next_stream_move(graph, node, 0);
    return n;
}

int sink_init(const rte_graph*, rte_node* node) {
    std::memset(node->ctx, 0, sizeof(std::uint64_t));
    return 0;
}

/// Counts the packets (node->ctx); they stay in the source's array.
std::uint16_t sink_process(rte_graph*, rte_node* node, void**, std::uint16_t n) {
    std::uint64_t c;
    std::memcpy(&c, node->ctx, sizeof c);
    c += n;
    std::memcpy(node->ctx, &c, sizeof c);
    return n;
}

std::uint64_t sink_count(rte_node* node) {
    std::uint64_t c;
    std::memcpy(&c, node->ctx, sizeof c);
    return c;
}

// C++ accepts a flexible array member's initialiser as a GNU extension (next_nodes).
#define PK_BENCH_NODE(VAR, NAME, FLAGS, PROCESS, INIT, NEXT)                                       \
    rte_node_register VAR = {                                                                      \
        .name = NAME,                                                                              \
        .flags = FLAGS,                                                                            \
        .process = PROCESS,                                                                        \
        .init = INIT,                                                                              \
        .fini = nullptr,                                                                           \
        .id = 0,                                                                                   \
        .parent_id = 0,                                                                            \
        .nb_edges = (NEXT) ? 1 : 0,                                                                \
        .next_nodes = {NEXT},                                                                      \
    };                                                                                             \
    RTE_NODE_REGISTER(VAR)

PK_BENCH_NODE(pk_bench_src, "pk_bench_src", RTE_NODE_SOURCE_F, src_process, src_init,
              "pk_bench_touch0");
PK_BENCH_NODE(pk_bench_touch0, "pk_bench_touch0", 0, touch_process, nullptr, "pk_bench_touch1");
PK_BENCH_NODE(pk_bench_touch1, "pk_bench_touch1", 0, touch_process, nullptr, "pk_bench_touch2");
PK_BENCH_NODE(pk_bench_touch2, "pk_bench_touch2", 0, touch_process, nullptr, "pk_bench_touch3");
PK_BENCH_NODE(pk_bench_touch3, "pk_bench_touch3", 0, touch_process, nullptr, "pk_bench_sink");
PK_BENCH_NODE(pk_bench_sink, "pk_bench_sink", 0, sink_process, sink_init, nullptr);

void graph_chain4_rte_graph(benchmark::State& st) {
    const auto burst = static_cast<std::uint16_t>(st.range(0));
    mbuf_set m(burst);
    if (!m.ok()) return st.SkipWithError("cannot allocate mbufs from pk_graph_bench");
    rte_input = {m.pkts(), burst};

    const char* patterns[] = {"pk_bench_*"};
    rte_graph_param prm{};
    prm.socket_id = static_cast<int>(rte_socket_id());
    prm.nb_node_patterns = 1;
    prm.node_patterns = patterns;
    const rte_graph_t id = rte_graph_create("pk_graph_chain4", &prm);
    if (id == RTE_GRAPH_ID_INVALID) return st.SkipWithError("rte_graph_create failed");
    rte_graph* graph = rte_graph_lookup("pk_graph_chain4");
    rte_node* sink = rte_graph_node_get_by_name("pk_graph_chain4", "pk_bench_sink");
    if (!graph || !sink) {
        rte_graph_destroy(id);
        return st.SkipWithError("rte_graph_lookup failed");
    }
    auto sunk = [sink] { return sink_count(sink); };

    for (int i = 0; i < warmup_iterations; ++i)
        rte_graph_walk(graph);
    const std::uint64_t p0 = sunk();
    packet_timer pt(burst);
    pt.start(p0);
    std::uint64_t walks = warmup_iterations;
    const std::uint64_t c0 = pk::tsc::now();
    for (auto _ : st) {
        rte_graph_walk(graph);
        pt.tick(sunk);
        ++walks;
    }
    const std::uint64_t c1 = pk::tsc::now();
    if (sunk() != walks * burst || !m.touched(walks * touch_stages))
        st.SkipWithError("packets did not pass through all 4 nodes");
    report(st, pt, c1 - c0, sunk() - p0);
    rte_graph_destroy(id);
}
BENCHMARK(graph_chain4_rte_graph)
    ->Name("graph_chain4/rte_graph")
    ->Arg(32)
    ->Arg(256)
    ->ArgName("burst");

} // namespace
