// Console: a line-oriented command registry served on stdin (terminal or pipe) and on
// a Unix control socket.
//
// When to use: the operator interface of a running pktkernel. Each layer plugs in its
// own handlers — `console.add("show flows", fn, "help text")` — and the console
// dispatches a line to the registered command whose words are the longest prefix of
// it; the rest of the line is the handler's argument string. Built in: `help`,
// `quit`, `stats` (the concatenation of sections added with `add_stats`), and
// placeholders for `show ports|reactors|stages|queues|flows|timers` that the
// application replaces with the layers' reports (app/commands.cc).
//
// Protocol (socket and stdin alike): one command per line, the reply is text; errors
// are one line starting with "error: ". A socket client may send any number of lines;
// on EOF the server answers what is pending and closes, so
// `echo 'show ports' | socat - UNIX-CONNECT:/run/pktkernel.sock` and
// `console_client()` both work. Garbage (control bytes, over-long lines, unknown
// commands) gets an error line, never a crash; handler exceptions become error lines.
//
// Threads: one thread drives a console (`run_once()` as a reactor EXT source, never
// blocking, or `run_for()`); handlers run on that thread. Not for the packet path.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hh"
#include "net/poll.hh"

namespace pk::app {

class console {
public:
    /// A command handler: gets the rest of the line (trimmed), returns the reply
    /// (a trailing newline is added if missing). Throwing gives an error line.
    using handler = std::function<std::string(std::string_view args)>;

    /// Creates a console with the built-in commands; fails only if epoll fails.
    static result<std::unique_ptr<console>> create();
    ~console();
    console(const console&) = delete;
    console& operator=(const console&) = delete;

    /// Registers (or replaces) a command: one or more words, e.g. "show ports".
    void add(std::string_view command, handler h, std::string help = {});
    /// Registers a command that takes no arguments: anything after its words is refused
    /// ("error: 'stats' takes no arguments (got ...)"), not silently ignored.
    void add_without_args(std::string_view command, std::function<std::string()> fn,
                          std::string help = {});
    /// Removes a command; false if it was not registered.
    bool remove(std::string_view command);
    bool has(std::string_view command) const;
    /// Adds a named section to the `stats` command's output (replaces same name).
    void add_stats(std::string name, std::function<std::string()> fn);

    /// Runs one command line and returns the reply (never throws).
    std::string execute(std::string_view line);

    /// Listens on a Unix stream socket at `path` (a stale socket file is replaced).
    status listen(const std::string& path);
    /// Reads commands from `in_fd` and replies on `out_fd` (e.g. 0 and 1). The fd is
    /// made non-blocking. `prompt` is printed before each command when non-empty.
    status attach(int in_fd, int out_fd, std::string prompt = {});
    /// attach(0, 1) when stdin is a terminal or a pipe/FIFO; a no-op otherwise
    /// (e.g. /dev/null under a service manager). Prompt "pktkernel> " on a terminal.
    status attach_stdin();

    /// Serves whatever is ready without blocking; returns events handled.
    std::size_t run_once() noexcept;
    /// Serves for up to `d` (returns early if quit was requested).
    void run_for(std::chrono::milliseconds d);

    /// True after a `quit` command (or request_quit()).
    bool quit_requested() const noexcept { return _quit; }
    void request_quit() noexcept { _quit = true; }
    /// Called once when `quit` is received (e.g. to stop the reactors).
    void on_quit(std::function<void()> fn) { _on_quit = std::move(fn); }

    std::size_t max_line() const noexcept { return _max_line; }
    void set_max_line(std::size_t n) noexcept { _max_line = n ? n : 1; }
    std::size_t client_count() const noexcept { return _conns.size(); }
    const std::string& socket_path() const noexcept { return _path; }
    /// Commands registered, sorted.
    std::vector<std::string> commands() const;

private:
    struct entry {
        handler fn;
        std::string help;
    };
    struct conn {
        int in_fd = -1;
        int out_fd = -1;
        bool is_socket = false;
        bool discarding = false; // inside an over-long line: skip to the newline
        bool closing = false;    // EOF seen: close once the output is flushed
        bool want_write = false;
        std::string in, out, prompt;
    };

    console();
    std::string dispatch(std::string_view line);
    std::string help_text() const;
    void on_ready(std::size_t tok, const net::event& e);
    void handle_input(conn& c);
    void handle_line(conn& c, std::string_view line);
    void flush(std::size_t tok, conn& c);
    void close_conn(std::size_t tok);
    void accept_all();

    std::map<std::string, entry, std::less<>> _cmds;
    std::vector<std::pair<std::string, std::function<std::string()>>> _stats;
    std::unique_ptr<net::poll> _poll;
    net::events _events{64};
    std::map<std::size_t, conn> _conns;
    std::size_t _next_token = 2;
    int _listen_fd = -1;
    std::string _path;
    std::size_t _max_line = 4096;
    bool _quit = false;
    std::function<void()> _on_quit;
};

/// Connects to a console socket, sends `command` (one or more lines), and returns the
/// whole reply. Waits up to `timeout` for it. Used by `pktkernel ctl ...`.
result<std::string> console_client(const std::string& path, std::string_view command,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace pk::app
