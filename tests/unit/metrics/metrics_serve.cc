// A tiny exporter for the integration test with a real Prometheus server:
// `metrics_serve [LISTEN]` (default 127.0.0.1:0) serves test families, prints
// "listening on ADDR:PORT" once bound, and runs until SIGTERM or SIGINT.
#include "metrics/http.hh"
#include "metrics/registry.hh"

#include <atomic>
#include <csignal>
#include <cstdio>

using namespace pk::metrics;

int main(int argc, char** argv) {
    // Block the stop signals before CivetWeb starts its threads (they inherit the mask),
    // then wait for one here.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    registry reg;
    std::atomic<std::uint64_t> collects{0};
    auto h = reg.add([&](std::vector<family>& out) {
        auto n = collects.fetch_add(1, std::memory_order_relaxed) + 1;
        out.emplace_back("pktkernel_test_collects_total", "Collections of the test collector.",
                         metric_type::counter)
            .add({{"port", "0"}}, n);
        out.emplace_back("pktkernel_test_label_escape",
                         "Label value with \"quote\", \\ and\nnewline.", metric_type::gauge)
            .add({{"reason", "a\"b\\c\nd"}}, 1);
        out.emplace_back("pktkernel_test_latency_seconds", "Test histogram.",
                         metric_type::histogram)
            .add(histogram_value{{0.001, 0.01}, {3, 2, 1}, 0.5}, {{"lcore", "1"}});
    });
    auto ex = exporter::start(reg, argc > 1 ? argv[1] : "127.0.0.1:0");
    if (!ex) {
        std::fprintf(stderr, "metrics_serve: %s\n", ex.err().message.c_str());
        return 1;
    }
    std::printf("listening on %s\n", (*ex)->address().c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    return 0;
}
