#include <algorithm>

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "net/eal.hh"

using namespace pk::net;

static bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(eal_args, defaults_need_no_hardware) {
    auto a = build_eal_args(eal_config{});
    EXPECT_TRUE(has(a, "--no-huge"));
    EXPECT_TRUE(has(a, "--no-pci"));
    EXPECT_TRUE(has(a, "--no-shconf"));
    EXPECT_TRUE(has(a, "1024"));
    EXPECT_FALSE(has(a, "--in-memory")) << "--in-memory cannot be combined with --no-huge";
}

TEST(eal_args, file_prefix_replaces_no_shconf_and_vdevs_pass_through) {
    eal_config c;
    c.file_prefix = "pk-test";
    c.vdevs = {"net_memif0,role=server,socket=/tmp/x.sock"};
    c.lcores = "0@0,1@1";
    c.hugepages = true;
    auto a = build_eal_args(c);
    EXPECT_TRUE(has(a, "--file-prefix=pk-test"));
    EXPECT_FALSE(has(a, "--no-shconf"));
    EXPECT_FALSE(has(a, "--no-huge"));
    EXPECT_TRUE(has(a, "--vdev=net_memif0,role=server,socket=/tmp/x.sock"));
    EXPECT_TRUE(has(a, "--lcores=0@0,1@1"));
}

TEST(eal_session, is_running_with_the_test_mains_devices) {
    // The test main started EAL: two lcores, the null and ring vdevs probed.
    EXPECT_EQ(rte_lcore_count(), 2u);
    std::uint16_t port;
    EXPECT_EQ(rte_eth_dev_get_port_by_name("net_null0", &port), 0);
    EXPECT_EQ(rte_eth_dev_get_port_by_name("net_ring0", &port), 0);
}

TEST(eal_session, second_start_is_a_clear_error) {
    auto again = eal_session::start(eal_config{});
    ASSERT_FALSE(again);
    EXPECT_EQ(again.err().code, pk::errc::state);
    EXPECT_NE(again.err().message.find("already running"), std::string::npos);
}
