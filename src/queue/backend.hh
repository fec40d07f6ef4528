// The backend concept and the core-local backends (Vec, VecDeque).
//
// `backend<Q>` is what the seed calls a queue backend: anything with try_push, try_pop,
// push_burst, pop_burst, size and capacity. Priority lanes, CHANNEL-like wrappers and
// the reactor's sources are written against it. Implementations:
//   vec<T>       — fixed-capacity ring in one allocation; single thread (core-local).
//   vec_deque<T> — growable ring (doubles when full); single thread; the only backend
//                  that allocates on push (so never on a hot path that must not).
//   link<T>      — SPSC between two threads (queue/link.hh).
//   turbine_lane<T> — a turbine plus one built-in subscriber (queue/turbine.hh).
//   pipe_queue<T> — fd-backed (queue/pipes.hh); rte_ring_queue<T> — DPDK (queue/rte_ring.hh).
#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

#include "queue/detail.hh"

namespace pk::queue {

template <typename Q>
concept backend = requires(Q q, typename Q::value_type v, typename Q::value_type* out,
                           const typename Q::value_type* in, std::size_t n) {
    typename Q::value_type;
    { q.try_push(v) } -> std::same_as<bool>;
    { q.try_pop(v) } -> std::same_as<bool>;
    { q.push_burst(in, n) } -> std::same_as<std::size_t>;
    { q.pop_burst(out, n) } -> std::same_as<std::size_t>;
    { q.size() } -> std::convertible_to<std::size_t>;
    { q.capacity() } -> std::convertible_to<std::size_t>;
};

/// Fixed-capacity core-local ring (the seed's "Vec"). Not thread-safe.
template <typename T>
class vec {
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>);

public:
    using value_type = T;
    explicit vec(std::size_t capacity)
        : _slots((detail::require_pow2(capacity, "pk::queue::vec"), capacity)), _capacity(capacity),
          _mask(capacity - 1) {}
    ~vec() { clear(); }
    vec(const vec&) = delete;
    vec& operator=(const vec&) = delete;

    [[nodiscard]] bool try_push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) {
        if (_head - _tail == _capacity) return false;
        ::new (static_cast<void*>(&_slots[_head++ & _mask])) T(v);
        return true;
    }
    [[nodiscard]] bool try_push(T&& v) noexcept {
        if (_head - _tail == _capacity) return false;
        ::new (static_cast<void*>(&_slots[_head++ & _mask])) T(std::move(v));
        return true;
    }
    [[nodiscard]] bool try_pop(T& out) noexcept {
        if (_head == _tail) return false;
        T& s = _slots[_tail++ & _mask];
        out = std::move(s);
        s.~T();
        return true;
    }
    [[nodiscard]] std::size_t
    push_burst(const T* in, std::size_t n) noexcept(std::is_nothrow_copy_constructible_v<T>) {
        const std::size_t free = _capacity - (_head - _tail);
        if (n > free) n = free;
        detail::copy_in(_slots.data(), _capacity, _head & _mask, in, n);
        _head += n;
        return n;
    }
    [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n) noexcept {
        const std::size_t avail = _head - _tail;
        if (n > avail) n = avail;
        detail::move_out(_slots.data(), _capacity, _tail & _mask, out, n);
        _tail += n;
        return n;
    }
    [[nodiscard]] T* front() noexcept { return _head == _tail ? nullptr : &_slots[_tail & _mask]; }
    [[nodiscard]] std::size_t size() const noexcept { return _head - _tail; }
    [[nodiscard]] bool empty() const noexcept { return _head == _tail; }
    [[nodiscard]] std::size_t capacity() const noexcept { return _capacity; }
    void clear() noexcept {
        if constexpr (!std::is_trivially_destructible_v<T>)
            for (; _tail != _head; ++_tail)
                _slots[_tail & _mask].~T();
        _tail = _head;
    }

private:
    detail::slot_storage<T> _slots;
    std::size_t _capacity;
    std::size_t _mask;
    std::size_t _head = 0;
    std::size_t _tail = 0;
};

/// Growable core-local ring (the seed's "VecDeque"). Not thread-safe; push allocates
/// when it has to grow (capacity doubles). try_push fails only if allocation fails.
template <typename T>
class vec_deque {
public:
    using value_type = T;
    explicit vec_deque(std::size_t initial_capacity = 16)
        : _v(std::make_unique<vec<T>>(initial_capacity)) {}

    [[nodiscard]] bool try_push(const T& v) {
        if (_v->size() == _v->capacity() && !grow()) return false;
        return _v->try_push(v);
    }
    [[nodiscard]] bool try_push(T&& v) {
        if (_v->size() == _v->capacity() && !grow()) return false;
        return _v->try_push(std::move(v));
    }
    [[nodiscard]] bool try_pop(T& out) noexcept { return _v->try_pop(out); }
    [[nodiscard]] std::size_t push_burst(const T* in, std::size_t n) {
        while (_v->capacity() - _v->size() < n)
            if (!grow()) break;
        return _v->push_burst(in, n);
    }
    [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n) noexcept {
        return _v->pop_burst(out, n);
    }
    [[nodiscard]] T* front() noexcept { return _v->front(); }
    [[nodiscard]] std::size_t size() const noexcept { return _v->size(); }
    [[nodiscard]] bool empty() const noexcept { return _v->empty(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return _v->capacity(); }

private:
    bool grow() {
        auto bigger = std::make_unique<vec<T>>(_v->capacity() * 2);
        T tmp{};
        while (_v->try_pop(tmp))
            (void)bigger->try_push(std::move(tmp));
        _v = std::move(bigger);
        return true;
    }
    std::unique_ptr<vec<T>> _v;
};

} // namespace pk::queue
