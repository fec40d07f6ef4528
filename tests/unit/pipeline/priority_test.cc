// Priority streams: flow_balance marks each packet's class from its DSCP; a `lanes` edge
// puts the class into its lane on the worker's reactor, which dequeues by its bucket
// weights. Generator (64 flows, uniform, every eighth flow DSCP 46 = class 0, the rest
// class 3) on CPU 0 → flow_balance → lanes (drop when a lane is full) → `t_work` (about
// 1 µs of busy work per packet: ~1 Mpps) → `t_classlat` on CPU 1. t_classlat records,
// per class, the creation-to-here latency of the packets the generator stamped (the
// first of each burst) and checks every flow's sequence numbers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_lcore.h>

#include "../../../perf/common/pipeline_fixture.hh"
#include "base/clock.hh"
#include "net/packet.hh"
#include "pipeline/edges.hh"
#include "pipeline/flow_class.hh"
#include "pipeline/latency.hh"
#include "pipeline/registry.hh"
#include "pipeline/stage.hh"

namespace {

using pk::pipeline::edge_queue;
using pk::pipeline::stage;
using pk::pipeline::stage_args;
namespace flow_class = pk::pipeline::flow_class;

/// t_work: spins `ns` nanoseconds per packet, then passes the burst on.
class t_work final : public stage {
public:
    explicit t_work(const stage_args& a)
        : stage(a), _cycles(pk::tsc::from_ns(static_cast<std::uint64_t>(a.params->integer_or("ns", 1000)))) {}

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        const std::uint64_t until = pk::tsc::now() + _cycles * n;
        while (pk::tsc::now() < until) {
        }
        emit(0, pkts, n);
    }

private:
    std::uint64_t _cycles;
};

struct class_stats {
    static constexpr std::uint32_t flows = 64;
    static constexpr std::size_t max_samples = 1 << 18;
    std::vector<std::uint64_t> lat[flow_class::count]; ///< ns, stamped packets (touched up front)
    std::size_t samples[flow_class::count] = {};
    std::uint64_t in_window = 0; ///< packets received while recording
    std::uint64_t received[flow_class::count] = {};
    std::uint64_t gaps[flow_class::count] = {};     ///< a flow's sequence jumped ahead
    std::uint64_t disorder = 0;                     ///< a flow's sequence went back
    std::uint64_t next[flows] = {};
    std::atomic<std::uint64_t> total{0};
    std::atomic<bool> record{false};
    class_stats() {
        for (auto& v : lat)
            v.assign(max_samples, 0);
    }
};
class_stats* g_stats = nullptr;

/// t_classlat: a sink on one reactor (single writer of g_stats).
class t_classlat final : public stage {
public:
    explicit t_classlat(const stage_args& a) : stage(a) { _r = add_reason("checked"); }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        const std::uint64_t now = pk::tsc::now();
        const int off = pk::pipeline::latency::field_offset;
        const bool rec = g_stats->record.load(std::memory_order_relaxed);
        for (std::uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            const unsigned c = flow_class::of(m);
            const pk::net::parsed p = pk::net::parse(m);
            const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
            std::uint32_t flow;
            std::uint64_t seq;
            std::memcpy(&flow, d + p.payload_off, 4);
            std::memcpy(&seq, d + p.payload_off + 4, 8);
            flow = rte_be_to_cpu_32(flow) % class_stats::flows;
            seq = rte_be_to_cpu_64(seq);
            if (seq < g_stats->next[flow]) ++g_stats->disorder;
            if (seq > g_stats->next[flow] && rec) ++g_stats->gaps[c];
            g_stats->next[flow] = seq + 1;
            ++g_stats->received[c];
            if (!rec) continue;
            ++g_stats->in_window;
            if (off >= 0 && (m->ol_flags & pk::pipeline::latency::stamped_flag) &&
                g_stats->samples[c] < class_stats::max_samples) {
                const std::uint64_t t = *RTE_MBUF_DYNFIELD(m, off, const std::uint64_t*);
                g_stats->lat[c][g_stats->samples[c]++] = pk::tsc::to_ns(now > t ? now - t : 0);
            }
        }
        g_stats->total.fetch_add(n, std::memory_order_relaxed);
        drop(_r, pkts, n);
    }

private:
    unsigned _r;
};

pk::pipeline::stage_schema work_schema() {
    pk::pipeline::stage_schema s;
    s.open = true;
    return s;
}
pk::pipeline::stage_schema sink_schema() {
    pk::pipeline::stage_schema s;
    s.has_outputs = false;
    return s;
}
PK_REGISTER_STAGE("t_work", t_work, work_schema(), "test: spins ns per packet");
PK_REGISTER_STAGE("t_classlat", t_classlat, sink_schema(),
                  "test: per-class latency and sequence checks");

