// PUB: "Turbine", the broadcast single-producer / multi-subscriber ring (Disruptor style).
//
// Use it to fan one stream out to several consumers without copies or refcounts: the
// producer writes each item once; every subscriber cursor reads every item in place;
// when all cursors have passed a slot its release hook runs exactly once (for mbufs:
// free the packet there). The producer is gated by the slowest active cursor; what it
// does when that cursor is a full ring behind is the ring's `slow_policy`:
//   backpressure — push returns fewer items (the caller keeps the rest and retries);
//   drop_newest  — same return, and the refused items are counted in dropped();
//   evict        — the lagging cursor jumps ahead (keeps the newest half of the ring)
//                  and counts what it missed; the producer never waits for it.
//
// Subscribing is race-free at run time: subscribe() (any thread) claims a cursor record
// as *pending*; only the producer activates it (in its next push or service()), at its
// current head, so a joining cursor can never point at a slot the producer is about to
// reuse or release. A subscriber sees the items published after its activation.
// Unsubscribing (any time, by the subscriber) stops gating at once. A cursor can be
// handed to another core with detach() -> cursor_token -> attach(): while in transit it
// keeps gating the producer, so nothing is lost or released early.
//
// Threading contract:
//   producer thread only: try_push, push_burst, service
//   subscriber handle: one thread at a time (move it, or detach/attach, to migrate)
//   any thread: subscribe, size, capacity, subscribers, lag, dropped, evictions
//
// Indices are free-running size_t counters (slot = index & mask); comparisons use
// modular differences, so wrap-around past SIZE_MAX is fine.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>

#include "base/cacheline.hh"
#include "base/compiler.hh"
#include "queue/detail.hh"

namespace pk::queue {

enum class slow_policy : std::uint8_t { backpressure, drop_newest, evict };

template <typename T>
class turbine {
    static_assert(std::is_nothrow_copy_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                  "turbine<T>: T must be nothrow copy-constructible and destructible");

    enum : std::uint32_t { st_free = 0, st_pending = 1, st_active = 2 };

    /// One per subscriber, on its own 128-byte unit (written by that subscriber).
    struct alignas(destructive_interference) cursor_rec {
        std::atomic<std::size_t> pos{0}; ///< next item to read
        std::atomic<std::uint32_t> state{st_free};
        std::atomic<std::uint32_t> reading{0};  ///< evict policy: subscriber in peek..release
        std::atomic<std::uint32_t> evicting{0}; ///< evict policy: producer moving pos
        std::atomic<std::uint64_t> missed{0};   ///< items skipped by eviction
    };

public:
    using value_type = T;
    /// Runs on the producer thread for each run of slots every cursor has passed, before
    /// the objects are destroyed. Must not throw.
    using release_fn = void (*)(T* items, std::size_t n, void* ctx) noexcept;

    struct options {
        slow_policy policy = slow_policy::backpressure;
        std::size_t max_subscribers = 16;
        release_fn on_release = nullptr;
        void* release_ctx = nullptr;
        /// The producer looks for slots every cursor has passed (and releases them)
        /// once this many are held — at most once per this many items published, so a
        /// lagging subscriber costs no cursor reads per push — not only when the ring
        /// is full: small release runs
        /// keep the released objects hot (for mbufs: in the mempool's per-lcore cache,
        /// which a ring's worth of frees would overflow). Capped at capacity / 2.
        std::size_t release_batch = 64;
        std::size_t initial_index = 0; ///< tests: start counters near SIZE_MAX
    };

    /// Trivially copyable name of a subscriber cursor, for hand-off between cores.
    struct cursor_token {
        turbine* ring = nullptr;
        std::uint32_t index = 0;
    };

    class subscriber;

    /// capacity: power of two (throws std::invalid_argument otherwise).
    explicit turbine(std::size_t capacity, options o);
    explicit turbine(std::size_t capacity) : turbine(capacity, options{}) {}
    /// Every subscriber handle must be gone. Releases the unreleased items.
    ~turbine();
    turbine(const turbine&) = delete;
    turbine& operator=(const turbine&) = delete;

