// Prometheus HTTP exporter on CivetWeb.
//
// `exporter::start(reg, "127.0.0.1:9100")` listens and serves, on CivetWeb's own
// threads (they inherit the CPU affinity of the thread that calls start(): call it
// from the control thread, not from a packet lcore):
//   GET /metrics  the registry's families in text format 0.0.4
//                 (Content-Type `text/plain; version=0.0.4; charset=utf-8`), plus the
//                 exporter's own pktkernel_scrapes_total, pktkernel_scrape_errors_total
//                 and pktkernel_scrape_duration_seconds (histogram, earlier scrapes);
//   GET /         a short HTML page linking to /metrics;
//   other paths   404; other methods 405 (Allow: GET).
// Listen addresses: "IPV4:PORT" (e.g. 127.0.0.1:9100, 0.0.0.0:9100), "localhost:PORT",
// a bare "PORT" (= 127.0.0.1:PORT), "[IPV6]:PORT" when the CivetWeb build supports
// IPv6 (Debian 12's libcivetweb1 does not: start() then says so). Port 0 picks a free
// port; port() tells which. Start-up failures are errors with a message a user can act
// on ("127.0.0.1:9100 is in use; pick another with --metrics ADDR:PORT").
// The destructor stops the server and waits for in-flight requests.
#pragma once

#include "base/result.hh"
#include "metrics/registry.hh"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

struct mg_context;
struct mg_connection;

namespace pk::metrics {

class exporter {
public:
    /// Start serving `reg` on `listen`. The registry must outlive the exporter.
    [[nodiscard]] static result<std::unique_ptr<exporter>> start(registry& reg, std::string listen);
    ~exporter();
    exporter(const exporter&) = delete;
    exporter& operator=(const exporter&) = delete;

    /// The bound port (the real one when started with port 0).
    std::uint16_t port() const noexcept { return _port; }
    /// "ADDR:PORT" as bound, e.g. "127.0.0.1:41234".
    const std::string& address() const noexcept { return _address; }
    /// Scrapes of /metrics served so far.
    std::uint64_t scrapes() const noexcept { return _scrapes.load(std::memory_order_relaxed); }

    /// Parse a listen address into CivetWeb's listening_ports form (exposed for tests).
    [[nodiscard]] static result<std::string> parse_listen(std::string_view listen);

    /// The /metrics body as a scrape would serve it (counts as a scrape).
    std::string render();

    /// What a health probe answers: 200 "ok" or 503 with a one-line reason.
    struct probe_result {
        bool ok = false;
        std::string reason;
    };
    using probe = std::function<probe_result()>;
    /// GET /healthz and /readyz call these (on a CivetWeb worker thread: they must only
    /// read state that is safe to read there). Until set, both answer 503 "starting".
    /// Any thread, any time.
    void set_probes(probe healthz, probe readyz);

private:
    explicit exporter(registry& reg) : _reg(reg) {}
    static int on_request(mg_connection* conn);
    void note_duration(double seconds);

    registry& _reg;
    mg_context* _ctx = nullptr;
    std::uint16_t _port = 0;
    std::string _address;

    std::atomic<std::uint64_t> _scrapes{0};
    std::atomic<std::uint64_t> _errors{0};
    mutable std::mutex _mu; // guards the duration histogram and the logged set
    histogram_value _duration;
    std::set<std::string> _logged; // skipped-family messages already logged once
    probe _healthz, _readyz;       // guarded by _mu
};

} // namespace pk::metrics
