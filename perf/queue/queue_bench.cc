// Queue microbenchmarks: pktkernel's queues against DPDK's rte_ring, same process,
// same placement. Producers run on std::threads pinned to CPU 0; the consumer is the
// benchmark thread itself, pinned to CPU 1 for the run (and restored after), so the
// measured time is the consumer's. Bursts of 32 pointer-sized items; every benchmark
// reports items_per_second (for broadcast: deliveries = items x subscribers).
//
// Expectations (issue 3): queue_spsc pktkernel >= 1.0x rte_ring; queue_mpsc pktkernel
// (better of the two SUB forms) >= 1.0x rte_ring; queue_broadcast4 pktkernel >= 2x
// rte_ring_clone. perf/queue/ratios.py prints the ratios of one run.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "queue/link.hh"
#include "queue/mpsc.hh"
#include "queue/rte_ring.hh"
#include "queue/turbine.hh"

namespace {

namespace pq = pk::queue;

constexpr std::size_t burst = 32;
constexpr std::size_t ring_size = 1024;
constexpr int producer_cpu = 0;
constexpr int consumer_cpu = 1;

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

std::atomic<unsigned> ring_seq{0};
std::string ring_name(const char* what) {
    return std::string("qb_") + what + std::to_string(ring_seq.fetch_add(1));
}

/// Producer loop: pushes bursts of 32 distinct pointers until stop.
template <typename Push>
void produce(std::atomic<bool>& stop, std::uintptr_t base, Push push) {
    pin_self(producer_cpu);
    void* items[burst];
    std::uintptr_t seq = base;
    while (!stop.load(std::memory_order_relaxed)) {
        for (auto& p : items)
            p = reinterpret_cast<void*>(++seq);
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
}

template <typename Pop>
void consume(benchmark::State& state, Pop pop) {
    void* buf[burst];
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
    consumer_pin pin;
    pq::link<void*> q(ring_size);
    std::atomic<bool> stop{false};
    std::thread p(
        [&] { produce(stop, 0, [&](void** it, std::size_t n) { return q.push_burst(it, n); }); });
    consume(state, [&](void** b, std::size_t n) { return q.pop_burst(b, n); });
    stop = true;
    p.join();
}

void spsc_rte_ring(benchmark::State& state) {
    consumer_pin pin;
    auto r = pq::rte_ring_queue<void*>::create(ring_name("spsc"), ring_size, pq::ring_sync::sp_sc);
    if (!r) {
        state.SkipWithError(r.err().message.c_str());
        return;
    }
    auto& q = *r;
    std::atomic<bool> stop{false};
    std::thread p(
        [&] { produce(stop, 0, [&](void** it, std::size_t n) { return q.push_burst(it, n); }); });
    consume(state, [&](void** b, std::size_t n) { return q.pop_burst(b, n); });
    stop = true;
    p.join();
}

// ---- queue_mpsc (two producers sharing CPU 0) -----------------------------------------

template <typename Q, typename Push>
void mpsc_run(benchmark::State& state, Q& q, Push push_for) {
    consumer_pin pin;
    std::atomic<bool> stop{false};
    std::thread p1([&] { produce(stop, 0, push_for(0)); });
    std::thread p2([&] { produce(stop, std::uintptr_t(1) << 40, push_for(1)); });
    consume(state, [&](void** b, std::size_t n) { return q.pop_burst(b, n); });
    stop = true;
    p1.join();
    p2.join();
}

void mpsc_multicursor(benchmark::State& state) {
    pq::multicursor<void*> q(ring_size / 2); // same total slots as the shared ring
    auto a = q.add_producer(), b = q.add_producer();
    mpsc_run(state, q, [&](int i) {
        auto* h = i == 0 ? &a : &b;
        return [h](void** it, std::size_t n) { return h->push_burst(it, n); };
    });
}

void mpsc_cas(benchmark::State& state) {
    pq::mpsc_ring<void*> q(ring_size);
    mpsc_run(state, q,
             [&](int) { return [&q](void** it, std::size_t n) { return q.push_burst(it, n); }; });
}

void mpsc_rte_ring(benchmark::State& state) {
    auto r = pq::rte_ring_queue<void*>::create(ring_name("mpsc"), ring_size, pq::ring_sync::mp_sc);
    if (!r) {
        state.SkipWithError(r.err().message.c_str());
        return;
    }
    auto& q = *r;
    mpsc_run(state, q,
             [&](int) { return [&q](void** it, std::size_t n) { return q.push_burst(it, n); }; });
}

// ---- queue_broadcast4 -------------------------------------------------------------------

constexpr int subscribers = 4;
constexpr std::size_t pool_size = 8192; // > ring_size: an object is idle when reused

/// What a packet buffer looks like to both sides: a refcount (used by the clone
/// practice) and a free counter (bumped once when the last reader is done).
struct alignas(64) object {
    std::atomic<std::uint32_t> refcnt{0};
    std::uint32_t frees = 0;
};

void broadcast_pktkernel(benchmark::State& state) {
    std::vector<object> pool(pool_size);
    pq::turbine<void*>::options o;
    o.max_subscribers = subscribers;
    // Release hook: runs once per item when all 4 cursors have passed it ("free").
    o.on_release = [](void** items, std::size_t n, void*) noexcept {
        for (std::size_t i = 0; i < n; ++i)
            ++static_cast<object*>(items[i])->frees;
    };
    pq::turbine<void*> ring(ring_size, o);
    std::vector<pq::turbine<void*>::subscriber> subs;
    for (int i = 0; i < subscribers; ++i)
        subs.push_back(ring.subscribe());
    (void)ring.service(); // activate them (this thread is the producer until p starts)

    consumer_pin pin;
    std::atomic<bool> stop{false};
    std::thread p([&] {
        pin_self(producer_cpu);
        void* items[burst];
        std::size_t next = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            for (auto& it : items)
                it = &pool[next++ & (pool_size - 1)];
            std::size_t done = 0;
            while (done < burst && !stop.load(std::memory_order_relaxed))
                done += ring.push_burst(items + done, burst - done);
        }
    });
    std::uint64_t delivered = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
        for (auto& s : subs) { // one consumer thread polls the 4 cursors
            auto v = s.peek(burst);
            for (void* it : v)
                benchmark::DoNotOptimize(it);
            s.release(v.size());
            delivered += v.size();
        }
    }
    stop = true;
    p.join();
    subs.clear();
    report(state, delivered, t0);
}

