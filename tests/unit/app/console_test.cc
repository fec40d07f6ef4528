// Console: every built-in command, the registry (add/replace/remove, longest prefix),
// garbage (control bytes, over-long lines, unknown words, throwing handlers), and the
// transports: a pipe pair standing in for stdin, the Unix socket with console_client,
// many clients, and plain socat when it is installed. No EAL needed.
#include <atomic>
#include <cstdlib>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/console.hh"

using namespace pk::app;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<console> make() {
    auto c = console::create();
    EXPECT_TRUE(c);
    return std::move(*c);
}

bool starts_with(const std::string& s, const std::string& p) {
    return s.rfind(p, 0) == 0;
}

std::string sock_path(const char* tag) {
    return "/tmp/pk-console-" + std::to_string(::getpid()) + "-" + tag + ".sock";
}

// Serves `c` on a thread until `stop`.
struct server {
    console& c;
    std::atomic<bool> stop{false};
    std::thread t;
    explicit server(console& cc)
        : c(cc), t([this] {
              while (!stop.load())
                  c.run_for(20ms);
          }) {}
    ~server() {
        stop = true;
        t.join();
    }
};

} // namespace

TEST(console, every_builtin_command) {
    auto c = make();
    std::string help = c->execute("help");
    for (const char* cmd : {"help", "quit", "stats", "show ports", "show reactors", "show stages",
                            "show queues", "show flows", "show timers"})
        EXPECT_NE(help.find(cmd), std::string::npos) << cmd;
    for (const char* w : {"ports", "reactors", "stages", "queues", "flows", "timers"})
        EXPECT_EQ(c->execute(std::string("show ") + w), std::string("(no ") + w + ")\n");
    EXPECT_EQ(c->execute("stats"), "(no statistics yet)\n");
    EXPECT_FALSE(c->quit_requested());
    int quits = 0;
    c->on_quit([&] { ++quits; });
    EXPECT_EQ(c->execute("quit"), "bye\n");
    EXPECT_TRUE(c->quit_requested());
    EXPECT_EQ(c->execute("quit"), "bye\n");
    EXPECT_EQ(quits, 1);
}

TEST(console, registry_longest_prefix_args_and_replacement) {
    auto c = make();
    std::string got_args;
    c->add(
        "show flows",
        [&](std::string_view a) {
            got_args = a;
            return std::string("3 flows");
        },
        "flow table");
    c->add("show flows top", [](std::string_view a) { return "top " + std::string(a); });
    EXPECT_EQ(c->execute("  show   flows  "), "3 flows\n");
    EXPECT_EQ(got_args, "");
    EXPECT_EQ(c->execute("show flows  port 0 "), "3 flows\n");
    EXPECT_EQ(got_args, "port 0");
    EXPECT_EQ(c->execute("show flows top 5"), "top 5\n");
    EXPECT_TRUE(c->has("show  flows"));
    EXPECT_TRUE(c->remove("show flows top"));
    EXPECT_FALSE(c->remove("show flows top"));
    EXPECT_EQ(c->execute("show flows top 5"), "3 flows\n");
    c->add_stats("ports", [] { return std::string("rx 1"); });
    c->add_stats("stages", [] { return std::string("drops 0\n"); });
    EXPECT_EQ(c->execute("stats"), "[ports]\nrx 1\n[stages]\ndrops 0\n");
    c->add_stats("ports", [] { return std::string("rx 2"); });
    EXPECT_EQ(c->execute("stats"), "[ports]\nrx 2\n[stages]\ndrops 0\n");
    EXPECT_NE(c->execute("help").find("flow table"), std::string::npos);
    // Commands that take no arguments refuse them rather than ignore them.
    EXPECT_EQ(c->execute("stats ports"), "error: 'stats' takes no arguments (got 'ports')\n");
    EXPECT_EQ(c->execute("show timers 3"), "error: 'show timers' takes no arguments (got '3')\n");
    EXPECT_EQ(c->execute("quit now"), "error: 'quit' takes no arguments (got 'now')\n");
    EXPECT_FALSE(c->quit_requested());
    c->add_without_args("show queues", [] { return std::string("q"); });
    EXPECT_EQ(c->execute("show queues"), "q\n");
    EXPECT_EQ(c->execute("show queues all"),
              "error: 'show queues' takes no arguments (got 'all')\n");
}

