#include "net/eal.hh"

#include <atomic>
#include <cstring>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "base/clock.hh"

namespace pk::net {
namespace {
std::atomic<bool> g_running{false};

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (auto& a : v) {
        if (!s.empty()) s += ' ';
        s += a;
    }
    return s;
}
} // namespace

const char* dpdk_log_level(log::level l) noexcept {
    switch (l) {
    case log::level::trace:
        return "debug";
    case log::level::debug:
        return "info";
    case log::level::info:
        return "warning";
    case log::level::warn:
        return "warning";
    case log::level::error:
        return "error";
    case log::level::off:
        return "emergency";
    }
    return "warning";
}

std::vector<std::string> build_eal_args(const eal_config& cfg, const std::string& prog) {
    std::vector<std::string> a{prog};
    if (cfg.lcores.empty()) {
        a.insert(a.end(), {"-l", "0"});
    } else {
        a.push_back("--lcores=" + cfg.lcores);
    }
    if (!cfg.hugepages) {
        a.push_back("--no-huge");
        a.insert(a.end(), {"-m", std::to_string(cfg.memory_mb)});
    }
    if (!cfg.pci) {
        a.push_back("--no-pci");
    } else {
        for (auto& d : cfg.allow)
            a.push_back("--allow=" + d);
    }
    if (cfg.file_prefix.empty()) {
        a.push_back("--no-shconf");
    } else {
        a.push_back("--file-prefix=" + cfg.file_prefix);
    }
    if (!cfg.telemetry) a.push_back("--no-telemetry");
    for (auto& v : cfg.vdevs)
        a.push_back("--vdev=" + v);
    a.push_back(std::string("--log-level=") + dpdk_log_level(cfg.log_level));
    a.insert(a.end(), cfg.extra.begin(), cfg.extra.end());
    return a;
}

result<std::unique_ptr<eal_session>> eal_session::start(const eal_config& cfg) {
    bool expected = false;
    if (!g_running.compare_exchange_strong(expected, true))
        return make_error(errc::state, "EAL is already running in this process");

    auto args = build_eal_args(cfg);
    std::vector<char*> argv;
    std::vector<std::string> copy = args; // rte_eal_init may permute argv
    for (auto& s : copy)
        argv.push_back(s.data());
    argv.push_back(nullptr);

    PK_DEBUG("eal", "rte_eal_init %s", join(args).c_str());
    int rc = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
    if (rc < 0) {
        int e = rte_errno;
        g_running.store(false);
        std::string hint;
        if (e == EALREADY)
            hint = "; EAL cannot be started twice in one process";
        else if (e == ENOMEM || e == EFAULT)
            hint = "; try more memory (-m / eal.memory_mb) or enable hugepages";
        else if (e == EINVAL)
            hint = "; check the EAL arguments (lcores, vdevs, extra args)";
        return make_error(errc::dpdk, "EAL initialisation failed: " + std::string(rte_strerror(e)) +
                                          hint + " (args: " + join(args) + ")");
    }
    tsc::set_hz(rte_get_tsc_hz());
    return std::unique_ptr<eal_session>(new eal_session(std::move(args)));
}

eal_session::~eal_session() {
    rte_eal_cleanup();
    // DPDK does not support re-initialising EAL in the same process after cleanup,
    // so g_running stays set: a second start() reports errc::state.
}

unsigned eal_session::lcore_count() const noexcept {
    return rte_lcore_count();
}
unsigned eal_session::main_lcore() const noexcept {
    return rte_get_main_lcore();
}

} // namespace pk::net
