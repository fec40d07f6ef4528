// Slow path of queue/pipes.hh: the system calls.
#include "queue/pipes.hh"

#include <cerrno>
#include <fcntl.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace pk::queue {
namespace detail {

int pipe_capacity_bytes(int fd) noexcept {
    if (fd < 0) return 0;
    const int r = ::fcntl(fd, F_GETPIPE_SZ);
    return r > 0 ? r : 0;
}

long fd_write(int fd, const void* p, std::size_t n) noexcept {
    if (fd < 0 || n == 0) return 0;
    ssize_t w;
    do
        w = ::write(fd, p, n);
    while (w < 0 && errno == EINTR);
    return w;
}

long fd_read(int fd, void* p, std::size_t n) noexcept {
    if (fd < 0 || n == 0) return 0;
    ssize_t r;
    do
        r = ::read(fd, p, n);
    while (r < 0 && errno == EINTR);
    return r;
}

int make_pipe(int fds[2]) noexcept {
    return ::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : -errno;
}

void close_fd(int fd) noexcept {
    if (fd >= 0) ::close(fd);
}

std::size_t fd_readable_bytes(int fd) noexcept {
    int n = 0;
    if (fd < 0 || ::ioctl(fd, FIONREAD, &n) != 0 || n < 0) return 0;
    return std::size_t(n);
}

} // namespace detail

result<wakeup> wakeup::create() {
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return make_error(errc::io, "wakeup: eventfd failed (errno " + std::to_string(errno) + ")");
    return wakeup(fd);
}

wakeup::~wakeup() {
    if (_fd >= 0) ::close(_fd);
}

void wakeup::notify() noexcept {
    const std::uint64_t one = 1;
    (void)detail::fd_write(_fd, &one, sizeof one);
}

std::uint64_t wakeup::drain() noexcept {
    std::uint64_t v = 0;
    return detail::fd_read(_fd, &v, sizeof v) == long(sizeof v) ? v : 0;
}

} // namespace pk::queue
