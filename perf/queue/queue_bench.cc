// Queue microbenchmarks: pktkernel's queues against what a DPDK engineer writes with
// rte_ring, in one process and one run. Placement is the same for every pair: producers
// on CPU 0 (std::threads, registered with EAL so mempools give them a cache), the
// consumer is the benchmark thread (EAL main lcore) pinned to CPU 1 for the run. Every
// benchmark reports items_per_second over wall-clock time at the consumer (broadcast:
// deliveries = packets x subscribers).
//
//  queue_spsc/pktkernel/burst:B/size:S   link<void*> push_burst/pop_burst, B at a time,
//                                        S slots
//  queue_spsc/rte_ring/burst:B/size:S    rte_ring_sp_enqueue_burst/sc_dequeue_burst on an
//                                        SP/SC ring of S (S-1 usable), B at a time
//  queue_mpsc/pktkernel                  2 producers, multicursor (an SPSC lane each,
//                                        512 slots), consumer pops lanes round-robin
//  queue_mpsc/rte_ring_lanes             2 producers, one SP/SC rte_ring each (512),
//                                        consumer dequeues them round-robin: same algorithm
//  queue_mpsc/pktkernel_cas              2 producers, one shared 1024-slot CAS ring
//  queue_mpsc/rte_ring                   2 producers, one shared MP/SC rte_ring (legacy MP)
//  queue_mpsc/rte_ring_rts               2 producers, one shared MP-RTS/SC rte_ring
//  queue_broadcast4/pktkernel            the product's `pub` edge (edges.cc): the producer
//                                        publishes bursts of 32 mbufs into one ring; 4
//                                        in-place subscribers on CPU 1 (observer stages,
//                                        as the planner makes them) each read a byte of
//                                        every packet; the ring frees each packet once
//  queue_broadcast4/clone                rte_pktmbuf_clone per subscriber, a SP/SC ring
//                                        each; subscribers read a byte and free the clone
//  queue_broadcast4/refcnt               rte_pktmbuf_refcnt_update(+3) once, the same
//                                        mbuf into 4 SP/SC rings; subscribers read a byte
//                                        and rte_pktmbuf_free_bulk
// MPSC runs both producers on CPU 0 (the machine has two CPUs): a producer can be
// preempted mid-operation, which is the case RTS rings exist for.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "base/cacheline.hh"
#include "pipeline/edges.hh"
#include "pipeline/stage.hh"
#include "queue/link.hh"
#include "queue/mpsc.hh"
#include "../common/stamp.hh"

