// Hop latency between two reactors (pktkernel-bench, EAL up with lcores 0@0,1@1). One
// pipeline per variant, built as the runtime builds it (YAML -> make_plan -> graph::build
// -> pollers), its two reactors run on their own threads pinned to CPU 0 and CPU 1:
//   pipeline_hop_latency/<edge>/<idle>  hop_src on reactor a (CPU 0) emits one packet at a
//                                       time, carrying the TSC of its emission, over one
//                                       cross-reactor edge to hop_sink on reactor b (CPU 1),
//                                       which records TSC(now) - stamp and frees it
// <edge>: `link` (SPSC ring), `sub` (an MPSC sub queue, one lane), `pub` (a publish stage
// on a, a broadcast ring, a subscribe stage on b: the sink takes its own reference).
// <idle>: `busy` (both reactors poll without pause: the floor), `wake` (a polls, b sleeps
// on its eventfd after 256 empty rounds and the push wakes it: the wake-up alone) or
// `adaptive` (both sleep when idle: a sends right after its own wake-up; the target
// is p99 <= 50 us on this machine).
//
// Pacing: the next packet leaves only once the previous one arrived and at least 200 us
// later, so b is idle between packets long enough to fall asleep under `adaptive`; a
// (also adaptive) may emit late, which does not matter: the stamp is taken at emission.
// Both CPUs have the same invariant TSC (one VM, constant_tsc + nonstop_tsc).
// One repetition = 400 packets. Counters: `p50_us`, `p99_us`, `max_us` of the one-way
// latency over the repetition; `b_sleeps` = sleeps b entered per packet (about 1 under
// wake and adaptive: b really slept; 0 under busy). The benchmark thread (CPU 0) only
// waits. SkipWithError when a packet is lost or b did not sleep when it should: the benchmark
// cannot silently measure the wrong thing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "../common/bench_stage.hh"
#include "../common/pipeline_fixture.hh"
#include "../common/stamp.hh"
#include "base/clock.hh"
#include "pipeline/stage.hh"

namespace {

namespace pp = pk::pipeline;

constexpr unsigned packets_per_repetition = 400;
constexpr std::uint64_t gap_us = 200;
constexpr std::size_t max_samples = 1 << 16;

rte_mempool* hop_pool() {
    static rte_mempool* mp = rte_pktmbuf_pool_create(
        "pk_hop_bench", 255, 0, 0, RTE_PKTMBUF_HEADROOM + 128, static_cast<int>(rte_socket_id()));
    return mp;
}

/// What the sink has seen: written by reactor b only, read by the benchmark thread.
struct hop_samples {
    std::vector<std::uint64_t> cycles = std::vector<std::uint64_t>(max_samples);
    std::atomic<std::uint64_t> n{0};
};
hop_samples g_samples;

/// hop_src: one packet at a time, stamped with the TSC at emission (the first 8 data
/// bytes); the next only after the sink has the previous one and gap_us have passed.
class hop_src final : public pp::stage {
public:
    explicit hop_src(const pp::stage_args& a)
        : stage(a), _gap(pk::tsc::from_us(gap_us)), _sent(g_samples.n.load()), _mp(hop_pool()) {}
    std::uint32_t poll() noexcept override {
        if (quiesced() || !_mp) return 0;
        if (g_samples.n.load(std::memory_order_acquire) != _sent) return 0; // in flight
        const std::uint64_t now = pk::tsc::now();
        if (now < _next) return 0;
        rte_mbuf* m = rte_pktmbuf_alloc(_mp);
        if (!m) return 0;
        auto* d = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, 64));
        std::memset(d, 0, 64);
        count_produced(1);
        ++_sent;
        _next = now + _gap;
        const std::uint64_t t = pk::tsc::now();
        std::memcpy(d, &t, sizeof t);
        emit(0, &m, 1);
        return 1;
    }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override { emit(0, pkts, n); }

private:
    std::uint64_t _gap, _sent, _next = 0;
    rte_mempool* _mp;
};

/// hop_sink: records TSC(now) - stamp for every packet, then frees it (consumed).
class hop_sink final : public pp::stage {
public:
    explicit hop_sink(const pp::stage_args& a) : stage(a), _measured(add_reason("measured")) {}

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        const std::uint64_t now = pk::tsc::now();
        std::uint64_t k = g_samples.n.load(std::memory_order_relaxed);
        for (std::uint16_t i = 0; i < n; ++i) {
            std::uint64_t t;
            std::memcpy(&t, rte_pktmbuf_mtod(pkts[i], const void*), sizeof t);
            g_samples.cycles[k % max_samples] = now - t;
            ++k;
        }
        drop(_measured, pkts, n);
        g_samples.n.store(k, std::memory_order_release);
    }

