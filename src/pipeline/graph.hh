// The stage graph: a validated config turned into live stages, ports and edges.
//
// build() creates the ports (opening devices, creating vdevs), every stage through the
// registry, and every edge: same-reactor links become direct calls, cross-reactor links
// become SPSC rings, `sub` edges an MPSC ring shared by their producers, `pub` edges one
// broadcast ring per publishing output with a cursor per subscriber. An `allow_cycle`
// link is always a queue (a direct call around a cycle would recurse). Backpressure
// waits only where the consumer runs on another reactor and the edge closes no cycle;
// elsewhere a full queue drops (queue_full), since that wait could never end. Errors carry the
// config position (`FILE:LINE:COL:`). The graph does not run anything: the runtime
// (runtime.hh) places its pollers on reactors.
//
// Threads: build and inspection on the control thread; stages and edge endpoints are
// then used by the reactor each belongs to.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hh"
#include "pipeline/config.hh"
#include "pipeline/stage.hh"

namespace pk::net {
class port;
class mempool_set;
} // namespace pk::net

namespace pk::pipeline {

class registry;

/// The consumer side of a cross-reactor edge: polled by the target stage's reactor.
class edge_source {
public:
    virtual ~edge_source() = default;
    /// Pops up to one burst and hands it to the target stage. Returns packets moved.
    virtual std::uint32_t poll() noexcept = 0;
    /// Packets waiting in the queue for this consumer.
    virtual std::uint64_t queued() const noexcept = 0;
    virtual stage& target() const noexcept = 0;
};

/// Counters of one edge (any thread may read).
struct edge_info {
    std::string from, to; ///< "stage.output", "stage"
    queue_kind kind = queue_kind::link;
    bool direct = false; ///< same-reactor link: a function call, no queue
    std::uint32_t size = 0;
};

class graph {
public:
    /// Builds the graph for `cfg` with `reactors` reactors (stage i's reactor index is
    /// resolved from the config by the runtime and passed in `stage_reactor`).
    static result<std::unique_ptr<graph>> build(const config& cfg, const registry& reg,
                                                const std::vector<unsigned>& stage_reactor,
                                                unsigned reactors);
    ~graph();

    const config& cfg() const noexcept { return _cfg; }

    // ---- lookups for stages (control thread, at start()) --------------------------------
    net::port* find_port(std::string_view name) const noexcept;
    stage* find_stage(std::string_view name) const noexcept;
    /// A packet mempool on `socket` (for stages that create packets).
    result<rte_mempool*> mempool(int socket, unsigned mbufs);
    /// Claims TX queue (port, queue) for `reactor`; error if another reactor has it.
    status claim_tx(std::uint16_t port, std::uint16_t queue, unsigned reactor);

    // ---- what the runtime places on reactors --------------------------------------------
    const std::vector<std::unique_ptr<stage>>& stages() const noexcept { return _stages; }
    const std::vector<std::unique_ptr<net::port>>& ports() const noexcept { return _ports; }
    /// Consumer endpoints polled by reactor r.
    const std::vector<edge_source*>& sources_of(unsigned r) const noexcept { return _sources[r]; }
    const std::vector<edge_info>& edges() const noexcept { return _edge_info; }
    unsigned reactors() const noexcept { return static_cast<unsigned>(_sources.size()); }

    /// Packets inside queues between stages right now (broadcast rings: not yet
    /// released), plus packets held by stages.
    std::uint64_t queued() const noexcept;
    /// Packets released by broadcast rings (each published packet once).
    std::uint64_t released() const noexcept;
    /// References handed out by broadcast subscribers (each one a packet to account).
    std::uint64_t fanout() const noexcept;
    /// Lets backpressured producers give up waiting (graceful stop that timed out).
    void abort_waits() noexcept { _abort.store(true, std::memory_order_relaxed); }
    /// Producer-side service for broadcast rings (activate cursors, release passed
    /// slots); the runtime calls it from the publishing reactor.
    std::uint32_t service(unsigned reactor) noexcept;

    /// After the reactors have stopped (single-threaded from here on): polls every queue
    /// consumer and broadcast ring until nothing moves, then drains every stage. Nothing
    /// waits from here on (abort_waits): what a full queue refuses is dropped as queue_full.
    void settle() noexcept;

    /// Starts ports (after every stage's start()).
    status start_ports();
    status stop_ports();

    class edge;
    class pub_ring;

private:
    graph() = default;
    config _cfg;
    std::unique_ptr<net::mempool_set> _pools;
    std::vector<std::unique_ptr<net::port>> _ports;
    std::vector<std::string> _port_names;
    std::vector<std::unique_ptr<stage>> _stages;
    std::vector<std::unique_ptr<edge>> _edges;
    std::vector<std::unique_ptr<pub_ring>> _pubs;
    std::vector<std::vector<edge_source*>> _sources;
    std::vector<edge_info> _edge_info;
    std::vector<std::pair<std::uint32_t, unsigned>> _tx_claims; ///< (port<<16|queue, reactor)
    std::atomic<bool> _abort{false};
};

} // namespace pk::pipeline