namespace {

namespace pq = pk::queue;

constexpr int producer_cpu = 0;
constexpr int consumer_cpu = 1;
constexpr std::size_t max_burst = 64;

void pin_self(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

/// Pins the benchmark (consumer) thread to CPU 1 for its lifetime, then restores.
struct consumer_pin {
    cpu_set_t saved;
    consumer_pin() {
        pthread_getaffinity_np(pthread_self(), sizeof saved, &saved);
        pin_self(consumer_cpu);
    }
    ~consumer_pin() { pthread_setaffinity_np(pthread_self(), sizeof saved, &saved); }
};

/// The producers' stop flag, read by every producer loop iteration: alone on its own
/// 128-byte unit, so no local of the consumer's frame (or a queue on its stack) shares
/// its line. (Found sharing one: the CAS ring's producers ran at half speed.)
struct stop_flag {
    alignas(pk::destructive_interference) std::atomic<bool> v{false};
    char pad[pk::destructive_interference - sizeof(std::atomic<bool>)];
    operator std::atomic<bool>&() noexcept { return v; }
};
static_assert(sizeof(stop_flag) == pk::destructive_interference);

/// A producer thread on CPU 0, an EAL non-EAL lcore while it runs (mempool caches).
/// The constructor returns once the thread runs on its CPU, so the consumer's timed loop
/// never starts against a producer that does not exist yet (a short repetition could
/// otherwise end with nothing produced).
class producer_thread {
public:
    template <typename F>
    explicit producer_thread(std::atomic<bool>& stop, F f)
        : _stop(stop), _t([f = std::move(f), this]() mutable {
              pin_self(producer_cpu);
              const bool reg = rte_thread_register() == 0;
              _started.store(true, std::memory_order_release);
              f(_stop);
              if (reg) rte_thread_unregister();
          }) {
        while (!_started.load(std::memory_order_acquire))
            std::this_thread::yield();
    }
    ~producer_thread() { join(); }
    void join() {
        _stop.store(true, std::memory_order_relaxed);
        if (_t.joinable()) _t.join();
    }

private:
    std::atomic<bool>& _stop;
    std::atomic<bool> _started{false};
    std::thread _t;
};

std::atomic<unsigned> ring_seq{0};
std::string ring_name(const char* what) {
    return std::string("qb_") + what + std::to_string(ring_seq.fetch_add(1));
}

rte_ring* make_ring(const char* what, unsigned count, unsigned flags) {
    return rte_ring_create(ring_name(what).c_str(), count, static_cast<int>(rte_socket_id()),
                           flags);
}

/// Producer loop: pushes bursts of `burst` distinct pointers until stop.
template <typename Push>
void produce(std::atomic<bool>& stop, std::size_t burst, std::uintptr_t base, Push push) {
    void* items[max_burst];
    std::uintptr_t seq = base;
    while (!stop.load(std::memory_order_relaxed)) {
        for (std::size_t i = 0; i < burst; ++i)
            items[i] = reinterpret_cast<void*>(++seq);
        std::size_t done = 0;
        while (done < burst && !stop.load(std::memory_order_relaxed))
            done += push(items + done, burst - done);
    }
}

/// items_per_second over wall-clock time: the pipeline's throughput (consumer CPU time
/// would also count empty polls and hide preemption). Not kIsRate: already per second.
void report(benchmark::State& state, std::uint64_t items,
            std::chrono::steady_clock::time_point t0) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["items_per_second"] = benchmark::Counter(s > 0 ? double(items) / s : 0.0);
    pk::bench::stamp(state);
}

template <typename Pop>
void consume(benchmark::State& state, std::size_t burst, Pop pop) {
    void* buf[max_burst];
    std::uint64_t total = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
        const std::size_t k = pop(buf, burst);
        benchmark::DoNotOptimize(buf[0]);
        total += k;
    }
    report(state, total, t0);
}

// ---- queue_spsc -------------------------------------------------------------------------

void spsc_pktkernel(benchmark::State& state) {
    const auto burst = static_cast<std::size_t>(state.range(0));
    consumer_pin pin;
    pq::link<void*> q(static_cast<std::size_t>(state.range(1)));
    stop_flag stop;
    producer_thread p(stop, [&](std::atomic<bool>& s) {
        produce(s, burst, 0, [&](void** it, std::size_t n) { return q.push_burst(it, n); });
    });
    consume(state, burst, [&](void** b, std::size_t n) { return q.pop_burst(b, n); });
}

void spsc_rte_ring(benchmark::State& state) {
    const auto burst = static_cast<std::size_t>(state.range(0));
    consumer_pin pin;
    rte_ring* r =
        make_ring("spsc", static_cast<unsigned>(state.range(1)), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r) {
        state.SkipWithError("rte_ring_create failed");
        return;
    }
    {
        stop_flag stop;
        producer_thread p(stop, [&](std::atomic<bool>& s) {
            produce(s, burst, 0, [&](void** it, std::size_t n) {
                return rte_ring_sp_enqueue_burst(r, it, static_cast<unsigned>(n), nullptr);
            });
        });
        consume(state, burst, [&](void** b, std::size_t n) {
            return rte_ring_sc_dequeue_burst(r, b, static_cast<unsigned>(n), nullptr);
        });
    }
    rte_ring_free(r);
}

// ---- queue_mpsc (two producers sharing CPU 0) -----------------------------------------

constexpr std::size_t mpsc_burst = 32;
constexpr unsigned mpsc_slots = 1024; // total slots, whatever the layout

