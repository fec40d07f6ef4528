// MIO-compatible readiness polling: `poll`, `registry`, `token`, `interest`, `events`.
//
// When to use: control-plane file descriptors — Unix/TCP sockets, stdin, pipes,
// timerfd, eventfd — polled by a reactor as its EXT source (`poll_source::run_once`,
// never blocks) or by a plain thread (`poll::wait` with a timeout).
//
// Semantics follow Rust's mio 0.8: a file descriptor is registered with a `token`
// (your id for it) and an `interest` (readable and/or writable); `wait` fills an
// `events` buffer with (token, readiness) pairs. Readiness is edge-triggered by
// default, as in mio: after an event, read/write until EAGAIN before waiting again.
// `trigger::level` is offered for simple consumers. Name mapping from mio:
// Poll::poll → poll::wait, Registry::register → registry::register_fd (register is a
// C++ keyword), reregister/deregister as in mio, Waker → waker.
//
// Backends: `poll_backend` is the interface a kqueue backend would fill; the epoll one
// is created by default. Threads: a poll and its registry may be used from one thread
// at a time, except `waker::wake`, which any thread may call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "base/result.hh"

namespace pk::net {

/// The caller's id for a registered source (mio::Token).
struct token {
    std::size_t value = 0;
    friend bool operator==(token a, token b) noexcept { return a.value == b.value; }
};

/// Which readiness to report (mio::Interest). Never empty.
class interest {
public:
    static const interest readable;
    static const interest writable;
    static const interest priority; ///< out-of-band / urgent data (EPOLLPRI)

    constexpr interest operator|(interest o) const noexcept { return interest(_bits | o._bits); }
    constexpr bool is_readable() const noexcept { return _bits & 1; }
    constexpr bool is_writable() const noexcept { return _bits & 2; }
    constexpr bool is_priority() const noexcept { return _bits & 4; }
    constexpr std::uint8_t bits() const noexcept { return _bits; }

private:
    constexpr explicit interest(std::uint8_t b) : _bits(b) {}
    std::uint8_t _bits;
};
inline constexpr interest interest::readable{1};
inline constexpr interest interest::writable{2};
inline constexpr interest interest::priority{4};

enum class trigger : std::uint8_t { edge, level };

/// One readiness event (mio::event::Event).
class event {
public:
    enum flag : std::uint32_t {
        f_readable = 1,
        f_writable = 2,
        f_error = 4,
        f_read_closed = 8,
        f_write_closed = 16,
        f_priority = 32,
    };
    event() = default;
    event(token t, std::uint32_t flags) noexcept : _token(t), _flags(flags) {}

    token get_token() const noexcept { return _token; }
    bool is_readable() const noexcept { return _flags & f_readable; }
    bool is_writable() const noexcept { return _flags & f_writable; }
    bool is_error() const noexcept { return _flags & f_error; }
    bool is_read_closed() const noexcept { return _flags & f_read_closed; }
    bool is_write_closed() const noexcept { return _flags & f_write_closed; }
    bool is_priority() const noexcept { return _flags & f_priority; }
    std::uint32_t flags() const noexcept { return _flags; }

private:
    token _token;
    std::uint32_t _flags = 0;
};

/// A reusable buffer of events (mio::Events). Allocates once, at construction.
class events {
public:
    explicit events(std::size_t capacity = 256) : _buf(capacity ? capacity : 1) {}
    std::size_t capacity() const noexcept { return _buf.size(); }
    std::size_t size() const noexcept { return _n; }
    bool empty() const noexcept { return _n == 0; }
    void clear() noexcept { _n = 0; }
    const event* begin() const noexcept { return _buf.data(); }
    const event* end() const noexcept { return _buf.data() + _n; }
    const event& operator[](std::size_t i) const noexcept { return _buf[i]; }

private:
    friend class poll;
    std::vector<event> _buf;
    std::size_t _n = 0;
};

/// What an OS readiness mechanism must provide (epoll now; kqueue could fill it).
class poll_backend {
public:
    virtual ~poll_backend() = default;
    virtual const char* name() const noexcept = 0;
    virtual status add(int fd, token t, interest i, trigger m) = 0;
    virtual status modify(int fd, token t, interest i, trigger m) = 0;
    virtual status remove(int fd) = 0;
    /// Waits up to timeout_ms (-1: forever, 0: non-blocking); writes at most `cap`
    /// events; returns their count, or -errno. EINTR is reported as 0 events.
    virtual int wait(event* out, std::size_t cap, int timeout_ms) noexcept = 0;
};

/// The epoll backend (Linux).
result<std::unique_ptr<poll_backend>> make_epoll_backend();

/// Registers sources with a poll (mio::Registry). Cheap to copy a reference to.
class registry {
public:
    /// Starts watching `fd`. Fails (errc::io, with strerror) if it is already
    /// registered, closed, or a regular file (epoll refuses those).
    status register_fd(int fd, token t, interest i, trigger m = trigger::edge);
    /// Changes token/interest of a registered fd.
    status reregister(int fd, token t, interest i, trigger m = trigger::edge);
    /// Stops watching `fd`; call before closing it if it may still be pending.
    status deregister(int fd);
    std::size_t registered() const noexcept { return _count; }

private:
    friend class poll;
    explicit registry(poll_backend* b) : _b(b) {}
    poll_backend* _b;
    std::size_t _count = 0;
};

/// A readiness queue (mio::Poll). Movable, not copyable.
class poll {
public:
    /// Creates a poll over epoll.
    static result<poll> create();
    /// Creates a poll over a caller-supplied backend.
    static poll with_backend(std::unique_ptr<poll_backend> b);

    poll(poll&&) noexcept;
    poll& operator=(poll&&) noexcept;
    ~poll();

    registry& get_registry() noexcept { return *_reg; }
    const char* backend_name() const noexcept { return _b->name(); }

    /// Blocks until at least one event or the timeout (nullopt: forever). Replaces the
    /// contents of `ev`. An interrupted wait (EINTR) returns ok with no events.
    status wait(events& ev, std::optional<std::chrono::milliseconds> timeout);

    /// Non-blocking wait (timeout 0): the reactor EXT-source form. Returns the number
    /// of events written to `ev` (0 on none or error).
    std::size_t poll_once(events& ev) noexcept;

private:
    explicit poll(std::unique_ptr<poll_backend> b);
    std::unique_ptr<poll_backend> _b;
    std::unique_ptr<registry> _reg;
};

/// Wakes a poll from any thread (mio::Waker): an eventfd registered readable under
/// `t`. After the wake event arrives, call `reset()` on the polling thread.
class waker {
public:
    static result<waker> create(registry& r, token t);
    waker(waker&&) noexcept;
    waker& operator=(waker&&) = delete;
    ~waker();
    /// Any thread; async-signal-safe.
    status wake() const noexcept;
    /// Drains the eventfd (poll thread).
    void reset() const noexcept;
    int fd() const noexcept { return _fd; }

private:
    explicit waker(int fd) : _fd(fd) {}
    int _fd = -1;
};

/// A poll plus a dispatch callback: the shape a reactor's EXT source takes.
/// `run_once()` polls without blocking and calls `on_event` for each event.
class poll_source {
public:
    using handler = std::function<void(const event&)>;
    poll_source(poll& p, handler h, std::size_t capacity = 64)
        : _poll(p), _events(capacity), _h(std::move(h)) {}
    /// Never blocks; returns how many events were dispatched.
    std::size_t run_once() noexcept;

private:
    poll& _poll;
    events _events;
    handler _h;
};

} // namespace pk::net
