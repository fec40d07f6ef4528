// SUB: multi-producer / single-consumer queues, in the two forms the seed names.
//
// `mpsc_ring<T>` — one bounded ring; producers reserve slots with a CAS on the shared
// head, fill them, and publish with relaxed tail sync (the scheme of DPDK's RTS rings):
// head and tail each carry a position and a count of operations; a producer that has
// written its slots bumps the tail's count, and the one that brings it level with the
// head's count moves the tail's position to the head. No producer waits for another, so
// a producer preempted between reserve and publish (producers sharing a core) delays
// only the consumer's view, never the other producers. Use it when producers come and
// go freely and memory matters more than the last nanosecond.
//
// `multicursor<T>` — one LINK (SPSC lane) per producer, polled by the single consumer:
// no CAS and no shared producer line, so producers never contend. Lanes are added
// (`add_producer`) and removed (`producer::close`, or the handle's destructor) while
// the queue runs; the consumer drains a closed lane and then frees it.
//
// Both keep FIFO order per producer (not a global order across producers).
//
// Threading contract:
//   mpsc_ring:   try_push/push_burst from any number of threads; try_pop/pop_burst
//                from one consumer; size/capacity/empty from anywhere (snapshots).
//   multicursor: add_producer from any thread (not the hot path: it allocates);
//                each producer handle used by one thread at a time; pop_* from the
//                one consumer; size/empty/lanes from anywhere (snapshots).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "base/cacheline.hh"
#include "base/compiler.hh"
#include "queue/detail.hh"
#include "queue/link.hh"

namespace pk::queue {

// ======================================================================================
// mpsc_ring — CAS-reserved ring
// ======================================================================================
template <typename T>
class mpsc_ring {
    static_assert(std::is_trivially_copyable_v<T>,
                  "mpsc_ring<T>: T must be trivially copyable (slots are reserved before "
                  "they are written, as in rte_ring); use multicursor<T> for other types");

public:
    using value_type = T;

    /// capacity: power of two, at most 2^31 (throws std::invalid_argument otherwise).
    /// Positions are 32-bit free-running counters; `initial_index` (mod 2^32) starts them
    /// there (tests use it to exercise wrap-around).
    explicit mpsc_ring(std::size_t capacity, std::size_t initial_index = 0);
    mpsc_ring(const mpsc_ring&) = delete;
    mpsc_ring& operator=(const mpsc_ring&) = delete;

    /// Any producer thread. False if full.
    [[nodiscard]] bool try_push(const T& v) noexcept { return push_burst(&v, 1) == 1; }
    /// Any producer thread. Pushes up to n items as one contiguous run; returns the count.
    [[nodiscard]] std::size_t push_burst(const T* items, std::size_t n) noexcept;
    /// Consumer only.
    [[nodiscard]] bool try_pop(T& out) noexcept { return pop_burst(&out, 1) == 1; }
    /// Consumer only. Returns how many were popped (0..n).
    [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n) noexcept;

    [[nodiscard]] std::size_t size() const noexcept {
        const std::uint32_t t = _cons.tail.load(std::memory_order_acquire);
        const std::uint32_t h = pos(_prod.tail.load(std::memory_order_acquire));
        const std::uint32_t s = h - t;
        return s > _capacity ? _capacity : s;
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] std::size_t capacity() const noexcept { return _capacity; }

private:
    // A position and an operation count in one word, so one CAS moves both.
    static constexpr std::uint32_t pos(std::uint64_t v) noexcept {
        return static_cast<std::uint32_t>(v);
    }
    static constexpr std::uint32_t cnt(std::uint64_t v) noexcept {
        return static_cast<std::uint32_t>(v >> 32);
    }
    static constexpr std::uint64_t pack(std::uint32_t p, std::uint32_t c) noexcept {
        return std::uint64_t{c} << 32 | p;
    }

    struct alignas(destructive_interference) producer_side {
        std::atomic<std::uint64_t> head{0};        ///< {next slot to reserve, reservations}
        std::atomic<std::uint32_t> cached_tail{0}; ///< producers' view of the consumer tail
    };
    struct alignas(destructive_interference) publish_side {
        std::atomic<std::uint64_t> tail{0}; ///< {all below is written, publications}
    };
    struct alignas(destructive_interference) consumer_side {
        std::atomic<std::uint32_t> tail{0}; ///< next slot to read
        std::uint32_t cached_head{0};
    };

