// TCP echo over kernel sockets on the MIO-compatible poll API (loopback only).
//
//   pk-tcp-echo --server [--port P] [--duration S]     echo server on 127.0.0.1:P
//   pk-tcp-echo --client --port P [--conns C] [--messages M] [--size B]
//   pk-tcp-echo --self-test                            server thread + client, one process
//
// The server is one poll loop: the listener, every connection and a timerfd (for the
// duration) are registered with tokens; readiness is edge-triggered as in mio, so each
// event reads/writes until EAGAIN, and unsent echo bytes wait for a writable event.
// The client opens C connections, sends M messages of B bytes on each, and checks that
// every byte comes back in order. Exit status 0 only if everything was echoed.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "net/poll.hh"

using namespace pk::net;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t listener_tok = 0, timer_tok = 1, first_conn_tok = 16;

struct conn {
    int fd;
    std::string pending; // bytes read but not yet written back
};

int listen_loopback(std::uint16_t& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 128) != 0) {
        std::fprintf(stderr, "pk-tcp-echo: listen 127.0.0.1:%u: %s\n", port, std::strerror(errno));
        ::close(fd);
        return -1;
    }
    socklen_t al = sizeof(a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &al);
    port = ntohs(a.sin_port);
    return fd;
}

// Writes c.pending; true if the connection is still usable.
bool flush(conn& c) {
    while (!c.pending.empty()) {
        ssize_t n = ::send(c.fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c.pending.erase(0, std::size_t(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
    }
    return true;
}

int run_server(int lfd, unsigned seconds, std::atomic<bool>* stop = nullptr) {
    auto pr = poll::create();
    if (!pr) {
        std::fprintf(stderr, "pk-tcp-echo: %s\n", pr.err().message.c_str());
        return 1;
    }
    poll& p = *pr;
    registry& reg = p.get_registry();
    if (!reg.register_fd(lfd, token{listener_tok}, interest::readable)) return 1;
    int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (seconds) {
        itimerspec its{};
        its.it_value.tv_sec = seconds;
        ::timerfd_settime(tfd, 0, &its, nullptr);
        (void)reg.register_fd(tfd, token{timer_tok}, interest::readable);
    }
    std::map<std::size_t, conn> conns;
    std::size_t next = first_conn_tok;
    std::uint64_t echoed = 0, accepted = 0;
    events ev(256);
    bool done = false;
    while (!done && !(stop && stop->load())) {
        if (!p.wait(ev, 100ms)) break;
        for (const event& e : ev) {
            std::size_t t = e.get_token().value;
            if (t == timer_tok) {
                done = true;
            } else if (t == listener_tok) {
                for (;;) { // edge-triggered: accept until EAGAIN
                    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    int one = 1;
                    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    if (!reg.register_fd(fd, token{next},
                                         interest::readable | interest::writable)) {
                        ::close(fd);
                        continue;
                    }
                    conns.emplace(next++, conn{fd, {}});
                    ++accepted;
                }
            } else if (auto it = conns.find(t); it != conns.end()) {
                conn& c = it->second;
                bool alive = true;
                if (e.is_readable() || e.is_read_closed()) {
                    char buf[16384];
                    for (;;) {
                        ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
                        if (n > 0) {
                            c.pending.append(buf, std::size_t(n));
                            echoed += std::uint64_t(n);
                            if (c.pending.size() > (1u << 20)) break; // backpressure
                            continue;
                        }
                        if (n < 0 && errno == EINTR) continue;
                        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) alive = false;
                        break;
                    }
                }
                alive = flush(c) && (alive || !c.pending.empty());
                if (!alive || e.is_error()) {
                    (void)reg.deregister(c.fd);
                    ::close(c.fd);
                    conns.erase(it);
                }
            }
        }
    }
    for (auto& [t, c] : conns)
        ::close(c.fd);
    ::close(tfd);
    std::printf("server: %llu connections, %llu bytes echoed\n", (unsigned long long)accepted,
                (unsigned long long)echoed);
    return 0;
}

int run_client(std::uint16_t port, unsigned nconn, unsigned messages, unsigned size) {
    auto pr = poll::create();
    if (!pr) return 1;
    poll& p = *pr;
    struct cstate {
        int fd;
        std::string out;       // still to send
        std::size_t recvd = 0; // bytes verified
        std::size_t total;
    };
    std::vector<cstate> cs;
    std::string msg;
    for (unsigned i = 0; i < size; ++i)
        msg += char('a' + i % 26);
    for (unsigned i = 0; i < nconn; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 &&
            errno != EINPROGRESS) {
            std::fprintf(stderr, "pk-tcp-echo: connect: %s\n", std::strerror(errno));
            return 1;
        }
        std::string out;
        for (unsigned m = 0; m < messages; ++m)
            out += msg;
        cs.push_back({fd, out, 0, out.size()});
        (void)p.get_registry().register_fd(fd, token{i}, interest::readable | interest::writable);
    }
    // The expected stream for every connection is `messages` copies of msg.
    events ev(64);
    std::size_t complete = 0, mismatches = 0;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (complete < cs.size() && std::chrono::steady_clock::now() < deadline) {
        if (!p.wait(ev, 100ms)) break;
        for (const event& e : ev) {
            cstate& c = cs[e.get_token().value];
            if (e.is_writable()) {
                while (!c.out.empty()) {
                    ssize_t n = ::send(c.fd, c.out.data(),
                                       std::min<std::size_t>(c.out.size(), 65536), MSG_NOSIGNAL);
                    if (n <= 0) break;
                    c.out.erase(0, std::size_t(n));
                }
            }
            if (e.is_readable()) {
                char buf[16384];
                ssize_t n;
                while ((n = ::recv(c.fd, buf, sizeof(buf), 0)) > 0) {
                    for (ssize_t k = 0; k < n; ++k)
                        if (buf[k] != msg[(c.recvd + std::size_t(k)) % size]) ++mismatches;
                    c.recvd += std::size_t(n);
                }
                if (c.recvd == c.total) {
                    ++complete;
                    (void)p.get_registry().deregister(c.fd);
                    ::close(c.fd);
                    c.fd = -1;
                }
            }
        }
    }
    std::size_t bytes = 0;
    for (auto& c : cs) {
        bytes += c.recvd;
        if (c.fd >= 0) ::close(c.fd);
    }
    std::printf("client: %zu/%zu connections complete, %zu bytes echoed, %zu mismatches\n",
                complete, cs.size(), bytes, mismatches);
    return complete == cs.size() && mismatches == 0 ? 0 : 3;
}

} // namespace

