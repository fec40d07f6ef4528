#include "sched/dpdk_launch.hh"

#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>

namespace pk::sched::dpdk {

namespace {

/// What each lcore's thread runs: its reactors, in turns. Written by launch_shared() on
/// the main lcore before the remote launch, read by that lcore only while it runs.
std::vector<reactor*> runs[RTE_MAX_LCORE];

int lcore_main(void* arg) {
    auto& rs = *static_cast<std::vector<reactor*>*>(arg);
    if (rs.size() == 1) {
        rs[0]->run();
        return 0;
    }
    for (bool any = true; any;) {
        any = false;
        for (reactor* r : rs)
            any |= r->run_once();
    }
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
    std::vector<std::vector<unsigned>> shared;
    for (unsigned r : reactors)
        shared.push_back({r});
    return launch_shared(g, shared, lcores);
}

status launch_shared(reactor_group& g, std::span<const std::vector<unsigned>> shared,
                     std::span<const unsigned> lcores) {
    if (shared.size() != lcores.size())
        return make_error(errc::invalid_argument,
                          "sched::dpdk::launch: " + std::to_string(shared.size()) +
                              " reactor sets for " + std::to_string(lcores.size()) + " lcores");
    const unsigned main = rte_get_main_lcore();
    std::vector<int> seen(g.size(), 0);
    for (std::size_t i = 0; i < lcores.size(); ++i) {
        const unsigned l = lcores[i];
        if (shared[i].empty())
            return make_error(errc::invalid_argument,
                              "sched::dpdk::launch: no reactor for lcore " + std::to_string(l));
        for (unsigned r : shared[i]) {
            if (r >= g.size())
                return make_error(errc::invalid_argument,
                                  "sched::dpdk::launch: no reactor " + std::to_string(r));
            if (seen[r]++)
                return make_error(errc::invalid_argument, "sched::dpdk::launch: reactor " +
                                                              std::to_string(r) +
                                                              " is given to two lcores");
        }
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
        std::vector<reactor*>& rs = runs[lcores[i]];
        rs.clear();
        for (unsigned r : shared[i])
            rs.push_back(&g[r]);
        const int rc = rte_eal_remote_launch(lcore_main, &rs, lcores[i]);
        if (rc != 0) {
            for (std::size_t j = 0; j < i; ++j)
                for (unsigned r : shared[j])
                    g[r].request_stop();
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
