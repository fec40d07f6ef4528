// CHANNEL: an (rx, tx) pair of handles over one LINK ring, with close semantics.
//
// Use it for a one-way stream between two threads/cores that has an end: the sender
// closes tx (explicitly or by destroying it); the receiver drains every item pushed
// before the close and only then sees `closed`. Either side may be dropped first.
//
// Threading contract: tx on one thread at a time, rx on one thread at a time (the
// handles are movable, so each can be handed to another core).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

#include "queue/link.hh"

namespace pk::queue {

enum class recv_status { item, empty, closed };

template <typename T>
class channel {
    struct state {
        explicit state(std::size_t cap) : ring(cap) {}
        link<T> ring;
        alignas(destructive_interference) std::atomic<bool> tx_closed{false};
        std::atomic<bool> rx_closed{false};
    };

public:
    class tx {
    public:
        tx() noexcept = default;
        tx(tx&&) noexcept = default;
        tx& operator=(tx&& o) noexcept {
            if (this != &o) {
                close();
                _s = std::move(o._s);
            }
            return *this;
        }
        ~tx() { close(); }

        /// False if full or if the receiver is gone (see receiver_closed()).
        [[nodiscard]] bool try_push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) {
            return !_s->rx_closed.load(std::memory_order_relaxed) && _s->ring.try_push(v);
        }
        [[nodiscard]] bool try_push(T&& v) noexcept {
            return !_s->rx_closed.load(std::memory_order_relaxed) &&
                   _s->ring.try_push(std::move(v));
        }
        [[nodiscard]] std::size_t
        push_burst(const T* items,
                   std::size_t n) noexcept(std::is_nothrow_copy_constructible_v<T>) {
            if (_s->rx_closed.load(std::memory_order_relaxed)) return 0;
            return _s->ring.push_burst(items, n);
        }
        [[nodiscard]] bool receiver_closed() const noexcept {
            return _s->rx_closed.load(std::memory_order_acquire);
        }
        /// Ends the stream: the receiver drains what was pushed, then sees closed.
        void close() noexcept {
            if (_s) std::exchange(_s, nullptr)->tx_closed.store(true, std::memory_order_release);
        }
        [[nodiscard]] bool valid() const noexcept { return _s != nullptr; }

    private:
        friend class channel;
        explicit tx(std::shared_ptr<state> s) noexcept : _s(std::move(s)) {}
        std::shared_ptr<state> _s;
    };

    class rx {
    public:
        rx() noexcept = default;
        rx(rx&&) noexcept = default;
        rx& operator=(rx&& o) noexcept {
            if (this != &o) {
                close();
                _s = std::move(o._s);
            }
            return *this;
        }
        ~rx() { close(); }

        /// item: out holds the next item; empty: nothing yet; closed: sender closed and
        /// every item has been received.
        [[nodiscard]] recv_status try_pop(T& out) noexcept {
            if (_s->ring.try_pop(out)) return recv_status::item;
            // acquire: every push before close() is now visible; look once more.
            if (!_s->tx_closed.load(std::memory_order_acquire)) return recv_status::empty;
            return _s->ring.try_pop(out) ? recv_status::item : recv_status::closed;
        }
        /// Returns the count popped; *closed is set when the stream has ended (and 0 items
        /// remain).
        [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n,
                                            bool* closed = nullptr) noexcept {
            std::size_t k = _s->ring.pop_burst(out, n);
            bool c = false;
            if (k < n && _s->tx_closed.load(std::memory_order_acquire)) {
                k += _s->ring.pop_burst(out + k, n - k);
                c = _s->ring.empty();
            }
            if (closed) *closed = c;
            return k;
        }
        [[nodiscard]] std::size_t size() const noexcept { return _s->ring.size(); }
        /// The receiver stops: further pushes fail. Items left are destroyed with the ring.
        void close() noexcept {
            if (_s) std::exchange(_s, nullptr)->rx_closed.store(true, std::memory_order_release);
        }
        [[nodiscard]] bool valid() const noexcept { return _s != nullptr; }

    private:
        friend class channel;
        explicit rx(std::shared_ptr<state> s) noexcept : _s(std::move(s)) {}
        std::shared_ptr<state> _s;
    };

    /// Creates a channel of `capacity` (power of two; throws std::invalid_argument).
    [[nodiscard]] static std::pair<tx, rx> make(std::size_t capacity) {
        auto s = std::make_shared<state>(capacity);
        return {tx(s), rx(s)};
    }
};

/// Shorthand: auto [tx, rx] = pk::queue::make_channel<int>(1024);
template <typename T>
[[nodiscard]] std::pair<typename channel<T>::tx, typename channel<T>::rx>
make_channel(std::size_t capacity) {
    return channel<T>::make(capacity);
}

} // namespace pk::queue
