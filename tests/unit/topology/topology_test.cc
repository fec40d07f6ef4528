#include <set>

#include <gtest/gtest.h>

#include "topology/topology.hh"

using namespace pk::topology;

TEST(topology, discovers_this_machine) {
    auto m = discover();
    ASSERT_TRUE(m) << m.err().message;
    EXPECT_GE(m->cpus.size(), 1u);
    EXPECT_GE(m->cores, 1u);
    EXPECT_GE(m->nodes.size(), 1u);
    std::set<unsigned> seen;
    for (auto& c : m->cpus)
        EXPECT_TRUE(seen.insert(c.os_index).second) << "cpu listed twice";
    EXPECT_NE(describe(*m).find("hardware threads"), std::string::npos);
}

// A synthetic 2-node machine: 4 cores x 2 SMT threads, node 1 holds cores 2-3.
static machine fake() {
    machine m;
    m.nodes = {{0, 1 << 30, {}}, {1, 1 << 30, {}}};
    unsigned os = 0;
    for (unsigned core = 0; core < 4; ++core)
        for (unsigned t = 0; t < 2; ++t)
            m.cpus.push_back({os++, core, core < 2 ? 0 : 1, t});
    m.cores = 4;
    return m;
}

TEST(topology, plan_skips_smt_siblings_and_prefers_nic_node) {
    auto p = plan(fake(), {.lcores = 2, .nic_numa = 1});
    ASSERT_TRUE(p);
    ASSERT_EQ(p->worker_cpus.size(), 2u);
    auto m = fake();
    for (auto c : p->worker_cpus) {
        EXPECT_EQ(m.cpus[c].smt_rank, 0u) << "worker on an SMT sibling";
        EXPECT_EQ(m.cpus[c].numa, 1) << "worker off the NIC's node";
    }
    EXPECT_FALSE(p->oversubscribed);
    EXPECT_EQ(p->eal_lcores().rfind("0@", 0), 0u);
}

TEST(topology, plan_uses_siblings_last_and_reports_oversubscription) {
    auto p = plan(fake(), {.lcores = 7, .nic_numa = -1});
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->oversubscribed);
    auto q = plan(fake(), {.lcores = 12});
    ASSERT_TRUE(q);
    EXPECT_TRUE(q->oversubscribed);
    auto r = plan(fake(), {.lcores = 12, .allow_oversubscribe = false});
    EXPECT_FALSE(r);
}
