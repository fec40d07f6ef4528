// gtest main for tests that need DPDK: starts EAL once for the whole binary with a
// no-hardware configuration (no hugepages, no PCI, no shared config, so test binaries
// run side by side), then runs the tests, then cleans EAL up.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "net/eal.hh"

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    pk::net::eal_config cfg;
    cfg.memory_mb = 512;
    cfg.lcores = "0@0,1@1";
    cfg.vdevs = {"net_null0", "net_ring0"};
    cfg.telemetry = false;
    if (const char* lvl = std::getenv("PK_TEST_LOG"))
        if (auto l = pk::log::parse_level(lvl)) cfg.log_level = *l;
    auto eal = pk::net::eal_session::start(cfg);
    if (!eal) {
        std::fprintf(stderr, "test main: %s\n", eal.err().message.c_str());
        return 1;
    }
    int rc = RUN_ALL_TESTS();
    return rc;
}
