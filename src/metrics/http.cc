#include "metrics/http.hh"

#include "base/log.hh"

#include <arpa/inet.h>
#include <charconv>
#include <chrono>
#include <civetweb.h>
#include <cstring>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace pk::metrics {

namespace {

constexpr const char* tag = "metrics";

// Upper bounds of pktkernel_scrape_duration_seconds (seconds).
constexpr double duration_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1.0};

// CivetWeb reports start-up failures (e.g. bind errors) through log_message on the
// thread that calls mg_start2; capture them there to build a useful error.
thread_local std::string* t_startup_log = nullptr;

int on_log(const mg_connection*, const char* message) {
    if (t_startup_log) {
        *t_startup_log += message;
        *t_startup_log += '\n';
    } else {
        PK_DEBUG(tag, "civetweb: %s", message);
    }
    return 1; // we handled it: CivetWeb prints nothing
}

void init_library_once() {
    static std::once_flag once;
    std::call_once(once, [] { mg_init_library(0); });
}

error bad_listen(std::string_view listen, const char* why) {
    return make_error(errc::invalid_argument,
                      "bad metrics listen address '" + std::string(listen) + "': " + why +
                          " (expected ADDR:PORT, e.g. 127.0.0.1:9100 or [::1]:9100)");
}

constexpr const char* index_html =
    "<!DOCTYPE html>\n<html><head><title>pktkernel exporter</title></head>\n"
    "<body><h1>pktkernel exporter</h1>\n"
    "<p><a href=\"/metrics\">Metrics</a> (Prometheus text format 0.0.4)</p>\n"
    "</body></html>\n";

// CivetWeb 1.15 formats the Date header with gmtime(), which is not thread-safe: two
// workers writing headers at once race on its static buffer (found by TSan). Headers
// are written under this lock; bodies are not.
std::mutex g_header_mu;

void send_ok(mg_connection* conn, const char* mime, std::size_t len) {
    std::lock_guard lk(g_header_mu);
    mg_send_http_ok(conn, mime, static_cast<long long>(len));
}

void send_plain(mg_connection* conn, int code, const char* body, bool allow_get) {
    mg_response_header_start(conn, code);
    mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
    if (allow_get) mg_response_header_add(conn, "Allow", "GET", -1);
    std::string len = std::to_string(std::strlen(body));
    mg_response_header_add(conn, "Content-Length", len.c_str(), -1);
    {
        std::lock_guard lk(g_header_mu);
        mg_response_header_send(conn);
    }
    mg_write(conn, body, std::strlen(body));
}

} // namespace

result<std::string> exporter::parse_listen(std::string_view listen) {
    if (listen.empty()) return bad_listen(listen, "empty");
    std::string_view host, port;
    if (listen.front() == '[') {
        auto close = listen.find(']');
        if (close == std::string_view::npos) return bad_listen(listen, "missing ']'");
        host = listen.substr(1, close - 1);
        auto rest = listen.substr(close + 1);
        if (rest.size() < 2 || rest[0] != ':') return bad_listen(listen, "missing :PORT");
        port = rest.substr(1);
    } else if (auto colon = listen.rfind(':'); colon == std::string_view::npos) {
        host = "127.0.0.1"; // a bare port: loopback, never all interfaces by accident
        port = listen;
    } else {
        host = listen.substr(0, colon);
        port = listen.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return bad_listen(listen, "IPv6 addresses go in brackets");
    }
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p > 65535)
        return bad_listen(listen, "port must be a number 0-65535");

    std::string h(host);
    if (listen.front() == '[') {
        in6_addr a6{};
        if (inet_pton(AF_INET6, h.c_str(), &a6) != 1)
            return bad_listen(listen, "not an IPv6 address");
        init_library_once();
        if (!mg_check_feature(MG_FEATURES_IPV6))
            return make_error(errc::unsupported,
                              "cannot listen on " + std::string(listen) +
                                  ": this CivetWeb library was built without IPv6 "
                                  "(Debian 12's libcivetweb1); use an IPv4 address such as "
                                  "127.0.0.1:" +
                                  std::to_string(p));
        return "[" + h + "]:" + std::to_string(p);
    }
    if (h == "localhost") h = "127.0.0.1";
    if (h == "*") h = "0.0.0.0";
    in_addr a4{};
    if (inet_pton(AF_INET, h.c_str(), &a4) != 1)
        return bad_listen(listen, "not an IPv4 address (names other than localhost are not "
                                  "resolved)");
    return h + ":" + std::to_string(p);
}

