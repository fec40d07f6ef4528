// The plan on a synthetic machine (no EAL, no hwloc): reactors on lcores and CPUs,
// the control thread's CPU, and the placement errors `--check` reports.
#include <gtest/gtest.h>

#include "pipeline/plan.hh"
#include "pipeline/registry.hh"

using namespace pk::pipeline;

namespace {

/// `cores` physical cores × `smt` threads; CPU numbers as Linux gives them on most x86
/// machines (first threads 0..cores-1, then the siblings).
pk::topology::machine machine(unsigned cores, unsigned smt = 1) {
    pk::topology::machine m;
    m.cores = cores;
    for (unsigned t = 0; t < smt; ++t)
        for (unsigned c = 0; c < cores; ++c)
            m.cpus.push_back({t * cores + c, c, 0, t});
    m.nodes.push_back({0, 1ull << 34, {}});
    return m;
}

config g_cfg; // the last config planned (a plan points into its config)

pk::result<plan> plan_of(const std::string& yaml, const pk::topology::machine& m) {
    auto c = load_string(yaml, "t.yaml", registry::global().validation());
    EXPECT_TRUE(c.ok()) << format(c.diagnostics());
    g_cfg = std::move(c).value();
    return make_plan(g_cfg, registry::global(), m);
}

const char* stages = "stages:\n  - {name: g, type: generator, reactor: a}\n"
                     "  - {name: d, type: drop, reactor: a}\nedges:\n  - {from: g, to: d}\n";

} // namespace

TEST(plan, lcore_n_runs_on_cpu_n) {
    auto p = plan_of(std::string("reactors:\n  - {name: a, lcore: 3}\n") + stages, machine(4));
    ASSERT_TRUE(p) << p.err().message;
    ASSERT_EQ(p->reactors.size(), 1u);
    EXPECT_EQ(p->reactors[0].lcore, 3u);
    EXPECT_EQ(p->reactors[0].cpu, 3);
    // The control thread: the lowest free lcore id, on a CPU no reactor uses.
    EXPECT_EQ(p->main_lcore, 0u);
    EXPECT_NE(p->main_cpu, 3);
    EXPECT_NE(p->eal_lcores.find("3@3"), std::string::npos) << p->eal_lcores;
    EXPECT_FALSE(p->oversubscribed);
}

TEST(plan, cpu_key_and_control_cpu_override) {
    auto p = plan_of(std::string("eal: {control_cpu: 2}\nreactors:\n"
                                 "  - {name: a, lcore: 5, cpu: 1}\n  - {name: b}\n") +
                         stages,
                     machine(4));
    ASSERT_TRUE(p) << p.err().message;
    EXPECT_EQ(p->reactors[0].lcore, 5u);
    EXPECT_EQ(p->reactors[0].cpu, 1);
    // b names neither: the next free lcore id, and a CPU nobody named.
    EXPECT_EQ(p->reactors[1].lcore, 1u);
    EXPECT_NE(p->reactors[1].cpu, 1);
    EXPECT_EQ(p->main_cpu, 2);
    EXPECT_EQ(p->eal_lcores.substr(0, 4), "0@2,");
}

TEST(plan, named_cpus_are_never_handed_to_planned_reactors_when_others_are_free) {
    auto p = plan_of(std::string("reactors:\n  - {name: a, lcore: 0}\n  - {name: b}\n"
                                 "  - {name: c}\n") +
                         stages,
                     machine(4));
    ASSERT_TRUE(p) << p.err().message;
    EXPECT_EQ(p->reactors[0].cpu, 0);
    for (int i : {1, 2}) {
        EXPECT_NE(p->reactors[i].cpu, 0) << i;
        EXPECT_NE(p->reactors[i].lcore, 0u) << i;
    }
    EXPECT_NE(p->reactors[1].cpu, p->reactors[2].cpu);
    EXPECT_EQ(p->main_lcore, 3u); // 0, 1, 2 are reactors
}