    // ---- any thread --------------------------------------------------------------------
    /// Claims a cursor; it becomes active at the producer's next push/service(). Returns
    /// an invalid handle when max_subscribers cursors are in use.
    [[nodiscard]] subscriber subscribe() noexcept;
    /// Rebuilds a handle from a token produced by subscriber::detach() (on any core).
    [[nodiscard]] subscriber attach(cursor_token t) noexcept;

    // ---- producer only -------------------------------------------------------------------
    [[nodiscard]] bool try_push(const T& v) noexcept { return push_burst(&v, 1) == 1; }
    /// Copies up to n items in; returns how many were published (see slow_policy).
    [[nodiscard]] std::size_t push_burst(const T* items, std::size_t n) noexcept;
    /// Activates pending subscribers and runs release hooks for every slot all cursors
    /// have passed. Call it when idle so items are released promptly. Returns released.
    std::size_t service() noexcept;

    // ---- statistics (any thread, snapshots) ----------------------------------------------
    [[nodiscard]] std::size_t capacity() const noexcept { return _capacity; }
    /// Items published and not yet released.
    [[nodiscard]] std::size_t size() const noexcept {
        return _pub.head.load(std::memory_order_acquire) -
               _released_pub.load(std::memory_order_acquire);
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] std::size_t subscribers() const noexcept;
    [[nodiscard]] std::uint64_t dropped() const noexcept {
        return _dropped.load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t evictions() const noexcept {
        return _evictions.load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t released() const noexcept {
        return _released_total.load(std::memory_order_relaxed);
    }
    [[nodiscard]] slow_policy policy() const noexcept { return _opt.policy; }

private:
    void activate_pending() noexcept;
    std::size_t refresh_and_reclaim() noexcept;
    /// Runs the release hook (and destructors) over [_released, target), in contiguous
    /// runs; returns how many slots were released.
    std::size_t release_to(std::size_t target) noexcept;
    void evict_laggards(std::size_t n) noexcept;

    // read-only after construction
    alignas(destructive_interference) detail::slot_storage<T> _slots;
    std::size_t _capacity;
    std::size_t _mask;
    options _opt;
    std::unique_ptr<cursor_rec[]> _curs;

    // producer private
    alignas(destructive_interference) std::size_t _h;
    std::size_t _cached_min;
    std::size_t _released;
    std::size_t _reclaim_at; ///< release once this many slots are held (options)
    /// Head at which the next early release check is due: at most one check of the
    /// cursors per `_reclaim_at` items published, however far a subscriber lags.
    std::size_t _next_check;
    std::atomic<std::uint64_t> _dropped{0};
    std::atomic<std::uint64_t> _evictions{0};
    std::atomic<std::uint64_t> _released_total{0};
    std::atomic<std::size_t> _released_pub{0};

    // read by every subscriber
    struct alignas(destructive_interference) published {
        std::atomic<std::size_t> head{0};
    } _pub;

    // written rarely (subscribe), read by the producer on every push
    alignas(destructive_interference) std::atomic<int> _pending{0};
    std::atomic<std::uint32_t> _hwm{0};
};

// ======================================================================================
template <typename T>
class turbine<T>::subscriber {
public:
    subscriber() noexcept = default;
    subscriber(subscriber&& o) noexcept { *this = std::move(o); }
    subscriber& operator=(subscriber&& o) noexcept {
        if (this != &o) {
            unsubscribe();
            _ring = std::exchange(o._ring, nullptr);
            _rec = std::exchange(o._rec, nullptr);
            _index = o._index;
            _pos = o._pos;
            _cached_head = o._cached_head;
            _active = o._active;
        }
        return *this;
    }
    ~subscriber() { unsubscribe(); }

    [[nodiscard]] bool valid() const noexcept { return _rec != nullptr; }
    /// True once the producer has activated this cursor.
    [[nodiscard]] bool active() noexcept { return check_active(); }

    /// In-place view of up to n readable items (contiguous; may be fewer than ready).
    /// Every peek must be followed by release(k), k <= the span's size (k may be 0).
    [[nodiscard]] std::span<const T> peek(std::size_t n = SIZE_MAX) noexcept;
    /// Marks the first k peeked items as read.
    void release(std::size_t k) noexcept;
    /// Copies up to n items out (the ring keeps its copy for the other subscribers).
    [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n) noexcept;
    [[nodiscard]] bool try_pop(T& out) noexcept { return pop_burst(&out, 1) == 1; }

    /// Items published and not yet read by this cursor.
    [[nodiscard]] std::size_t lag() const noexcept {
        if (!_rec || _rec->state.load(std::memory_order_acquire) != st_active) return 0;
        return _ring->_pub.head.load(std::memory_order_acquire) -
               _rec->pos.load(std::memory_order_acquire);
    }
    /// Items this cursor skipped because it was evicted.
    [[nodiscard]] std::uint64_t missed() const noexcept {
        return _rec ? _rec->missed.load(std::memory_order_relaxed) : 0;
    }
    [[nodiscard]] std::uint32_t index() const noexcept { return _index; }

    /// Leaves the ring: stops gating the producer immediately.
    void unsubscribe() noexcept;
    /// Hands the cursor over: this handle becomes empty, the cursor stays subscribed
    /// (and keeps gating) until turbine::attach(token) on the receiving core.
    [[nodiscard]] cursor_token detach() noexcept {
        cursor_token t{_ring, _index};
        _ring = nullptr;
        _rec = nullptr;
        return t;
    }

private:
    friend class turbine;
    subscriber(turbine* r, std::uint32_t i) noexcept : _ring(r), _rec(&r->_curs[i]), _index(i) {}
    bool check_active() noexcept {
        if (PK_LIKELY(_active)) return true;
        if (!_rec || _rec->state.load(std::memory_order_acquire) != st_active) return false;
        _pos = _rec->pos.load(std::memory_order_relaxed);
        _cached_head = _pos;
        _active = true;
        return true;
    }

    turbine* _ring = nullptr;
    cursor_rec* _rec = nullptr;
    std::uint32_t _index = 0;
    std::size_t _pos = 0;
    std::size_t _cached_head = 0;
    bool _active = false;
};

// ---- definitions ----------------------------------------------------------------------

template <typename T>
turbine<T>::turbine(std::size_t capacity, options o)
    : _slots((detail::require_pow2(capacity, "pk::queue::turbine"), capacity)), _capacity(capacity),
      _mask(capacity - 1), _opt(o), _curs(new cursor_rec[o.max_subscribers]), _h(o.initial_index),
      _cached_min(o.initial_index), _released(o.initial_index),
      _reclaim_at(o.release_batch == 0 || o.release_batch > capacity / 2
                      ? (capacity > 1 ? capacity / 2 : 1)
                      : o.release_batch),
      _next_check(o.initial_index + _reclaim_at) {
    _pub.head.store(_h, std::memory_order_relaxed);
    _released_pub.store(_h, std::memory_order_relaxed);
}

template <typename T>
turbine<T>::~turbine() {
    // No cursor may remain: release everything still held.
    release_to(_h);
}

template <typename T>
typename turbine<T>::subscriber turbine<T>::subscribe() noexcept {
    for (std::uint32_t i = 0; i < _opt.max_subscribers; ++i) {
        std::uint32_t expected = st_free;
        if (_curs[i].state.compare_exchange_strong(expected, st_pending,
                                                   std::memory_order_acq_rel)) {
            _curs[i].missed.store(0, std::memory_order_relaxed);
            std::uint32_t hwm = _hwm.load(std::memory_order_relaxed);
            while (hwm < i + 1 && !_hwm.compare_exchange_weak(hwm, i + 1)) {
            }
            _pending.fetch_add(1, std::memory_order_release);
            return subscriber(this, i);
        }
    }
    return subscriber();
}

template <typename T>
typename turbine<T>::subscriber turbine<T>::attach(cursor_token t) noexcept {
    if (t.ring != this || t.index >= _opt.max_subscribers) return subscriber();
    return subscriber(this, t.index);
}

template <typename T>
void turbine<T>::activate_pending() noexcept {
    const std::uint32_t hwm = _hwm.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < hwm; ++i) {
        std::uint32_t expected = st_pending;
        if (_curs[i].state.load(std::memory_order_relaxed) != st_pending) continue;
        // Start at our head: slots >= _h are neither readable nor released yet.
        _curs[i].pos.store(_h, std::memory_order_relaxed);
        if (_curs[i].state.compare_exchange_strong(expected, st_active, std::memory_order_acq_rel))
            _pending.fetch_sub(1, std::memory_order_relaxed);
    }
}

template <typename T>
std::size_t turbine<T>::release_to(std::size_t target) noexcept {
    std::size_t freed = 0;
    while (_released != target) {
        const std::size_t first = _released & _mask;
        std::size_t run = target - _released;
        if (run > _capacity - first) run = _capacity - first;
        if (_opt.on_release) _opt.on_release(_slots.data() + first, run, _opt.release_ctx);
        if constexpr (!std::is_trivially_destructible_v<T>)
            for (std::size_t i = 0; i < run; ++i)
                _slots[first + i].~T();
        _released += run;
        freed += run;
    }
    return freed;
}

template <typename T>
std::size_t turbine<T>::refresh_and_reclaim() noexcept {
    // Slowest active cursor. acquire pairs with the subscriber's release of pos: its
    // reads of those slots happen before we release and overwrite them.
    std::size_t min_lag = 0;
    const std::uint32_t hwm = _hwm.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < hwm; ++i) {
        if (_curs[i].state.load(std::memory_order_acquire) != st_active) continue;
        const std::size_t lag = _h - _curs[i].pos.load(std::memory_order_acquire);
        if (lag > min_lag && lag <= _capacity) min_lag = lag;
    }
    const std::size_t min = _h - min_lag;
    _cached_min = min;
    const std::size_t freed = release_to(min);
    if (freed) {
        _released_pub.store(_released, std::memory_order_release);
        _released_total.store(_released_total.load(std::memory_order_relaxed) + freed,
                              std::memory_order_relaxed);
    }
    return freed;
}

template <typename T>
void turbine<T>::evict_laggards(std::size_t n) noexcept {
    const std::size_t keep = n <= _capacity / 2 ? _capacity / 2 : _capacity - n;
    const std::size_t target = _h - keep; // new position for a cursor that is too far behind
    const std::uint32_t hwm = _hwm.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < hwm; ++i) {
        cursor_rec& c = _curs[i];
        if (c.state.load(std::memory_order_acquire) != st_active) continue;
        const std::size_t lag = _h - c.pos.load(std::memory_order_acquire);
        if (lag + n <= _capacity) continue;
        // Dekker handshake with the subscriber's peek: never move a cursor that is
        // reading slots in place.
        c.evicting.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (c.reading.load(std::memory_order_acquire) == 0) {
            const std::size_t p = c.pos.load(std::memory_order_acquire);
            if (_h - p > keep && _h - p <= _capacity) {
                c.missed.store(c.missed.load(std::memory_order_relaxed) + (target - p),
                               std::memory_order_relaxed);
                c.pos.store(target, std::memory_order_release);
                _evictions.store(_evictions.load(std::memory_order_relaxed) + 1,
                                 std::memory_order_relaxed);
            }
        }
        c.evicting.store(0, std::memory_order_release);
    }
}

