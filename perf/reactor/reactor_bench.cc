// Reactor benchmarks (pktkernel-bench, EAL is up with lcores 0@0,1@1):
//   reactor_idle_round/pktkernel    one idle round of a worker reactor as the runtime
//                                   builds it from YAML (config → plan → graph → pollers):
//                                   a port_rx on an empty net_ring, 8 link edges in from
//                                   another reactor, a port_tx, the housekeeping task; the
//                                   benchmark thread runs its rounds (counter `cycles`)
//   reactor_idle_round/dpdk_loop    reference, same thread: an l2fwd-style idle iteration
//                                   over the same sources: rdtsc, rte_eth_rx_burst on an
//                                   empty net_ring, 8 empty rte_ring_sc_dequeue_burst,
//                                   rte_timer_manage
//   reactor_empty_round/pktkernel   a reactor with no sources or tasks (the floor)
//   reactor_message_rtt/pktkernel   ping-pong between tasks on two reactors on CPUs 0 and 1:
//                                   task → mesh → task on the other reactor → back (ns)
//   reactor_message_rtt/rte_ring    reference: the same ping-pong over two SP/SC rte_rings
//                                   between the same two lcores
//   reactor_spawn/pktkernel         spawn + poll + complete of a trivial task
#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_timer.h>

#include "../common/pipeline_fixture.hh"
#include "base/clock.hh"
#include "sched/dpdk_launch.hh"
#include "sched/sched.hh"
#include "../common/stamp.hh"

namespace {

using namespace pk::sched;

// The machine is shared (2 cores, other jobs): a wall-clock TSC average includes time the
// thread was preempted. Rounds are timed in batches and the median batch is reported, so
// a preempted minority of batches does not move the figure.
constexpr std::uint64_t batch = 256;

struct batch_timer {
    std::vector<std::uint64_t> samples;
    std::uint64_t start = pk::tsc::now();
    std::uint64_t k = 0;
    batch_timer() { samples.reserve(1 << 20); }
    PK_ALWAYS_INLINE void tick() noexcept {
        if (PK_UNLIKELY(++k == batch)) {
            const std::uint64_t now = pk::tsc::now();
            if (samples.size() < samples.capacity()) samples.push_back(now - start);
            start = now;
            k = 0;
        }
    }
    double median_per_item(std::uint64_t per) {
        if (samples.empty()) return 0;
        std::nth_element(samples.begin(),
                         samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2),
                         samples.end());
        return static_cast<double>(samples[samples.size() / 2]) / static_cast<double>(per);
    }
};

void reactor_empty_round(benchmark::State& st) {
    reactor_group g(1);
    reactor& r = g[0];
    for (int i = 0; i < 10000; ++i)
        r.run_once();
    std::uint64_t n = 0;
    batch_timer bt;
    const std::uint64_t c0 = pk::tsc::now();
    for (auto _ : st) {
        r.run_once();
        bt.tick();
        ++n;
    }
    const std::uint64_t c1 = pk::tsc::now();
    st.counters["cycles"] = bt.median_per_item(batch);
    pk::bench::stamp(st);
    st.counters["cycles_mean"] = static_cast<double>(c1 - c0) / static_cast<double>(n ? n : 1);
    st.SetItemsProcessed(static_cast<std::int64_t>(r.counters().rounds.load() - 10000));
}
BENCHMARK(reactor_empty_round)->Name("reactor_empty_round/pktkernel");

// A worker reactor as the runtime builds it: `w` has a port, 8 edges in from `io`, a
// port_tx (TX deadline ticks) and housekeeping. `io` is never run: nothing arrives.
constexpr const char* idle_yaml = R"(name: idle-round
ports:
  - {name: a, device: net_ring_pkidle_a}
  - {name: b, device: net_ring_pkidle_b}
  - {name: out, device: net_null_pkidle}
reactors:
  - {name: io}
  - {name: w}