TEST(console, garbage_gets_an_error_never_a_crash) {
    auto c = make();
    EXPECT_EQ(c->execute(""), "");
    EXPECT_EQ(c->execute("   \t "), "");
    std::string r = c->execute("frobnicate now");
    EXPECT_TRUE(starts_with(r, "error: unknown command 'frobnicate now'")) << r;
    r = c->execute("show");
    EXPECT_TRUE(starts_with(r, "error: usage: show ")) << r;
    EXPECT_NE(r.find("ports"), std::string::npos);
    EXPECT_NE(r.find("timers"), std::string::npos);
    r = c->execute("show nothing");
    EXPECT_TRUE(starts_with(r, "error: ")) << r;
    r = c->execute(std::string("he\0lp", 5));
    EXPECT_TRUE(starts_with(r, "error: command contains control bytes")) << r;
    r = c->execute("\x1b[A\x7f\xff\xfe");
    EXPECT_TRUE(starts_with(r, "error: ")) << r;
    EXPECT_EQ(r.find('\x1b'), std::string::npos) << "control bytes are not echoed";
    c->add("boom", [](std::string_view) -> std::string { throw std::runtime_error("kaput"); });
    EXPECT_EQ(c->execute("boom"), "error: kaput\n");
    std::string big(100000, 'x');
    r = c->execute(big);
    EXPECT_TRUE(starts_with(r, "error: unknown command")) << r.substr(0, 80);
    EXPECT_LT(r.size(), 200u) << "the echo is bounded";
    // Random bytes: always an answer, never a crash.
    std::srand(7);
    for (int i = 0; i < 2000; ++i) {
        std::string g(static_cast<std::size_t>(std::rand() % 64), '\0');
        for (auto& ch : g)
            ch = static_cast<char>(std::rand() % 256);
        (void)c->execute(g);
    }
}

TEST(console, pipe_stream_like_stdin) {
    auto c = make();
    int in[2], out[2];
    ASSERT_EQ(::pipe(in), 0);
    ASSERT_EQ(::pipe(out), 0);
    ASSERT_TRUE(c->attach(in[0], out[1]));
    std::string script =
        "help\nshow ports\r\nnonsense\n" + std::string(5000, 'y') + "\nshow timers\nquit";
    ASSERT_EQ(::write(in[1], script.data(), script.size()), ssize_t(script.size()));
    ::close(in[1]); // EOF after an unterminated last line
    for (int i = 0; i < 200 && !c->quit_requested(); ++i)
        c->run_for(10ms);
    EXPECT_TRUE(c->quit_requested());
    ::close(out[1]);
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof(buf))) > 0)
        reply.append(buf, size_t(n));
    ::close(out[0]);
    ::close(in[0]);
    EXPECT_NE(reply.find("commands:"), std::string::npos);
    EXPECT_NE(reply.find("(no ports)"), std::string::npos);
    EXPECT_NE(reply.find("error: unknown command 'nonsense'"), std::string::npos);
    EXPECT_NE(reply.find("error: line too long (max 4096 bytes)"), std::string::npos);
    EXPECT_NE(reply.find("(no timers)"), std::string::npos) << "recovers after a long line";
    EXPECT_NE(reply.find("bye"), std::string::npos);
}

