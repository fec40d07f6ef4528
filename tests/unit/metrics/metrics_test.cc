// Metrics layer: exposition encoder (golden output, escaping, histograms, validation),
// registry, and the CivetWeb exporter over real loopback HTTP; promtool checks the
// output when it is installed.
#include "metrics/exposition.hh"
#include "metrics/http.hh"
#include "metrics/registry.hh"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace pk::metrics;

namespace {

std::string enc(const std::vector<family>& fams, encode_report* rep = nullptr) {
    std::string out;
    auto r = encode(fams, out);
    if (rep) *rep = r;
    return out;
}

struct http_response {
    int status = 0;
    std::string head; // status line + headers
    std::string body;
    std::string header(const std::string& name) const {
        auto lower = [](std::string s) {
            for (auto& c : s)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return s;
        };
        std::string h = lower(head);
        auto pos = h.find("\r\n" + lower(name) + ":");
        if (pos == std::string::npos) return {};
        pos += name.size() + 3;
        auto end = head.find("\r\n", pos);
        std::string v = head.substr(pos, end - pos);
        while (!v.empty() && v.front() == ' ')
            v.erase(v.begin());
        return v;
    }
};

// A plain socket HTTP/1.1 client: one request, Connection: close, read to EOF.
http_response http(std::uint16_t port, const std::string& method, const std::string& path,
                   bool conn_close = true) {
    http_response r;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd, 0);
    timeval tv{5, 0}; // a hung server fails the test instead of hanging it
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ADD_FAILURE() << "connect 127.0.0.1:" << port << ": " << strerror(errno);
        ::close(fd);
        return r;
    }
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                      (conn_close ? "Connection: close\r\n" : "") + "\r\n";
    EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
        all.append(buf, static_cast<size_t>(n));
    ::close(fd);
    auto sep = all.find("\r\n\r\n");
    if (sep == std::string::npos) {
        ADD_FAILURE() << "no header end in response: " << all;
        return r;
    }
    r.head = all.substr(0, sep + 2);
    r.body = all.substr(sep + 4);
    std::sscanf(all.c_str(), "HTTP/%*s %d", &r.status);
    return r;
}

// Sample families covering every type, labels needing escapes, special values.
std::vector<family> sample_families() {
    std::vector<family> f;
    f.emplace_back("pktkernel_rx_packets_total", "Packets received.", metric_type::counter)
        .add({{"port", "0"}, {"queue", "0"}}, std::uint64_t{18446744073709551615ull})
        .add({{"port", "0"}, {"queue", "1"}}, std::uint64_t{9007199254740993ull});
    f.emplace_back("pktkernel_drops_total", "Drops by reason.", metric_type::counter)
        .add({{"stage", "parse"}, {"reason", "bad \"ether\"\\type\nx"}}, 3u);
    f.emplace_back("pktkernel_queue_depth", "Depth of a \\ queue\nsecond line.", metric_type::gauge)
        .add({{"queue", "a"}}, -5)
        .add({{"queue", "b"}}, 0.25)
        .add({{"queue", "c"}}, std::numeric_limits<double>::infinity())
        .add({{"queue", "d"}}, -std::numeric_limits<double>::infinity())
        .add({{"queue", "e"}}, std::nan(""));
    histogram_value h{{0.001, 0.01, 0.1}, {1, 2, 3, 4}, 12.5};
    f.emplace_back("pktkernel_batch_seconds", "Batch time.", metric_type::histogram)
        .add(h, {{"lcore", "1"}})
        .add(histogram_value{{1.0}, {0, 0}, 0}, {{"lcore", "2"}});
    return f;
}

} // namespace

