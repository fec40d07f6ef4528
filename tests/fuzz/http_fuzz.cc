// libFuzzer target for the metrics endpoint's request path (metrics/http.hh) and the
// text encoder behind it (metrics/exposition.hh), over a real loopback connection.
//
// One exporter serves a registry whose collector publishes a label value and a HELP text
// taken from the input. The input's first byte picks the mode: even, the rest is sent as
// raw bytes (any request line, headers, garbage); odd, the rest becomes the path of a
// `GET <path> HTTP/1.1` request. After each input a clean `GET /metrics` follows on
// a new connection. Invariants (a violation traps): the exporter always answers that
// scrape with 200 and a body that is valid text format 0.0.4 — every line a HELP, TYPE or
// sample line, label values correctly escaped, all of it valid UTF-8 (Prometheus rejects
// a scrape otherwise); a GET of /metrics gets 200, of an unknown path 404;
// no response ever takes longer than the exporter's request timeout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "metrics/http.hh"
#include "metrics/registry.hh"

namespace {

using namespace pk::metrics;

std::mutex g_mu;
std::string g_value = "v"; // label value and HELP text of the fuzzed family
std::string g_help = "h";

struct fixture {
    registry reg;
    registration handle;
    std::unique_ptr<exporter> ex;
    fixture() {
        handle = reg.add([](std::vector<family>& out) {
            std::lock_guard lk(g_mu);
            out.emplace_back("pktkernel_fuzz_total", g_help, metric_type::counter)
                .add({{"name", g_value}, {"port", "0"}}, 1);
            out.emplace_back("pktkernel_fuzz_seconds", g_help, metric_type::histogram)
                .add(histogram_value{{0.001, 0.01}, {3, 2, 1}, 0.5}, {{"name", g_value}});
        });
        auto e = exporter::start(reg, "127.0.0.1:0");
        if (!e) __builtin_trap();
        ex = std::move(*e);
    }
};

/// Sends `req` on a new connection and returns everything the server wrote until it
/// closed (or 5 s passed: a trap, the exporter must not hang on a closed request).
std::string exchange(std::uint16_t port, std::string_view req) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) __builtin_trap();
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // libFuzzer's -timeout watchdog is a periodic SIGALRM: any blocking call here may
    // return EINTR, which is not the exporter's doing — retry, against one deadline.
    while (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        if (errno != EINTR) __builtin_trap();
    std::size_t sent = 0;
    while (sent < req.size()) {
        ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; // the server may close early on garbage
        sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string out;
    char buf[16384];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) __builtin_trap();
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r != 1) __builtin_trap();
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

bool valid_utf8(std::string_view s) {
    static constexpr std::uint32_t least[] = {0, 0x80, 0x800, 0x10000}; // no overlong forms
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n;
        std::uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= s.size()) return false;
        for (std::size_t k = 1; k <= n; ++k) {
            auto d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3f);
        }
        if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/// One sample line: name, optional {label="value",...}, a space, a value.
bool valid_sample(std::string_view l) {
    std::size_t i = 0;
    if (l.empty() || !name_char(l[0], true)) return false;
    while (i < l.size() && name_char(l[i], false))
        ++i;
    if (i < l.size() && l[i] == '{') {
        ++i;
        while (i < l.size() && l[i] != '}') {
            if (!name_char(l[i], true) || l[i] == ':') return false;
            while (i < l.size() && name_char(l[i], false) && l[i] != ':')
                ++i;
            if (l.substr(i, 2) != "=\"") return false;
            i += 2;
            for (;; ++i) {
                if (i >= l.size()) return false;
                if (l[i] == '"') break;
                if (l[i] == '\\') {
                    if (i + 1 >= l.size()) return false;
                    char e = l[++i];
                    if (e != '\\' && e != '"' && e != 'n') return false;
                }
            }
            ++i; // closing quote
            if (i < l.size() && l[i] == ',') ++i;
        }
        if (i >= l.size()) return false;
        ++i; // '}'
    }
    if (i >= l.size() || l[i] != ' ') return false;
    return i + 1 < l.size();
}

void check_scrape(std::uint16_t port) {
    std::string r = exchange(port, "GET /metrics HTTP/1.1\r\nHost: fuzz\r\n\r\n");
    if (r.rfind("HTTP/1.1 200", 0) != 0) __builtin_trap();
    auto body_at = r.find("\r\n\r\n");
    if (body_at == std::string::npos) __builtin_trap();
    std::string_view body(r);
    body.remove_prefix(body_at + 4);
    if (!valid_utf8(body)) __builtin_trap();
    if (body.empty() || body.back() != '\n') __builtin_trap();
    bool fuzz_family = false;
    for (std::string_view rest = body; !rest.empty();) {
        auto nl = rest.find('\n');
        std::string_view l = rest.substr(0, nl);
        rest.remove_prefix(nl + 1);
        if (l.rfind("# HELP ", 0) == 0 || l.rfind("# TYPE ", 0) == 0) continue;
        if (!valid_sample(l)) __builtin_trap();
        if (l.rfind("pktkernel_fuzz_total{", 0) == 0) fuzz_family = true;
    }
    if (!fuzz_family) __builtin_trap(); // the family was not left out
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > 8192) return 0;
    static fixture fx;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    {
        // The label value and HELP text: the input up to its first NUL (all of it if
        // none), so every scrape below carries bytes the fuzzer chose.
        std::lock_guard lk(g_mu);
        g_value.assign(in.substr(0, in.find('\0')));
        g_help.assign(in.substr(0, in.size() / 2));
    }
    if (data[0] & 1) {
        std::string path(in.substr(0, in.find_first_of("\r\n")));
        std::string r = exchange(fx.ex->port(), "GET " + path + " HTTP/1.1\r\nHost: fuzz\r\n\r\n");
        // CivetWeb may refuse a malformed request line with any 4xx or close at once;
        // what reaches our handler gets our answer. A path with a blank is CivetWeb's
        // alone: 1.15 answers 400 with the request's own tail echoed as the protocol
        // version ("HTTP/a HTTP/1.1\r\nHost: ...": corpus/http/civetweb-echoed-version).
        if (!r.empty() && r.rfind("HTTP/", 0) != 0) __builtin_trap();
        if (r.size() >= 12 && path.find_first_of(" \t") == std::string::npos) {
            int code = std::atoi(r.substr(9, 3).c_str());
            if (code < 200 || code > 599) __builtin_trap();
            if (path == "/metrics" && code != 200) __builtin_trap();
            if ((path == "/nope" || path == "/metrics/x") && code != 404) __builtin_trap();
        }
    } else {
        (void)exchange(fx.ex->port(), in);
    }
    check_scrape(fx.ex->port());
    return 0;
}