TEST(console, unix_socket_with_console_client) {
    auto c = make();
    std::string path = sock_path("a");
    ::umask(0); // the widest umask: the socket must still be owner-only
    ASSERT_TRUE(c->listen(path)) << path;
    ::umask(022);
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
    c->add("show reactors", [](std::string_view) { return std::string("lcore 1: busy"); });
    {
        server s(*c);
        auto r = console_client(path, "show reactors");
        ASSERT_TRUE(r) << r.err().message;
        EXPECT_EQ(*r, "lcore 1: busy\n");
        r = console_client(path, "help\nbogus\nshow queues\n");
        ASSERT_TRUE(r);
        EXPECT_NE(r->find("commands:"), std::string::npos);
        EXPECT_NE(r->find("error: unknown command 'bogus'"), std::string::npos);
        EXPECT_NE(r->find("(no queues)"), std::string::npos);
        // Many clients in a row and at once.
        std::vector<std::thread> ts;
        std::atomic<int> ok{0};
        for (int i = 0; i < 8; ++i)
            ts.emplace_back([&] {
                for (int j = 0; j < 10; ++j) {
                    auto x = console_client(path, "show reactors");
                    if (x && *x == "lcore 1: busy\n") ++ok;
                }
            });
        for (auto& t : ts)
            t.join();
        EXPECT_EQ(ok.load(), 80);
        // Over-long line over the socket, then a valid command on the same connection.
        auto big = console_client(path, std::string(70000, 'z') + "\nshow flows\n");
        ASSERT_TRUE(big);
        EXPECT_NE(big->find("error: line too long"), std::string::npos);
        EXPECT_NE(big->find("(no flows)"), std::string::npos);
        auto q = console_client(path, "quit");
        ASSERT_TRUE(q);
        EXPECT_EQ(*q, "bye\n");
    }
    EXPECT_TRUE(c->quit_requested());
    EXPECT_EQ(c->client_count(), 0u) << "connections closed after EOF";
}

TEST(console, client_errors_are_clear) {
    auto r = console_client("/tmp/pk-console-does-not-exist.sock", "help");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, pk::errc::not_found);
    EXPECT_NE(r.err().message.find("is pktkernel running"), std::string::npos);
    auto c = make();
    auto bad = c->listen(std::string(200, 'p'));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.err().code, pk::errc::invalid_argument);
    // A regular file in the way is not replaced.
    std::string f = sock_path("file");
    int fd = ::open(f.c_str(), O_CREAT | O_WRONLY, 0600);
    ::close(fd);
    auto busy = c->listen(f);
    ASSERT_FALSE(busy);
    EXPECT_NE(busy.err().message.find("not a socket"), std::string::npos);
    ::unlink(f.c_str());
}

TEST(console, stale_socket_is_replaced_and_removed_on_close) {
    std::string path = sock_path("stale");
    {
        auto c1 = make();
        ASSERT_TRUE(c1->listen(path));
        // Simulate a crash: leave the socket file behind by creating a second one.
    }
    EXPECT_NE(::access(path.c_str(), F_OK), 0) << "removed on destruction";
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ::close(fd); // stale socket file, no listener
    auto c2 = make();
    ASSERT_TRUE(c2->listen(path));
    server s(*c2);
    auto r = console_client(path, "show stages");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "(no stages)\n");
}

TEST(console, plain_socat_client) {
    if (std::system("command -v socat >/dev/null 2>&1") != 0) GTEST_SKIP() << "socat not installed";
    auto c = make();
    std::string path = sock_path("socat");
    ASSERT_TRUE(c->listen(path));
    server s(*c);
    std::string out = "/tmp/pk-console-socat-" + std::to_string(::getpid()) + ".out";
    std::string cmd =
        "printf 'show timers\\nhelp\\n' | socat -t 5 - UNIX-CONNECT:" + path + " > " + out;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    FILE* f = std::fopen(out.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string reply;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
        reply.append(buf, n);
    std::fclose(f);
    ::unlink(out.c_str());
    EXPECT_TRUE(starts_with(reply, "(no timers)\ncommands:")) << reply;
}