std::string priority_yaml(unsigned rate_pps, const char* queue) {
    return std::string("name: prio\n"
                       "reactors:\n"
                       "  - {name: io, lcore: 0, cpu: 0}\n"
                       "  - {name: w, lcore: 1, cpu: 1}\n"
                       "stages:\n"
                       "  - {name: gen, type: generator, reactor: io, params: {flows: 64, "
                       "burst: 8, mbufs: 16383, dscp: [46, 0, 0, 0, 0, 0, 0, 0], rate_pps: ") +
           std::to_string(rate_pps) +
           "}}\n"
           "  - {name: lb, type: flow_balance, reactor: io, params: {rebalance: off, "
           "class_by: dscp, classes: {46: 0}}}\n"
           "  - {name: work, type: t_work, reactor: w, params: {ns: 1000}}\n"
           "  - {name: sink, type: t_classlat, reactor: w}\n"
           "edges:\n"
           "  - {from: gen, to: lb}\n"
           "  - {from: lb.w0, to: work, queue: " +
           queue +
           ", size: 4096, overflow: drop}\n"
           "  - {from: work, to: sink}\n";
}

double pct(std::vector<std::uint64_t> v, unsigned p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[v.size() * p / 100]);
}
double p99(const std::vector<std::uint64_t>& v) { return pct(v, 99); }

struct run_result {
    double p99_high_ns = 0, p99_low_ns = 0;
    double taken_pps = 0; ///< what the worker got through while recording
    std::uint64_t samples_high = 0;
    std::uint64_t produced = 0, received[flow_class::count] = {}, gaps[flow_class::count] = {};
    std::uint64_t disorder = 0, lb_drops = 0;
    std::uint64_t window_drops = 0, refused[flow_class::count] = {}; ///< while recording
    std::uint64_t refused_total = 0; ///< every lane, whole run (read once nothing moves)
};

/// Runs the pipeline at `rate_pps` for 1.5 s (latency recorded after the first 0.3 s),
/// then stops the generator and lets the queues drain.
run_result run(unsigned rate_pps, const char* queue = "lanes") {
    class_stats st;
    g_stats = &st;
    run_result r;
    auto f = std::make_unique<pk::bench::pipeline_fixture>(priority_yaml(rate_pps, queue).c_str(),
                                                           "prio.yaml");
    EXPECT_TRUE(f->ok()) << f->error();
    if (!f->ok()) return r;
    stage& gen = *f->graph().find_stage("gen");
    const stage& lb = *f->graph().find_stage("lb");
    EXPECT_TRUE(f->start_threads().ok());
    const edge_queue* lanes = nullptr;
    for (auto& e : f->graph().edges())
        if (e.queue && e.queue->lanes()) lanes = e.queue;
    auto refused = [&](unsigned l) { return lanes ? lanes->lane_refused(l) : 0; };
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // threads, pool pages warm
    std::uint64_t before[flow_class::count], drops_before = lb.dropped_total();
    for (unsigned l = 0; l < flow_class::count; ++l)
        before[l] = refused(l);
    st.record.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    st.record.store(false);
    r.window_drops = lb.dropped_total() - drops_before;
    for (unsigned l = 0; l < flow_class::count; ++l)
        r.refused[l] = refused(l) - before[l];
    gen.quiesce();
    // Drained once everything produced has reached the sink or was dropped by the balancer
    // (a quiet spell is not enough: a worker preempted for tens of ms looks drained).
    std::this_thread::sleep_for(std::chrono::milliseconds(5)); // a burst in flight at quiesce
    const std::uint64_t produced = gen.counters().produced.load();
    for (int i = 0; i < 1000 && st.total.load() + lb.dropped_total() < produced; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r.produced = gen.counters().produced.load();
    r.lb_drops = lb.dropped_total();
    for (unsigned l = 0; l < flow_class::count; ++l)
        r.refused_total += refused(l);
    f.reset(); // the reactors stopped: their stats are final
    for (unsigned c = 0; c < flow_class::count; ++c) {
        r.received[c] = st.received[c];
        r.gaps[c] = st.gaps[c];
    }
    r.disorder = st.disorder;
    st.lat[0].resize(st.samples[0]);
    st.lat[flow_class::count - 1].resize(st.samples[flow_class::count - 1]);
    r.p99_high_ns = p99(st.lat[0]);
    r.p99_low_ns = p99(st.lat[flow_class::count - 1]);
    r.samples_high = st.samples[0];
    r.taken_pps = static_cast<double>(st.in_window) / 1.2;
    g_stats = nullptr;
    return r;
}

} // namespace

