// Hierarchical timer wheel for oneshot timers (the reactor's TIMERS source).
//
// When to use: many pending timeouts (flow aging, retransmits, per-task deadlines) that
// are mostly cancelled or re-armed before they fire. Periodic work with a handful of
// entries belongs in interval_list; `timers` (timers.hh) combines both.
//
// Guarantees
//  - schedule and cancel are O(1), noexcept, allocation-free (everything is preallocated
//    for `capacity` pending timers at construction).
//  - A timer never fires early: select(now) returns only timers with deadline <= now.
//  - A timer fires at most one tick late: after select(now) has returned fewer than
//    `max` entries, every timer with deadline <= now - tick has been returned.
//    (Precisely: a deadline d is due once now >= ceil((d - origin) / tick) * tick.)
//  - One select returns timers in deadline order (same-tick timers included).
//  - Idle time costs nothing per empty slot: each level keeps a 64-bit occupancy bitmap
//    and the next non-empty slot is found with one bit scan per level.
//  - Range: 7 levels of 64 slots = 2^42 ticks from the wheel's epoch (1.39 years at the
//    default 10 us tick). Later deadlines wait in an overflow list, re-filed when the
//    clock enters their epoch. Deadlines must lie within 2^63 time units of `origin`.
//
// Time is abstract: the wheel counts `tick` time units per tick from `origin`. Use
// wheel_config::tsc() for TSC cycles with a 10 us tick; tests drive a mock clock.
//
// Storage (why <= 32 bytes per pending timer): a pending timer is a 16-byte entry
// (deadline, task id, timer id) stored in place in a 16-entry block (256 bytes) of its
// slot, plus an 8-byte ref (generation, location) indexed by timer id — 24 bytes, plus
// 0.75 byte of block metadata and sort scratch, plus at most one partly filled block per slot (a
// fixed ~115 KiB per wheel). Blocks rather than one linked node per timer let a cascade stream
// through entries sequentially instead of chasing one cache miss per timer.
//
// Threading: one wheel per core; every call from the owning core only.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>

#include "base/compiler.hh"
#include "timer/types.hh"

namespace pk::timer {

struct wheel_config {
    std::uint32_t capacity = 1u << 16; ///< maximum pending timers (< 2^31)
    std::uint64_t tick = 1;            ///< time units per tick (> 0)
    std::uint64_t origin = 0;          ///< time of tick 0 (e.g. the TSC at start-up)

    /// TSC time units: tick of `tick_ns` nanoseconds (default 10 us), origin = now.
    static wheel_config tsc(std::uint32_t capacity, std::uint64_t tick_ns = 10'000) noexcept;
};

class wheel {
public:
    static constexpr unsigned level_bits = 6;
    static constexpr unsigned slots_per_level = 1u << level_bits;
    static constexpr unsigned levels = 7;
    static constexpr unsigned wheel_bits = level_bits * levels; // 42 ticks of range
    static constexpr std::uint32_t block_entries = 16;

    /// Allocates everything for cfg.capacity pending timers (throws std::bad_alloc or
    /// std::invalid_argument on a bad config: start-up only).
    explicit wheel(const wheel_config& cfg);
    ~wheel();
    wheel(const wheel&) = delete;
    wheel& operator=(const wheel&) = delete;

    /// Arms a timer due at `deadline` (absolute, same units as now) for `task_id`.
    /// A deadline already past fires on the next select. Returns an invalid handle
    /// when `capacity` timers are pending.
    [[nodiscard]] handle schedule(std::uint64_t deadline, std::uint32_t task_id) noexcept;

    /// Disarms a pending timer. False if the handle is stale (fired, cancelled, never
    /// valid). Works from inside poll callbacks, also for timers of the same burst.
    bool cancel(handle h) noexcept;

    /// Advances the clock to `now` and writes up to `max` expired timers into `out`, in
    /// deadline order; returns how many. Returned handles are stale. Call again if it
    /// returned `max`: more may be due.
    [[nodiscard]] std::size_t select(std::uint64_t now, expired* out, std::size_t max) noexcept {
        return select_impl<false>(now, out, max);
    }