TEST(plan, automatic_prefers_whole_cores_over_smt_siblings) {
    // 2 cores × 2 threads: CPUs 0,1 are first threads, 2,3 their siblings.
    auto p = plan_of(std::string("reactors: {count: 2}\nstages:\n"
                                 "  - {name: g, type: generator}\n  - {name: d, type: drop}\n"
                                 "edges:\n  - {from: g, to: d}\n"),
                     machine(2, 2));
    ASSERT_TRUE(p) << p.err().message;
    ASSERT_EQ(p->reactors.size(), 2u);
    EXPECT_LT(p->reactors[0].cpu, 2);
    EXPECT_LT(p->reactors[1].cpu, 2);
    EXPECT_NE(p->reactors[0].cpu, p->reactors[1].cpu);
}

TEST(plan, an_lcore_the_machine_does_not_have_is_an_error_at_its_position) {
    auto p = plan_of(std::string("reactors:\n  - {name: a, lcore: 7}\n") + stages, machine(2));
    ASSERT_FALSE(p);
    EXPECT_EQ(p.err().message,
              "t.yaml:2:22: reactor 'a' is on lcore 7, i.e. CPU 7, which this machine does not "
              "have (CPUs: 0-1); give it 'cpu:' to run it elsewhere, or leave 'lcore' out to "
              "have one planned");
    auto q = plan_of(std::string("eal: {control_cpu: 9}\nreactors:\n  - {name: a}\n") + stages,
                     machine(2));
    ASSERT_FALSE(q);
    EXPECT_NE(q.err().message.find("t.yaml:1:20: control_cpu 9 is not a CPU of this machine"),
              std::string::npos)
        << q.err().message;
}

TEST(plan, more_reactors_than_cpus_share_them_and_say_so) {
    auto p =
        plan_of(std::string("reactors:\n  - {name: a}\n  - {name: b}\n  - {name: c}\n") + stages,
                machine(2));
    ASSERT_TRUE(p) << p.err().message;
    EXPECT_TRUE(p->oversubscribed);
    const std::string d = p->describe(g_cfg);
    EXPECT_NE(d.find("oversubscribed: 3 reactors share 2 CPUs"), std::string::npos) << d;
}

TEST(plan, reactors_on_one_cpu_share_the_first_ones_thread) {
    // a, b, c on CPU 1, d alone on CPU 2: b and c run in turns on a's lcore thread; a
    // reactor on a shared thread never sleeps (adaptive becomes pause), d keeps its own.
    auto p = plan_of(std::string("reactors:\n"
                                 "  - {name: a, lcore: 1, cpu: 1, idle: adaptive}\n"
                                 "  - {name: d, lcore: 4, cpu: 2, idle: adaptive}\n"
                                 "  - {name: b, lcore: 2, cpu: 1, idle: adaptive}\n"
                                 "  - {name: c, lcore: 3, cpu: 1, idle: busy}\n") +
                         stages,
                     machine(4));
    ASSERT_TRUE(p) << p.err().message;
    ASSERT_EQ(p->reactors.size(), 4u);
    EXPECT_EQ(p->reactors[0].thread, 0u);
    EXPECT_EQ(p->reactors[1].thread, 1u);
    EXPECT_EQ(p->reactors[2].thread, 0u);
    EXPECT_EQ(p->reactors[3].thread, 0u);
    EXPECT_EQ(p->reactors[0].cfg.idle, pk::sched::idle_policy::pause);
    EXPECT_EQ(p->reactors[1].cfg.idle, pk::sched::idle_policy::adaptive);
    EXPECT_EQ(p->reactors[2].cfg.idle, pk::sched::idle_policy::pause);
    EXPECT_EQ(p->reactors[3].cfg.idle, pk::sched::idle_policy::busy);
    const std::string d = p->describe(g_cfg);
    EXPECT_NE(d.find("runs on the thread of a"), std::string::npos) << d;
    EXPECT_NE(d.find("run in turns on one thread"), std::string::npos) << d;
}

