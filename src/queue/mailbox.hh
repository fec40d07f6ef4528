// MAILBOX: single-producer / single-consumer ring of small records whose slots carry
// their own sequence number — the transport of the inter-core mesh.
//
// A LINK publishes through a shared head index: the consumer reads the head's line,
// then the slot's line — two cache-line transfers per message, one after the other
// (rte_ring does the same with prod.tail). Here the record's own `seq` field is the
// publication: the producer writes the record, then stores seq = its position with
// release; the consumer polls the slot at its tail and takes it when seq equals the
// position it expects. One line crosses per message when a record fits a line (the
// mesh's 64-byte message does). The producer still learns the consumer's progress from
// a tail index on the consumer's own line, read only when its cached copy says full.
//
// T: trivially copyable, standard layout, with a `std::uint32_t seq` member that the
// mailbox owns (the caller's value is ignored; the consumer sees the position, so the
// sequence per producer/consumer pair is gap-free by construction).
//
// Threading contract:
//   producer only: try_push, free_space
//   consumer only: peek, release, front, empty
//   any thread:    size, capacity (snapshots)
// Guarantees: FIFO, lock-free, wait-free per call, no allocation after construction,
// every hot call noexcept. capacity: a power of two, at most 2^31 (sequence numbers are
// 32-bit and a slot's previous occupant must differ from the position expected).
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "base/cacheline.hh"
#include "base/compiler.hh"
#include "queue/detail.hh"

namespace pk::queue {

template <typename T>
concept mailbox_record = std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T> &&
    std::default_initializable<T> && std::same_as<decltype(T::seq), std::uint32_t> &&
    (alignof(T) >= alignof(std::uint32_t));

template <mailbox_record T>
class mailbox {
public:
    using value_type = T;

    /// capacity: power of two, at most 2^31 (throws std::invalid_argument otherwise).
    /// `initial_index` starts both positions there (tests exercise 32-bit wrap with it).
    explicit mailbox(std::size_t capacity, std::size_t initial_index = 0);
    mailbox(const mailbox&) = delete;
    mailbox& operator=(const mailbox&) = delete;

    // ---- producer only -------------------------------------------------------------
    /// Producer only. Copies v into the next slot and publishes it; false if full.
    [[nodiscard]] bool try_push(const T& v) noexcept {
        const std::size_t h = _prod.head;
        if (PK_UNLIKELY(h - _prod.cached_tail >= _capacity)) {
            _prod.cached_tail = _cons.tail.load(std::memory_order_acquire);
            if (h - _prod.cached_tail >= _capacity) return false;
        }
        T& s = _slots[h & _mask];
        // Everything but seq, then seq with release: the consumer polls seq
        // concurrently, so it is never written by the plain copy.
        auto* d = reinterpret_cast<unsigned char*>(&s);
        const auto* src = reinterpret_cast<const unsigned char*>(&v);
        std::memcpy(d, src, seq_offset);
        std::memcpy(d + seq_end, src + seq_end, sizeof(T) - seq_end);
        std::atomic_ref<std::uint32_t>(s.seq).store(static_cast<std::uint32_t>(h),
                                                    std::memory_order_release);
        _prod.head = h + 1;
        _prod.published.store(h + 1, std::memory_order_relaxed);
        return true;
    }
    /// Producer only. Free slots (refreshes the cached tail).
    [[nodiscard]] std::size_t free_space() noexcept {
        _prod.cached_tail = _cons.tail.load(std::memory_order_acquire);
        return _capacity - (_prod.head - _prod.cached_tail);
    }

    // ---- consumer only -------------------------------------------------------------
    /// Consumer only. Up to n published records, contiguous, in place (fewer at the
    /// wrap point); empty if none. Read them, then release(k) with k <= size.
    [[nodiscard]] std::span<T> peek(std::size_t n = SIZE_MAX) noexcept {
        const std::size_t t = _cons.tail.load(std::memory_order_relaxed);
        const std::size_t first = t & _mask;
        std::size_t lim = _capacity - first;
        if (n < lim) lim = n;
        std::size_t k = 0;
        while (k < lim && published(first + k, t + k))
            ++k;
        return {_slots.data() + first, k};
    }
    /// Consumer only. Frees the first k records seen through peek().
    void release(std::size_t k) noexcept {
        const std::size_t t = _cons.tail.load(std::memory_order_relaxed);
        _cons.tail.store(t + k, std::memory_order_release);
    }
    /// Consumer only. Oldest record or nullptr.
    [[nodiscard]] T* front() noexcept {
        const std::size_t t = _cons.tail.load(std::memory_order_relaxed);
        return published(t & _mask, t) ? &_slots[t & _mask] : nullptr;
    }
    /// Consumer only: exact. (Another thread: use size().)
    [[nodiscard]] bool empty() noexcept { return front() == nullptr; }

    // ---- any thread ------------------------------------------------------------------
    [[nodiscard]] std::size_t size() const noexcept {
        const std::size_t t = _cons.tail.load(std::memory_order_acquire);
        const std::size_t h = _prod.published.load(std::memory_order_acquire);
        const std::size_t s = h - t;
        // The consumer may release a record before the producer's `published` store lands:
        // then h - t wraps, and the snapshot is 0.
        return s > _capacity ? 0 : s;
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return _capacity; }

private:
    static constexpr std::size_t seq_offset = offsetof(T, seq);
    static constexpr std::size_t seq_end = seq_offset + sizeof(std::uint32_t);

    PK_ALWAYS_INLINE bool published(std::size_t slot, std::size_t pos) noexcept {
        return std::atomic_ref<std::uint32_t>(_slots[slot].seq).load(std::memory_order_acquire) ==
               static_cast<std::uint32_t>(pos);
    }

    struct alignas(destructive_interference) producer_side {
        std::size_t head = 0;                  ///< next position to write (producer's own)
        std::size_t cached_tail = 0;           ///< producer's last view of tail
        std::atomic<std::size_t> published{0}; ///< head, for size() snapshots only
    };
    struct alignas(destructive_interference) consumer_side {
        std::atomic<std::size_t> tail{0}; ///< next position to read; written by consumer
    };

    // Read-only after construction; shared by both sides.
    alignas(destructive_interference) detail::slot_storage<T> _slots;
    std::size_t _capacity;
    std::size_t _mask;
    producer_side _prod;
    consumer_side _cons;

    static_assert(sizeof(producer_side) == destructive_interference &&
                      sizeof(consumer_side) == destructive_interference,
                  "mailbox: each side must fill exactly one 128-byte unit (no false sharing)");
};

template <mailbox_record T>
mailbox<T>::mailbox(std::size_t capacity, std::size_t initial_index)
    : _slots((detail::require_pow2(capacity, "pk::queue::mailbox"),
              detail::require_at_most(capacity, std::size_t{1} << 31, "pk::queue::mailbox"),
              capacity)),
      _capacity(capacity), _mask(capacity - 1) {
    // Every slot starts as the previous lap's occupant of its position, so no slot looks
    // published until the producer writes it.
    for (std::size_t j = 0; j < capacity; ++j) {
        const std::size_t pos = initial_index + j;
        T* s = ::new (static_cast<void*>(&_slots[pos & _mask])) T{};
        s->seq = static_cast<std::uint32_t>(pos - capacity);
    }
    _prod.head = initial_index;
    _prod.cached_tail = initial_index;
    _prod.published.store(initial_index, std::memory_order_relaxed);
    _cons.tail.store(initial_index, std::memory_order_relaxed);
}

} // namespace pk::queue