    /// Calls fn(const expired&) for every timer due at `now` (at most `max`), in deadline
    /// order; returns how many fired. fn may schedule (re-arm) and cancel any timer,
    /// including ones due in the same poll: a cancelled one is not called.
    template <typename F>
    std::size_t poll(std::uint64_t now, F&& fn,
                     std::size_t max = std::numeric_limits<std::size_t>::max()) noexcept;

    /// True while h is armed (not yet fired, not cancelled).
    bool is_pending(handle h) const noexcept {
        return (h.gen() & 1u) != 0 && h.id() < _capacity && _refs[h.id()].gen == h.gen();
    }
    std::size_t pending() const noexcept { return _pending; }
    std::size_t capacity() const noexcept { return _capacity; }
    std::uint64_t tick() const noexcept { return _tick; }
    std::uint64_t origin() const noexcept { return _origin; }
    /// A time before which select is certain to return nothing (a cheap lower bound,
    /// e.g. for an idle reactor deciding how long it may sleep).
    std::uint64_t next_due_hint() const noexcept {
        constexpr std::uint64_t far = 1ull << 62;
        return _origin + (_next_due > far ? far : _next_due);
    }

    /// Bytes per pending timer that scale with capacity: its entry and its ref (plus
    /// 12 bytes of block metadata and sort scratch per 16 timers, under 1 byte each).
    static constexpr std::size_t bytes_per_timer = 16 + 8;
    /// Everything this wheel allocated (entries, refs, block metadata, scratch, itself).
    std::size_t memory_bytes() const noexcept;

private:
    static constexpr std::uint32_t nil = 0xFFFFFFFFu;
    static constexpr std::uint32_t tomb = 0x80000000u;       // entry.id flag: cancelled
    static constexpr std::uint32_t loc_firing = 0xFFFFFFFEu; // ref.loc: handed to poll
    static constexpr std::uint32_t loc_fire_cancelled = 0xFFFFFFFDu;
    static constexpr std::uint32_t overflow_slot = levels * slots_per_level;
    static constexpr std::uint32_t n_slots = overflow_slot + 1;

    struct entry {
        std::uint64_t deadline; // absolute, caller's units
        std::uint32_t task;
        std::uint32_t id; // timer id (index into _refs), | tomb when cancelled in place
    };
    struct ref {
        std::uint32_t gen; // odd: armed; even: free (or firing, see loc)
        std::uint32_t loc; // armed: block * 16 + index; free: next free id
    };
    struct block_meta {
        std::uint32_t next;  // next block of the same slot (or free list)
        std::uint16_t count; // entries used
        std::uint16_t slot;  // owning slot
    };
    static_assert(sizeof(entry) == 16, "a pending timer's entry is 16 bytes");
    static_assert(sizeof(ref) == 8, "a pending timer's ref is 8 bytes");
    static_assert(sizeof(block_meta) == 8, "block metadata is 8 bytes per 16 timers");
    static_assert(sizeof(entry) + sizeof(ref) == bytes_per_timer, "see bytes_per_timer");
    static_assert(sizeof(entry) + sizeof(ref) + (sizeof(block_meta) + 4) / block_entries + 1 <= 32,
                  "memory per pending timer must stay <= 32 bytes");
    static_assert(sizeof(entry) * block_entries == 256, "a block is four cache lines");

    struct block_iter; // random-access view over a slot's blocks (sorting, see .cc)

    template <bool Defer>
    std::size_t select_impl(std::uint64_t now, expired* out, std::size_t max) noexcept;
    template <bool Defer>
    std::size_t advance(std::uint64_t rel_now, expired* out, std::size_t max) noexcept;
    template <bool Defer>
    std::size_t emit(std::uint32_t slot, expired* out, std::size_t room) noexcept;

