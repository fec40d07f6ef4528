// flow_balance on reactors, built and polled as the runtime does (the benchmarks'
// pipeline fixture): generator (10,000 flows, Zipf 1.1) → flow_balance → 4 workers,
// each a `t_seqcheck` stage that checks every flow's sequence numbers (the generator
// writes them in each payload) against one table shared by the workers. A flow moved
// to another worker is checked there against the same table: a packet overtaking an
// older one of its flow, or a lost one, is counted.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_lcore.h>

#include "../../../perf/common/pipeline_fixture.hh"
#include "net/packet.hh"
#include "pipeline/registry.hh"
#include "pipeline/stage.hh"

namespace {

using pk::pipeline::stage;
using pk::pipeline::stage_args;

/// Per-flow next sequence, shared by the workers of one test. Relaxed atomics: the
/// balancer's handoff (mesh messages, acquire/release) is what orders one worker's
/// last look at a flow before the next worker's first.
struct seq_table {
    static constexpr std::uint32_t flows = 1 << 16;
    std::unique_ptr<std::atomic<std::uint64_t>[]> next{new std::atomic<std::uint64_t>[flows]};
    std::atomic<std::uint64_t> disorder{0}, checked{0}, foreign{0};
    seq_table() {
        for (std::uint32_t f = 0; f < flows; ++f)
            next[f].store(0, std::memory_order_relaxed);
    }
};
seq_table* g_table = nullptr;

class t_seqcheck final : public stage {
public:
    explicit t_seqcheck(const stage_args& a) : stage(a) { _r = add_reason("checked"); }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        // The fixture's reactors are plain threads: registered, each gets an lcore id
        // and so a mempool cache, as the runtime's lcores have. (Without one, every free
        // is a multi-producer ring operation, and four threads preempted on one CPU
        // wait on each other's half-done enqueues.)
        if (PK_UNLIKELY(rte_lcore_id() == LCORE_ID_ANY)) (void)rte_thread_register();
        for (std::uint16_t i = 0; i < n; ++i) {
            const pk::net::parsed p = pk::net::parse(pkts[i]);
            const auto* d = rte_pktmbuf_mtod(pkts[i], const std::uint8_t*);
            std::uint32_t flow;
            std::uint64_t seq;
            std::memcpy(&flow, d + p.payload_off, 4);
            std::memcpy(&seq, d + p.payload_off + 4, 8);
            flow = rte_be_to_cpu_32(flow);
            seq = rte_be_to_cpu_64(seq);
            if (!p.ok() || flow >= seq_table::flows) {
                g_table->foreign.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            if (g_table->next[flow].load(std::memory_order_relaxed) != seq)
                g_table->disorder.fetch_add(1, std::memory_order_relaxed);
            g_table->next[flow].store(seq + 1, std::memory_order_relaxed);
        }
        g_table->checked.fetch_add(n, std::memory_order_relaxed);
        drop(_r, pkts, n);
    }

private:
    unsigned _r;
};

pk::pipeline::stage_schema seqcheck_schema() {
    pk::pipeline::stage_schema s;
    s.accepts_input = true;
    s.has_outputs = false;
    return s;
}
PK_REGISTER_STAGE("t_seqcheck", t_seqcheck, seqcheck_schema(),
                  "test: checks per-flow sequence numbers across workers");

/// The pipeline: `gen_params` for the generator, `lb_params` for flow_balance. `merge`:
/// the workers are `count` stages feeding one t_seqcheck on a sixth reactor over a
/// `sub` queue (the default pipeline's shape); else each worker checks for itself.
std::string lb_yaml(const std::string& gen_params, const std::string& lb_params,
                    bool merge = false) {
    std::string y = "name: lb\n"
                    "reactors:\n"
                    "  - {name: io, lcore: 0, cpu: 0}\n";
    for (int w = 0; w < 4; ++w)
        y += "  - {name: r" + std::to_string(w) + ", lcore: " + std::to_string(w + 1) +
             ", cpu: 1, idle: adaptive}\n";
    if (merge) y += "  - {name: m, lcore: 5, cpu: 0, idle: adaptive}\n";
    y += "stages:\n"
         "  - {name: gen, type: generator, reactor: io, params: {flows: 10000, popularity: zipf, "
         "zipf_s: 1.1, mbufs: 16383, " +
         gen_params +
         "}}\n"
         "  - {name: lb, type: flow_balance, reactor: io, params: {" +
         lb_params + "}}\n";
    for (int w = 0; w < 4; ++w)
        y += "  - {name: chk" + std::to_string(w) + ", type: " + (merge ? "count" : "t_seqcheck") +
             ", reactor: r" + std::to_string(w) + "}\n";
    if (merge) y += "  - {name: merged, type: t_seqcheck, reactor: m}\n";
    y += "edges:\n  - {from: gen, to: lb}\n";
    for (int w = 0; w < 4; ++w) {
        y += "  - {from: lb.w" + std::to_string(w) + ", to: chk" + std::to_string(w) +
             ", size: 1024, overflow: backpressure}\n";
        if (merge)
            y += "  - {from: chk" + std::to_string(w) +
                 ", to: merged, queue: sub, size: 1024, overflow: backpressure}\n";
    }
    return y;
}

std::uint64_t extra_of(const stage& s, const std::string& name) {
    for (auto& v : s.extra())
        if (v.name == name) return v.value;
    ADD_FAILURE() << "no value " << name;
    return 0;
}

/// max / mean of the packets each worker output took between two snapshots.
double share_ratio(const std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) {
    std::uint64_t sum = 0, hi = 0;
    for (std::size_t w = 0; w < a.size(); ++w) {
        sum += b[w] - a[w];
        hi = std::max(hi, b[w] - a[w]);
    }
    return sum ? static_cast<double>(hi) * static_cast<double>(a.size()) / static_cast<double>(sum)
               : 0;
}

std::vector<std::uint64_t> worker_counts(const stage& lb) {
    std::vector<std::uint64_t> v;
    for (unsigned o = 0; o < lb.outputs().size(); ++o)
        if (lb.outputs()[o] != "out") v.push_back(lb.counters().out[o].load());
    return v;
}

} // namespace

