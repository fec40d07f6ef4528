// EAL bootstrap: turn a config into rte_eal_init arguments, start EAL once, clean up.
//
// Defaults suit a machine with no NIC and no hugepages: `--no-huge -m 1024 --no-pci
// --no-shconf`. `--no-huge` cannot be combined with `--in-memory`, so processes that
// must run side by side either use `--no-shconf` (the default) or a unique
// `--file-prefix` — which is also what DPDK's own tools (dpdk-proc-info, telemetry)
// need to attach. Only one EAL may live in a process; `eal_session` enforces that.
// Not thread-safe: start and stop from the main thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/log.hh"
#include "base/result.hh"

namespace pk::net {

struct eal_config {
    std::string lcores;             ///< --lcores map, e.g. "0@0,1@0"; empty: -l 0
    unsigned memory_mb = 1024;      ///< -m when hugepages are off; --socket-mem is in extra
    bool hugepages = false;         ///< false → --no-huge
    bool pci = false;               ///< false → --no-pci
    std::string file_prefix;        ///< non-empty → --file-prefix (tools can attach);
                                    ///< empty → --no-shconf
    std::vector<std::string> vdevs; ///< each → --vdev=...
    std::vector<std::string> allow; ///< PCI allow-list (-a) when pci is on
    std::vector<std::string> extra; ///< appended verbatim (after our own)
    bool telemetry = true;          ///< false → --no-telemetry
    log::level log_level = log::level::info;
};

/// The argv handed to rte_eal_init (argv[0] included).
std::vector<std::string> build_eal_args(const eal_config& cfg,
                                        const std::string& prog = "pktkernel");

/// Maps our log level onto DPDK's --log-level value (ours is one step quieter:
/// DPDK "info" floods start-up with PMD probing lines).
const char* dpdk_log_level(log::level l) noexcept;

/// A running EAL. Destroying it calls rte_eal_cleanup().
class eal_session {
public:
    /// Starts EAL. Fails with errc::state if one already runs in this process and with
    /// errc::dpdk (with rte_strerror and the argument list) when rte_eal_init fails.
    static result<std::unique_ptr<eal_session>> start(const eal_config& cfg);

    ~eal_session();
    eal_session(const eal_session&) = delete;
    eal_session& operator=(const eal_session&) = delete;

    const std::vector<std::string>& args() const noexcept { return _args; }
    unsigned lcore_count() const noexcept;
    unsigned main_lcore() const noexcept;

private:
    explicit eal_session(std::vector<std::string> args) : _args(std::move(args)) {}
    std::vector<std::string> _args;
};

} // namespace pk::net
