// LINK: bounded single-producer / single-consumer ring (the seed's "Link" backend).
//
// Use it between exactly two threads (or lcores): one producer, one consumer. It is
// the building block of the inter-core mesh, of SUB's multicursor lanes and of
// CHANNEL. Guarantees: FIFO, lock-free, wait-free per call, no allocation after
// construction, every hot call noexcept.
//
// Threading contract (written again on each method):
//   producer only: try_push, try_emplace, push_burst, reserve, commit, free_space
//   consumer only: try_pop, pop_burst, peek, release, front
//   any thread:    size, empty, full, capacity (size/empty/full are snapshots)
//
// Layout: the producer's write index and its cached copy of the read index live on
// one 128-byte unit, the consumer's read index and cached write index on another, the
// read-only configuration on a third — so the two sides never write the same line and
// the adjacent-line prefetcher cannot pair them. Indices are free-running unsigned
// counters; `index & mask` is the slot, and `head - tail` (modular arithmetic) is the
// fill level, which stays correct when the counters wrap past SIZE_MAX.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

#include "base/cacheline.hh"
#include "base/compiler.hh"
#include "queue/detail.hh"

namespace pk::queue {

template <typename T>
class link {
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                  "link<T>: T must be nothrow move-constructible and destructible (hot path is "
                  "noexcept)");
    static_assert(std::is_nothrow_move_assignable_v<T> || std::is_trivially_copyable_v<T>,
                  "link<T>: pop moves into the caller's object, so T must be nothrow "
                  "move-assignable");

public:
    using value_type = T;

    /// capacity must be a power of two (throws std::invalid_argument otherwise). All
    /// `capacity` slots are usable. `initial_index` starts both counters there (tests
    /// use it to exercise wrap-around near SIZE_MAX).
    explicit link(std::size_t capacity, std::size_t initial_index = 0);
    ~link();
    link(const link&) = delete;
    link& operator=(const link&) = delete;

    // ---- producer only -------------------------------------------------------------
    /// Producer only. False if full.
    [[nodiscard]] bool try_push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) {
        return try_emplace(v);
    }
    /// Producer only. False if full (v is left untouched).
    [[nodiscard]] bool try_push(T&& v) noexcept { return try_emplace(std::move(v)); }
    /// Producer only. Constructs in place; false if full.
    template <typename... A>
    [[nodiscard]] bool try_emplace(A&&... a) noexcept(std::is_nothrow_constructible_v<T, A...>);
    /// Producer only. Copies up to n items; returns how many were pushed (0..n).
    [[nodiscard]] std::size_t
    push_burst(const T* items, std::size_t n) noexcept(std::is_nothrow_copy_constructible_v<T>);
    /// Producer only. Zero-copy write: up to n contiguous free slots (may be fewer, also
    /// because of the wrap point; empty if full). Fill them, then commit(k) with k <= size.
    [[nodiscard]] std::span<T>
    reserve(std::size_t n) noexcept requires std::is_trivially_copyable_v<T>;
    /// Producer only. Publishes k slots obtained from reserve().
    void commit(std::size_t k) noexcept;
    /// Producer only. Free slots (refreshes the cached read index).
    [[nodiscard]] std::size_t free_space() noexcept;

    // ---- consumer only -------------------------------------------------------------
    /// Consumer only. Moves the oldest item into out; false if empty.
    [[nodiscard]] bool try_pop(T& out) noexcept;
    /// Consumer only. Moves up to n items into out; returns how many (0..n).
    [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n) noexcept;
    /// Consumer only. Zero-copy read: up to n contiguous readable items, in place.
    [[nodiscard]] std::span<T> peek(std::size_t n = SIZE_MAX) noexcept;
    /// Consumer only. Destroys and frees the first k items seen through peek().
    void release(std::size_t k) noexcept;
    /// Consumer only. Oldest item or nullptr.
    [[nodiscard]] T* front() noexcept;

    // ---- any thread ------------------------------------------------------------------
    [[nodiscard]] std::size_t size() const noexcept {
        // Read tail first: head only grows, so head - tail never underflows.
        const std::size_t t = _cons.tail.load(std::memory_order_acquire);
        const std::size_t h = _prod.head.load(std::memory_order_acquire);
        const std::size_t s = h - t;
        return s > _capacity ? _capacity : s;
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] bool full() const noexcept { return size() == _capacity; }
    /// The consumer's position: items popped so far (counted from the initial index, 0
    /// unless given). Exact on the consumer's thread; a snapshot elsewhere.
    [[nodiscard]] std::size_t consumed() const noexcept {
        return _cons.tail.load(std::memory_order_acquire);
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return _capacity; }