TEST(plan, backpressure_never_waits_for_a_reactor_on_the_same_thread) {
    // b shares a's CPU (one thread): a waiting push from a to b could never end, so that
    // edge drops when full; the edge to c (its own CPU) waits.
    auto p = plan_of("reactors:\n"
                     "  - {name: a, lcore: 1, cpu: 1}\n"
                     "  - {name: b, lcore: 2, cpu: 1}\n"
                     "  - {name: c, lcore: 3, cpu: 2}\n"
                     "stages:\n"
                     "  - {name: g, type: generator, reactor: a}\n"
                     "  - {name: p, type: publish, reactor: a}\n"
                     "  - {name: s1, type: subscribe, reactor: b}\n"
                     "  - {name: d1, type: drop, reactor: b}\n"
                     "  - {name: s2, type: subscribe, reactor: c}\n"
                     "  - {name: d2, type: drop, reactor: c}\n"
                     "edges:\n"
                     "  - {from: g, to: p}\n"
                     "  - {from: p, to: s1, queue: pub, overflow: backpressure}\n"
                     "  - {from: p, to: s2, queue: pub, overflow: backpressure}\n"
                     "  - {from: s1, to: d1}\n"
                     "  - {from: s2, to: d2}\n",
                     machine(4));
    ASSERT_TRUE(p) << p.err().message;
    ASSERT_EQ(p->edges.size(), 5u);
    EXPECT_FALSE(p->edges[1].wait) << "a and b share one thread";
    EXPECT_TRUE(p->edges[2].wait);
}

namespace {
/// Three reactors transmitting on port `p` (tx_queues `n`): t0 and t0b on a, t1 on b,
/// t2 on c; `extra` is appended to t1's params (an explicit queue).
std::string tx_yaml(unsigned n, const std::string& extra = "") {
    return "ports:\n  - {name: p, device: net_null0, tx_queues: " + std::to_string(n) +
           "}\nreactors:\n  - {name: a}\n  - {name: b}\n  - {name: c}\nstages:\n"
           "  - {name: g, type: generator, reactor: a}\n"
           "  - {name: t0, type: port_tx, reactor: a, params: {port: p}}\n"
           "  - {name: g2, type: generator, reactor: a}\n"
           "  - {name: t0b, type: port_tx, reactor: a, params: {port: p}}\n"
           "  - {name: gb, type: generator, reactor: b}\n"
           "  - {name: t1, type: port_tx, reactor: b, params: {port: p" +
           extra +
           "}}\n"
           "  - {name: gc, type: generator, reactor: c}\n"
           "  - {name: t2, type: port_tx, reactor: c, params: {port: p}}\n"
           "edges:\n  - {from: g, to: t0}\n  - {from: g2, to: t0b}\n  - {from: gb, to: t1}\n"
           "  - {from: gc, to: t2}\n";
}
} // namespace

TEST(plan, tx_stages_without_a_queue_get_one_per_reactor) {
    auto p = plan_of(tx_yaml(3), machine(4));
    ASSERT_TRUE(p) << p.err().message;
    // Stages in order g t0 g2 t0b gb t1 gc t2: a's two share queue 0, b 1, c 2.
    EXPECT_EQ(p->stage_tx_queue[1], 0u);
    EXPECT_EQ(p->stage_tx_queue[3], 0u);
    EXPECT_EQ(p->stage_tx_queue[5], 1u);
    EXPECT_EQ(p->stage_tx_queue[7], 2u);
    EXPECT_NE(p->describe(g_cfg).find("t2 (port_tx, tx queue 2)"), std::string::npos)
        << p->describe(g_cfg);
}

TEST(plan, an_explicit_tx_queue_is_kept_and_skipped_by_the_assignment) {
    auto p = plan_of(tx_yaml(3, ", queue: 0"), machine(4));
    ASSERT_TRUE(p) << p.err().message; // b has 0: a gets 1, c 2
    EXPECT_EQ(p->stage_tx_queue[1], 1u);
    EXPECT_EQ(p->stage_tx_queue[3], 1u);
    EXPECT_EQ(p->stage_tx_queue[5], 0u);
    EXPECT_EQ(p->stage_tx_queue[7], 2u);
    p = plan_of(tx_yaml(3, ", queue: 2"), machine(4));
    ASSERT_TRUE(p) << p.err().message; // b has 2: a gets 0, c 1
    EXPECT_EQ(p->stage_tx_queue[1], 0u);
    EXPECT_EQ(p->stage_tx_queue[5], 2u);
    EXPECT_EQ(p->stage_tx_queue[7], 1u);
}

