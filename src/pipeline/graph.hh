// The stage graph: a plan (plan.hh) turned into live ports, stages and queues.
//
// build() opens the ports (opening devices, creating vdevs), creates every stage through
// the registry on the reactor the plan gives it, and makes every edge what the plan
// says: a direct call (one reactor: run to completion) or a queue of the edge's kind
// (edges.hh). Backpressure waits only where the consumer runs on another reactor and
// the edge closes no cycle; elsewhere a full queue drops (queue_full), since that wait
// could never end. The graph runs nothing itself: its pollers are placed on reactors
// (pollers.hh).
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
#include "pipeline/edges.hh"
#include "pipeline/plan.hh"
#include "pipeline/stage.hh"

namespace pk::net {
class port;
class mempool_set;
} // namespace pk::net

namespace pk::pipeline {

class registry;

/// One edge as built (any thread may read).
struct edge_info {
    std::string from, to; ///< "stage.output", "stage"
    const char* kind = "link";
    bool direct = false; ///< same-reactor link: a function call, no queue
    std::uint32_t size = 0;
    const edge_queue* queue = nullptr; ///< nullptr for a direct call
};

class graph {
public:
    /// Builds `p`, the plan of `cfg` (both must outlive the graph).
    static result<std::unique_ptr<graph>> build(const config& cfg, const registry& reg,
                                                const plan& p);
    ~graph();

    // ---- lookups for stages (control thread, at start()) --------------------------------
    net::port* find_port(std::string_view name) const noexcept;
    stage* find_stage(std::string_view name) const noexcept;
    /// A packet mempool on `socket` (for stages that create packets).
    result<rte_mempool*> mempool(int socket, unsigned mbufs);
    /// Every packet pool the ports and stages use (control thread).
    const net::mempool_set& pools() const noexcept { return *_pools; }

    // ---- what the runtime places on reactors --------------------------------------------
    const std::vector<std::unique_ptr<stage>>& stages() const noexcept { return _stages; }
    const std::vector<std::unique_ptr<net::port>>& ports() const noexcept { return _ports; }
    /// The config's name of each port, in ports() order.
    const std::vector<std::string>& port_names() const noexcept { return _port_names; }
    /// Consumer endpoints polled by reactor r.
    const std::vector<edge_source*>& sources_of(unsigned r) const noexcept { return _sources[r]; }
    const std::vector<edge_info>& edges() const noexcept { return _edge_info; }
    /// Every queued edge as (queue, producer's reactor, consumer's reactor), for
    /// wake-ups (pollers.hh).
    struct hop {
        edge_queue* queue;
        unsigned from, to;
    };
    const std::vector<hop>& hops() const noexcept { return _hops; }
    unsigned reactors() const noexcept { return static_cast<unsigned>(_sources.size()); }

    /// Packets inside queues between stages right now (broadcast rings: not yet
    /// released), plus packets held by stages.
    std::uint64_t queued() const noexcept;
    /// Packets released by broadcast rings (each published packet once).
    std::uint64_t released() const noexcept;
    /// Deliveries to broadcast subscribers (each one a packet to account).
    std::uint64_t fanout() const noexcept;
    /// Of those, the deliveries that took a reference (subscribers that keep or forward;
    /// in-place subscribers take none).
    std::uint64_t referenced() const noexcept;
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

private:
    graph() = default;
    std::unique_ptr<net::mempool_set> _pools;
    std::vector<std::unique_ptr<net::port>> _ports;
    std::vector<std::string> _port_names;
    std::vector<std::unique_ptr<stage>> _stages;
    std::vector<std::unique_ptr<edge_queue>> _queues;
    std::vector<unsigned> _queue_reactor; ///< where each queue's service() runs
    std::vector<std::vector<edge_source*>> _sources;
    std::vector<edge_info> _edge_info;
    std::vector<hop> _hops;
    std::atomic<bool> _abort{false};
};

} // namespace pk::pipeline
