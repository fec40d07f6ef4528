// Pipes: fd-backed queues, the seed's "Pipes" backend.
//
// Use them where a file descriptor is the point: to wake a reactor that sleeps in
// epoll/poll (`wakeup`, an eventfd), or to carry a byte stream such as stdin or a pipe
// between processes (`pipe_queue<T>`). Every call is a system call (~0.3-1 us): these
// are for control and wake-ups, never the per-packet path.
//
//   pipe_queue<T> — T trivially copyable; items are written whole (sizeof(T) <= PIPE_BUF
//                   makes each write atomic, so several writers are safe); non-blocking.
//                   adopt(read_fd, write_fd) wraps existing fds (e.g. stdin, -1).
//   wakeup        — eventfd counter: notify() from any thread, fd() for epoll,
//                   drain() on the sleeping side returns how many notifications.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits.h>
#include <type_traits>

#include "base/result.hh"

namespace pk::queue {

namespace detail {
int pipe_capacity_bytes(int fd) noexcept;
long fd_write(int fd, const void* p, std::size_t n) noexcept;
long fd_read(int fd, void* p, std::size_t n) noexcept;
int make_pipe(int fds[2]) noexcept; // non-blocking, close-on-exec; -errno on failure
void close_fd(int fd) noexcept;
} // namespace detail

template <typename T>
class pipe_queue {
    static_assert(std::is_trivially_copyable_v<T>, "pipe_queue<T>: T is sent as bytes");
    static_assert(sizeof(T) <= PIPE_BUF, "pipe_queue<T>: items must fit one atomic pipe write");

public:
    using value_type = T;

    /// A fresh non-blocking pipe.
    [[nodiscard]] static result<pipe_queue> create() {
        int fds[2];
        if (int e = detail::make_pipe(fds); e < 0)
            return make_error(errc::io,
                              "pipe_queue: pipe2 failed (errno " + std::to_string(-e) + ")");
        return pipe_queue(fds[0], fds[1], true);
    }
    /// Wraps existing fds (not closed on destruction); pass -1 for a side you do not use.
    [[nodiscard]] static pipe_queue adopt(int read_fd, int write_fd) noexcept {
        return pipe_queue(read_fd, write_fd, false);
    }
    pipe_queue(pipe_queue&& o) noexcept : _rfd(o._rfd), _wfd(o._wfd), _own(o._own), _cap(o._cap) {
        o._rfd = o._wfd = -1;
        o._own = false;
    }
    pipe_queue& operator=(pipe_queue&&) = delete;
    ~pipe_queue() {
        if (_own) {
            detail::close_fd(_rfd);
            detail::close_fd(_wfd);
        }
    }

    [[nodiscard]] bool try_push(const T& v) noexcept { return push_burst(&v, 1) == 1; }
    [[nodiscard]] bool try_pop(T& out) noexcept { return pop_burst(&out, 1) == 1; }
    /// Writes whole items only (at most PIPE_BUF bytes per call, so a call is atomic).
    [[nodiscard]] std::size_t push_burst(const T* in, std::size_t n) noexcept {
        const std::size_t max_items = PIPE_BUF / sizeof(T);
        if (n > max_items) n = max_items;
        const long w = detail::fd_write(_wfd, in, n * sizeof(T));
        return w > 0 ? std::size_t(w) / sizeof(T) : 0;
    }
    /// Reads whole items. (A writer of whole items never leaves a partial one.)
    [[nodiscard]] std::size_t pop_burst(T* out, std::size_t n) noexcept {
        const long r = detail::fd_read(_rfd, out, n * sizeof(T));
        return r > 0 ? std::size_t(r) / sizeof(T) : 0;
    }
    /// Bytes queued are not cheaply known for a pipe; size() reports 0 or 1 (readable).
    [[nodiscard]] std::size_t size() const noexcept;
    [[nodiscard]] std::size_t capacity() const noexcept { return _cap; }
    [[nodiscard]] int read_fd() const noexcept { return _rfd; }
    [[nodiscard]] int write_fd() const noexcept { return _wfd; }

private:
    pipe_queue(int r, int w, bool own) noexcept : _rfd(r), _wfd(w), _own(own) {
        const int b = detail::pipe_capacity_bytes(_rfd >= 0 ? _rfd : _wfd);
        _cap = b > 0 ? std::size_t(b) / sizeof(T) : 0;
    }
    int _rfd = -1;
    int _wfd = -1;
    bool _own = false;
    std::size_t _cap = 0;
};

namespace detail {
std::size_t fd_readable_bytes(int fd) noexcept;
}

template <typename T>
std::size_t pipe_queue<T>::size() const noexcept {
    return detail::fd_readable_bytes(_rfd) / sizeof(T);
}

/// eventfd-based wake-up for a reactor sleeping in epoll.
class wakeup {
public:
    [[nodiscard]] static result<wakeup> create();
    wakeup(wakeup&& o) noexcept : _fd(o._fd) { o._fd = -1; }
    wakeup& operator=(wakeup&&) = delete;
    ~wakeup();
    /// Any thread. Adds 1 to the counter (the fd becomes readable).
    void notify() noexcept;
    /// The sleeping side: returns notifications since the last drain (0 if none).
    std::uint64_t drain() noexcept;
    [[nodiscard]] int fd() const noexcept { return _fd; }

private:
    explicit wakeup(int fd) noexcept : _fd(fd) {}
    int _fd = -1;
};

} // namespace pk::queue
