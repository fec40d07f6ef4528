// A stopped consumer does not stop its producer's reactor: a pipeline built and polled as
// the runtime does (YAML -> make_plan -> graph -> reactors -> pollers, the benchmarks'
// fixture), its reactors stepped from this thread, one of them never: the reactor whose
// edge into it is full keeps firing its timers and keeps moving its other edges.
#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "../../../perf/common/pipeline_fixture.hh"

namespace {

// a: g1 -> (backpressure, 64) -> stuck on b, which is never run; c: g3 -> (64) -> live
// on a; a also has a 100 us timer.
constexpr const char* yaml = R"(name: no_stall
reactors:
  - {name: a, lcore: 0, cpu: 0}
  - {name: b, lcore: 1, cpu: 1}
  - {name: c, lcore: 2, cpu: 1}
stages:
  - {name: g1, type: generator, reactor: a, params: {burst: 32, mbufs: 1023}}
  - {name: stuck, type: drop, reactor: b}
  - {name: g3, type: generator, reactor: c, params: {burst: 32, mbufs: 1023}}
  - {name: live, type: drop, reactor: a}
edges:
  - {from: g1, to: stuck, size: 64, overflow: backpressure}
  - {from: g3, to: live, size: 64, overflow: backpressure}
timers:
  - {name: tick, interval: 100us, action: flush, reactor: a}
)";

} // namespace

TEST(NoStall, AFullEdgeLeavesItsReactorsTimersAndOtherEdgesRunning) {
    pk::bench::pipeline_fixture f(yaml, "no_stall.yaml");
    ASSERT_TRUE(f.ok()) << f.error();
    auto& g = f.graph();
    pk::pipeline::stage* g1 = g.find_stage("g1");
    const pk::pipeline::stage* live = g.find_stage("live");
    const pk::pipeline::stage* stuck = g.find_stage("stuck");
    pk::sched::reactor& a = f.reactor(0);
    pk::sched::reactor& b = f.reactor(1);
    pk::sched::reactor& c = f.reactor(2);

    // 200 ms of a's and c's rounds; b (the consumer of g1's edge) has stopped.
    const auto fired0 = a.counters().timers_fired.load();
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    std::uint64_t live_at_block = 0;
    while (std::chrono::steady_clock::now() < until) {
        a.run_once();
        c.run_once();
        if (!live_at_block && g1->blocked()) live_at_block = live->counters().in.load();
    }
    ASSERT_TRUE(g1->blocked()) << "g1's edge never filled";
    EXPECT_GT(g1->parked(), 0u);
    EXPECT_LE(g1->counters().produced.load(), 64u + 32u) << "g1 stopped producing";
    EXPECT_EQ(g1->dropped_total(), 0u) << "backpressure: nothing dropped";
    EXPECT_EQ(stuck->counters().in.load(), 0u);
    // The edge from c into a kept moving after g1 blocked, and a's timer kept firing
    // (every 100 us: about 2000 in 200 ms; a tenth of that is far above a stalled loop).
    EXPECT_GT(live->counters().in.load(), live_at_block + 64u * 10);
    EXPECT_GT(a.counters().timers_fired.load() - fired0, 200u);

    // b comes back: the parked burst moves and g1 produces again.
    const auto made = g1->counters().produced.load();
    for (int i = 0; i < 1000 && g1->counters().produced.load() == made; ++i) {
        b.run_once();
        a.run_once();
    }
    EXPECT_GT(stuck->counters().in.load(), 0u);
    EXPECT_GT(g1->counters().produced.load(), made);
}