    // Tick of a deadline: ceil((d - origin) / tick), 0 for deadlines at/before origin.
    PK_ALWAYS_INLINE std::uint64_t tick_of(std::uint64_t d) const noexcept {
        const auto delta = static_cast<std::int64_t>(d - _origin);
        if (delta <= 0) return 0;
        const auto x = static_cast<std::uint64_t>(delta);
        std::uint64_t q = div_tick(x);
        return q + (q * _tick != x);
    }
    // floor(x / tick) with a precomputed reciprocal: one multiply, one correction.
    PK_ALWAYS_INLINE std::uint64_t div_tick(std::uint64_t x) const noexcept {
        auto q = static_cast<std::uint64_t>((static_cast<unsigned __int128>(x) * _magic) >> 64);
        if (x - q * _tick >= _tick) ++q;
        return q;
    }
    // Files e by its tick relative to _cur; returns the tick (clamped to >= _cur).
    PK_ALWAYS_INLINE std::uint64_t place(const entry& e) noexcept;
    PK_ALWAYS_INLINE void push(std::uint32_t slot, const entry& e) noexcept;
    PK_ALWAYS_INLINE void remove(std::uint32_t loc) noexcept;
    PK_ALWAYS_INLINE std::uint32_t alloc_block() noexcept {
        const std::uint32_t b = _free_block;
        _free_block = _meta[b].next;
        return b;
    }
    PK_ALWAYS_INLINE void free_block(std::uint32_t b) noexcept {
        _meta[b].next = _free_block;
        _free_block = b;
    }
    /// Empties `slot`: calls fn(entry) for each entry in chain order, freeing the blocks.
    template <typename F>
    PK_ALWAYS_INLINE void take_slot(std::uint32_t slot, F&& fn) noexcept {
        std::uint32_t b = _slot_head[slot];
        _slot_head[slot] = nil;
        _slot_count[slot] = 0;
        while (b != nil) {
            const std::uint32_t next = _meta[b].next;
            const entry* es = _entries + static_cast<std::size_t>(b) * block_entries;
            for (std::uint32_t i = 0, c = _meta[b].count; i < c; ++i)
                fn(es[i]);
            free_block(b);
            b = next;
        }
    }
    PK_ALWAYS_INLINE void release_ref(std::uint32_t id) noexcept {
        _refs[id].loc = _free_ref;
        _free_ref = id;
    }
    PK_ALWAYS_INLINE void clear_slot_bit(std::uint32_t slot) noexcept {
        if (slot < overflow_slot)
            _bitmap[slot / slots_per_level] &= ~(1ull << (slot % slots_per_level));
    }
    void cascade(std::uint32_t slot) noexcept;
    void refile_overflow() noexcept;
    void sort_slot(std::uint32_t slot) noexcept;

