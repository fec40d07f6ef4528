// Machine topology from hwloc: NUMA nodes, physical cores, SMT siblings, and an
// automatic lcore plan.
//
// discover() runs once at start-up (it allocates; not for the hot path). plan()
// chooses CPUs for N worker lcores: one hardware thread per physical core first
// (an SMT sibling of a busy core shares its pipeline and L1), cores on the NIC's NUMA
// node before others, and the main lcore's core last so control work stays apart.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hh"

namespace pk::topology {

struct cpu {
    unsigned os_index = 0; ///< Linux CPU number (what --lcores maps onto)
    unsigned core = 0;     ///< physical core id (logical index in hwloc)
    int numa = 0;          ///< NUMA node, 0 when the machine has none
    unsigned smt_rank = 0; ///< 0 for the first hardware thread of its core
};

struct numa_node {
    int id = 0;
    std::uint64_t memory_bytes = 0;
    std::vector<unsigned> cpus;
};

struct machine {
    std::vector<numa_node> nodes;
    std::vector<cpu> cpus;   ///< allowed CPUs only (cgroup / affinity mask respected)
    unsigned cores = 0;      ///< physical cores with at least one allowed CPU
    std::string description; ///< hwloc's machine name / CPU model when known
};

/// Reads the machine with hwloc, honouring this process's CPU affinity.
result<machine> discover();

struct plan_request {
    unsigned lcores = 1;             ///< worker lcores wanted (the main lcore comes in addition)
    int nic_numa = -1;               ///< preferred NUMA node, -1: any
    bool allow_smt = true;           ///< use SMT siblings when physical cores run out
    bool allow_oversubscribe = true; ///< map several lcores onto one CPU when short
    std::vector<unsigned> exclude;   ///< CPUs already taken: handed out only when short
};

struct lcore_plan {
    unsigned main_cpu = 0;
    std::vector<unsigned> worker_cpus; ///< OS CPU per worker lcore 1..N
    bool oversubscribed = false;       ///< some CPU carries more than one lcore
    /// DPDK --lcores value: "0@<main>,1@<w1>,..."
    std::string eal_lcores() const;
};

result<lcore_plan> plan(const machine& m, const plan_request& req);

/// Human-readable print-out for `pktkernel --topology`.
std::string describe(const machine& m);

} // namespace pk::topology
