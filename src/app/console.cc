#include "app/console.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.hh"

namespace pk::app {

using namespace pk::net;

namespace {

constexpr std::size_t listen_token = 0;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> words(std::string_view s) {
    std::vector<std::string_view> w;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
            ++i;
        std::size_t j = i;
        while (j < s.size() && s[j] != ' ' && s[j] != '\t')
            ++j;
        if (j > i) w.push_back(s.substr(i, j - i));
        i = j;
    }
    return w;
}

std::string normalise(std::string_view cmd) {
    std::string out;
    for (auto w : words(cmd)) {
        if (!out.empty()) out += ' ';
        out += w;
    }
    return out;
}

// Printable for an error echo: control bytes shown as '?', at most 64 chars.
std::string printable(std::string_view s) {
    std::string o;
    for (char ch : s.substr(0, 64)) {
        unsigned char u = static_cast<unsigned char>(ch);
        o += (u < 0x20 || u >= 0x7f) ? '?' : ch;
    }
    if (s.size() > 64) o += "...";
    return o;
}

bool set_nonblocking(int fd) {
    int fl = ::fcntl(fd, F_GETFL);
    return fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

error sys_error(const std::string& what) {
    return make_error(errc::io, what + ": " + std::strerror(errno));
}

bool fill_addr(const std::string& path, sockaddr_un& a) {
    std::memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(a.sun_path)) return false;
    std::memcpy(a.sun_path, path.data(), path.size());
    return true;
}

} // namespace

void console::add_without_args(std::string_view command, std::function<std::string()> fn,
                               std::string help) {
    add(
        command,
        [name = normalise(command), fn = std::move(fn)](std::string_view args) {
            if (!args.empty())
                return "error: '" + name + "' takes no arguments (got '" + printable(args) + "')";
            return fn();
        },
        std::move(help));
}

console::console() {
    add_without_args(
        "help", [this] { return help_text(); }, "list commands");
    add_without_args(
        "quit",
        [this] {
            if (!_quit) {
                _quit = true;
                if (_on_quit) _on_quit();
            }
            return std::string("bye\n");
        },
        "stop pktkernel");
    add_without_args(
        "stats",
        [this] {
            if (_stats.empty()) return std::string("(no statistics yet)\n");
            std::string out;
            for (auto& [name, fn] : _stats) {
                out += "[" + name + "]\n";
                std::string s = fn();
                if (!s.empty() && s.back() != '\n') s += '\n';
                out += s;
            }
            return out;
        },
        "every counter, by section");
    for (const char* what : {"ports", "reactors", "stages", "queues", "flows", "timers"}) {
        std::string w = what;
        add_without_args(
            "show " + w, [w] { return "(no " + w + ")\n"; }, "show " + w);
    }
}

console::~console() {
    for (auto& [tok, c] : _conns) {
        if (c.is_socket) ::close(c.in_fd);
    }
    if (_listen_fd >= 0) {
        ::close(_listen_fd);
        ::unlink(_path.c_str());
    }
}

result<std::unique_ptr<console>> console::create() {
    auto p = poll::create();
    if (!p) return std::move(p).err();
    std::unique_ptr<console> c(new console());
    c->_poll = std::make_unique<poll>(std::move(*p));
    return c;
}

void console::add(std::string_view command, handler h, std::string help) {
    _cmds[normalise(command)] = entry{std::move(h), std::move(help)};
}
bool console::remove(std::string_view command) {
    return _cmds.erase(normalise(command)) > 0;
}
bool console::has(std::string_view command) const {
    return _cmds.find(normalise(command)) != _cmds.end();
}
void console::add_stats(std::string name, std::function<std::string()> fn) {
    for (auto& s : _stats)
        if (s.first == name) {
            s.second = std::move(fn);
            return;
        }
    _stats.emplace_back(std::move(name), std::move(fn));
}

std::vector<std::string> console::commands() const {
    std::vector<std::string> v;
    for (auto& [k, e] : _cmds)
        v.push_back(k);
    return v;
}

std::string console::help_text() const {
    std::size_t w = 0;
    for (auto& [k, e] : _cmds)
        w = std::max(w, k.size());
    std::string out = "commands:\n";
    for (auto& [k, e] : _cmds) {
        out += "  " + k + std::string(w - k.size() + 2, ' ') + e.help + "\n";
    }
    return out;
}

std::string console::execute(std::string_view raw) {
    try {
        std::string r = dispatch(raw);
        if (!r.empty() && r.back() != '\n') r += '\n';
        return r;
    } catch (const std::exception& e) {
        return std::string("error: ") + e.what() + "\n";
    } catch (...) {
        return "error: command failed\n";
    }
}