TEST(exposition, golden_output) {
    encode_report rep;
    std::string out = enc(sample_families(), &rep);
    EXPECT_TRUE(rep.ok()) << rep.skipped.front();
    EXPECT_EQ(rep.families, 4u);
    const char* expected =
        "# HELP pktkernel_rx_packets_total Packets received.\n"
        "# TYPE pktkernel_rx_packets_total counter\n"
        "pktkernel_rx_packets_total{port=\"0\",queue=\"0\"} 18446744073709551615\n"
        "pktkernel_rx_packets_total{port=\"0\",queue=\"1\"} 9007199254740993\n"
        "# HELP pktkernel_drops_total Drops by reason.\n"
        "# TYPE pktkernel_drops_total counter\n"
        "pktkernel_drops_total{stage=\"parse\",reason=\"bad \\\"ether\\\"\\\\type\\nx\"} 3\n"
        "# HELP pktkernel_queue_depth Depth of a \\\\ queue\\nsecond line.\n"
        "# TYPE pktkernel_queue_depth gauge\n"
        "pktkernel_queue_depth{queue=\"a\"} -5\n"
        "pktkernel_queue_depth{queue=\"b\"} 0.25\n"
        "pktkernel_queue_depth{queue=\"c\"} +Inf\n"
        "pktkernel_queue_depth{queue=\"d\"} -Inf\n"
        "pktkernel_queue_depth{queue=\"e\"} NaN\n"
        "# HELP pktkernel_batch_seconds Batch time.\n"
        "# TYPE pktkernel_batch_seconds histogram\n"
        "pktkernel_batch_seconds_bucket{lcore=\"1\",le=\"0.001\"} 1\n"
        "pktkernel_batch_seconds_bucket{lcore=\"1\",le=\"0.01\"} 3\n"
        "pktkernel_batch_seconds_bucket{lcore=\"1\",le=\"0.1\"} 6\n"
        "pktkernel_batch_seconds_bucket{lcore=\"1\",le=\"+Inf\"} 10\n"
        "pktkernel_batch_seconds_sum{lcore=\"1\"} 12.5\n"
        "pktkernel_batch_seconds_count{lcore=\"1\"} 10\n"
        "pktkernel_batch_seconds_bucket{lcore=\"2\",le=\"1\"} 0\n"
        "pktkernel_batch_seconds_bucket{lcore=\"2\",le=\"+Inf\"} 0\n"
        "pktkernel_batch_seconds_sum{lcore=\"2\"} 0\n"
        "pktkernel_batch_seconds_count{lcore=\"2\"} 0\n";
    EXPECT_EQ(out, expected);
}

