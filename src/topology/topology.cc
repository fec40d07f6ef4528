#include "topology/topology.hh"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <hwloc.h>

namespace pk::topology {

result<machine> discover() {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return make_error(errc::io, "hwloc_topology_init failed");
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return make_error(errc::io, "hwloc_topology_load failed");
    }
    machine m;
    hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(topo, allowed, HWLOC_CPUBIND_PROCESS) != 0)
        hwloc_bitmap_copy(allowed, hwloc_topology_get_allowed_cpuset(topo));

    if (auto root = hwloc_get_root_obj(topo)) {
        if (const char* model = hwloc_obj_get_info_by_name(root, "CPUModel"))
            m.description = model;
        else if (auto pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0))
            if (const char* mm = hwloc_obj_get_info_by_name(pkg, "CPUModel")) m.description = mm;
    }

    int nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    for (int i = 0; i < nnuma; ++i) {
        auto n = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
        numa_node node;
        node.id = static_cast<int>(n->os_index);
        node.memory_bytes = n->attr ? n->attr->numanode.local_memory : 0;
        m.nodes.push_back(node);
    }
    if (m.nodes.empty()) m.nodes.push_back(numa_node{});

    std::set<unsigned> cores_seen;
    int ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    for (int c = 0; c < ncores; ++c) {
        auto core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, static_cast<unsigned>(c));
        unsigned rank = 0;
        int npu = hwloc_get_nbobjs_inside_cpuset_by_type(topo, core->cpuset, HWLOC_OBJ_PU);
        for (int p = 0; p < npu; ++p) {
            auto pu = hwloc_get_obj_inside_cpuset_by_type(topo, core->cpuset, HWLOC_OBJ_PU,
                                                          static_cast<unsigned>(p));
            if (!pu) break;
            if (!hwloc_bitmap_isset(allowed, pu->os_index)) continue;
            cpu x;
            x.os_index = pu->os_index;
            x.core = core->logical_index;
            x.smt_rank = rank++;
            x.numa = 0;
            for (auto& n : m.nodes) {
                auto nobj = hwloc_get_numanode_obj_by_os_index(topo, static_cast<unsigned>(n.id));
                if (nobj && hwloc_bitmap_isset(nobj->cpuset, pu->os_index)) x.numa = n.id;
            }
            m.cpus.push_back(x);
            cores_seen.insert(x.core);
        }
    }
    if (m.cpus.empty()) {
        // No CORE objects (some VMs): fall back to PUs as cores.
        int npus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
        for (int i = 0; i < npus; ++i) {
            auto pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, static_cast<unsigned>(i));
            if (!hwloc_bitmap_isset(allowed, pu->os_index)) continue;
            m.cpus.push_back(cpu{pu->os_index, static_cast<unsigned>(i), 0, 0});
            cores_seen.insert(static_cast<unsigned>(i));
        }
    }
    for (auto& c : m.cpus)
        for (auto& n : m.nodes)
            if (n.id == c.numa) n.cpus.push_back(c.os_index);
    m.cores = static_cast<unsigned>(cores_seen.size());
    hwloc_bitmap_free(allowed);
    hwloc_topology_destroy(topo);
    if (m.cpus.empty()) return make_error(errc::not_found, "hwloc found no usable CPU");
    return m;
}

std::string lcore_plan::eal_lcores() const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0@%u", main_cpu);
    std::string s = buf;
    for (std::size_t i = 0; i < worker_cpus.size(); ++i) {
        std::snprintf(buf, sizeof buf, ",%zu@%u", i + 1, worker_cpus[i]);
        s += buf;
    }
    return s;
}

result<lcore_plan> plan(const machine& m, const plan_request& req) {
    if (m.cpus.empty()) return make_error(errc::not_found, "no CPUs to plan on");
    // Order: preferred NUMA first, then SMT rank 0 before siblings, then by core.
    std::vector<cpu> order = m.cpus;
    auto pref = [&](const cpu& c) { return req.nic_numa < 0 || c.numa == req.nic_numa ? 0 : 1; };
    std::stable_sort(order.begin(), order.end(), [&](const cpu& a, const cpu& b) {
        if (a.smt_rank != b.smt_rank) return a.smt_rank < b.smt_rank;
        if (pref(a) != pref(b)) return pref(a) < pref(b);
        return a.core < b.core;
    });
    lcore_plan p;
    // The main lcore takes the last CPU in the order: control work gets the least
    // desirable CPU; workers get the best ones.
    p.main_cpu = order.back().os_index;
    unsigned main_core = order.back().core;
    std::vector<unsigned> candidates, taken;
    for (auto& c : order) {
        if (c.os_index == p.main_cpu) continue;
        if (!req.allow_smt && c.smt_rank > 0) continue;
        if (!req.allow_smt && c.core == main_core) continue;
        const bool excluded =
            std::find(req.exclude.begin(), req.exclude.end(), c.os_index) != req.exclude.end();
        (excluded ? taken : candidates).push_back(c.os_index);
    }
    // CPUs someone else named come after the free ones, in the same order.
    while (candidates.size() < req.lcores && !taken.empty()) {
        candidates.push_back(taken.front());
        taken.erase(taken.begin());
    }
    // Short of CPUs: let workers share the main lcore's CPU too (the control thread
    // mostly sleeps) rather than piling every worker onto the other CPUs.
    if (candidates.size() < req.lcores) candidates.push_back(p.main_cpu);
    if (req.lcores > candidates.size() && !req.allow_oversubscribe)
        return make_error(errc::exhausted,
                          "asked for " + std::to_string(req.lcores) + " worker lcores but only " +
                              std::to_string(candidates.size()) +
                              " CPUs are free; lower the count or allow oversubscription");
    for (unsigned i = 0; i < req.lcores; ++i)
        p.worker_cpus.push_back(candidates[i % candidates.size()]);
    std::map<unsigned, int> use;
    use[p.main_cpu]++;
    for (auto c : p.worker_cpus)
        use[c]++;
    for (auto& [c, n] : use)
        if (n > 1) p.oversubscribed = true;
    return p;
}

std::string describe(const machine& m) {
    std::string s;
    s += "machine: " + (m.description.empty() ? std::string("unknown CPU") : m.description) + "\n";
    s += "numa nodes: " + std::to_string(m.nodes.size()) +
         ", physical cores: " + std::to_string(m.cores) +
         ", hardware threads: " + std::to_string(m.cpus.size()) + "\n";
    for (auto& n : m.nodes) {
        char line[64];
        std::snprintf(line, sizeof line, "  node %d: %llu MiB, cpus", n.id,
                      static_cast<unsigned long long>(n.memory_bytes >> 20));
        s += line;
        for (auto c : n.cpus) {
            std::snprintf(line, sizeof line, " %u", c);
            s += line;
        }
        s += "\n";
    }
    s += "  cpu  core  numa  smt\n";
    for (auto& c : m.cpus) {
        char line[64];
        std::snprintf(line, sizeof line, "  %3u  %4u  %4d  %3u%s\n", c.os_index, c.core, c.numa,
                      c.smt_rank, c.smt_rank ? " (sibling)" : "");
        s += line;
    }
    return s;
}

} // namespace pk::topology