std::string console::dispatch(std::string_view raw) {
    std::string_view line = trim(raw);
    if (line.empty()) return {};
    for (char ch : line) {
        unsigned char u = static_cast<unsigned char>(ch);
        if ((u < 0x20 && ch != '\t') || u == 0x7f)
            return "error: command contains control bytes: '" + printable(line) + "'";
    }
    auto w = words(line);
    // Longest registered prefix (in words) wins.
    for (std::size_t n = w.size(); n > 0; --n) {
        std::string key;
        for (std::size_t i = 0; i < n; ++i) {
            if (i) key += ' ';
            key += w[i];
        }
        auto it = _cmds.find(key);
        if (it == _cmds.end()) continue;
        std::string_view args;
        if (n < w.size()) {
            const char* start = w[n].data();
            args = trim(line.substr(static_cast<std::size_t>(start - line.data())));
        }
        return it->second.fn(args);
    }
    // A prefix of longer commands ("show"): list the completions.
    std::string prefix = normalise(line) + " ";
    std::string alts;
    for (auto& [k, e] : _cmds)
        if (k.compare(0, prefix.size(), prefix) == 0) {
            if (!alts.empty()) alts += '|';
            alts += k.substr(prefix.size());
        }
    if (!alts.empty()) return "error: usage: " + normalise(line) + " " + alts;
    return "error: unknown command '" + printable(line) + "' (try 'help')";
}

status console::listen(const std::string& path) {
    if (_listen_fd >= 0) return make_error(errc::state, "console already listens on " + _path);
    sockaddr_un a;
    if (!fill_addr(path, a))
        return make_error(errc::invalid_argument,
                          "control socket path '" + path + "' is empty or longer than " +
                              std::to_string(sizeof(a.sun_path) - 1) + " bytes");
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return make_error(errc::invalid_argument,
                              "control socket path '" + path + "' exists and is not a socket");
        ::unlink(path.c_str()); // stale socket from an earlier run
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return sys_error("control socket");
    // Owner only (0600) whatever the umask: the console can stop the pipeline. chmod
    // sits between bind and listen, so nobody can connect while the mode is wider.
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::chmod(path.c_str(), S_IRUSR | S_IWUSR) != 0 || ::listen(fd, 16) != 0) {
        auto e = sys_error("control socket " + path);
        ::close(fd);
        return e;
    }
    auto s = _poll->get_registry().register_fd(fd, token{listen_token}, interest::readable,
                                               trigger::level);
    if (!s) {
        ::close(fd);
        ::unlink(path.c_str());
        return s;
    }
    _listen_fd = fd;
    _path = path;
    return {};
}

status console::attach(int in_fd, int out_fd, std::string prompt) {
    if (!set_nonblocking(in_fd)) return sys_error("console input fd");
    std::size_t tok = _next_token++;
    auto s =
        _poll->get_registry().register_fd(in_fd, token{tok}, interest::readable, trigger::level);
    if (!s) return s;
    conn c;
    c.in_fd = in_fd;
    c.out_fd = out_fd;
    c.prompt = std::move(prompt);
    auto& ref = _conns.emplace(tok, std::move(c)).first->second;
    if (!ref.prompt.empty()) {
        ref.out += ref.prompt;
        flush(tok, ref);
    }
    return {};
}

status console::attach_stdin() {
    struct stat st;
    if (::fstat(0, &st) != 0) return {};
    bool tty = ::isatty(0);
    if (!tty && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) return {};
    return attach(0, 1, tty ? "pktkernel> " : "");
}