TEST(exposition, unlabelled_histogram_and_values) {
    std::vector<family> f;
    f.emplace_back("h", "", metric_type::histogram).add(histogram_value{{0.5}, {2, 1}, 1.5});
    f.emplace_back("g", "", metric_type::gauge)
        .add({}, 1e20)
        .add({{"k", "v"}}, std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(enc(f), "# HELP h \n# TYPE h histogram\n"
                      "h_bucket{le=\"0.5\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 1.5\nh_count 3\n"
                      "# HELP g \n# TYPE g gauge\ng 1e+20\ng{k=\"v\"} -9223372036854775808\n");
}

TEST(exposition, doubles_round_trip) {
    for (double d : {0.1, 1.0 / 3, 123456789.123, 5e-324, 1.7976931348623157e308, -2.5}) {
        std::string s;
        number(d).append_to(s);
        EXPECT_EQ(std::strtod(s.c_str(), nullptr), d) << s;
    }
}

TEST(exposition, name_validation) {
    EXPECT_TRUE(valid_metric_name("pktkernel_rx_total"));
    EXPECT_TRUE(valid_metric_name("a:b_c:"));
    EXPECT_TRUE(valid_metric_name("_x9"));
    EXPECT_TRUE(valid_metric_name(":x"));
    EXPECT_FALSE(valid_metric_name(""));
    EXPECT_FALSE(valid_metric_name("9x"));
    EXPECT_FALSE(valid_metric_name("a-b"));
    EXPECT_FALSE(valid_metric_name("a b"));
    EXPECT_FALSE(valid_metric_name("é"));

    EXPECT_TRUE(valid_label_name("port"));
    EXPECT_TRUE(valid_label_name("_x"));
    EXPECT_TRUE(valid_label_name("a9"));
    EXPECT_FALSE(valid_label_name("a:b"));
    EXPECT_FALSE(valid_label_name("__name__"));
    EXPECT_FALSE(valid_label_name("__x"));
    EXPECT_FALSE(valid_label_name("9a"));
    EXPECT_FALSE(valid_label_name(""));
}

TEST(exposition, invalid_families_are_left_out_the_rest_is_encoded) {
    std::vector<family> f;
    f.emplace_back("ok_total", "fine", metric_type::counter).add({}, 1u);
    f.emplace_back("bad-name", "", metric_type::gauge).add({}, 1);
    f.emplace_back("no_suffix", "", metric_type::counter).add({}, 1u);
    f.emplace_back("g1", "", metric_type::gauge).add({{"__r", "x"}}, 1);
    f.emplace_back("g2", "", metric_type::gauge).add({{"a:b", "x"}}, 1);
    f.emplace_back("g3", "", metric_type::gauge).add({{"a", "1"}, {"a", "2"}}, 1);
    f.emplace_back("g4", "", metric_type::gauge).add({{"a", "1"}}, 1).add({{"a", "1"}}, 2);
    f.emplace_back("h1", "", metric_type::histogram).add(histogram_value{{1}, {1}, 0});
    f.emplace_back("h2", "", metric_type::histogram).add(histogram_value{{2, 1}, {1, 1, 1}, 0});
    f.emplace_back("h3", "", metric_type::histogram)
        .add(histogram_value{{1}, {1, 1}, 0}, {{"le", "x"}});
    f.emplace_back("h4", "", metric_type::histogram)
        .add(histogram_value{{std::nan("")}, {1, 1}, 0});
    f.emplace_back("neg_total", "", metric_type::counter).add({}, -1);
    encode_report rep;
    std::string out = enc(f, &rep);
    EXPECT_EQ(out, "# HELP ok_total fine\n# TYPE ok_total counter\nok_total 1\n");
    EXPECT_EQ(rep.families, 1u);
    ASSERT_EQ(rep.skipped.size(), 11u);
    EXPECT_NE(rep.skipped[0].find("'bad-name'"), std::string::npos) << rep.skipped[0];
    EXPECT_NE(rep.skipped[1].find("_total"), std::string::npos) << rep.skipped[1];
}

TEST(exposition, same_name_families_merge_once) {
    std::vector<family> f;
    f.emplace_back("pk_rx_total", "Received.", metric_type::counter).add({{"port", "0"}}, 1u);
    f.emplace_back("pk_other", "x", metric_type::gauge).add({}, 7);
    f.emplace_back("pk_rx_total", "Received (dup help).", metric_type::counter)
        .add({{"port", "1"}}, 2u);
    f.emplace_back("pk_rx_total", "", metric_type::gauge).add({{"port", "2"}}, 3);    // wrong type
    f.emplace_back("pk_rx_total", "", metric_type::counter).add({{"port", "0"}}, 9u); // dup series
    encode_report rep;
    std::string out = enc(f, &rep);
    EXPECT_EQ(out, "# HELP pk_rx_total Received.\n# TYPE pk_rx_total counter\n"
                   "pk_rx_total{port=\"0\"} 1\npk_rx_total{port=\"1\"} 2\n"
                   "# HELP pk_other x\n# TYPE pk_other gauge\npk_other 7\n");
    EXPECT_EQ(rep.skipped.size(), 2u);
}

TEST(exposition, colliding_sample_names_are_rejected) {
    std::vector<family> f;
    f.emplace_back("lat", "", metric_type::histogram).add(histogram_value{{1}, {1, 0}, 0.5});
    f.emplace_back("lat_count", "", metric_type::gauge).add({}, 1);
    encode_report rep;
    std::string out = enc(f, &rep);
    EXPECT_EQ(rep.skipped.size(), 1u);
    EXPECT_EQ(out.find("# TYPE lat_count"), std::string::npos);
    EXPECT_NE(out.find("lat_count 1\n"), std::string::npos); // the histogram's own _count
}

TEST(exposition, empty_family_writes_nothing) {
    std::vector<family> f;
    f.emplace_back("pk_empty_total", "nothing yet", metric_type::counter);
    encode_report rep;
    EXPECT_EQ(enc(f, &rep), "");
    EXPECT_TRUE(rep.ok());
}

namespace {
struct counting_collector : collector {
    std::atomic<std::uint64_t>* cell;
    std::string name;
    void collect(std::vector<family>& out) const override {
        out.emplace_back(name, "test counter", metric_type::counter)
            .add({}, cell->load(std::memory_order_relaxed));
    }
};
} // namespace

TEST(registry, collects_in_order_and_removes) {
    registry reg;
    std::atomic<std::uint64_t> a{5}, b{7};
    counting_collector ca, cb;
    ca.cell = &a;
    ca.name = "a_total";
    cb.cell = &b;
    cb.name = "b_total";
    reg.add(ca);
    reg.add(cb);
    reg.add(ca); // idempotent
    EXPECT_EQ(reg.size(), 2u);
    EXPECT_EQ(reg.scrape(), "# HELP a_total test counter\n# TYPE a_total counter\na_total 5\n"
                            "# HELP b_total test counter\n# TYPE b_total counter\nb_total 7\n");
    a.store(6);
    reg.remove(cb);
    EXPECT_EQ(reg.scrape(), "# HELP a_total test counter\n# TYPE a_total counter\na_total 6\n");
    reg.remove(ca);
    EXPECT_EQ(reg.scrape(), "");
}

TEST(registry, registration_handles_unregister_on_destruction) {
    registry reg;
    {
        auto r1 = reg.add([](std::vector<family>& out) {
            out.emplace_back("f_total", "", metric_type::counter).add({{"x", "1"}}, 1u);
        });
        EXPECT_TRUE(r1.active());
        registration moved = std::move(r1);
        EXPECT_FALSE(r1.active());
        EXPECT_EQ(reg.size(), 1u);
        EXPECT_NE(reg.scrape().find("f_total{x=\"1\"} 1\n"), std::string::npos);
        std::atomic<std::uint64_t> c{1};
        counting_collector cc;
        cc.cell = &c;
        cc.name = "c_total";
        {
            auto r2 = reg.scoped(cc);
            EXPECT_EQ(reg.size(), 2u);
        }
        EXPECT_EQ(reg.size(), 1u);
    }
    EXPECT_EQ(reg.size(), 0u);
}

TEST(exporter, parse_listen) {
    EXPECT_EQ(exporter::parse_listen("127.0.0.1:9100").value(), "127.0.0.1:9100");
    EXPECT_EQ(exporter::parse_listen("localhost:0").value(), "127.0.0.1:0");
    EXPECT_EQ(exporter::parse_listen("9100").value(), "127.0.0.1:9100");
    EXPECT_EQ(exporter::parse_listen("0.0.0.0:80").value(), "0.0.0.0:80");
    for (const char* bad : {"", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:x", "host:9100",
                            "::1:9100", "[::1", "[::1]", "[nope]:1", "1.2.3:4"}) {
        auto r = exporter::parse_listen(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.err().code, pk::errc::invalid_argument) << bad;
        EXPECT_NE(r.err().message.find("ADDR:PORT"), std::string::npos) << r.err().message;
    }
    auto v6 = exporter::parse_listen("[::1]:9100");
    if (!v6.ok()) { // Debian 12's CivetWeb has no IPv6: the message must say so
        EXPECT_EQ(v6.err().code, pk::errc::unsupported);
        EXPECT_NE(v6.err().message.find("IPv6"), std::string::npos) << v6.err().message;
    } else {
        EXPECT_EQ(*v6, "[::1]:9100");
    }
}

TEST(exporter, serves_metrics_over_http) {
    registry reg;
    std::atomic<std::uint64_t> rx{42};
    counting_collector c;
    c.cell = &rx;
    c.name = "pktkernel_test_rx_total";
    auto handle = reg.scoped(c);

    auto ex = exporter::start(reg, "127.0.0.1:0");
    ASSERT_TRUE(ex.ok()) << ex.err().message;
    std::uint16_t port = (*ex)->port();
    ASSERT_NE(port, 0);
    EXPECT_EQ((*ex)->address(), "127.0.0.1:" + std::to_string(port));

    auto r = http(port, "GET", "/metrics");
    EXPECT_EQ(r.status, 200) << r.head;
    EXPECT_EQ(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
    EXPECT_NE(r.body.find("# TYPE pktkernel_test_rx_total counter\npktkernel_test_rx_total 42\n"),
              std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("pktkernel_scrapes_total 1\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("# TYPE pktkernel_scrape_duration_seconds histogram\n"),
              std::string::npos);
    EXPECT_NE(r.body.find("pktkernel_scrape_duration_seconds_count 0\n"), std::string::npos);

    rx.store(43);
    r = http(port, "GET", "/metrics?x=1");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("pktkernel_test_rx_total 43\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("pktkernel_scrapes_total 2\n"), std::string::npos);
    EXPECT_NE(r.body.find("pktkernel_scrape_duration_seconds_count 1\n"), std::string::npos);
    EXPECT_EQ((*ex)->scrapes(), 2u);

    r = http(port, "GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type").rfind("text/html", 0), 0u) << r.head;
    EXPECT_NE(r.body.find("href=\"/metrics\""), std::string::npos);

    r = http(port, "GET", "/nope");
    EXPECT_EQ(r.status, 404);
    r = http(port, "POST", "/metrics");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("Allow"), "GET");
    r = http(port, "HEAD", "/metrics");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ((*ex)->scrapes(), 2u); // neither 404 nor 405 counted as a scrape
}

TEST(exporter, one_request_per_connection) {
    // An idle kept-alive connection would hold a CivetWeb worker and delay stop.
    registry reg;
    auto ex = exporter::start(reg, "127.0.0.1:0");
    ASSERT_TRUE(ex.ok()) << ex.err().message;
    auto r = http((*ex)->port(), "GET", "/metrics", false); // HTTP/1.1 default keep-alive
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Connection"), "close");
    EXPECT_NE(r.body.find("pktkernel_scrapes_total 1\n"), std::string::npos) << r.body;
}

TEST(exporter, invalid_collector_output_is_counted_not_fatal) {
    registry reg;
    auto h = reg.add([](std::vector<family>& out) {
        out.emplace_back("bad name", "", metric_type::gauge).add({}, 1);
        out.emplace_back("good", "", metric_type::gauge).add({}, 2);
    });
    auto ex = exporter::start(reg, "127.0.0.1:0");
    ASSERT_TRUE(ex.ok()) << ex.err().message;
    auto r = http((*ex)->port(), "GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("\ngood 2\n"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("bad name"), std::string::npos);
    r = http((*ex)->port(), "GET", "/metrics");
    EXPECT_NE(r.body.find("pktkernel_scrape_errors_total 1\n"), std::string::npos) << r.body;
}

TEST(exporter, concurrent_scrapes_while_collectors_come_and_go) {
    // Scrapes on CivetWeb workers race add/remove on this thread; every body must be
    // complete and valid (a collector is either in or out, never half).
    registry reg;
    std::atomic<std::uint64_t> cell{1};
    counting_collector fixed;
    fixed.cell = &cell;
    fixed.name = "fixed_total";
    auto keep = reg.scoped(fixed);
    auto ex = exporter::start(reg, "127.0.0.1:0");
    ASSERT_TRUE(ex.ok()) << ex.err().message;
    std::uint16_t port = (*ex)->port();
    std::atomic<bool> done{false};
    std::atomic<int> bad{0}, served{0};
    auto client = [&] {
        while (!done.load()) {
            auto r = http(port, "GET", "/metrics");
            if (r.status != 200 || r.body.find("fixed_total 1\n") == std::string::npos ||
                r.body.find("pktkernel_scrape_errors_total 0\n") == std::string::npos)
                ++bad;
            ++served;
        }
    };
    std::thread c1(client), c2(client);
    for (int i = 0; i < 200 || served.load() < 20; ++i) {
        auto r = reg.add([i](std::vector<family>& out) {
            out.emplace_back("churn_" + std::to_string(i % 3), "", metric_type::gauge).add({}, i);
        });
    }
    done = true;
    c1.join();
    c2.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ((*ex)->scrapes(), static_cast<std::uint64_t>(served.load()));
}

TEST(exporter, port_in_use_is_a_clear_error) {
    registry reg;
    auto first = exporter::start(reg, "127.0.0.1:0");
    ASSERT_TRUE(first.ok()) << first.err().message;
    std::string addr = "127.0.0.1:" + std::to_string((*first)->port());
    auto second = exporter::start(reg, addr);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.err().message, addr + " is in use; pick another with --metrics ADDR:PORT");
}

TEST(exporter, stops_in_destructor) {
    registry reg;
    std::uint16_t port;
    {
        auto ex = exporter::start(reg, "127.0.0.1:0");
        ASSERT_TRUE(ex.ok()) << ex.err().message;
        port = (*ex)->port();
        EXPECT_EQ(http(port, "GET", "/metrics").status, 200);
    }
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);
    // And the port can be taken again.
    auto again = exporter::start(reg, "127.0.0.1:" + std::to_string(port));
    EXPECT_TRUE(again.ok()) << again.err().message;
}

namespace {
std::string promtool_path() {
    const char* p = std::getenv("PROMTOOL");
    std::string s = p && *p ? p : "/usr/bin/promtool";
    return ::access(s.c_str(), X_OK) == 0 ? s : std::string();
}

// Runs `promtool check metrics` on text; returns its exit status and output.
std::pair<int, std::string> promtool_check(const std::string& tool, const std::string& text) {
    char path[] = "/tmp/pk-metrics-XXXXXX";
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    std::string cmd = tool + " check metrics < " + path + " 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[512];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        out.append(buf, n);
    int st = ::pclose(f);
    ::unlink(path);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}
} // namespace

TEST(promtool, accepts_encoder_and_exporter_output) {
    std::string tool = promtool_path();
    if (tool.empty()) GTEST_SKIP() << "promtool not installed (Debian package 'prometheus')";

    auto [code, out] = promtool_check(tool, enc(sample_families()));
    EXPECT_EQ(code, 0) << out;
    EXPECT_EQ(out, "");

    registry reg;
    auto h = reg.add([](std::vector<family>& f) {
        auto s = sample_families();
        f.insert(f.end(), s.begin(), s.end());
    });
    auto ex = exporter::start(reg, "127.0.0.1:0");
    ASSERT_TRUE(ex.ok()) << ex.err().message;
    (void)http((*ex)->port(), "GET", "/metrics");
    auto r = http((*ex)->port(), "GET", "/metrics");
    ASSERT_EQ(r.status, 200);
    std::tie(code, out) = promtool_check(tool, r.body);
    EXPECT_EQ(code, 0) << out << "\n---\n" << r.body;
    EXPECT_EQ(out, "");
}

TEST(promtool, rejects_what_the_encoder_must_never_write) {
    // Guards the check itself: promtool must be able to fail here.
    std::string tool = promtool_path();
    if (tool.empty()) GTEST_SKIP() << "promtool not installed (Debian package 'prometheus')";
    auto [code, out] = promtool_check(tool, "# HELP x a\n# TYPE x counter\nx{a=\"1\n\"} 1\n");
    EXPECT_NE(code, 0) << out;
}

// Found by the http fuzz target (corpus/http/crash-invalid-utf8-label): a label value
// with a byte that is not UTF-8 went out as is, and Prometheus refuses the whole scrape.
TEST(exposition, invalid_utf8_becomes_the_replacement_character) {
    std::string out;
    append_escaped_label_value(out, "a\xa4" "b \xc3\xa9 \xed\xa0\x80 \xc0\xaf \xf0\x9f\x98\x80 \xe2\x82");
    EXPECT_EQ(out, "a\xef\xbf\xbd" "b \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                   "\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80 \xef\xbf\xbd\xef\xbf\xbd");
    out.clear();
    append_escaped_help(out, "x\xff\n\"");
    EXPECT_EQ(out, "x\xef\xbf\xbd\\n\"");
}