template <typename T>
std::size_t turbine<T>::push_burst(const T* items, std::size_t n) noexcept {
    if (PK_UNLIKELY(_pending.load(std::memory_order_relaxed) != 0)) activate_pending();
    std::size_t free = _capacity - (_h - _cached_min);
    const bool check_due = static_cast<std::ptrdiff_t>(_h - _next_check) >= 0;
    if (free < n || (check_due && _capacity - free >= _reclaim_at)) {
        _next_check = _h + _reclaim_at;
        refresh_and_reclaim();
        free = _capacity - (_h - _cached_min);
        if (free < n && _opt.policy == slow_policy::evict) {
            evict_laggards(n);
            refresh_and_reclaim();
            free = _capacity - (_h - _cached_min);
        }
    }
    std::size_t k = n < free ? n : free;
    if (k < n && _opt.policy == slow_policy::drop_newest)
        _dropped.store(_dropped.load(std::memory_order_relaxed) + (n - k),
                       std::memory_order_relaxed);
    if (k == 0) return 0;
    detail::copy_in(_slots.data(), _capacity, _h & _mask, items, k);
    _h += k;
    _pub.head.store(_h, std::memory_order_release);
    return k;
}

template <typename T>
std::size_t turbine<T>::service() noexcept {
    if (_pending.load(std::memory_order_relaxed) != 0) activate_pending();
    return refresh_and_reclaim();
}