    // Hot state first.
    std::uint64_t _cur = 0;      // current tick: every tick < _cur has been expired
    std::uint64_t _next_due = 0; // relative time before which nothing can be due
    std::uint64_t _tick;
    std::uint64_t _magic; // floor((2^64 - 1) / tick)
    std::uint64_t _origin;
    std::uint64_t _ovf_min = std::numeric_limits<std::uint64_t>::max(); // min overflow tick
    std::uint64_t _bitmap[levels] = {};
    entry* _entries = nullptr; // blocks * 16
    block_meta* _meta = nullptr;
    ref* _refs = nullptr;
    std::uint32_t* _scratch = nullptr; // block list of the slot being sorted
    std::uint32_t _free_ref = 0;
    std::uint32_t _free_block = 0;
    std::uint32_t _sorted_slot = nil; // L0 slot sorted for partial draining (tombstones)
    std::uint32_t _capacity;
    std::uint32_t _blocks;
    std::size_t _pending = 0;
    std::uint32_t _slot_head[n_slots];
    std::uint32_t _slot_count[n_slots];
};

// ---- inline definitions (hot path) ---------------------------------------------------

inline void wheel::push(std::uint32_t slot, const entry& e) noexcept {
    std::uint32_t b = _slot_head[slot];
    if (b == nil || _meta[b].count == block_entries) {
        const std::uint32_t nb = alloc_block();
        _meta[nb] = block_meta{b, 0, static_cast<std::uint16_t>(slot)};
        _slot_head[slot] = nb;
        b = nb;
        if (slot < overflow_slot)
            _bitmap[slot / slots_per_level] |= 1ull << (slot % slots_per_level);
    }
    const std::uint32_t loc = b * block_entries + _meta[b].count++;
    _entries[loc] = e;
    _refs[e.id & ~tomb].loc = loc;
    ++_slot_count[slot];
    if (PK_UNLIKELY(slot == _sorted_slot)) _sorted_slot = nil;
}

inline std::uint64_t wheel::place(const entry& e) noexcept {
    std::uint64_t k = tick_of(e.deadline);
    if (k < _cur) k = _cur; // already due: the current slot
    const std::uint64_t x = k ^ _cur;
    const unsigned level =
        x == 0 ? 0u : (63u - static_cast<unsigned>(std::countl_zero(x))) / level_bits;
    if (PK_UNLIKELY(level >= levels)) {
        if (k < _ovf_min) _ovf_min = k;
        push(overflow_slot, e);
        return k;
    }
    push(level * slots_per_level +
             static_cast<std::uint32_t>((k >> (level * level_bits)) & (slots_per_level - 1)),
         e);
    return k;
}

inline void wheel::remove(std::uint32_t loc) noexcept {
    const std::uint32_t slot = _meta[loc / block_entries].slot;
    const std::uint32_t h = _slot_head[slot];
    const std::uint32_t last = h * block_entries + _meta[h].count - 1;
    if (last != loc) {
        _entries[loc] = _entries[last];
        _refs[_entries[loc].id & ~tomb].loc = loc;
    }
    if (--_meta[h].count == 0) {
        _slot_head[slot] = _meta[h].next;
        free_block(h);
        if (_slot_head[slot] == nil) clear_slot_bit(slot);
    }
    --_slot_count[slot];
}

inline handle wheel::schedule(std::uint64_t deadline, std::uint32_t task_id) noexcept {
    const std::uint32_t id = _free_ref;
    if (PK_UNLIKELY(id == nil)) return handle{};
    ref& r = _refs[id];
    _free_ref = r.loc;
    const std::uint32_t gen = ++r.gen; // even -> odd: armed
    const std::uint64_t k = place(entry{deadline, task_id, id});
    ++_pending;
    // Lower the "nothing due before" bound if this timer is earlier.
    const std::uint64_t due = k * _tick;
    if (due < _next_due) _next_due = due;
    return handle::make(id, gen);
}

inline bool wheel::cancel(handle h) noexcept {
    const std::uint32_t id = h.id();
    if (PK_UNLIKELY(id >= _capacity || (h.gen() & 1u) == 0)) return false;
    ref& r = _refs[id];
    if (r.gen != h.gen()) return false;
    ++r.gen; // the handle is stale from here on
    const std::uint32_t loc = r.loc;
    if (PK_UNLIKELY(loc == loc_firing)) { // in a poll burst, not yet called back
        r.loc = loc_fire_cancelled;
        return true;
    }
    --_pending;
    if (PK_UNLIKELY(_meta[loc / block_entries].slot == _sorted_slot)) {
        _entries[loc].id |= tomb; // keep the sorted order; dropped when popped
        return true;
    }
    remove(loc);
    release_ref(id);
    return true;
}

template <bool Defer>
inline std::size_t wheel::select_impl(std::uint64_t now, expired* out, std::size_t max) noexcept {
    const auto rel = static_cast<std::int64_t>(now - _origin);
    if (PK_LIKELY(rel < 0 || static_cast<std::uint64_t>(rel) < _next_due) || max == 0) return 0;
    return advance<Defer>(static_cast<std::uint64_t>(rel), out, max);
}

template <bool Defer>
std::size_t wheel::advance(std::uint64_t rel_now, expired* out, std::size_t max) noexcept {
    const std::uint64_t t = div_tick(rel_now); // every tick <= t is due
    std::size_t n = 0;
    for (;;) {
        // The next event is in the lowest level with a non-empty slot ahead of _cur:
        // level 0 slots at or after the current one, level L > 0 slots strictly after
        // (the current one was cascaded when _cur entered it).
        unsigned level = 0;
        std::uint64_t when = 0;
        std::uint32_t slot = nil;
        for (; level < levels; ++level) {
            const unsigned shift = level * level_bits;
            const unsigned digit = static_cast<unsigned>(_cur >> shift) & (slots_per_level - 1);
            std::uint64_t mask = ~0ull << digit;
            if (level != 0) mask <<= 1;
            const std::uint64_t m = _bitmap[level] & mask;
            if (m != 0) {
                const unsigned d = static_cast<unsigned>(std::countr_zero(m));
                const unsigned span = shift + level_bits;
                const std::uint64_t high = span >= 64 ? 0 : (_cur >> span) << span;
                when = high | (static_cast<std::uint64_t>(d) << shift);
                slot = level * slots_per_level + d;
                break;
            }
        }
        if (slot == nil) {
            if (_slot_head[overflow_slot] != nil) {
                // Next epoch holding an overflow timer.
                const std::uint64_t epoch = (_ovf_min >> wheel_bits) << wheel_bits;
                if (epoch <= t) {
                    _cur = epoch > _cur ? epoch : _cur;
                    refile_overflow();
                    continue;
                }
                if (t > _cur) _cur = t;
                _next_due = epoch * _tick;
                return n;
            }
            if (t > _cur) _cur = t;
            _next_due = std::numeric_limits<std::uint64_t>::max();
            return n;
        }
        if (when > t) {
            if (t > _cur) _cur = t;
            _next_due = when * _tick;
            return n;
        }
        _cur = when;
        if (level != 0) {
            cascade(slot);
            continue;
        }
        n += emit<Defer>(slot, out + n, max - n);
        if (n == max) {
            _next_due = _cur * _tick; // more may be due: take the slow path next time
            return n;
        }
    }
}

template <bool Defer>
std::size_t wheel::emit(std::uint32_t slot, expired* out, std::size_t room) noexcept {
    std::size_t n = 0;
    auto fire = [&](const entry& e) noexcept {
        if (e.id & tomb) { // cancelled while the slot was sorted
            release_ref(e.id & ~tomb);
            return;
        }
        ref& r = _refs[e.id];
        out[n++] = expired{e.deadline, e.task, 0, handle::make(e.id, r.gen)};
        --_pending;
        if constexpr (Defer) {
            r.loc = loc_firing;
        } else {
            ++r.gen;
            release_ref(e.id);
        }
    };
    if (_sorted_slot != slot && _slot_count[slot] <= room) {
        // Common case: the whole slot fits. Copy out, then sort the copies.
        clear_slot_bit(slot);
        take_slot(slot, fire);
        const std::uint64_t origin = _origin;
        auto key = [origin](const expired& x) noexcept {
            return static_cast<std::int64_t>(x.deadline - origin);
        };
        if (n <= 24) { // insertion sort: a tick rarely holds more than a few timers
            for (std::size_t i = 1; i < n; ++i) {
                const expired v = out[i];
                const std::int64_t kv = key(v);
                std::size_t j = i;
                for (; j > 0 && key(out[j - 1]) > kv; --j)
                    out[j] = out[j - 1];
                out[j] = v;
            }
        } else {
            std::sort(out, out + n,
                      [&](const expired& a, const expired& b) { return key(a) < key(b); });
        }
        return n;
    }
    // The slot holds more than fits: sort it in place (descending, smallest at the end of
    // the head block) once, then pop from the end. Cancels leave tombstones meanwhile.
    if (_sorted_slot != slot) sort_slot(slot);
    while (n < room && _slot_head[slot] != nil) {
        const std::uint32_t h = _slot_head[slot];
        const entry e = _entries[h * block_entries + --_meta[h].count];
        --_slot_count[slot];
        if (_meta[h].count == 0) {
            _slot_head[slot] = _meta[h].next;
            free_block(h);
        }
        fire(e);
    }
    if (_slot_head[slot] == nil) {
        clear_slot_bit(slot);
        _sorted_slot = nil;
    }
    return n;
}

template <typename F>
std::size_t wheel::poll(std::uint64_t now, F&& fn, std::size_t max) noexcept {
    constexpr std::size_t burst = 32;
    expired buf[burst];
    std::size_t fired = 0;
    while (fired < max) {
        const std::size_t want = std::min(burst, max - fired);
        const std::size_t n = select_impl<true>(now, buf, want);
        for (std::size_t i = 0; i < n; ++i) {
            ref& r = _refs[buf[i].h.id()];
            const bool live = r.loc == loc_firing;
            if (live) ++r.gen; // stale before the callback, so re-arming gets a new handle
            release_ref(buf[i].h.id());
            if (live) {
                fn(static_cast<const expired&>(buf[i]));
                ++fired;
            }
        }
        if (n == 0) break; // not n < want: callbacks may have armed timers already due
    }
    return fired;
}

} // namespace pk::timer
