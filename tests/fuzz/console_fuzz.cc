// libFuzzer target for the operator console's command parser (app/console.hh), both
// ways a line reaches it: execute(line) for each line of the input, and the whole input
// as a client's byte stream on the control socket, served by run_once() (line splitting,
// over-long lines, a last unterminated line at EOF). The console has its built-ins plus
// two commands that echo their argument string, so the prefix match and the argument
// slicing are checked. Invariants (a violation traps): a reply to a non-blank line is
// non-empty and ends in '\n'; a line with control bytes is refused with "error: ";
// `echo ARGS` returns the trimmed ARGS; the stream's replies are whole lines; after the
// client's EOF the console closes the connection within a bounded number of rounds.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "app/console.hh"

namespace {

using pk::app::console;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

bool has_control(std::string_view s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
    }
    return false;
}

std::unique_ptr<console> make_console() {
    auto c = console::create();
    if (!c) __builtin_trap();
    std::unique_ptr<console> con = std::move(*c);
    con->add("echo", [](std::string_view a) { return "[" + std::string(a) + "]"; }, "echo");
    con->add("show echo", [](std::string_view a) { return "<" + std::string(a) + ">"; }, "echo");
    con->set_max_line(256); // long lines are cheap to reach
    std::string path = "/tmp/pk-console-fuzz-" + std::to_string(::getpid()) + ".sock";
    if (!con->listen(path)) __builtin_trap();
    return con;
}

void check_line(console& con, std::string_view line) {
    std::string r = con.execute(line);
    std::string_view t = trim(line);
    if (t.empty()) return;
    if (r.empty() || r.back() != '\n') __builtin_trap();
    if (has_control(t)) {
        if (r.rfind("error: ", 0) != 0) __builtin_trap();
        return;
    }
    // "echo" alone, or "echo" followed by blanks and arguments, is the echo command.
    if (t.rfind("echo", 0) == 0 && (t.size() == 4 || t[4] == ' ' || t[4] == '\t')) {
        std::string want = "[" + std::string(trim(t.substr(4))) + "]\n";
        if (r != want) __builtin_trap();
    }
}

// The control socket path: a client connects, sends the input, shuts down its write side
// and reads until the console closes the connection.
void check_stream(console& con, std::string_view input) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) __builtin_trap();
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", con.socket_path().c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) __builtin_trap();
    std::string out;
    std::size_t sent = 0;
    bool shut = false, closed = false;
    char buf[8192];
    for (int round = 0; round < 10000 && !closed; ++round) {
        if (sent < input.size()) {
            ssize_t n = ::send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
            if (n > 0) sent += static_cast<std::size_t>(n);
        } else if (!shut) {
            ::shutdown(fd, SHUT_WR);
            shut = true;
        }
        con.run_once();
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                out.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0 && shut) closed = true; // the console closed its end
            break;
        }
    }
    if (!closed || con.client_count() != 0) __builtin_trap(); // EOF must close it
    if (!out.empty() && out.back() != '\n') __builtin_trap();
    ::close(fd);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 16384) return 0;
    static auto con = make_console();
    std::string_view in(reinterpret_cast<const char*>(data), size);
    for (std::string_view rest = in; !rest.empty();) {
        auto nl = rest.find('\n');
        check_line(*con, rest.substr(0, nl));
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
    check_stream(*con, in);
    return 0;
}