stages:
  - {name: rx_io, type: port_rx, reactor: io, params: {port: a}}
  - {name: fan, type: flow_balance, reactor: io}
  - {name: e0, type: count, reactor: w}
  - {name: e1, type: count, reactor: w}
  - {name: e2, type: count, reactor: w}
  - {name: e3, type: count, reactor: w}
  - {name: e4, type: count, reactor: w}
  - {name: e5, type: count, reactor: w}
  - {name: e6, type: count, reactor: w}
  - {name: e7, type: count, reactor: w}
  - {name: rx_w, type: port_rx, reactor: w, params: {port: b}}
  - {name: swap, type: macswap, reactor: w}
  - {name: tx, type: port_tx, reactor: w, params: {port: out}}
edges:
  - {from: rx_io, to: fan}
  - {from: fan.o0, to: e0}
  - {from: fan.o1, to: e1}
  - {from: fan.o2, to: e2}
  - {from: fan.o3, to: e3}
  - {from: fan.o4, to: e4}
  - {from: fan.o5, to: e5}
  - {from: fan.o6, to: e6}
  - {from: fan.o7, to: e7}
  - {from: e0, to: swap}
  - {from: e1, to: swap}
  - {from: e2, to: swap}
  - {from: e3, to: swap}
  - {from: e4, to: swap}
  - {from: e5, to: swap}
  - {from: e6, to: swap}
  - {from: e7, to: swap}
  - {from: rx_w, to: swap}
  - {from: swap, to: tx}
)";

void reactor_idle_round(benchmark::State& st) {
    pk::bench::pipeline_fixture f(idle_yaml, "idle-round.yaml");
    if (!f.ok()) {
        st.SkipWithError(f.error().c_str());
        return;
    }
    reactor& w = f.reactor(1);
    for (int i = 0; i < 10000; ++i)
        w.run_once();
    const std::uint64_t r0 = w.counters().rounds.load();
    batch_timer bt;
    for (auto _ : st) {
        w.run_once();
        bt.tick();
    }
    st.counters["cycles"] = bt.median_per_item(batch);
    pk::bench::stamp(st);
    st.SetItemsProcessed(static_cast<std::int64_t>(w.counters().rounds.load() - r0));
}
BENCHMARK(reactor_idle_round)->Name("reactor_idle_round/pktkernel");

void dpdk_idle_loop(benchmark::State& st) {
    rte_timer_subsystem_init(); // -EALREADY when another benchmark did it: fine
    constexpr unsigned edges = 8;
    rte_ring* rings[edges] = {};
    bool ok = true;
    for (unsigned i = 0; i < edges; ++i) {
        const std::string n = "pk_bench_idle" + std::to_string(i);
        rings[i] = rte_ring_create(n.c_str(), 1024, static_cast<int>(rte_socket_id()),
                                   RING_F_SP_ENQ | RING_F_SC_DEQ);
        ok &= rings[i] != nullptr;
    }
    std::uint16_t port = 0;
    rte_mempool* mp = nullptr;
    const char* failed = ok ? nullptr : "rte_ring_create";
    if (!failed && (rte_vdev_init("net_ring_pkref", "") != 0 ||
                    rte_eth_dev_get_port_by_name("net_ring_pkref", &port) != 0))
        failed = "rte_vdev_init(net_ring)";
    if (!failed && !(mp = rte_pktmbuf_pool_create("pk_bench_idle_mp", 1023, 0, 0,
                                                  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY)))
        failed = "rte_pktmbuf_pool_create";
    rte_eth_conf conf{};
    if (!failed && (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
                    rte_eth_rx_queue_setup(port, 0, 128, SOCKET_ID_ANY, nullptr, mp) != 0 ||
                    rte_eth_tx_queue_setup(port, 0, 128, SOCKET_ID_ANY, nullptr) != 0 ||
                    rte_eth_dev_start(port) != 0))
        failed = "port setup";
    ok = !failed;
    if (!ok) {
        st.SkipWithError(failed);
    } else {
        rte_mbuf* burst[32];
        std::uint64_t prev = rte_rdtsc(), acc = 0;
        batch_timer bt;
        for (auto _ : st) {
            const std::uint64_t now = rte_rdtsc();
            acc += now - prev;
            prev = now;
            unsigned got = rte_eth_rx_burst(port, 0, burst, 32);
            for (rte_ring* r : rings)
                got += rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(burst), 32, nullptr);
            benchmark::DoNotOptimize(got);
            rte_timer_manage();
            bt.tick();
        }
        benchmark::DoNotOptimize(acc);
        st.counters["cycles"] = bt.median_per_item(batch);
    pk::bench::stamp(st);
        st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
        rte_eth_dev_stop(port);
    }
    rte_eth_dev_close(port);
    rte_vdev_uninit("net_ring_pkref");
    rte_mempool_free(mp);
    for (rte_ring* r : rings)
        rte_ring_free(r);
}
BENCHMARK(dpdk_idle_loop)->Name("reactor_idle_round/dpdk_loop");