template <typename PushFor, typename Pop>
void mpsc_run(benchmark::State& state, PushFor push_for, Pop pop) {
    consumer_pin pin;
    stop_flag stop;
    producer_thread p1(stop, [&](std::atomic<bool>& s) { produce(s, mpsc_burst, 0, push_for(0)); });
    producer_thread p2(stop, [&](std::atomic<bool>& s) {
        produce(s, mpsc_burst, std::uintptr_t(1) << 40, push_for(1));
    });
    consume(state, mpsc_burst, pop);
}

void mpsc_multicursor(benchmark::State& state) {
    pq::multicursor<void*> q(mpsc_slots / 2);
    pq::multicursor<void*>::producer lanes[2] = {q.add_producer(), q.add_producer()};
    mpsc_run(
        state,
        [&](int i) {
            auto* h = &lanes[i];
            return [h](void** it, std::size_t n) { return h->push_burst(it, n); };
        },
        [&](void** b, std::size_t n) { return q.pop_burst(b, n); });
}

void mpsc_rte_ring_lanes(benchmark::State& state) {
    rte_ring* lanes[2] = {make_ring("lane", mpsc_slots / 2, RING_F_SP_ENQ | RING_F_SC_DEQ),
                          make_ring("lane", mpsc_slots / 2, RING_F_SP_ENQ | RING_F_SC_DEQ)};
    if (!lanes[0] || !lanes[1]) {
        state.SkipWithError("rte_ring_create failed");
    } else {
        unsigned next = 0;
        mpsc_run(
            state,
            [&](int i) {
                rte_ring* r = lanes[i];
                return [r](void** it, std::size_t n) {
                    return rte_ring_sp_enqueue_burst(r, it, static_cast<unsigned>(n), nullptr);
                };
            },
            [&](void** b, std::size_t n) { // round-robin over the lanes until n or all empty
                std::size_t got = 0;
                for (unsigned v = 0; v < 2 && got < n; ++v) {
                    got += rte_ring_sc_dequeue_burst(lanes[next], b + got,
                                                     static_cast<unsigned>(n - got), nullptr);
                    next ^= 1u;
                }
                return got;
            });
    }
    rte_ring_free(lanes[0]);
    rte_ring_free(lanes[1]);
}

void mpsc_cas(benchmark::State& state) {
    pq::mpsc_ring<void*> q(mpsc_slots);
    mpsc_run(
        state, [&](int) { return [&q](void** it, std::size_t n) { return q.push_burst(it, n); }; },
        [&](void** b, std::size_t n) { return q.pop_burst(b, n); });
}

/// A shared MP ring: legacy MP (rte_ring_mp_enqueue_burst) or RTS
/// (rte_ring_mp_rts_enqueue_burst on a RING_F_MP_RTS_ENQ ring).
void mpsc_shared_rte_ring(benchmark::State& state, bool rts) {
    rte_ring* r = make_ring("mpsc", mpsc_slots, (rts ? RING_F_MP_RTS_ENQ : 0u) | RING_F_SC_DEQ);
    if (!r) {
        state.SkipWithError("rte_ring_create failed");
        return;
    }
    mpsc_run(
        state,
        [&](int) {
            return [r, rts](void** it, std::size_t n) {
                return rts ? rte_ring_mp_rts_enqueue_burst(r, it, static_cast<unsigned>(n), nullptr)
                           : rte_ring_mp_enqueue_burst(r, it, static_cast<unsigned>(n), nullptr);
            };
        },
        [&](void** b, std::size_t n) {
            return rte_ring_sc_dequeue_burst(r, b, static_cast<unsigned>(n), nullptr);
        });
    rte_ring_free(r);
}

// ---- queue_broadcast4 -------------------------------------------------------------------

constexpr unsigned subscribers = 4;
constexpr std::uint16_t bc_burst = 32;
constexpr unsigned bc_ring = 1024;