TEST(Balance, OrderAndLossAcrossHundredsOfMovesWithWorkersOnTheirOwnThreads) {
    seq_table table;
    g_table = &table;
    // Load shifts every 40,000 packets; rebalancing every 1 ms with a short cooldown:
    // many moves, each while packets of the moved buckets are queued.
    pk::bench::pipeline_fixture f(
        lb_yaml("count: 1600000, shift_every: 40000, shift_by: 2371",
                "interval: 1ms, cooldown: 2").c_str(),
        "lb.yaml");
    ASSERT_TRUE(f.ok()) << f.error();
    const stage& lb = *f.graph().find_stage("lb");
    const stage& gen = *f.graph().find_stage("gen");
    ASSERT_TRUE(f.start_threads().ok());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (table.checked.load() < 1600000 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(table.checked.load(), 1600000u) << "every packet reached a worker";
    EXPECT_EQ(table.disorder.load(), 0u) << "a flow was reordered or lost";
    EXPECT_EQ(table.foreign.load(), 0u);
    EXPECT_GE(extra_of(lb, "bucket_moves_total"), 100u);
    RecordProperty("bucket_moves", std::to_string(extra_of(lb, "bucket_moves_total")));
    // The last moves' answers may still be on their way: they complete without traffic.
    for (int i = 0; i < 400 && (extra_of(lb, "moves_in_flight") != 0 || lb.held() != 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(extra_of(lb, "moves_in_flight"), 0u);
    EXPECT_EQ(lb.held(), 0u);
    EXPECT_EQ(gen.dropped_total() + lb.dropped_total(), 0u) << "backpressure: nothing dropped";
}

TEST(Balance, ZipfIsBalancedToTenPercentAndAShiftReconvergesWithin100ms) {
    seq_table table;
    g_table = &table;
    // 200,000 packets/s offered; the popular flows change once, after 2.5 s of traffic.
    pk::bench::pipeline_fixture f(
        lb_yaml("rate_pps: 200000, shift_every: 500000, shift_by: 4999", "").c_str(),
        "lb.yaml");
    ASSERT_TRUE(f.ok()) << f.error();
    const stage& lb = *f.graph().find_stage("lb");
    const stage& gen = *f.graph().find_stage("gen");
    ASSERT_TRUE(f.start_threads().ok());
    auto wait_made = [&](std::uint64_t n) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (gen.counters().produced.load() < n && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return gen.counters().produced.load() >= n;
    };
    // Settled after 0.5 s; the share over the next 1.5 s is within 10% of even (the
    // workers' queues take it all: backpressure, nothing dropped).
    ASSERT_TRUE(wait_made(100000));
    const auto a = worker_counts(lb);
    ASSERT_TRUE(wait_made(400000));
    const auto b = worker_counts(lb);
    const double settled = share_ratio(a, b);
    const double static_ratio = extra_of(lb, "static_share_ratio_milli") / 1000.0;
    EXPECT_LE(settled, 1.10) << "static table on the same traffic: " << static_ratio;
    EXPECT_GT(static_ratio, 1.10) << "the static table alone would not balance Zipf(1.1)";

    // The shift at 500,000 packets: balanced again, and the time it took is reported.
    ASSERT_TRUE(wait_made(600000));
    const auto c = worker_counts(lb);
    ASSERT_TRUE(wait_made(900000));
    const auto d = worker_counts(lb);
    EXPECT_LE(share_ratio(c, d), 1.10) << "after the shift";
    EXPECT_GE(extra_of(lb, "imbalances_total"), 2u) << "start and shift both left the band";
    const double converge_ms = extra_of(lb, "converge_ns_last") / 1e6;
    EXPECT_GT(converge_ms, 0.0);
    EXPECT_LE(converge_ms, 100.0) << "reactor time from the shift to balanced";
    RecordProperty("settled_share_ratio", std::to_string(settled));
    RecordProperty("static_share_ratio", std::to_string(static_ratio));
    RecordProperty("converge_ms", std::to_string(converge_ms));
    EXPECT_EQ(table.disorder.load(), 0u);
    RecordProperty("bucket_moves", std::to_string(extra_of(lb, "bucket_moves_total")));
}

TEST(Balance, OrderKeptThroughASubMergeOfTheWorkers) {
    // The workers' output merges into one queue (one lane per worker): a moved flow's
    // first packets from its new worker must not pass its last ones from the old
    // worker still in the old worker's lane. The drain marker follows the merge.
    seq_table table;
    g_table = &table;
    pk::bench::pipeline_fixture f(
        lb_yaml("count: 1600000, shift_every: 40000, shift_by: 2371",
                "interval: 1ms, cooldown: 2", true)
            .c_str(),
        "lb.yaml");
    ASSERT_TRUE(f.ok()) << f.error();
    const stage& lb = *f.graph().find_stage("lb");
    ASSERT_TRUE(f.start_threads().ok());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (table.checked.load() < 1600000 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(table.checked.load(), 1600000u) << "every packet reached the merge";
    EXPECT_EQ(table.disorder.load(), 0u) << "a flow was reordered or lost at the merge";
    EXPECT_EQ(lb.dropped_total(), 0u) << "backpressure: nothing dropped";
    EXPECT_GE(extra_of(lb, "bucket_moves_total"), 100u);
    RecordProperty("bucket_moves", std::to_string(extra_of(lb, "bucket_moves_total")));
}