template <typename T>
std::size_t turbine<T>::subscribers() const noexcept {
    std::size_t c = 0;
    const std::uint32_t hwm = _hwm.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < hwm; ++i)
        if (_curs[i].state.load(std::memory_order_relaxed) == st_active) ++c;
    return c;
}

template <typename T>
std::span<const T> turbine<T>::subscriber::peek(std::size_t n) noexcept {
    if (PK_UNLIKELY(!check_active())) return {};
    const turbine& r = *_ring;
    if (r._opt.policy == slow_policy::evict) {
        _rec->reading.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (_rec->evicting.load(std::memory_order_acquire) != 0) {
            _rec->reading.store(0, std::memory_order_release);
            return {};
        }
        _pos = _rec->pos.load(std::memory_order_acquire); // may have been moved ahead
    }
    std::size_t avail = _cached_head - _pos;
    if (avail == 0 || avail > r._capacity) {
        _cached_head = r._pub.head.load(std::memory_order_acquire);
        avail = _cached_head - _pos;
    }
    const std::size_t first = _pos & r._mask;
    std::size_t k = avail < n ? avail : n;
    if (k > r._capacity - first) k = r._capacity - first;
    return {r._slots.data() + first, k};
}

template <typename T>
void turbine<T>::subscriber::release(std::size_t k) noexcept {
    if (k != 0) {
        _pos += k;
        _rec->pos.store(_pos, std::memory_order_release);
    }
    if (_ring->_opt.policy == slow_policy::evict) _rec->reading.store(0, std::memory_order_release);
}