    alignas(destructive_interference) detail::slot_storage<T> _slots;
    std::uint32_t _capacity;
    std::uint32_t _mask;
    producer_side _head;
    publish_side _prod;
    consumer_side _cons;
};

template <typename T>
mpsc_ring<T>::mpsc_ring(std::size_t capacity, std::size_t initial_index)
    : _slots((detail::require_pow2(capacity, "pk::queue::mpsc_ring"),
              detail::require_at_most(capacity, std::size_t{1} << 31, "pk::queue::mpsc_ring"),
              capacity)),
      _capacity(static_cast<std::uint32_t>(capacity)),
      _mask(static_cast<std::uint32_t>(capacity - 1)) {
    const auto i = static_cast<std::uint32_t>(initial_index);
    _head.head.store(pack(i, 0), std::memory_order_relaxed);
    _head.cached_tail.store(i, std::memory_order_relaxed);
    _prod.tail.store(pack(i, 0), std::memory_order_relaxed);
    _cons.tail.store(i, std::memory_order_relaxed);
    _cons.cached_head = i;
}

template <typename T>
std::size_t mpsc_ring<T>::push_burst(const T* items, std::size_t n) noexcept {
    // Reserve: move head.pos by k and count one more operation.
    std::uint64_t oh = _head.head.load(std::memory_order_acquire);
    std::uint32_t k;
    for (;;) {
        const std::uint32_t h = pos(oh);
        // acquire/release on cached_tail carries the consumer's "slot is read" (its
        // release of tail, acquired by whichever producer refreshed the cache) to us.
        std::uint32_t used = h - _head.cached_tail.load(std::memory_order_acquire);
        if (used > _capacity || _capacity - used < n) {
            const std::uint32_t t = _cons.tail.load(std::memory_order_acquire);
            _head.cached_tail.store(t, std::memory_order_release);
            used = h - t;
        }
        if (PK_UNLIKELY(used > _capacity)) { // our head is older than the tail we read
            oh = _head.head.load(std::memory_order_acquire);
            continue;
        }
        const std::uint32_t free = _capacity - used;
        k = n < free ? static_cast<std::uint32_t>(n) : free;
        if (k == 0) return 0;
        if (_head.head.compare_exchange_weak(oh, pack(h + k, cnt(oh) + 1),
                                             std::memory_order_acquire, std::memory_order_acquire))
            break;
    }
    detail::copy_in(_slots.data(), _capacity, pos(oh) & _mask, items, k);
    // Publish: count this operation done; the one that completes every reservation made
    // so far moves tail.pos up to the head it saw. The CASes on tail form one release
    // sequence, so the consumer's acquire of tail sees every finished producer's slots.
    std::uint64_t ot = _prod.tail.load(std::memory_order_acquire);
    std::uint64_t nt;
    do {
        const std::uint64_t h = _head.head.load(std::memory_order_acquire);
        const std::uint32_t c = cnt(ot) + 1;
        nt = pack(c == cnt(h) ? pos(h) : pos(ot), c);
    } while (!_prod.tail.compare_exchange_weak(ot, nt, std::memory_order_release,
                                               std::memory_order_acquire));
    return k;
}

template <typename T>
std::size_t mpsc_ring<T>::pop_burst(T* out, std::size_t n) noexcept {
    const std::uint32_t t = _cons.tail.load(std::memory_order_relaxed);
    std::uint32_t avail = _cons.cached_head - t;
    if (avail < n) {
        _cons.cached_head = pos(_prod.tail.load(std::memory_order_acquire));
        avail = _cons.cached_head - t;
    }
    if (n > avail) n = avail;
    if (n == 0) return 0;
    detail::move_out(_slots.data(), _capacity, t & _mask, out, n);
    _cons.tail.store(t + static_cast<std::uint32_t>(n), std::memory_order_release);
    return n;
}

// ======================================================================================
// multicursor — one SPSC lane per producer
// ======================================================================================
template <typename T>
class multicursor {
    struct lane {
        explicit lane(std::size_t cap) : ring(cap) {}
        link<T> ring;
        alignas(destructive_interference) std::atomic<bool> closed{false};
    };

public:
    using value_type = T;

    /// A producer's handle: owns one lane. Use from one thread at a time; movable, so it
    /// can be handed to another core. Closing (or destroying) it lets the consumer drain
    /// the lane and free it.
    class producer {
    public:
        producer() noexcept = default;
        producer(producer&& o) noexcept : _lane(std::exchange(o._lane, nullptr)) {}
        producer& operator=(producer&& o) noexcept {
            if (this != &o) {
                close();
                _lane = std::exchange(o._lane, nullptr);
            }
            return *this;
        }
        ~producer() { close(); }

        [[nodiscard]] bool valid() const noexcept { return _lane != nullptr; }
        [[nodiscard]] bool try_push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) {
            return _lane->ring.try_push(v);
        }
        [[nodiscard]] bool try_push(T&& v) noexcept { return _lane->ring.try_push(std::move(v)); }
        [[nodiscard]] std::size_t
        push_burst(const T* items,
                   std::size_t n) noexcept(std::is_nothrow_copy_constructible_v<T>) {
            return _lane->ring.push_burst(items, n);
        }
        /// Items the consumer has popped from this lane (exact on the consumer's thread).
        [[nodiscard]] std::size_t consumed() const noexcept {
            return _lane ? _lane->ring.consumed() : 0;
        }
        /// Stops producing. Items already pushed are still delivered.
        void close() noexcept {
            if (_lane) std::exchange(_lane, nullptr)->closed.store(true, std::memory_order_release);
        }

