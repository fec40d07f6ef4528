// Poll API: readiness for sockets (TCP loopback, Unix pairs), pipes, eventfd and
// timerfd; edge vs level triggering; deregistration; many tokens; the waker and the
// EXT-source form. No EAL needed. Waits use generous timeouts and assert on events,
// never on elapsed time.
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "net/poll.hh"

using namespace pk::net;
using namespace std::chrono_literals;

namespace {

struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

poll make_poll() {
    auto p = poll::create();
    EXPECT_TRUE(p) << p.err().message;
    return std::move(*p);
}

// Collects events until `pred` holds on the accumulated set or the timeout passes.
std::vector<event> wait_events(poll& p, std::chrono::milliseconds timeout = 2000ms) {
    events ev(64);
    auto s = p.wait(ev, timeout);
    EXPECT_TRUE(s);
    return {ev.begin(), ev.end()};
}

const event* find(const std::vector<event>& v, std::size_t tok) {
    for (auto& e : v)
        if (e.get_token().value == tok) return &e;
    return nullptr;
}

} // namespace

TEST(poll, backend_is_epoll_and_empty_poll_times_out) {
    auto p = make_poll();
    EXPECT_STREQ(p.backend_name(), "epoll");
    events ev(8);
    ASSERT_TRUE(p.wait(ev, 0ms));
    EXPECT_TRUE(ev.empty());
    EXPECT_EQ(p.poll_once(ev), 0u);
}

TEST(poll, pipe_readable_then_read_closed) {
    auto p = make_poll();
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
    fd_guard r{fds[0]}, w{fds[1]};
    ASSERT_TRUE(p.get_registry().register_fd(r.fd, token{7}, interest::readable));
    ASSERT_TRUE(p.get_registry().register_fd(w.fd, token{8}, interest::writable));
    auto v = wait_events(p);
    ASSERT_NE(find(v, 8), nullptr);
    EXPECT_TRUE(find(v, 8)->is_writable());
    EXPECT_EQ(find(v, 7), nullptr) << "nothing written yet";

    ASSERT_EQ(::write(w.fd, "x", 1), 1);
    v = wait_events(p);
    ASSERT_NE(find(v, 7), nullptr);
    EXPECT_TRUE(find(v, 7)->is_readable());

    // Edge-triggered: without reading, no new event arrives.
    events ev(8);
    EXPECT_EQ(p.poll_once(ev), 0u);

    ASSERT_TRUE(p.get_registry().deregister(w.fd));
    ::close(w.fd);
    w.fd = -1;
    v = wait_events(p);
    ASSERT_NE(find(v, 7), nullptr);
    EXPECT_TRUE(find(v, 7)->is_read_closed());
}

TEST(poll, level_trigger_repeats_until_drained) {
    auto p = make_poll();
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
    fd_guard r{fds[0]}, w{fds[1]};
    ASSERT_TRUE(p.get_registry().register_fd(r.fd, token{1}, interest::readable, trigger::level));
    ASSERT_EQ(::write(w.fd, "ab", 2), 2);
    events ev(8);
    ASSERT_TRUE(p.wait(ev, 2000ms));
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(p.poll_once(ev), 1u) << "level: still readable";
    char buf[4];
    ASSERT_EQ(::read(r.fd, buf, sizeof(buf)), 2);
    EXPECT_EQ(p.poll_once(ev), 0u);
}