template <typename T>
std::size_t turbine<T>::subscriber::pop_burst(T* out, std::size_t n) noexcept {
    std::size_t got = 0;
    while (got < n) {
        auto s = peek(n - got);
        for (std::size_t i = 0; i < s.size(); ++i)
            out[got + i] = s[i];
        release(s.size());
        if (s.empty()) break;
        got += s.size();
    }
    return got;
}

template <typename T>
void turbine<T>::subscriber::unsubscribe() noexcept {
    if (!_rec) return;
    std::uint32_t expected = st_pending;
    if (_rec->state.compare_exchange_strong(expected, st_free, std::memory_order_acq_rel))
        _ring->_pending.fetch_sub(1, std::memory_order_relaxed);
    else
        _rec->state.store(st_free, std::memory_order_release);
    _rec = nullptr;
    _ring = nullptr;
    _active = false;
}

// ======================================================================================
/// A turbine with one built-in subscriber, so the broadcast ring fits the `backend`
/// concept (try_push/try_pop/bursts/size/capacity). Producer calls on one thread,
/// pop calls on one thread. More subscribers can still join via ring().subscribe().
template <typename T>
class turbine_lane {
public:
    using value_type = T;
    explicit turbine_lane(std::size_t capacity, typename turbine<T>::options o = {})
        : _ring(capacity, o), _sub(_ring.subscribe()) {
        _ring.service(); // activate the built-in subscriber now
    }
    [[nodiscard]] bool try_push(const T& v) noexcept { return _ring.try_push(v); }
    [[nodiscard]] std::size_t push_burst(const T* in, std::size_t n) noexcept {
        return _ring.push_burst(in, n);
    }
    [[nodiscard]] bool try_pop(T& out) noexcept { return _sub.try_pop(out); }
    [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n) noexcept {
        return _sub.pop_burst(out, n);
    }
    /// Items not yet read by the built-in subscriber.
    [[nodiscard]] std::size_t size() const noexcept { return _sub.lag(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return _ring.capacity(); }
    [[nodiscard]] turbine<T>& ring() noexcept { return _ring; }

private:
    turbine<T> _ring;
    typename turbine<T>::subscriber _sub;
};

} // namespace pk::queue
