// Per-core flow table with idle aging: the per-flow state of one reactor's stages.
//
// When to use: a stage that keeps something per flow (counters, a session, a NAT
// binding) on the reactor it runs on. Each reactor has its own table (flow_balance
// keeps a flow on one worker, so no flow is in two tables at once): no locks, no
// atomics on the packet path.
//
// What it does
//  - touch(key, hash, bytes, now) finds the flow or inserts it and returns its id; the
//    id is stable until the flow expires, so a stage can index its own per-flow array
//    with it. A full table returns `none` (the caller counts the packet untracked).
//  - Idle aging on a timer wheel (timer/wheel.hh), one timer per flow armed at insert
//    for `idle` after the flow was created. A packet only writes last_seen (no timer
//    call per packet); when the timer fires, a flow that saw a packet in the meantime is
//    re-armed at last_seen + idle, one that did not is removed and handed to the
//    caller's callback. So a flow expires between `idle` and `idle` + one wheel tick
//    after its last packet, and each flow costs at most one timer operation per `idle`.
//  - Index: open addressing with linear probing over 2x capacity slots (power of two)
//    holding (hash, id); removal shifts the following run back (no tombstones), so a
//    lookup never scans more than the run it hashes into. Entries live in a separate
//    array indexed by id, so moving slots never moves an entry.
//
// Everything is allocated by the constructor (start-up only, may throw); every other
// call is noexcept and allocation-free, owner core only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "flow/key.hh"
#include "timer/wheel.hh"

namespace pk::flow {

struct flow_entry {
    flow_key key;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t first_seen = 0; ///< TSC of the first packet
    std::uint64_t last_seen = 0;  ///< TSC of the latest packet
    std::uint32_t hash = 0;
    timer::handle timer{};
};

/// A 32-bit hash of a flow key for tables: flow_key_hash folded (not Toeplitz: the
/// NIC's RSS hash, when the mbuf carries one, is as good and free).
inline std::uint32_t key_hash(const flow_key& k) noexcept {
    const std::uint64_t h = flow_key_hash{}(k);
    return static_cast<std::uint32_t>(h ^ (h >> 32));
}

class table {
public:
    static constexpr std::uint32_t none = 0xFFFFFFFFu;

    /// Room for `capacity` flows (>= 1), idle timeout `idle` and wheel tick `tick` in
    /// TSC cycles, time measured from `origin` (the TSC now).
    table(std::uint32_t capacity, std::uint64_t idle, std::uint64_t tick, std::uint64_t origin)
        : _cap(capacity), _idle(idle),
          _wheel(timer::wheel_config{capacity, tick ? tick : 1, origin}),
          _entries(capacity), _next_free(capacity) {
        std::uint32_t slots = 2;
        while (slots < 2ull * capacity)
            slots <<= 1;
        _mask = slots - 1;
        _slots.assign(slots, slot{0, empty});
        for (std::uint32_t i = 0; i < capacity; ++i)
            _next_free[i] = i + 1 < capacity ? i + 1 : none;
        _free = 0;
    }

    /// The flow's id, inserting it (first_seen = now) when new; none when the table is
    /// full. Counts the packet and its bytes.
    std::uint32_t touch(const flow_key& k, std::uint32_t hash, std::uint32_t bytes,
                        std::uint64_t now) noexcept {
        std::uint32_t s = hash & _mask;
        for (;; s = (s + 1) & _mask) {
            const slot& sl = _slots[s];
            if (sl.id == empty) break;
            if (sl.hash == hash && _entries[sl.id].key == k) {
                flow_entry& e = _entries[sl.id];
                ++e.packets;
                e.bytes += bytes;
                e.last_seen = now;
                return sl.id;
            }
        }
        if (_free == none) {
            ++_full;
            return none;
        }
        // Always valid: the wheel has a timer per entry and this entry's is free.
        const timer::handle h = _wheel.schedule(now + _idle, _free);
        const std::uint32_t id = _free;
        _free = _next_free[id];
        _slots[s] = slot{hash, id};
        flow_entry& e = _entries[id];
        e.key = k;
        e.hash = hash;
        e.packets = 1;
        e.bytes = bytes;
        e.first_seen = e.last_seen = now;
        e.timer = h;
        ++_size;
        ++_created;
        return id;
    }