/// The worker's capacity here through a `queue` edge (packets/s it gets through when
/// saturated): 1 µs of work a packet plus what the stages and that queue cost on this
/// machine. Measured per queue kind: lanes serving two busy classes pop smaller bursts
/// than one FIFO (more so under AddressSanitizer), and "half" and "twice" the capacity
/// must be of the edge under test.
double capacity(const char* queue) {
    static const double lanes = run(6000000, "lanes").taken_pps;
    static const double link = run(6000000, "link").taken_pps;
    return std::strcmp(queue, "lanes") == 0 ? lanes : link;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

TEST(Priority, UnderTwiceOverloadTheHighClassLosesNothingAndWaitsFarLessThanTheLow) {
    // Unloaded: half the worker's capacity offered; overloaded: twice it, of which an
    // eighth (a quarter of the capacity) is the high class. Five of each, interleaved
    // (idle, over, idle, ...): losses and order are checked in every run, latency on the
    // medians of the p99s (a VM stall of a few ms in one run moves one p99, not the median).
    const double cap = capacity("lanes");
    ASSERT_GT(cap, 100000.0);
    std::vector<double> idle_p99, over_p99, low_p99;
    run_result over;
    for (int rep = 0; rep < 5; ++rep) {
        const run_result idle = run(static_cast<unsigned>(cap / 2));
        over = run(static_cast<unsigned>(cap * 2));
        for (const run_result* r : std::initializer_list<const run_result*>{&idle, &over}) {
            EXPECT_EQ(r->disorder, 0u);
            EXPECT_EQ(r->refused[0], 0u) << "the high lane never refused (measured window)";
            EXPECT_EQ(r->gaps[0], 0u) << "no high-class packet lost (measured window)";
            EXPECT_EQ(r->produced, r->received[0] + r->received[3] + r->lb_drops)
                << "every packet accounted";
            EXPECT_GT(r->samples_high, 100u);
        }
        EXPECT_EQ(idle.window_drops, 0u) << "below capacity nothing is dropped";
        EXPECT_GT(over.lb_drops, over.produced / 4) << "2x overload: about half is dropped";
        // The window's two counters are read a few packets apart while traffic flows, so
        // the exact check is on the whole run: every balancer drop is a lane refusal, and
        // none of the high lane's while recording.
        EXPECT_EQ(over.lb_drops, over.refused_total) << "every drop is a lane's refusal";
        EXPECT_GT(over.refused[3], over.window_drops / 2) << "the low lane refuses";
        EXPECT_GT(over.gaps[3], 0u);
        idle_p99.push_back(idle.p99_high_ns);
        over_p99.push_back(over.p99_high_ns);
        low_p99.push_back(over.p99_low_ns);
    }
    const double idle_med = median(idle_p99), over_med = median(over_p99),
                 low_med = median(low_p99);
    // What the lanes guarantee on any machine: in the same overloaded runs the high class
    // waits a small fraction of what the low class (behind its full lane) waits; one FIFO
    // would give both the same. The figure (overloaded p99 within 2x of unloaded)
    // is recorded, not asserted: on this VM scheduling stalls of 0.1-0.3 ms move the
    // unloaded and overloaded p99s by more than 2x between runs.
    // Under AddressSanitizer every access costs several times more and the p99s measure
    // the instrumentation (high class 0.3-0.9 ms, low 14 ms here): there the run checks
    // losses, order and accounting only.
#if defined(__SANITIZE_ADDRESS__)
    std::printf("address sanitizer build: latency ratio not asserted\n");
#else
    EXPECT_LE(over_med, low_med / 20)
        << "median high-class p99 " << over_med << " ns vs low class " << low_med << " ns";
#endif
    RecordProperty("p99_high_unloaded_ns", std::to_string(idle_med));
    RecordProperty("p99_high_overloaded_ns", std::to_string(over_med));
    RecordProperty("p99_low_overloaded_ns", std::to_string(low_med));
    RecordProperty("p99_high_overloaded_over_unloaded", std::to_string(over_med / idle_med));
    RecordProperty("capacity_pps", std::to_string(cap));
    RecordProperty("capacity_link_pps", std::to_string(capacity("link")));
    std::printf("capacity %.0f pps (one FIFO: %.0f); median high p99: unloaded %.0f ns, 2x overload %.0f ns "
                "= %.2fx (low class %.0f ns); last overloaded run dropped %llu of %llu, all low\n",
                cap, capacity("link"), idle_med, over_med, over_med / idle_med, low_med,
                static_cast<unsigned long long>(over.lb_drops),
                static_cast<unsigned long long>(over.produced));
}

TEST(Priority, ALinkEdgeUnderTheSameOverloadDropsTheHighClassToo) {
    // The negative control: one FIFO for both classes.
    const run_result over = run(static_cast<unsigned>(capacity("link") * 2), "link");
    EXPECT_GT(over.lb_drops, over.produced / 4);
    EXPECT_GT(over.gaps[0], 0u) << "without lanes the high class loses packets as well";
    EXPECT_EQ(over.disorder, 0u);
}
