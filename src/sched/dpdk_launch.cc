#include "sched/dpdk_launch.hh"

#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>

namespace pk::sched::dpdk {

namespace {
int reactor_main(void* arg) {
    static_cast<reactor*>(arg)->run();
    return 0;
}
} // namespace

status launch(reactor_group& g, std::span<const unsigned> reactors,
              std::span<const unsigned> lcores) {
    if (reactors.size() != lcores.size())
        return make_error(errc::invalid_argument,
                          "sched::dpdk::launch: " + std::to_string(reactors.size()) +
                              " reactors for " + std::to_string(lcores.size()) +
                              " lcores (need one lcore each)");
    const unsigned main = rte_get_main_lcore();
    for (std::size_t i = 0; i < lcores.size(); ++i) {
        const unsigned l = lcores[i];
        if (reactors[i] >= g.size())
            return make_error(errc::invalid_argument,
                              "sched::dpdk::launch: no reactor " + std::to_string(reactors[i]));
        if (l >= RTE_MAX_LCORE || !rte_lcore_is_enabled(l) || l == main)
            return make_error(
                errc::invalid_argument,
                "sched::dpdk::launch: lcore " + std::to_string(l) +
                    " is not an enabled worker lcore (check --lcores; the main lcore " +
                    std::to_string(main) + " runs its reactor with reactor::run())");
        if (rte_eal_get_lcore_state(l) != WAIT)
            return make_error(errc::state,
                              "sched::dpdk::launch: lcore " + std::to_string(l) + " is busy");
    }
    for (std::size_t i = 0; i < lcores.size(); ++i) {
        const int rc = rte_eal_remote_launch(reactor_main, &g[reactors[i]], lcores[i]);
        if (rc != 0) {
            for (std::size_t j = 0; j < i; ++j)
                g[reactors[j]].request_stop();
            wait(lcores.first(i));
            return make_error(errc::dpdk, "sched::dpdk::launch: rte_eal_remote_launch on lcore " +
                                              std::to_string(lcores[i]) +
                                              " failed: " + std::to_string(rc));
        }
    }
    return {};
}

status launch(reactor_group& g, std::span<const unsigned> lcores) {
    std::vector<unsigned> rs(g.size());
    for (unsigned i = 0; i < g.size(); ++i)
        rs[i] = i;
    return launch(g, rs, lcores);
}

void wait(std::span<const unsigned> lcores) noexcept {
    for (unsigned l : lcores)
        rte_eal_wait_lcore(l);
}

} // namespace pk::sched::dpdk