/// Packets for the producer; clones for the clone practice.
struct pools {
    rte_mempool* pkts = nullptr;
    rte_mempool* clones = nullptr;
    pools() {
        const std::string n = ring_name("pool");
        pkts = rte_pktmbuf_pool_create(n.c_str(), 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                       static_cast<int>(rte_socket_id()));
        clones = rte_pktmbuf_pool_create((n + "c").c_str(), 16383, 256, 0, 0,
                                         static_cast<int>(rte_socket_id()));
    }
    ~pools() {
        rte_mempool_free(pkts);
        rte_mempool_free(clones);
    }
    bool ok() const noexcept { return pkts && clones; }
};

/// Allocates a burst and writes one byte of each packet (what an RX would have done).
PK_ALWAYS_INLINE bool make_burst(rte_mempool* mp, rte_mbuf** b, std::uint16_t n,
                                 std::uint8_t& seq) noexcept {
    if (rte_pktmbuf_alloc_bulk(mp, b, n) != 0) return false;
    for (std::uint16_t i = 0; i < n; ++i) {
        b[i]->data_len = b[i]->pkt_len = 64;
        *rte_pktmbuf_mtod(b[i], std::uint8_t*) = ++seq;
    }
    return true;
}

/// A subscriber: reads a byte of every packet, then drops it (an observer on loan: the
/// drop counts, the ring frees).
class reader final : public pk::pipeline::stage {
public:
    explicit reader(const pk::pipeline::stage_args& a) : stage(a) { _done = add_reason("read"); }
    std::uint64_t sum = 0;

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        for (std::uint16_t i = 0; i < n; ++i)
            sum += *rte_pktmbuf_mtod(pkts[i], const std::uint8_t*);
        drop(_done, pkts, n);
    }

private:
    unsigned _done;
};

void broadcast_pktkernel(benchmark::State& state) {
    pools mp;
    if (!mp.ok()) {
        state.SkipWithError("mempool create failed");
        return;
    }
    std::atomic<bool> abort{false};
    auto q = pk::pipeline::find_edge_kind("pub")->make(
        bc_ring, pk::pipeline::overflow_policy::backpressure, abort);
    pk::pipeline::edge_sink* sink = q->add_producer(true);
    std::vector<std::unique_ptr<reader>> readers;
    std::vector<pk::pipeline::edge_source*> cursors;
    for (unsigned i = 0; i < subscribers; ++i) {
        pk::pipeline::stage_args a;
        a.name = "sub" + std::to_string(i);
        a.type = "reader";
        a.roles = {pk::pipeline::role::observer};
        readers.push_back(std::make_unique<reader>(a));
        readers.back()->set_on_loan(true); // what the planner sets for an observer chain
        cursors.push_back(q->add_consumer(*readers.back(), true, true));
    }
    q->service(); // activates the cursors (this thread is the producer until p starts)
    consumer_pin pin;
    std::uint64_t delivered = 0;
    {
        stop_flag stop;
        producer_thread p(stop, [&](std::atomic<bool>& s) {
            rte_mbuf* b[bc_burst];
            std::uint8_t seq = 0;
            while (!s.load(std::memory_order_relaxed)) {
                if (!make_burst(mp.pkts, b, bc_burst, seq)) {
                    q->service();
                    continue;
                }
                const std::uint16_t k = sink->push(b, bc_burst); // waits for room until abort
                if (k < bc_burst) rte_pktmbuf_free_bulk(b + k, bc_burst - k);
            }
        });
        const auto t0 = std::chrono::steady_clock::now();
        for (auto _ : state)
            for (auto* c : cursors)
                delivered += c->poll();
        report(state, delivered, t0);
        abort.store(true); // the producer may be waiting for room
    }
    while (true) { // drain what is left, then release it
        std::uint32_t n = 0;
        for (auto* c : cursors)
            n += c->poll();
        if (!n) break;
    }
    q->service();
    std::uint64_t sum = 0;
    for (auto& r : readers)
        sum += r->sum;
    benchmark::DoNotOptimize(sum);
}

