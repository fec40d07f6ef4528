#include "net/poll.hh"

#include <cerrno>
#include <cstring>
#include <string>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace pk::net {
namespace {

error io_error(const char* what, int fd, int e) {
    return make_error(errc::io,
                      std::string(what) + " fd " + std::to_string(fd) + ": " + std::strerror(e));
}

class epoll_backend final : public poll_backend {
public:
    explicit epoll_backend(int epfd) : _epfd(epfd) {}
    ~epoll_backend() override { ::close(_epfd); }
    const char* name() const noexcept override { return "epoll"; }

    status add(int fd, token t, interest i, trigger m) override {
        return ctl(EPOLL_CTL_ADD, fd, t, i, m, "epoll register");
    }
    status modify(int fd, token t, interest i, trigger m) override {
        return ctl(EPOLL_CTL_MOD, fd, t, i, m, "epoll reregister");
    }
    status remove(int fd) override {
        if (::epoll_ctl(_epfd, EPOLL_CTL_DEL, fd, nullptr) != 0)
            return io_error("epoll deregister", fd, errno);
        return {};
    }

    int wait(event* out, std::size_t cap, int timeout_ms) noexcept override {
        if (cap > _buf.size()) {
            try {
                _buf.resize(cap);
            } catch (...) {
                return -ENOMEM;
            }
        }
        int n = ::epoll_wait(_epfd, _buf.data(), static_cast<int>(cap), timeout_ms);
        if (n < 0) return errno == EINTR ? 0 : -errno;
        for (int k = 0; k < n; ++k) {
            std::uint32_t e = _buf[k].events, f = 0;
            if (e & EPOLLIN) f |= event::f_readable;
            if (e & EPOLLOUT) f |= event::f_writable;
            if (e & EPOLLPRI) f |= event::f_priority;
            if (e & EPOLLERR) f |= event::f_error;
            // As mio: HUP closes both directions, RDHUP the read side.
            if (e & (EPOLLHUP | EPOLLRDHUP)) f |= event::f_read_closed;
            if (e & EPOLLHUP) f |= event::f_write_closed;
            if ((e & EPOLLERR) && (e & EPOLLOUT)) f |= event::f_write_closed;
            out[k] = event(token{static_cast<std::size_t>(_buf[k].data.u64)}, f);
        }
        return n;
    }

private:
    status ctl(int op, int fd, token t, interest i, trigger m, const char* what) {
        epoll_event ev{};
        ev.data.u64 = t.value;
        if (i.is_readable()) ev.events |= EPOLLIN | EPOLLRDHUP;
        if (i.is_writable()) ev.events |= EPOLLOUT;
        if (i.is_priority()) ev.events |= EPOLLPRI;
        if (m == trigger::edge) ev.events |= EPOLLET;
        if (::epoll_ctl(_epfd, op, fd, &ev) != 0) return io_error(what, fd, errno);
        return {};
    }

    int _epfd;
    std::vector<epoll_event> _buf;
};

} // namespace

result<std::unique_ptr<poll_backend>> make_epoll_backend() {
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return make_error(errc::io, std::string("epoll_create1: ") + std::strerror(errno));
    return std::unique_ptr<poll_backend>(new epoll_backend(fd));
}

status registry::register_fd(int fd, token t, interest i, trigger m) {
    auto s = _b->add(fd, t, i, m);
    if (s) ++_count;
    return s;
}
status registry::reregister(int fd, token t, interest i, trigger m) {
    return _b->modify(fd, t, i, m);
}
status registry::deregister(int fd) {
    auto s = _b->remove(fd);
    if (s && _count) --_count;
    return s;
}

poll::poll(std::unique_ptr<poll_backend> b) : _b(std::move(b)), _reg(new registry(_b.get())) {}
poll::poll(poll&&) noexcept = default;
poll& poll::operator=(poll&&) noexcept = default;
poll::~poll() = default;

result<poll> poll::create() {
    auto b = make_epoll_backend();
    if (!b) return std::move(b).err();
    return poll(std::move(*b));
}
poll poll::with_backend(std::unique_ptr<poll_backend> b) {
    return poll(std::move(b));
}

status poll::wait(events& ev, std::optional<std::chrono::milliseconds> timeout) {
    int ms = -1;
    if (timeout) {
        auto c = timeout->count();
        ms = c < 0 ? 0 : (c > 0x7fffffff ? 0x7fffffff : static_cast<int>(c));
    }
    ev._n = 0;
    int n = _b->wait(ev._buf.data(), ev._buf.size(), ms);
    if (n < 0) return make_error(errc::io, std::string("poll wait: ") + std::strerror(-n));
    ev._n = static_cast<std::size_t>(n);
    return {};
}

std::size_t poll::poll_once(events& ev) noexcept {
    ev._n = 0;
    int n = _b->wait(ev._buf.data(), ev._buf.size(), 0);
    if (n <= 0) return 0;
    ev._n = static_cast<std::size_t>(n);
    return ev._n;
}

result<waker> waker::create(registry& r, token t) {
    int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return make_error(errc::io, std::string("eventfd: ") + std::strerror(errno));
    waker w(fd);
    auto s = r.register_fd(fd, t, interest::readable);
    if (!s) return s.err();
    return w;
}
waker::waker(waker&& o) noexcept : _fd(o._fd) {
    o._fd = -1;
}
waker::~waker() {
    if (_fd >= 0) ::close(_fd);
}
status waker::wake() const noexcept {
    std::uint64_t one = 1;
    for (;;) {
        if (::write(_fd, &one, sizeof(one)) == sizeof(one)) return {};
        if (errno == EAGAIN) { // counter saturated: drain and retry (as mio does)
            reset();
            continue;
        }
        if (errno == EINTR) continue;
        return make_error(errc::io, std::string("waker: ") + std::strerror(errno));
    }
}
void waker::reset() const noexcept {
    std::uint64_t v;
    while (::read(_fd, &v, sizeof(v)) == sizeof(v)) {
    }
}

std::size_t poll_source::run_once() noexcept {
    std::size_t n = _poll.poll_once(_events);
    for (const event& e : _events) {
        try {
            _h(e);
        } catch (...) {
            // A control handler threw: keep the reactor alive; the handler owns logging.
        }
    }
    return n;
}

} // namespace pk::net
