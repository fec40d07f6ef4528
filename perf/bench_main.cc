// Main of pktkernel-bench: starts EAL once (no hugepages, no PCI) so the DPDK
// reference implementations (rte_ring, rte_timer) run in the same process as ours,
// then hands over to Google Benchmark.
#include <cstdio>

#include <benchmark/benchmark.h>

#include "net/eal.hh"

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    pk::net::eal_config cfg;
    cfg.memory_mb = 1024;
    cfg.lcores = "0@0,1@1";
    cfg.telemetry = false;
    cfg.log_level = pk::log::level::error;
    auto eal = pk::net::eal_session::start(cfg);
    if (!eal) {
        std::fprintf(stderr, "pktkernel-bench: %s\n", eal.err().message.c_str());
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
