// PCI ports: what a `device:` naming a PCI function means, and whether DPDK can drive it.
//
// A port's device is a PCI address when it reads `0000:3b:00.0`, `3b:00.0` (domain 0000)
// or `pci:0000:3b:00.0`, optionally followed by devargs (`,rxq_cqe_comp_en=1`). The
// address goes to EAL's allow list (`--allow=ADDR[,devargs]`); `--no-pci` is passed only
// when no port is PCI. Before EAL starts, the runtime checks sysfs: a function that does
// not exist, or that is bound to a kernel network driver (which DPDK cannot share), is
// refused with the command that binds it. No EAL, no hardware access: a file-system check.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.hh"

namespace pk::net {

struct pci_device {
    std::string address; ///< DPDK's form: domain:bus:device.function, lower case
    std::string devargs; ///< after the first comma, without it; may be empty
    /// The allow-list entry: address[,devargs].
    std::string allow() const { return devargs.empty() ? address : address + "," + devargs; }
};

/// The PCI function `spec` names, or nullopt when `spec` is not a PCI address.
std::optional<pci_device> parse_pci(std::string_view spec);

/// Drivers DPDK's PCI PMDs work through: the user-space I/O drivers, and the bifurcated
/// kernel drivers whose PMDs share the device with the kernel (mlx4, mlx5).
bool dpdk_capable_driver(std::string_view driver) noexcept;

/// Whether DPDK can drive the function at `address`: it exists under `sysfs` (the
/// directory of /sys/bus/pci/devices) and its driver is one dpdk_capable_driver()
/// accepts. Fails with errc::not_found or errc::invalid_argument and a message that says
/// what to run (`dpdk-devbind.py --bind=vfio-pci ADDR`); `what` names the port. A
/// function whose PCI class is not a network controller (0x02xxxx) is refused too.
status check_pci_binding(const pci_device& dev, const std::string& what,
                         const std::string& sysfs = "/sys/bus/pci/devices");

} // namespace pk::net