int main(int argc, char** argv) {
    std::string mode;
    std::uint16_t port = 0;
    unsigned duration = 30, conns = 8, messages = 100, size = 1000;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto num = [&]() {
            return i + 1 < argc ? unsigned(std::strtoul(argv[++i], nullptr, 10)) : 0u;
        };
        if (a == "--server" || a == "--client" || a == "--self-test")
            mode = a.substr(2);
        else if (a == "--port")
            port = std::uint16_t(num());
        else if (a == "--duration")
            duration = num();
        else if (a == "--conns")
            conns = num();
        else if (a == "--messages")
            messages = num();
        else if (a == "--size")
            size = num();
        else {
            std::fprintf(stderr, "usage: pk-tcp-echo --server|--client|--self-test [--port P] "
                                 "[--duration S] [--conns C] [--messages M] [--size B]\n");
            return 2;
        }
    }
    if (size == 0 || conns == 0) return 2;
    if (mode == "server") {
        int lfd = listen_loopback(port);
        if (lfd < 0) return 1;
        std::printf("listening on 127.0.0.1:%u\n", port);
        std::fflush(stdout);
        return run_server(lfd, duration);
    }
    if (mode == "client") {
        if (!port) return 2;
        return run_client(port, conns, messages, size);
    }
    if (mode == "self-test") {
        int lfd = listen_loopback(port);
        if (lfd < 0) return 1;
        std::atomic<bool> stop{false};
        std::thread srv([&] { run_server(lfd, 0, &stop); });
        int rc = run_client(port, conns, messages, size);
        stop = true;
        srv.join();
        ::close(lfd);
        return rc;
    }
    std::fprintf(stderr, "pk-tcp-echo: give --server, --client or --self-test\n");
    return 2;
}
