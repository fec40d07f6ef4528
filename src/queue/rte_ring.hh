// DPDK rte_ring behind the queue backend concept (for comparison and multi-process use).
//
// Use it where a ring must live in hugepage memory shared with secondary processes, or
// to measure our queues against DPDK's. T must be pointer-sized and trivially copyable
// (rte_ring stores void*). EAL must be initialised before create().
//
// Threading contract follows the sync mode chosen at creation: sp/sc = one producer /
// one consumer thread; mp/mc = any number.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include <rte_ring.h>

#include "base/result.hh"

namespace pk::queue {

enum class ring_sync { sp_sc, mp_sc, sp_mc, mp_mc };

namespace detail {
/// Creates an rte_ring that holds at least `capacity` items (slow path, in rte_ring.cc).
result<rte_ring*> create_rte_ring(const std::string& name, std::size_t capacity, ring_sync sync,
                                  int socket_id);
} // namespace detail

template <typename T>
class rte_ring_queue {
    static_assert(sizeof(T) == sizeof(void*) && std::is_trivially_copyable_v<T>,
                  "rte_ring_queue<T>: rte_ring stores void*, T must be pointer-sized");

public:
    using value_type = T;

    /// capacity: usable slots (power of two; the ring is created with RING_F_EXACT_SZ).
    [[nodiscard]] static result<rte_ring_queue> create(const std::string& name,
                                                       std::size_t capacity,
                                                       ring_sync sync = ring_sync::sp_sc,
                                                       int socket_id = SOCKET_ID_ANY) {
        auto r = detail::create_rte_ring(name, capacity, sync, socket_id);
        if (!r) return std::move(r).err();
        return rte_ring_queue(*r);
    }
    rte_ring_queue(rte_ring_queue&& o) noexcept : _r(std::exchange(o._r, nullptr)) {}
    rte_ring_queue& operator=(rte_ring_queue&&) = delete;
    ~rte_ring_queue() {
        if (_r) rte_ring_free(_r);
    }

    [[nodiscard]] bool try_push(const T& v) noexcept {
        void* p;
        std::memcpy(&p, &v, sizeof p);
        return rte_ring_enqueue(_r, p) == 0;
    }
    [[nodiscard]] bool try_pop(T& out) noexcept {
        void* p;
        if (rte_ring_dequeue(_r, &p) != 0) return false;
        std::memcpy(&out, &p, sizeof p);
        return true;
    }
    [[nodiscard]] std::size_t push_burst(const T* in, std::size_t n) noexcept {
        return rte_ring_enqueue_burst(_r, reinterpret_cast<void* const*>(in), unsigned(n), nullptr);
    }
    [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n) noexcept {
        return rte_ring_dequeue_burst(_r, reinterpret_cast<void**>(out), unsigned(n), nullptr);
    }
    [[nodiscard]] std::size_t size() const noexcept { return rte_ring_count(_r); }
    [[nodiscard]] bool empty() const noexcept { return rte_ring_empty(_r) != 0; }
    [[nodiscard]] std::size_t capacity() const noexcept { return rte_ring_get_capacity(_r); }
    [[nodiscard]] rte_ring* raw() const noexcept { return _r; }

private:
    explicit rte_ring_queue(rte_ring* r) noexcept : _r(r) {}
    rte_ring* _r;
};

} // namespace pk::queue