TEST(poll, tcp_loopback_accept_read_write) {
    auto p = make_poll();
    fd_guard ls{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(ls.fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(ls.fd, 4), 0);
    socklen_t al = sizeof(a);
    ASSERT_EQ(::getsockname(ls.fd, reinterpret_cast<sockaddr*>(&a), &al), 0);
    ASSERT_TRUE(p.get_registry().register_fd(ls.fd, token{100}, interest::readable));

    fd_guard cl{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)};
    int rc = ::connect(cl.fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS);
    ASSERT_TRUE(
        p.get_registry().register_fd(cl.fd, token{101}, interest::readable | interest::writable));
    bool accepted = false, connected = false;
    fd_guard sv;
    for (int i = 0; i < 10 && !(accepted && connected); ++i) {
        for (auto& e : wait_events(p)) {
            if (e.get_token().value == 100) {
                sv.fd = ::accept4(ls.fd, nullptr, nullptr, SOCK_NONBLOCK);
                accepted = sv.fd >= 0;
            }
            if (e.get_token().value == 101 && e.is_writable()) connected = true;
        }
    }
    ASSERT_TRUE(accepted);
    ASSERT_TRUE(connected);
    ASSERT_TRUE(p.get_registry().register_fd(sv.fd, token{102}, interest::readable));
    ASSERT_EQ(::send(cl.fd, "ping", 4, 0), 4);
    auto v = wait_events(p);
    ASSERT_NE(find(v, 102), nullptr);
    char buf[8];
    EXPECT_EQ(::recv(sv.fd, buf, sizeof(buf), 0), 4);
    // Peer shutdown shows as read-closed.
    ::shutdown(cl.fd, SHUT_WR);
    v = wait_events(p);
    ASSERT_NE(find(v, 102), nullptr);
    EXPECT_TRUE(find(v, 102)->is_read_closed());
}

TEST(poll, unix_socketpair_and_reregister) {
    auto p = make_poll();
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    fd_guard a{sv[0]}, b{sv[1]};
    ASSERT_TRUE(p.get_registry().register_fd(a.fd, token{1}, interest::readable));
    ASSERT_EQ(::write(b.fd, "hi", 2), 2);
    auto v = wait_events(p);
    ASSERT_NE(find(v, 1), nullptr);
    // Re-register under a new token with write interest: the new token is reported.
    ASSERT_TRUE(p.get_registry().reregister(a.fd, token{2}, interest::writable));
    v = wait_events(p);
    ASSERT_NE(find(v, 2), nullptr);
    EXPECT_TRUE(find(v, 2)->is_writable());
    EXPECT_EQ(find(v, 1), nullptr);
}

TEST(poll, eventfd_and_timerfd) {
    auto p = make_poll();
    fd_guard efd{::eventfd(0, EFD_NONBLOCK)};
    fd_guard tfd{::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)};
    ASSERT_TRUE(p.get_registry().register_fd(efd.fd, token{1}, interest::readable));
    ASSERT_TRUE(p.get_registry().register_fd(tfd.fd, token{2}, interest::readable));
    itimerspec its{};
    its.it_value.tv_nsec = 5 * 1000 * 1000; // 5 ms
    ASSERT_EQ(::timerfd_settime(tfd.fd, 0, &its, nullptr), 0);
    auto v = wait_events(p);
    ASSERT_NE(find(v, 2), nullptr) << "timerfd fired";
    EXPECT_EQ(find(v, 1), nullptr);
    std::uint64_t n = 0;
    ASSERT_EQ(::read(tfd.fd, &n, 8), 8);
    EXPECT_EQ(n, 1u);
    std::uint64_t one = 1;
    ASSERT_EQ(::write(efd.fd, &one, 8), 8);
    v = wait_events(p);
    ASSERT_NE(find(v, 1), nullptr);
    EXPECT_TRUE(find(v, 1)->is_readable());
}

TEST(poll, deregistered_fd_reports_nothing_and_errors_are_clear) {
    auto p = make_poll();
    fd_guard efd{::eventfd(1, EFD_NONBLOCK)}; // already readable
    ASSERT_TRUE(p.get_registry().register_fd(efd.fd, token{1}, interest::readable));
    EXPECT_EQ(p.get_registry().registered(), 1u);
    auto dup = p.get_registry().register_fd(efd.fd, token{1}, interest::readable);
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.err().code, pk::errc::io);
    EXPECT_NE(dup.err().message.find("File exists"), std::string::npos) << dup.err().message;
    ASSERT_TRUE(p.get_registry().deregister(efd.fd));
    EXPECT_EQ(p.get_registry().registered(), 0u);
    events ev(8);
    ASSERT_TRUE(p.wait(ev, 20ms));
    EXPECT_TRUE(ev.empty());
    EXPECT_FALSE(p.get_registry().deregister(efd.fd)) << "not registered any more";
    EXPECT_FALSE(p.get_registry().register_fd(-1, token{3}, interest::readable));
}