struct pong_task final : task {
    unsigned peer = 0;
    task_id peer_task = invalid_task;
    void on_message(reactor& r, const message& m) noexcept override {
        message reply;
        reply.a[2] = m.a[2];
        while (!r.send_to_task(peer, peer_task, reply)) {
        }
    }
    poll_result poll(reactor&) noexcept override { return poll_result::wait(); }
};

struct ping_task final : task {
    std::uint64_t got = ~0ull;
    void on_message(reactor&, const message& m) noexcept override { got = m.a[2]; }
    poll_result poll(reactor&) noexcept override { return poll_result::wait(); }
};

constexpr unsigned worker_lcore = 1;

// rtt_ns / cycles: median round trip (robust to preemption on a shared machine);
// rtt_mean_ns: total time / round trips.
void report_rtt(benchmark::State& st, std::vector<std::uint64_t>& rtt, std::uint64_t total,
                std::uint64_t n) {
    double med = 0;
    if (!rtt.empty()) {
        std::nth_element(rtt.begin(), rtt.begin() + static_cast<std::ptrdiff_t>(rtt.size() / 2),
                         rtt.end());
        med = static_cast<double>(rtt[rtt.size() / 2]);
    }
    st.counters["cycles"] = med;
    pk::bench::stamp(st);
    st.counters["rtt_ns"] = pk::tsc::to_ns(static_cast<std::uint64_t>(med));
    st.counters["rtt_mean_ns"] = pk::tsc::to_ns(total) / static_cast<double>(n ? n : 1);
    st.SetItemsProcessed(static_cast<std::int64_t>(n));
}

void reactor_message_rtt(benchmark::State& st) {
    if (rte_lcore_count() < 2 || rte_eal_get_lcore_state(worker_lcore) != WAIT) {
        st.SkipWithError("needs worker lcore 1 (EAL --lcores 0@0,1@1)");
        return;
    }
    reactor_group g(2);
    reactor& r0 = g[0];
    ping_task ping;
    pong_task pong;
    spawn_options o;
    o.start_waiting = true;
    const task_id ping_id = r0.spawn(ping, o);
    const task_id pong_id = g[1].spawn(pong, o);
    pong.peer = 0;
    pong.peer_task = ping_id;
    const unsigned rs[] = {1};
    const unsigned ls[] = {worker_lcore};
    if (auto s = dpdk::launch(g, rs, ls); !s) {
        st.SkipWithError(s.err().message.c_str());
        return;
    }
    std::uint64_t i = 0;
    auto round_trip = [&] {
        message m;
        m.a[2] = i;
        while (!r0.send_to_task(1, pong_id, m))
            r0.run_once();
        while (ping.got != i)
            r0.run_once();
        ++i;
    };
    for (int k = 0; k < 1000; ++k)
        round_trip();
    std::vector<std::uint64_t> rtt;
    rtt.reserve(1 << 22);
    const std::uint64_t c0 = pk::tsc::now();
    const std::uint64_t i0 = i;
    for (auto _ : st) {
        const std::uint64_t a = pk::tsc::now();
        round_trip();
        if (rtt.size() < rtt.capacity()) rtt.push_back(pk::tsc::now() - a);
    }
    const std::uint64_t c1 = pk::tsc::now();
    report_rtt(st, rtt, c1 - c0, i - i0);
    g.request_stop();
    while (r0.run_once()) {
    }
    dpdk::wait(ls);
}
BENCHMARK(reactor_message_rtt)
    ->Name("reactor_message_rtt/pktkernel"); // no UseRealTime: it would suffix the name; the thread
                                             // spins, so CPU time ~ wall time