private:
    /// Producer-side free slots for n wanted, refreshing the cached tail only if needed.
    PK_ALWAYS_INLINE std::size_t writable(std::size_t h, std::size_t n) noexcept {
        std::size_t free = _capacity - (h - _prod.cached_tail);
        if (free < n) {
            _prod.cached_tail = _cons.tail.load(std::memory_order_acquire);
            free = _capacity - (h - _prod.cached_tail);
        }
        return free;
    }
    PK_ALWAYS_INLINE std::size_t readable(std::size_t t, std::size_t n) noexcept {
        std::size_t avail = _cons.cached_head - t;
        if (avail < n) {
            _cons.cached_head = _prod.head.load(std::memory_order_acquire);
            avail = _cons.cached_head - t;
        }
        return avail;
    }

    struct alignas(destructive_interference) producer_side {
        std::atomic<std::size_t> head{0}; ///< next slot to write; written by producer
        std::size_t cached_tail{0};       ///< producer's last view of tail
    };
    struct alignas(destructive_interference) consumer_side {
        std::atomic<std::size_t> tail{0}; ///< next slot to read; written by consumer
        std::size_t cached_head{0};       ///< consumer's last view of head
    };

    // Read-only after construction; shared by both sides.
    alignas(destructive_interference) detail::slot_storage<T> _slots;
    std::size_t _capacity;
    std::size_t _mask;
    producer_side _prod;
    consumer_side _cons;

    static_assert(sizeof(producer_side) == destructive_interference &&
                      sizeof(consumer_side) == destructive_interference,
                  "link: each side must fill exactly one 128-byte unit (no false sharing)");
    static_assert(std::atomic<std::size_t>::is_always_lock_free, "link needs lock-free atomics");
};

// ---- definitions ---------------------------------------------------------------------

template <typename T>
link<T>::link(std::size_t capacity, std::size_t initial_index)
    : _slots((detail::require_pow2(capacity, "pk::queue::link"), capacity)), _capacity(capacity),
      _mask(capacity - 1) {
    _prod.head.store(initial_index, std::memory_order_relaxed);
    _prod.cached_tail = initial_index;
    _cons.tail.store(initial_index, std::memory_order_relaxed);
    _cons.cached_head = initial_index;
}

template <typename T>
link<T>::~link() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
        const std::size_t h = _prod.head.load(std::memory_order_acquire);
        for (std::size_t t = _cons.tail.load(std::memory_order_relaxed); t != h; ++t)
            _slots[t & _mask].~T();
    }
}

template <typename T>
template <typename... A>
bool link<T>::try_emplace(A&&... a) noexcept(std::is_nothrow_constructible_v<T, A...>) {
    const std::size_t h = _prod.head.load(std::memory_order_relaxed);
    if (PK_UNLIKELY(writable(h, 1) == 0)) return false;
    ::new (static_cast<void*>(&_slots[h & _mask])) T(std::forward<A>(a)...);
    _prod.head.store(h + 1, std::memory_order_release);
    return true;
}

template <typename T>
std::size_t link<T>::push_burst(const T* items,
                                std::size_t n) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    const std::size_t h = _prod.head.load(std::memory_order_relaxed);
    const std::size_t free = writable(h, n);
    if (n > free) n = free;
    if (PK_UNLIKELY(n == 0)) return 0;
    detail::copy_in(_slots.data(), _capacity, h & _mask, items, n);
    _prod.head.store(h + n, std::memory_order_release);
    return n;
}

template <typename T>
std::span<T> link<T>::reserve(std::size_t n) noexcept requires std::is_trivially_copyable_v<T> {
    const std::size_t h = _prod.head.load(std::memory_order_relaxed);
    std::size_t k = writable(h, n);
    const std::size_t first = h & _mask;
    if (k > n) k = n;
    if (k > _capacity - first) k = _capacity - first;
    return {_slots.data() + first, k};
}

template <typename T>
void link<T>::commit(std::size_t k) noexcept {
    const std::size_t h = _prod.head.load(std::memory_order_relaxed);
    _prod.head.store(h + k, std::memory_order_release);
}

template <typename T>
std::size_t link<T>::free_space() noexcept {
    const std::size_t h = _prod.head.load(std::memory_order_relaxed);
    return writable(h, _capacity);
}

template <typename T>
bool link<T>::try_pop(T& out) noexcept {
    const std::size_t t = _cons.tail.load(std::memory_order_relaxed);
    if (PK_UNLIKELY(readable(t, 1) == 0)) return false;
    T& slot = _slots[t & _mask];
    out = std::move(slot);
    slot.~T();
    _cons.tail.store(t + 1, std::memory_order_release);
    return true;
}

template <typename T>
std::size_t link<T>::pop_burst(T* out, std::size_t n) noexcept {
    const std::size_t t = _cons.tail.load(std::memory_order_relaxed);
    const std::size_t avail = readable(t, n);
    if (n > avail) n = avail;
    if (PK_UNLIKELY(n == 0)) return 0;
    detail::move_out(_slots.data(), _capacity, t & _mask, out, n);
    _cons.tail.store(t + n, std::memory_order_release);
    return n;
}

template <typename T>
std::span<T> link<T>::peek(std::size_t n) noexcept {
    const std::size_t t = _cons.tail.load(std::memory_order_relaxed);
    std::size_t k = readable(t, n == SIZE_MAX ? 1 : n);
    const std::size_t first = t & _mask;
    if (k > n) k = n;
    if (k > _capacity - first) k = _capacity - first;
    return {_slots.data() + first, k};
}

template <typename T>
void link<T>::release(std::size_t k) noexcept {
    const std::size_t t = _cons.tail.load(std::memory_order_relaxed);
    if constexpr (!std::is_trivially_destructible_v<T>)
        for (std::size_t i = 0; i < k; ++i)
            _slots[(t + i) & _mask].~T();
    _cons.tail.store(t + k, std::memory_order_release);
}

template <typename T>
T* link<T>::front() noexcept {
    const std::size_t t = _cons.tail.load(std::memory_order_relaxed);
    if (readable(t, 1) == 0) return nullptr;
    return &_slots[t & _mask];
}

} // namespace pk::queue