    private:
        friend class multicursor;
        explicit producer(lane* l) noexcept : _lane(l) {}
        lane* _lane = nullptr;
    };

    /// lane_capacity: power of two; max_producers: bound on simultaneously open lanes.
    explicit multicursor(std::size_t lane_capacity, std::size_t max_producers = 64);
    ~multicursor();
    multicursor(const multicursor&) = delete;
    multicursor& operator=(const multicursor&) = delete;

    /// Any thread (allocates; not the hot path). Returns an invalid handle if
    /// max_producers lanes are open.
    [[nodiscard]] producer add_producer();

    /// Consumer only. Pops up to n items, visiting lanes round-robin (a lane's items stay
    /// in order). Frees lanes that are closed and drained.
    [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n) noexcept;
    [[nodiscard]] bool try_pop(T& out) noexcept { return pop_burst(&out, 1) == 1; }

    /// Snapshots (any thread).
    [[nodiscard]] std::size_t size() const noexcept;
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] std::size_t capacity() const noexcept { return _lane_capacity * _max; }
    [[nodiscard]] std::size_t lanes() const noexcept;

private:
    template <typename F>
    void for_each_lane(F&& f) const noexcept {
        const std::size_t hwm = _hwm.load(std::memory_order_acquire);
        for (std::size_t i = 0; i < hwm; ++i)
            if (lane* l = _lanes[i].load(std::memory_order_acquire)) f(*l);
    }
    std::size_t _lane_capacity;
    std::size_t _max;
    std::unique_ptr<std::atomic<lane*>[]> _lanes;
    alignas(destructive_interference) std::atomic<std::size_t> _hwm{0}; ///< slots ever used
    alignas(destructive_interference) std::size_t _next = 0;            ///< consumer's RR start
};

template <typename T>
multicursor<T>::multicursor(std::size_t lane_capacity, std::size_t max_producers)
    : _lane_capacity(
          (detail::require_pow2(lane_capacity, "pk::queue::multicursor"), lane_capacity)),
      _max(max_producers), _lanes(new std::atomic<lane*>[max_producers]) {
    for (std::size_t i = 0; i < _max; ++i)
        _lanes[i].store(nullptr, std::memory_order_relaxed);
}

template <typename T>
multicursor<T>::~multicursor() {
    for (std::size_t i = 0; i < _max; ++i)
        delete _lanes[i].load(std::memory_order_acquire);
}

template <typename T>
typename multicursor<T>::producer multicursor<T>::add_producer() {
    auto l = std::make_unique<lane>(_lane_capacity);
    for (std::size_t i = 0; i < _max; ++i) {
        lane* expected = nullptr;
        if (_lanes[i].compare_exchange_strong(expected, l.get(), std::memory_order_acq_rel)) {
            std::size_t hwm = _hwm.load(std::memory_order_relaxed);
            while (hwm < i + 1 &&
                   !_hwm.compare_exchange_weak(hwm, i + 1, std::memory_order_release)) {
            }
            return producer(l.release());
        }
    }
    return producer();
}

template <typename T>
std::size_t multicursor<T>::pop_burst(T* out, std::size_t n) noexcept {
    const std::size_t hwm = _hwm.load(std::memory_order_acquire);
    if (hwm == 0) return 0;
    std::size_t got = 0;
    std::size_t i = _next < hwm ? _next : 0;
    for (std::size_t visited = 0; visited < hwm && got < n; ++visited) {
        lane* l = _lanes[i].load(std::memory_order_acquire);
        if (l) {
            // Read closed before popping: if it was closed, every push happened before,
            // so an empty pop after it proves the lane is drained.
            const bool closed = l->closed.load(std::memory_order_acquire);
            const std::size_t k = l->ring.pop_burst(out + got, n - got);
            got += k;
            if (closed && k == 0) {
                _lanes[i].store(nullptr, std::memory_order_release);
                delete l; // cold: only when a producer has gone
            }
        }
        if (++i == hwm) i = 0;
    }
    _next = i;
    return got;
}

template <typename T>
std::size_t multicursor<T>::size() const noexcept {
    // Snapshot for statistics: the consumer may free a lane concurrently, so only the
    // consumer thread may call this while producers close lanes.
    std::size_t s = 0;
    for_each_lane([&](lane& l) { s += l.ring.size(); });
    return s;
}

template <typename T>
std::size_t multicursor<T>::lanes() const noexcept {
    std::size_t c = 0;
    for_each_lane([&](lane&) { ++c; });
    return c;
}

} // namespace pk::queue