TEST(plan, too_few_tx_queues_for_the_reactors_is_an_error_that_says_so) {
    auto p = plan_of(tx_yaml(2), machine(4));
    ASSERT_FALSE(p);
    EXPECT_NE(p.err().message.find("has 2 tx_queues and every one is used by another reactor"),
              std::string::npos)
        << p.err().message;
    EXPECT_NE(p.err().message.find("t.yaml:"), std::string::npos) << p.err().message;
    // One queue: the old rule, one reactor per (port, queue).
    p = plan_of(tx_yaml(1), machine(4));
    ASSERT_FALSE(p);
    EXPECT_NE(p.err().message.find("already used by stage 't0'"), std::string::npos)
        << p.err().message;
}

// A port's pool is sized from what can hold its packets at once: descriptors, a burst
// per queue, the lcore caches, and everything downstream of its port_rx — every queue
// (a broadcast ring once, however many subscribers) and a burst parked per stage.
TEST(plan, port_pools_are_sized_from_the_graph_with_a_breakdown) {
    auto p = plan_of("reactors:\n  - {name: a, lcore: 0}\n  - {name: b, lcore: 1}\n"
                     "ports:\n"
                     "  - {name: in, device: net_ring0, rx_queues: 2, rx_desc: 512}\n"
                     "  - {name: out, device: net_ring1, mempool: {size: 3000}}\n"
                     "stages:\n"
                     "  - {name: rx, type: port_rx, reactor: a, params: {port: in}}\n"
                     "  - {name: p, type: publish, reactor: a}\n"
                     "  - {name: s1, type: subscribe, reactor: b}\n"
                     "  - {name: s2, type: subscribe, reactor: b}\n"
                     "  - {name: m, type: count, reactor: b}\n"
                     "  - {name: tx, type: port_tx, reactor: a, params: {port: out}}\n"
                     "  - {name: d, type: drop, reactor: b}\n"
                     "edges:\n"
                     "  - {from: rx, to: p}\n"
                     "  - {from: p, to: s1, queue: pub, size: 2048}\n"
                     "  - {from: p, to: s2, queue: pub, size: 2048}\n"
                     "  - {from: s1, to: m}\n"
                     "  - {from: m, to: tx, size: 512}\n"
                     "  - {from: s2, to: d}\n",
                     machine(2));
    ASSERT_TRUE(p) << p.err().message;
    ASSERT_EQ(p->pools.size(), 2u);
    const pool_plan& in = p->pools[0];
    EXPECT_EQ(in.rx, 2u * 512);
    EXPECT_EQ(in.tx, 1u * 1024);
    EXPECT_EQ(in.bursts, 3u * 32);
    EXPECT_EQ(in.caches, 3u * 256 * 3 / 2) << "two reactors and the control thread";
    EXPECT_EQ(in.queues, 2048u + 512u) << "the broadcast ring once, then m -> tx";
    EXPECT_EQ(in.stages, 7u * burst_size) << "rx, p, s1, s2, m, tx, d";
    EXPECT_EQ(in.needed, in.rx + in.tx + in.bursts + in.caches + in.queues + in.stages);
    EXPECT_FALSE(in.given);
    EXPECT_EQ(in.mbufs, 8191u) << "the next 2^n - 1";
    const pool_plan& out = p->pools[1];
    EXPECT_TRUE(out.given);
    EXPECT_EQ(out.mbufs, 3000u);
    EXPECT_EQ(out.queues, 0u) << "nothing receives from it";
    const std::string d = p->describe(g_cfg);
    EXPECT_NE(d.find("in              8191 mbufs"), std::string::npos) << d;
    EXPECT_NE(d.find("queues 2560 + stages 448"), std::string::npos) << d;
    EXPECT_NE(d.find("out             3000 mbufs"), std::string::npos) << d;
    EXPECT_NE(d.find("mempool.size given, below that"), std::string::npos) << d;
}