void console::accept_all() {
    for (;;) {
        int fd = ::accept4(_listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; // EAGAIN, or an error we cannot act on
        std::size_t tok = _next_token++;
        if (!_poll->get_registry().register_fd(fd, token{tok}, interest::readable,
                                               trigger::level)) {
            ::close(fd);
            continue;
        }
        conn c;
        c.in_fd = c.out_fd = fd;
        c.is_socket = true;
        _conns.emplace(tok, std::move(c));
    }
}

void console::close_conn(std::size_t tok) {
    auto it = _conns.find(tok);
    if (it == _conns.end()) return;
    (void)_poll->get_registry().deregister(it->second.in_fd);
    if (it->second.is_socket) ::close(it->second.in_fd);
    _conns.erase(it);
}

void console::handle_line(conn& c, std::string_view line) {
    c.out += execute(line);
    if (!c.prompt.empty() && !c.closing) c.out += c.prompt;
}

void console::handle_input(conn& c) {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(c.in_fd, buf, sizeof(buf));
        if (n > 0) {
            std::string_view chunk(buf, static_cast<std::size_t>(n));
            while (!chunk.empty()) {
                auto nl = chunk.find('\n');
                std::string_view part = chunk.substr(0, nl);
                if (c.discarding) {
                    if (nl != std::string_view::npos) c.discarding = false;
                } else if (c.in.size() + part.size() > _max_line) {
                    c.out += "error: line too long (max " + std::to_string(_max_line) + " bytes)\n";
                    c.in.clear();
                    c.discarding = nl == std::string_view::npos;
                } else {
                    c.in.append(part);
                    if (nl != std::string_view::npos) {
                        std::string line;
                        line.swap(c.in);
                        handle_line(c, line);
                    }
                }
                if (nl == std::string_view::npos) break;
                chunk.remove_prefix(nl + 1);
            }
            continue;
        }
        if (n == 0) { // EOF: answer a last unterminated line, then close
            c.closing = true;
            if (!c.in.empty() && !c.discarding) {
                std::string line;
                line.swap(c.in);
                handle_line(c, line);
            }
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) c.closing = true;
        return;
    }
}

void console::flush(std::size_t tok, conn& c) {
    while (!c.out.empty()) {
        ssize_t n = c.is_socket ? ::send(c.out_fd, c.out.data(), c.out.size(), MSG_NOSIGNAL)
                                : ::write(c.out_fd, c.out.data(), c.out.size());
        if (n > 0) {
            c.out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c.want_write) {
                c.want_write = true;
                (void)_poll->get_registry().reregister(
                    c.in_fd, token{tok}, interest::readable | interest::writable, trigger::level);
            }
            return;
        }
        c.out.clear(); // peer gone: drop what we could not send
        c.closing = true;
    }
    if (c.want_write) {
        c.want_write = false;
        (void)_poll->get_registry().reregister(c.in_fd, token{tok}, interest::readable,
                                               trigger::level);
    }
}

void console::on_ready(std::size_t tok, const event& e) {
    if (tok == listen_token) {
        accept_all();
        return;
    }
    auto it = _conns.find(tok);
    if (it == _conns.end()) return;
    conn& c = it->second;
    if (e.is_readable() || e.is_read_closed() || e.is_error()) handle_input(c);
    flush(tok, c);
    if (c.closing && c.out.empty()) close_conn(tok);
}

std::size_t console::run_once() noexcept {
    std::size_t n = _poll->poll_once(_events);
    for (const event& e : _events) {
        try {
            on_ready(e.get_token().value, e);
        } catch (...) {
            PK_WARN("console", "dropping a connection after an internal error");
            close_conn(e.get_token().value);
        }
    }
    return n;
}

void console::run_for(std::chrono::milliseconds d) {
    // Keeps serving after `quit` (the application decides when to stop): a reply still
    // buffered, or a client's EOF arriving after its `quit`, must still be handled, or
    // that client waits for a close that never comes.
    auto end = std::chrono::steady_clock::now() + d;
    for (;;) {
        auto now = std::chrono::steady_clock::now();
        if (now >= end) break;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now);
        if (!_poll->wait(_events, std::max(left, std::chrono::milliseconds(1)))) break;
        for (const event& e : _events) {
            try {
                on_ready(e.get_token().value, e);
            } catch (...) {
                close_conn(e.get_token().value);
            }
        }
    }
}

result<std::string> console_client(const std::string& path, std::string_view command,
                                   std::chrono::milliseconds timeout) {
    sockaddr_un a;
    if (!fill_addr(path, a))
        return make_error(errc::invalid_argument, "bad control socket path '" + path + "'");
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return sys_error("socket");
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        auto e = make_error(errno == ENOENT || errno == ECONNREFUSED ? errc::not_found : errc::io,
                            "cannot connect to " + path + ": " + std::strerror(errno) +
                                " (is pktkernel running with a control socket?)");
        ::close(fd);
        return e;
    }
    std::string msg(command);
    if (msg.empty() || msg.back() != '\n') msg += '\n';
    std::size_t off = 0;
    while (off < msg.size()) {
        ssize_t n = ::send(fd, msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            auto e = sys_error("send to " + path);
            ::close(fd);
            return e;
        }
        off += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::close(fd);
            return make_error(errc::io, "timed out waiting for a reply from " + path);
        }
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n > 0) {
            reply.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    ::close(fd);
    return reply;
}

} // namespace pk::app