TEST(poll, many_tokens_each_reported_once) {
    auto p = make_poll();
    constexpr int n = 500;
    std::vector<fd_guard> fds(n);
    for (int i = 0; i < n; ++i) {
        fds[i].fd = ::eventfd(0, EFD_NONBLOCK);
        ASSERT_GE(fds[i].fd, 0);
        ASSERT_TRUE(p.get_registry().register_fd(fds[i].fd, token{std::size_t(1000 + i)},
                                                 interest::readable));
    }
    std::uint64_t one = 1;
    for (int i = 0; i < n; i += 2)
        ASSERT_EQ(::write(fds[i].fd, &one, 8), 8); // the even ones
    std::set<std::size_t> seen;
    events ev(64); // smaller than the ready set: several waits needed
    for (int round = 0; round < 50 && seen.size() < n / 2; ++round) {
        ASSERT_TRUE(p.wait(ev, 1000ms));
        EXPECT_LE(ev.size(), ev.capacity());
        for (auto& e : ev)
            EXPECT_TRUE(seen.insert(e.get_token().value).second) << "duplicate";
    }
    ASSERT_EQ(seen.size(), std::size_t(n / 2));
    for (auto t : seen)
        EXPECT_EQ((t - 1000) % 2, 0u) << "only written fds are ready";
}

TEST(poll, waker_from_another_thread_and_poll_source) {
    auto p = make_poll();
    auto w = waker::create(p.get_registry(), token{99});
    ASSERT_TRUE(w) << w.err().message;
    std::thread t([&] { EXPECT_TRUE(w->wake()); });
    auto v = wait_events(p, 5000ms);
    t.join();
    ASSERT_NE(find(v, 99), nullptr);
    w->reset();
    // The reactor EXT-source form: never blocks, dispatches each event.
    std::vector<std::size_t> got;
    poll_source src(p, [&](const event& e) { got.push_back(e.get_token().value); });
    EXPECT_EQ(src.run_once(), 0u);
    ASSERT_TRUE(w->wake());
    std::size_t n = 0;
    for (int i = 0; i < 1000 && n == 0; ++i)
        n = src.run_once();
    ASSERT_EQ(n, 1u);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], 99u);
}

// A backend double proves the interface is enough for another OS mechanism.
namespace {
struct fake_backend : poll_backend {
    std::vector<std::pair<int, token>> fds;
    const char* name() const noexcept override { return "fake"; }
    pk::status add(int fd, token t, interest, trigger) override {
        fds.push_back({fd, t});
        return {};
    }
    pk::status modify(int, token, interest, trigger) override { return {}; }
    pk::status remove(int fd) override {
        std::erase_if(fds, [&](auto& x) { return x.first == fd; });
        return {};
    }
    int wait(event* out, std::size_t cap, int) noexcept override {
        std::size_t n = std::min(cap, fds.size());
        for (std::size_t i = 0; i < n; ++i)
            out[i] = event(fds[i].second, event::f_readable);
        return static_cast<int>(n);
    }
};
} // namespace

TEST(poll, custom_backend) {
    auto p = poll::with_backend(std::make_unique<fake_backend>());
    EXPECT_STREQ(p.backend_name(), "fake");
    ASSERT_TRUE(p.get_registry().register_fd(5, token{50}, interest::readable));
    events ev(4);
    ASSERT_TRUE(p.wait(ev, std::nullopt));
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].get_token().value, 50u);
    EXPECT_TRUE(ev[0].is_readable());
}