result<std::unique_ptr<exporter>> exporter::start(registry& reg, std::string listen) {
    auto spec = parse_listen(listen);
    if (!spec) return std::move(spec).err();
    init_library_once();

    std::unique_ptr<exporter> ex(new exporter(reg));
    ex->_duration.bounds.assign(std::begin(duration_bounds), std::end(duration_bounds));
    ex->_duration.counts.assign(ex->_duration.bounds.size() + 1, 0);

    const char* options[] = {
        "listening_ports",
        spec->c_str(),
        // CivetWeb gives each connection a worker thread until it is done: a few slow or
        // half-open clients (slowloris) would hold every worker and starve the scrapes.
        // Enough workers that 50 such clients leave room (idle threads cost only their
        // stacks), and a request must arrive whole within 3 s or its connection closes.
        "num_threads",
        "64",
        "enable_keep_alive",
        "yes", // Prometheus keeps its connection open
        "keep_alive_timeout_ms",
        "3000",
        "request_timeout_ms",
        "3000",
        nullptr,
    };
    mg_callbacks cb{};
    cb.begin_request = &exporter::on_request;
    cb.log_message = &on_log;
    mg_init_data init{&cb, ex.get(), options};
    unsigned code = 0;
    char text[256] = {0};
    mg_error_data err{&code, text, sizeof text};

    std::string log;
    t_startup_log = &log;
    ex->_ctx = mg_start2(&init, &err);
    t_startup_log = nullptr;

    if (!ex->_ctx) {
        if (log.find("Address already in use") != std::string::npos)
            return make_error(errc::io, listen + " is in use; pick another with --metrics "
                                                 "ADDR:PORT");
        if (log.find("Cannot assign requested address") != std::string::npos)
            return make_error(errc::io, "cannot listen on " + listen +
                                            ": no local interface has that address");
        while (!log.empty() && log.back() == '\n')
            log.pop_back();
        return make_error(errc::io, "cannot start the metrics exporter on " + listen + ": " +
                                        (log.empty() ? std::string(text) : log));
    }

    mg_server_port ports[4];
    int n = mg_get_server_ports(ex->_ctx, 4, ports);
    if (n < 1) return make_error(errc::io, "metrics exporter on " + listen + ": no bound port");
    ex->_port = static_cast<std::uint16_t>(ports[0].port);
    auto colon = spec->rfind(':');
    ex->_address = spec->substr(0, colon) + ":" + std::to_string(ex->_port);
    PK_INFO(tag, "Prometheus metrics on http://%s/metrics", ex->_address.c_str());
    return ex;
}

exporter::~exporter() {
    if (!_ctx) return;
    // CivetWeb 1.15's master thread polls the listening socket in 2 s slices and only
    // then sees the stop flag (civetweb issue #1163, fixed in 1.16). Connecting to our
    // own port wakes it, so poke it until mg_stop() (which joins every CivetWeb thread:
    // no request in flight after it) returns.
    std::atomic<bool> stopped{false};
    std::thread waker([this, &stopped] {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(_port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (_address.rfind("0.0.0.0:", 0) != 0)
            inet_pton(AF_INET, _address.substr(0, _address.rfind(':')).c_str(), &a.sin_addr);
        while (!stopped.load(std::memory_order_acquire)) {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0) {
                (void)::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
                ::close(fd);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    mg_stop(_ctx);
    stopped.store(true, std::memory_order_release);
    waker.join();
}

void exporter::note_duration(double s) {
    std::lock_guard lk(_mu);
    std::size_t i = 0;
    while (i < _duration.bounds.size() && s > _duration.bounds[i])
        ++i;
    ++_duration.counts[i];
    _duration.sum += s;
}

std::string exporter::render() {
    auto t0 = std::chrono::steady_clock::now();
    std::uint64_t served = _scrapes.fetch_add(1, std::memory_order_relaxed) + 1;

    std::vector<family> fams;
    _reg.collect(fams);
    fams.emplace_back("pktkernel_scrapes_total", "Scrapes of /metrics served by this exporter.",
                      metric_type::counter)
        .add({}, served);
    fams.emplace_back("pktkernel_scrape_errors_total",
                      "Metric families left out of a scrape because a collector produced "
                      "invalid data (logged once per distinct problem).",
                      metric_type::counter)
        .add({}, _errors.load(std::memory_order_relaxed));
    {
        std::lock_guard lk(_mu);
        fams.emplace_back("pktkernel_scrape_duration_seconds",
                          "Time to collect and encode a scrape of /metrics (earlier scrapes).",
                          metric_type::histogram)
            .add(_duration);
    }

    std::string body;
    auto rep = encode(fams, body);
    if (!rep.ok()) {
        _errors.fetch_add(rep.skipped.size(), std::memory_order_relaxed);
        std::lock_guard lk(_mu);
        for (const auto& m : rep.skipped)
            if (_logged.insert(m).second) PK_WARN(tag, "%s", m.c_str());
    }
    note_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return body;
}

void exporter::set_probes(probe healthz, probe readyz) {
    std::lock_guard lk(_mu);
    _healthz = std::move(healthz);
    _readyz = std::move(readyz);
}

int exporter::on_request(mg_connection* conn) {
    const mg_request_info* ri = mg_get_request_info(conn);
    auto* self = static_cast<exporter*>(mg_get_user_data(mg_get_context(conn)));
    std::string_view path = ri->local_uri ? ri->local_uri : "";
    std::string_view method = ri->request_method ? ri->request_method : "";
    // One request per connection (see "enable_keep_alive" in start(); this library
    // build keeps connections alive regardless of that option).
    mg_disable_keep_alive(conn);

    if (path == "/healthz" || path == "/readyz") {
        if (method != "GET") {
            send_plain(conn, 405, "method not allowed; use GET\n", true);
            return 405;
        }
        probe p;
        {
            std::lock_guard lk(self->_mu);
            p = path == "/healthz" ? self->_healthz : self->_readyz;
        }
        probe_result r = p ? p() : probe_result{false, "starting"};
        const int code = r.ok ? 200 : 503;
        const std::string body = r.ok ? std::string("ok\n") : r.reason + "\n";
        send_plain(conn, code, body.c_str(), false);
        return code;
    }
    if (path != "/metrics" && path != "/") {
        send_plain(conn, 404, "not found; metrics are at /metrics (health: /healthz, /readyz)\n",
                   false);
        return 404;
    }
    if (method != "GET") {
        send_plain(conn, 405, "method not allowed; use GET\n", true);
        return 405;
    }
    if (path == "/") {
        send_ok(conn, "text/html; charset=utf-8", std::strlen(index_html));
        mg_write(conn, index_html, std::strlen(index_html));
        return 200;
    }
    std::string body = self->render();
    send_ok(conn, content_type, body.size());
    mg_write(conn, body.data(), body.size());
    return 200;
}

} // namespace pk::metrics