void broadcast_rte_ring_clone(benchmark::State& state) {
    std::vector<object> pool(pool_size);
    std::vector<pq::rte_ring_queue<void*>> rings;
    for (int i = 0; i < subscribers; ++i) {
        auto r =
            pq::rte_ring_queue<void*>::create(ring_name("bc"), ring_size, pq::ring_sync::sp_sc);
        if (!r) {
            state.SkipWithError(r.err().message.c_str());
            return;
        }
        rings.push_back(std::move(*r));
    }
    consumer_pin pin;
    std::atomic<bool> stop{false};
    std::thread p([&] {
        pin_self(producer_cpu);
        void* items[burst];
        std::size_t next = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            // Today's practice: refcount += subscribers, enqueue to each ring.
            for (auto& it : items) {
                object* o = &pool[next++ & (pool_size - 1)];
                o->refcnt.fetch_add(subscribers, std::memory_order_relaxed);
                it = o;
            }
            for (auto& r : rings) {
                std::size_t done = 0;
                while (done < burst && !stop.load(std::memory_order_relaxed))
                    done += r.push_burst(items + done, burst - done);
            }
        }
    });
    std::uint64_t delivered = 0;
    void* buf[burst];
    const auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
        for (auto& r : rings) {
            const std::size_t k = r.pop_burst(buf, burst);
            for (std::size_t i = 0; i < k; ++i) { // the subscriber's "free": refcount--
                object* o = static_cast<object*>(buf[i]);
                if (o->refcnt.fetch_sub(1, std::memory_order_acq_rel) == 1) ++o->frees;
            }
            delivered += k;
        }
    }
    stop = true;
    p.join();
    report(state, delivered, t0);
}

[[maybe_unused]] const bool registered = [] {
    benchmark::RegisterBenchmark("queue_spsc/pktkernel", spsc_pktkernel);
    benchmark::RegisterBenchmark("queue_spsc/rte_ring", spsc_rte_ring);
    benchmark::RegisterBenchmark("queue_mpsc/pktkernel", mpsc_multicursor);
    benchmark::RegisterBenchmark("queue_mpsc/pktkernel_cas", mpsc_cas);
    benchmark::RegisterBenchmark("queue_mpsc/rte_ring", mpsc_rte_ring);
    benchmark::RegisterBenchmark("queue_broadcast4/pktkernel", broadcast_pktkernel);
    benchmark::RegisterBenchmark("queue_broadcast4/rte_ring_clone", broadcast_rte_ring_clone);
    return true;
}();

} // namespace
