#include "net/pci.hh"

#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace pk::net {
namespace {

bool hex(std::string_view s, std::size_t n) {
    if (s.size() != n) return false;
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

std::string lower(std::string_view s) {
    std::string r(s);
    for (char& c : r)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

/// The first line of a sysfs attribute ("0x8086"), or "" when unreadable.
std::string attr(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::string s;
    std::getline(f, s);
    return s;
}

} // namespace

std::optional<pci_device> parse_pci(std::string_view spec) {
    if (spec.substr(0, 4) == "pci:") spec.remove_prefix(4);
    const auto comma = spec.find(',');
    std::string_view addr = spec.substr(0, comma);
    std::string_view args = comma == std::string_view::npos ? std::string_view{}
                                                            : spec.substr(comma + 1);
    // [dddd:]bb:dd.f
    std::string_view domain = "0000";
    if (addr.size() == 12) {
        if (addr[4] != ':') return std::nullopt;
        domain = addr.substr(0, 4);
        addr.remove_prefix(5);
    }
    if (addr.size() != 7 || addr[2] != ':' || addr[5] != '.') return std::nullopt;
    if (!hex(domain, 4) || !hex(addr.substr(0, 2), 2) || !hex(addr.substr(3, 2), 2) ||
        addr[6] < '0' || addr[6] > '7')
        return std::nullopt;
    if (comma != std::string_view::npos && args.empty()) return std::nullopt;
    return pci_device{lower(domain) + ":" + lower(addr), std::string(args)};
}

bool dpdk_capable_driver(std::string_view d) noexcept {
    static constexpr std::array<std::string_view, 5> ok = {"vfio-pci", "uio_pci_generic",
                                                           "igb_uio", "mlx5_core", "mlx4_core"};
    for (auto o : ok)
        if (d == o) return true;
    return false;
}

status check_pci_binding(const pci_device& dev, const std::string& what,
                         const std::string& sysfs) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(sysfs) / dev.address;
    std::error_code ec;
    if (!fs::exists(dir, ec))
        return make_error(errc::not_found,
                          what + ": no PCI device " + dev.address + " on this machine (" +
                              sysfs + " has no such entry; `dpdk-devbind.py --status-dev net` lists "
                                      "the network devices)");
    const std::string kind = attr(dir / "class"); // "0x020000": network controller
    if (!kind.empty() && kind.rfind("0x02", 0) != 0)
        return make_error(errc::invalid_argument,
                          what + ": PCI device " + dev.address +
                              " is not a network controller (PCI class " + kind +
                              "); `dpdk-devbind.py --status-dev net` lists the network devices");
    const std::string bind = "dpdk-devbind.py --bind=vfio-pci " + dev.address;
    const fs::path drv = dir / "driver";
    if (!fs::exists(drv, ec))
        return make_error(errc::invalid_argument,
                          what + ": PCI device " + dev.address +
                              " is not bound to any driver; bind it to vfio-pci first: `" +
                              bind + "` (docs/DEPLOY.md: IOMMU, vfio, hugepages)");
    const std::string name = fs::read_symlink(drv, ec).filename().string();
    if (ec)
        return make_error(errc::invalid_argument,
                          what + ": cannot read the driver of PCI device " + dev.address +
                              ": " + ec.message());
    if (dpdk_capable_driver(name)) return {};
    return make_error(errc::invalid_argument,
                      what + ": PCI device " + dev.address + " is bound to the kernel driver '" +
                          name +
                          "', which DPDK cannot share with the kernel; bind it to vfio-pci "
                          "(the kernel interface goes away): `" +
                          bind + "` (docs/DEPLOY.md: IOMMU, vfio, hugepages)");
}

} // namespace pk::net