/// The two DPDK practices: a SP/SC ring per subscriber, fed by clone or by refcount.
void broadcast_rte(benchmark::State& state, bool clone) {
    pools mp;
    rte_ring* rings[subscribers] = {};
    bool ok = mp.ok();
    for (auto& r : rings)
        ok &= (r = make_ring("bc", bc_ring, RING_F_SP_ENQ | RING_F_SC_DEQ)) != nullptr;
    if (!ok) {
        state.SkipWithError("mempool or ring create failed");
    } else {
        consumer_pin pin;
        std::uint64_t delivered = 0, sum = 0;
        stop_flag stop;
        producer_thread p(stop, [&](std::atomic<bool>& s) {
            rte_mbuf* b[bc_burst];
            rte_mbuf* c[bc_burst];
            std::uint8_t seq = 0;
            while (!s.load(std::memory_order_relaxed)) {
                if (!make_burst(mp.pkts, b, bc_burst, seq)) continue;
                if (!clone)
                    for (auto* m : b)
                        rte_pktmbuf_refcnt_update(m, subscribers - 1);
                for (rte_ring* r : rings) {
                    void** items = reinterpret_cast<void**>(b);
                    if (clone) {
                        unsigned k = 0;
                        for (; k < bc_burst; ++k)
                            if (!(c[k] = rte_pktmbuf_clone(b[k], mp.clones))) break;
                        items = reinterpret_cast<void**>(c);
                        if (k < bc_burst) { // clone pool exhausted: drop those (rare)
                            rte_pktmbuf_free_bulk(c, k);
                            continue;
                        }
                    }
                    unsigned done = 0;
                    while (done < bc_burst && !s.load(std::memory_order_relaxed))
                        done +=
                            rte_ring_sp_enqueue_burst(r, items + done, bc_burst - done, nullptr);
                    if (done < bc_burst)
                        rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(items) + done,
                                              bc_burst - done);
                }
                if (clone) rte_pktmbuf_free_bulk(b, bc_burst); // clones hold the data now
            }
        });
        rte_mbuf* buf[pk::pipeline::burst_size];
        const auto t0 = std::chrono::steady_clock::now();
        for (auto _ : state) {
            for (rte_ring* r : rings) {
                const unsigned k = rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(buf),
                                                             pk::pipeline::burst_size, nullptr);
                for (unsigned i = 0; i < k; ++i)
                    sum += *rte_pktmbuf_mtod(buf[i], const std::uint8_t*);
                rte_pktmbuf_free_bulk(buf, k);
                delivered += k;
            }
        }
        report(state, delivered, t0);
        p.join();
        benchmark::DoNotOptimize(sum);
    }
    for (rte_ring* r : rings) {
        void* v;
        while (r && rte_ring_sc_dequeue(r, &v) == 0)
            rte_pktmbuf_free(static_cast<rte_mbuf*>(v));
        rte_ring_free(r);
    }
}

void spsc_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"burst", "size"});
    for (long size : {256, 4096})
        for (long burst : {1, 8, 32})
            b->Args({burst, size});
}

[[maybe_unused]] const bool registered = [] {
    benchmark::RegisterBenchmark("queue_spsc/pktkernel", spsc_pktkernel)->Apply(spsc_args);
    benchmark::RegisterBenchmark("queue_spsc/rte_ring", spsc_rte_ring)->Apply(spsc_args);
    benchmark::RegisterBenchmark("queue_mpsc/pktkernel", mpsc_multicursor);
    benchmark::RegisterBenchmark("queue_mpsc/rte_ring_lanes", mpsc_rte_ring_lanes);
    benchmark::RegisterBenchmark("queue_mpsc/pktkernel_cas", mpsc_cas);
    benchmark::RegisterBenchmark("queue_mpsc/rte_ring", mpsc_shared_rte_ring, false);
    benchmark::RegisterBenchmark("queue_mpsc/rte_ring_rts", mpsc_shared_rte_ring, true);
    benchmark::RegisterBenchmark("queue_broadcast4/pktkernel", broadcast_pktkernel);
    benchmark::RegisterBenchmark("queue_broadcast4/clone", broadcast_rte, true);
    benchmark::RegisterBenchmark("queue_broadcast4/refcnt", broadcast_rte, false);
    return true;
}();

} // namespace
