// The plan: where everything a validated config declares will run, and how its edges
// become queues — decided and checked before EAL, ports or threads exist.
//
// make_plan() maps reactors onto lcores and CPUs (explicit, or `auto` from the hwloc
// topology), places every stage and timer on a reactor, turns every edge into a
// direct call or a queue (edges of a shared kind join one queue), and checks every
// rule the graph relies on: outputs that exist, one link per output, shared queues
// that agree on their settings, queue capacity, no packet writer downstream of a
// broadcast, TX queues owned by one reactor, and the packet pools fitting in EAL
// memory. Every problem is reported as `FILE:LINE:COL: ...`. `pktkernel --check`
// prints describe(); graph::build() builds exactly this plan.
//
// Threads: control thread; plain values.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/result.hh"
#include "pipeline/config.hh"
#include "pipeline/edges.hh"
#include "sched/reactor.hh"
#include "topology/topology.hh"

namespace pk::pipeline {

class registry;

struct reactor_plan {
    std::string name;
    std::string id;     ///< how stages and timers may name it besides its name
    unsigned lcore = 0; ///< EAL lcore id
    int cpu = -1;       ///< the CPU the lcore is pinned to
    /// Index of the reactor whose lcore thread runs this one. Reactors placed on one CPU
    /// share one thread and run in turns (a round each), instead of as threads the OS
    /// time-slices: the first of them leads; a reactor alone on its CPU leads itself.
    unsigned thread = 0;
    sched::reactor_config cfg;
};

struct edge_plan {
    const edge_config* cfg = nullptr;
    const edge_kind* kind = nullptr;
    unsigned from = 0, to = 0; ///< stage indexes (config order)
    bool direct = false;       ///< one reactor: a function call, no queue
    bool wait = false;         ///< a full queue waits for room (backpressure that can end)
    int queue = -1;            ///< index in plan::queues; -1 when direct
    /// Broadcast edges: the subscriber reads in the ring's slots and takes no reference
    /// (every stage after it is an observer on its reactor, fed by nothing else).
    bool in_place = false;
};

struct queue_plan {
    const edge_kind* kind = nullptr;
    const edge_config* first = nullptr; ///< the edge that made it (settings, position)
    unsigned producer_reactor = 0;      ///< where its service() runs (broadcast rings)
    unsigned edges = 0;                 ///< edges sharing it
};

enum class timer_action : std::uint8_t {
    stats,   ///< logs the pipeline totals
    flush,   ///< flushes the reactor's TX buffers now
    service, ///< releases broadcast-ring slots every cursor has passed
};

struct timer_plan {
    std::string name;
    unsigned reactor = 0;
    timer_action action = timer_action::stats;
    std::uint64_t period_ns = 0;
};

/// A port's mbuf pool, sized from what can hold its packets at once: its RX and TX
/// descriptor rings, a burst in flight per queue, the per-lcore caches (which may hold
/// 1.5x their size), and everything downstream of its port_rx stages — every queue's
/// slots (a broadcast ring once) and a parked burst per stage.
struct pool_plan {
    std::uint32_t rx = 0, tx = 0, bursts = 0, caches = 0, queues = 0, stages = 0;
    std::uint32_t needed = 0; ///< the sum
    std::uint32_t mbufs = 0;  ///< the pool: `mempool.size` when given, else needed as 2^n - 1
    bool given = false;       ///< `mempool.size` was given (it may be below `needed`)
    std::uint64_t bytes = 0;
};

struct plan {
    std::vector<reactor_plan> reactors;
    unsigned main_lcore = 0; ///< the control thread's lcore (status, console, stop)
    int main_cpu = -1;
    std::string eal_lcores;              ///< EAL --lcores
    bool oversubscribed = false;         ///< some CPU runs more than one lcore
    std::vector<unsigned> stage_reactor; ///< per config stage
    std::vector<role_set> stage_roles;   ///< per config stage (from the registry)
    std::vector<bool> stage_on_loan;     ///< per config stage: runs on borrowed packets
    /// Per config stage: the TX queue of a stage that transmits (its `queue`, or the one
    /// assigned to its reactor when the YAML names none); 0 for the others.
    std::vector<std::uint16_t> stage_tx_queue;
    std::vector<edge_plan> edges; ///< per config edge
    std::vector<queue_plan> queues;
    std::vector<timer_plan> timers;
    std::vector<pool_plan> pools; ///< per config port
    /// Stages with a pool of their own (generator `mbufs`): config stage index, mbufs.
    std::vector<std::pair<unsigned, std::uint32_t>> stage_pools;
    std::uint64_t pool_bytes = 0;   ///< what the packet pools take (ports' and stages')
    std::uint64_t memory_bytes = 0; ///< EAL memory without hugepages (-m); 0: hugepages

    /// The plan as `pktkernel --check` prints it: reactors with their CPUs and stages,
    /// every edge with its queue kind and size, timers, the memory budget.
    std::string describe(const config& cfg) const;
    /// "stage.output" for edge i.
    std::string edge_from(std::size_t i) const;
};

/// The plan for `cfg` on machine `m`. Errors: invalid_argument with every problem,
/// one `FILE:LINE:COL: ...` line each.
result<plan> make_plan(const config& cfg, const registry& reg, const topology::machine& m);
/// The same on this machine (hwloc).
result<plan> make_plan(const config& cfg, const registry& reg);
/// Only the graph half, for a given placement on `reactors` reactors (tests, tools):
/// no lcores, CPUs, timers or memory budget.
result<plan> plan_graph(const config& cfg, const registry& reg, std::vector<unsigned> stage_reactor,
                        unsigned reactors);

} // namespace pk::pipeline