private:
    unsigned _measured;
};

PK_REGISTER_STAGE("hop_src", hop_src,
                  pk::bench::stage_schema(false, true, {pp::role::rx_source}),
                  "benchmark source: one TSC-stamped packet at a time");
PK_REGISTER_STAGE("hop_sink", hop_sink,
                  pk::bench::stage_schema(true, false, {pp::role::sink}),
                  "benchmark sink: records the one-way latency of every packet, frees it");

/// `idle`: busy (both), wake (a busy, b adaptive) or adaptive (both).
std::string hop_yaml(const std::string& edge, const std::string& idle) {
    const std::string a_idle = idle == "adaptive" ? "adaptive" : "busy";
    const std::string b_idle = idle == "busy" ? "busy" : "adaptive";
    std::string y = "name: hop_latency\n"
                    "eal: {lcores: [0, 1]}\n"
                    "reactors:\n"
                    "  - {name: a, lcore: 0, cpu: 0, idle: " +
                    a_idle +
                    "}\n"
                    "  - {name: b, lcore: 1, cpu: 1, idle: " +
                    b_idle +
                    "}\n"
                    "stages:\n"
                    "  - {name: src, type: hop_src, reactor: a}\n"
                    "  - {name: sink, type: hop_sink, reactor: b}\n";
    if (edge == "pub")
        return y + "  - {name: p, type: publish, reactor: a}\n"
                   "  - {name: s, type: subscribe, reactor: b}\n"
                   "edges:\n"
                   "  - {from: src, to: p}\n"
                   "  - {from: p, to: s, queue: pub, size: 256}\n"
                   "  - {from: s, to: sink}\n";
    return y + "edges:\n  - {from: src, to: sink, queue: " + edge + ", size: 256}\n";
}

double percentile(std::vector<double>& v, double q) {
    auto at = v.begin() + static_cast<std::ptrdiff_t>(q * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), at, v.end());
    return *at;
}

void hop_latency(benchmark::State& st, const std::string& edge, const std::string& idle) {
    if (rte_lcore_count() < 2 || std::thread::hardware_concurrency() < 2)
        return st.SkipWithError("needs two CPUs");
    const std::uint64_t first = g_samples.n.load();
    pk::bench::pipeline_fixture f(hop_yaml(edge, idle).c_str(), "hop_latency.yaml");
    if (!f.ok()) return st.SkipWithError(f.error().c_str());
    const auto& hops = f.graph().hops();
    if (hops.size() != 1 || hops[0].from != 0 || hops[0].to != 1)
        return st.SkipWithError("expected exactly one edge, from reactor a to reactor b");
    if (auto s = f.start_threads(); !s) return st.SkipWithError(s.err().message.c_str());
    pk::sched::reactor& b = f.reactor(1);

    std::uint64_t from = first;
    bool lost = false, slept = true;
    for (auto _ : st) {
        const std::uint64_t sleeps0 = b.counters().sleeps.load();
        const std::uint64_t want = from + packets_per_repetition;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (g_samples.n.load(std::memory_order_acquire) < want &&
               std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        const std::uint64_t to = g_samples.n.load(std::memory_order_acquire);
        if (to < want) {
            lost = true;
            break;
        }
        std::vector<double> us;
        for (std::uint64_t k = from; k < to; ++k)
            us.push_back(pk::tsc::to_ns(g_samples.cycles[k % max_samples]) / 1000.0);
        const double sleeps = static_cast<double>(b.counters().sleeps.load() - sleeps0);
        st.counters["p50_us"] = percentile(us, 0.50);
        st.counters["p99_us"] = percentile(us, 0.99);
        st.counters["max_us"] = *std::max_element(us.begin(), us.end());
        st.counters["b_sleeps"] = sleeps / static_cast<double>(us.size());
        pk::bench::stamp(st);
        if (idle != "busy" && sleeps < 0.5 * static_cast<double>(us.size())) slept = false;
        from = to;
    }
    if (lost) return st.SkipWithError("a packet did not arrive within 10 s");
    if (!slept) return st.SkipWithError("reactor b did not sleep between packets");
}

void register_hops() {
    for (const char* edge : {"link", "sub", "pub"})
        for (const char* idle : {"busy", "wake", "adaptive"})
            benchmark::RegisterBenchmark(
                (std::string("pipeline_hop_latency/") + edge + "/" + idle).c_str(),
                [edge, idle](benchmark::State& st) { hop_latency(st, edge, idle); })
                ->Iterations(1)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
}

const int registered = (register_hops(), 0);

} // namespace