struct ring_pair {
    rte_ring* to_worker;
    rte_ring* to_main;
};

int ring_echo(void* arg) {
    auto* p = static_cast<ring_pair*>(arg);
    for (;;) {
        void* v;
        if (rte_ring_sc_dequeue(p->to_worker, &v) != 0) {
            rte_pause();
            continue;
        }
        while (rte_ring_sp_enqueue(p->to_main, v) != 0) {
        }
        if (v == nullptr) return 0; // sentinel echoed back
    }
}

void ring_message_rtt(benchmark::State& st) {
    if (rte_lcore_count() < 2 || rte_eal_get_lcore_state(worker_lcore) != WAIT) {
        st.SkipWithError("needs worker lcore 1 (EAL --lcores 0@0,1@1)");
        return;
    }
    const int sock = static_cast<int>(rte_socket_id());
    ring_pair p{rte_ring_create("pk_rtt_a", 1024, sock, RING_F_SP_ENQ | RING_F_SC_DEQ),
                rte_ring_create("pk_rtt_b", 1024, sock, RING_F_SP_ENQ | RING_F_SC_DEQ)};
    if (!p.to_worker || !p.to_main) {
        st.SkipWithError("rte_ring_create failed");
        return;
    }
    rte_eal_remote_launch(ring_echo, &p, worker_lcore);
    std::uintptr_t i = 1;
    auto round_trip = [&] {
        while (rte_ring_sp_enqueue(p.to_worker, reinterpret_cast<void*>(i)) != 0) {
        }
        void* v = nullptr;
        while (rte_ring_sc_dequeue(p.to_main, &v) != 0) {
        }
        ++i;
    };
    for (int k = 0; k < 1000; ++k)
        round_trip();
    std::vector<std::uint64_t> rtt;
    rtt.reserve(1 << 22);
    const std::uint64_t c0 = pk::tsc::now();
    const std::uintptr_t i0 = i;
    for (auto _ : st) {
        const std::uint64_t a = pk::tsc::now();
        round_trip();
        if (rtt.size() < rtt.capacity()) rtt.push_back(pk::tsc::now() - a);
    }
    const std::uint64_t c1 = pk::tsc::now();
    report_rtt(st, rtt, c1 - c0, i - i0);
    while (rte_ring_sp_enqueue(p.to_worker, nullptr) != 0) {
    }
    rte_eal_wait_lcore(worker_lcore);
    rte_ring_free(p.to_worker);
    rte_ring_free(p.to_main);
}
BENCHMARK(ring_message_rtt)->Name("reactor_message_rtt/rte_ring");

struct trivial_task final : task {
    poll_result poll(reactor&) noexcept override { return poll_result::done(1); }
};

void reactor_spawn(benchmark::State& st) {
    reactor_group g(1);
    reactor& r = g[0];
    trivial_task t;
    std::uint64_t n = 0, bad = 0;
    batch_timer bt;
    const std::uint64_t c0 = pk::tsc::now();
    for (auto _ : st) {
        r.spawn(t);
        r.run_once();
        bad += !t.finished();
        bt.tick();
        ++n;
    }
    const std::uint64_t c1 = pk::tsc::now();
    if (bad) st.SkipWithError("task did not complete in its round");
    st.counters["cycles"] = bt.median_per_item(batch);
    pk::bench::stamp(st);
    st.counters["cycles_mean"] = static_cast<double>(c1 - c0) / static_cast<double>(n ? n : 1);
    st.SetItemsProcessed(static_cast<std::int64_t>(n));
}
BENCHMARK(reactor_spawn)->Name("reactor_spawn/pktkernel");

} // namespace
