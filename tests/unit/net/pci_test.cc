// PCI ports without hardware: address parsing, and the sysfs binding check on a fake
// /sys/bus/pci/devices tree made in a temporary directory.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "net/eal.hh"
#include "net/pci.hh"
#include "net/port.hh"

namespace fs = std::filesystem;
using namespace pk::net;

TEST(pci_parse, accepts_dpdk_forms_and_normalises) {
    auto a = parse_pci("0000:3B:00.1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->address, "0000:3b:00.1");
    EXPECT_EQ(a->devargs, "");
    auto b = parse_pci("pci:3b:00.0,rxq_cqe_comp_en=1,txq_inline_max=0");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->address, "0000:3b:00.0"); // domain 0000 implied
    EXPECT_EQ(b->devargs, "rxq_cqe_comp_en=1,txq_inline_max=0");
    EXPECT_EQ(b->allow(), "0000:3b:00.0,rxq_cqe_comp_en=1,txq_inline_max=0");
    EXPECT_EQ(parse_pci("10ab:00:1f.7")->address, "10ab:00:1f.7");
}

TEST(pci_parse, rejects_what_is_not_a_pci_address) {
    for (const char* s : {"net_ring0", "net_memif0,role=server", "0000:3b:00.8", "3b:0.0",
                          "0000:3b:00", "00000:3b:00.0", "0000-3b:00.0", "3b:00.0,", "pci:",
                          "zz:00.0", ""})
        EXPECT_FALSE(parse_pci(s)) << s;
}

TEST(pci_parse, device_name_is_the_ethdev_name_dpdk_gives_the_port) {
    EXPECT_EQ(device_name("pci:3b:00.0,k=v"), "0000:3b:00.0");
    EXPECT_EQ(device_name("net_pcap0,rx_pcap=a"), "net_pcap0");
}

TEST(eal_args, pci_ports_replace_no_pci_with_the_allow_list) {
    eal_config c;
    c.pci = true;
    c.allow = {"0000:3b:00.0", "0000:3b:00.1,rxq_cqe_comp_en=1"};
    auto a = build_eal_args(c);
    auto has = [&](const std::string& s) { return std::find(a.begin(), a.end(), s) != a.end(); };
    EXPECT_FALSE(has("--no-pci"));
    EXPECT_TRUE(has("--allow=0000:3b:00.0"));
    EXPECT_TRUE(has("--allow=0000:3b:00.1,rxq_cqe_comp_en=1"));
    EXPECT_TRUE(has("--no-huge")); // still a no-hugepage run unless hugepages: on
}

class fake_sysfs : public ::testing::Test {
protected:
    void SetUp() override {
        root = fs::temp_directory_path() /
               ("pk-sysfs-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root);
        fs::create_directories(root / "drivers");
    }
    void TearDown() override { fs::remove_all(root); }
    /// A function with a PCI class and, when `driver` is not empty, a driver link.
    void add(const std::string& addr, const std::string& cls, const std::string& driver) {
        fs::create_directories(root / "devices" / addr);
        std::ofstream(root / "devices" / addr / "class") << cls << "\n";
        if (!driver.empty()) {
            fs::create_directories(root / "drivers" / driver);
            fs::create_directory_symlink(root / "drivers" / driver, root / "devices" / addr / "driver");
        }
    }
    pk::status check(const std::string& spec) {
        return check_pci_binding(*parse_pci(spec), "port 'nic'", (root / "devices").string());
    }
    fs::path root;
};

TEST_F(fake_sysfs, dpdk_drivers_pass) {
    add("0000:3b:00.0", "0x020000", "vfio-pci");
    add("0000:3b:00.1", "0x020000", "uio_pci_generic");
    add("0000:5e:00.0", "0x020000", "mlx5_core"); // bifurcated: the PMD shares it
    EXPECT_TRUE(check("3b:00.0"));
    EXPECT_TRUE(check("pci:0000:3b:00.1,x=1"));
    EXPECT_TRUE(check("0000:5e:00.0"));
}

TEST_F(fake_sysfs, kernel_driver_is_refused_with_the_bind_command) {
    add("0000:3b:00.0", "0x020000", "ixgbe");
    auto st = check("0000:3b:00.0");
    ASSERT_FALSE(st);
    EXPECT_EQ(st.err().code, pk::errc::invalid_argument);
    const auto& m = st.err().message;
    EXPECT_NE(m.find("port 'nic'"), std::string::npos) << m;
    EXPECT_NE(m.find("kernel driver 'ixgbe'"), std::string::npos) << m;
    EXPECT_NE(m.find("dpdk-devbind.py --bind=vfio-pci 0000:3b:00.0"), std::string::npos) << m;
}

TEST_F(fake_sysfs, unbound_missing_and_non_network_functions_are_refused) {
    add("0000:3b:00.0", "0x020000", "");
    add("0000:00:00.0", "0x060000", "");
    auto unbound = check("0000:3b:00.0");
    ASSERT_FALSE(unbound);
    EXPECT_NE(unbound.err().message.find("not bound to any driver"), std::string::npos);
    EXPECT_NE(unbound.err().message.find("--bind=vfio-pci 0000:3b:00.0"), std::string::npos);
    auto bridge = check("0000:00:00.0");
    ASSERT_FALSE(bridge);
    EXPECT_NE(bridge.err().message.find("not a network controller"), std::string::npos);
    auto missing = check("0000:ff:1f.7");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.err().code, pk::errc::not_found);
    EXPECT_NE(missing.err().message.find("no PCI device 0000:ff:1f.7"), std::string::npos);
}