    /// The flow's id, or none.
    std::uint32_t find(const flow_key& k, std::uint32_t hash) const noexcept {
        for (std::uint32_t s = hash & _mask;; s = (s + 1) & _mask) {
            const slot& sl = _slots[s];
            if (sl.id == empty) return none;
            if (sl.hash == hash && _entries[sl.id].key == k) return sl.id;
        }
    }

    /// Expires flows idle for `idle` at `now`: fn(const flow_entry&, id) for each
    /// before it is removed (its id is free afterwards). At most `max` timers handled;
    /// returns how many flows expired.
    template <typename F>
    std::size_t expire(std::uint64_t now, F&& fn, std::size_t max = 4096) noexcept {
        std::size_t gone = 0;
        _wheel.poll(
            now,
            [&](const timer::expired& x) {
                const std::uint32_t id = x.task_id;
                flow_entry& e = _entries[id];
                if (e.last_seen + _idle > now) { // seen since: wait for the rest of idle
                    e.timer = _wheel.schedule(e.last_seen + _idle, id);
                    return;
                }
                fn(static_cast<const flow_entry&>(e), id);
                remove(id);
                ++gone;
            },
            max);
        _expired += gone;
        return gone;
    }

    /// Removes a flow now (a stage that saw its connection close).
    void erase(std::uint32_t id) noexcept {
        _wheel.cancel(_entries[id].timer);
        remove(id);
    }

    /// The `n` flows with the most packets, most first (owner core; scans the table:
    /// for reports, not the packet path). Returns how many were written.
    std::size_t top(flow_entry* out, std::size_t n) const noexcept {
        if (n == 0) return 0;
        std::size_t k = 0;
        auto more = [](const flow_entry& a, const flow_entry& b) { return a.packets > b.packets; };
        for (const slot& sl : _slots) {
            if (sl.id == empty) continue;
            const flow_entry& e = _entries[sl.id];
            if (k < n) {
                out[k++] = e;
                std::push_heap(out, out + k, more); // min-heap on packets
            } else if (e.packets > out[0].packets) {
                std::pop_heap(out, out + k, more);
                out[k - 1] = e;
                std::push_heap(out, out + k, more);
            }
        }
        std::sort_heap(out, out + k, more);
        return k;
    }

    const flow_entry& operator[](std::uint32_t id) const noexcept { return _entries[id]; }
    std::uint32_t size() const noexcept { return _size; }
    std::uint32_t capacity() const noexcept { return _cap; }
    std::uint64_t idle() const noexcept { return _idle; }
    std::uint64_t created() const noexcept { return _created; }
    std::uint64_t expired() const noexcept { return _expired; }
    /// New flows refused because the table was full.
    std::uint64_t full() const noexcept { return _full; }
    /// When expire() next has something to do (never earlier than this).
    std::uint64_t next_due_hint() const noexcept { return _wheel.next_due_hint(); }

private:
    static constexpr std::uint32_t empty = 0xFFFFFFFFu;
    struct slot {
        std::uint32_t hash;
        std::uint32_t id;
    };

    /// Takes id out of the index (backward-shift deletion) and frees it; its timer is
    /// already fired or cancelled.
    void remove(std::uint32_t id) noexcept {
        std::uint32_t s = _entries[id].hash & _mask;
        while (_slots[s].id != id)
            s = (s + 1) & _mask;
        // Shift back every later entry of the run whose home is at or before the hole.
        std::uint32_t hole = s;
        for (std::uint32_t j = (s + 1) & _mask; _slots[j].id != empty; j = (j + 1) & _mask) {
            const std::uint32_t home = _slots[j].hash & _mask;
            // j may move to the hole unless its home lies cyclically in (hole, j].
            const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
            if (!stays) {
                _slots[hole] = _slots[j];
                hole = j;
            }
        }
        _slots[hole] = slot{0, empty};
        _entries[id].timer = {};
        _next_free[id] = _free;
        _free = id;
        --_size;
    }

    std::uint32_t _cap;
    std::uint64_t _idle;
    timer::wheel _wheel;
    std::vector<flow_entry> _entries;
    std::vector<std::uint32_t> _next_free;
    std::vector<slot> _slots;
    std::uint32_t _mask = 0;
    std::uint32_t _free = none;
    std::uint32_t _size = 0;
    std::uint64_t _created = 0, _expired = 0, _full = 0;
};

} // namespace pk::flow
