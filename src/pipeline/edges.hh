// Edge kinds: the queues that connect stages, one descriptor per `queue:` kind.
//
//   link     one producer, one consumer: a direct call on one reactor (run to
//            completion), an SPSC ring across reactors
//   channel  the same as link, named for a (tx, rx) pair
//   sub      many producers into one consumer: edges into one stage share one queue,
//            one SPSC lane per producer (multicursor, no CAS)
//   pub      one producer, many subscribers: edges from one output share one broadcast
//            ring, each subscriber a cursor
//   lanes    one producer, one consumer, four SPSC lanes: a packet's flow class
//            (flow_class.hh) picks its lane; the consumer dequeues by deficit
//            round-robin with its reactor's bucket weights (lane i: bucket i's polls),
//            so a full low lane refuses while higher lanes still take packets
//
// Adding a kind adds one entry to the table in edges.cc (and its queue class): the
// validator takes the names from it, the plan its sharing rules, the graph its `make`.
//
// Threads: the table is constant. Queues are built on the control thread; then the
// producer end is used by the producer's reactor, each consumer end by its consumer's
// reactor; queued() and the counters may be read from any thread.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "pipeline/config.hh"
#include "pipeline/stage.hh"
#include "sched/reactor.hh"

namespace pk::pipeline {

/// The consumer side of a queued edge: polled by the target stage's reactor.
class edge_source {
public:
    virtual ~edge_source() = default;
    /// Pops up to one burst and hands it to the target stage. Returns packets moved.
    virtual std::uint32_t poll() noexcept = 0;
    /// Packets waiting in the queue for this consumer.
    virtual std::uint64_t queued() const noexcept = 0;
    virtual stage& target() const noexcept = 0;
    /// The consumer reactor's bucket weights (polls per round of buckets 0..3), for a
    /// queue that dequeues by priority (lanes). Control thread, before the reactors run.
    virtual void use_weights(const std::array<std::uint32_t, 4>&) {}
};

/// One queue between stages, made for one or more edges of one kind.
class edge_queue {
public:
    virtual ~edge_queue() = default;
    /// A producer end (control thread, while building). `wait`: a full queue waits for
    /// room (backpressure) instead of refusing, which the graph allows only where the
    /// wait can end (see graph.hh). nullptr when the queue takes no more producers.
    virtual edge_sink* add_producer(bool wait) = 0;
    /// The consumer end feeding `target`, or nullptr when this queue's one consumer
    /// exists already (sub) or it takes no more (pub: at most max_share). `in_place`
    /// (broadcast rings): the target reads the packets in the ring's slots and takes no
    /// reference — only for a chain the plan proved keeps nothing (plan.hh).
    virtual edge_source* add_consumer(stage& target, bool wait, bool in_place) = 0;
    /// Packets inside the queue (broadcast rings: not yet released).
    virtual std::uint64_t queued() const noexcept = 0;
    /// Producer-side upkeep (broadcast rings: release the slots every cursor passed).
    virtual std::uint32_t service() noexcept { return 0; }
    /// Broadcast rings: packets released (each once), deliveries to subscribers, and
    /// the deliveries that took a reference (an atomic each: subscribers that keep or
    /// forward; in-place ones take none); 0 for the other kinds.
    virtual std::uint64_t released() const noexcept { return 0; }
    virtual std::uint64_t fanout() const noexcept { return 0; }
    virtual std::uint64_t referenced() const noexcept { return 0; }
    /// Lanes queues: the number of lanes and, per lane, packets in it now and packets it
    /// refused because it was full (the producer dropped or parked them); 0 otherwise.
    virtual unsigned lanes() const noexcept { return 0; }
    virtual std::uint64_t lane_queued(unsigned) const noexcept { return 0; }
    virtual std::uint64_t lane_refused(unsigned) const noexcept { return 0; }

    /// Wake `r` after every push that moved packets: a consumer's reactor that sleeps
    /// when idle (adaptive) would otherwise leave the queue full until its sleep ends.
    /// Control thread, before the reactors run.
    void wake_after_push(sched::reactor& r) {
        if (std::find(_wake.begin(), _wake.end(), &r) == _wake.end()) _wake.push_back(&r);
    }

protected:
    /// Producer side, after a push: one eventfd check per burst and sleeping reactor.
    PK_ALWAYS_INLINE std::uint16_t pushed(std::uint16_t moved) noexcept {
        if (PK_UNLIKELY(!_wake.empty()) && moved)
            for (sched::reactor* r : _wake)
                r->notify();
        return moved;
    }

private:
    std::vector<sched::reactor*> _wake;
};

/// How edges of a kind share queues.
enum class sharing : std::uint8_t {
    none,      ///< a queue per edge
    by_output, ///< edges leaving one output share a queue (pub)
    by_target, ///< edges into one stage share a queue (sub)
};

struct edge_kind {
    const char* name;
    const char* summary;
    sharing shared;
    unsigned max_share; ///< edges per shared queue (0: not shared)
    bool always_queued; ///< false: on one reactor the edge is a direct call
    bool evict;         ///< overflow 'evict' allowed
    std::uint32_t max_size; ///< the largest `size` (0: no limit beyond the config's)
    /// The queue for edges of this kind (`size` slots, the edges' overflow policy).
    std::unique_ptr<edge_queue> (*make)(std::uint32_t size, overflow_policy overflow,
                                        const std::atomic<bool>& abort);
};

/// Every kind, in documentation order.
std::span<const edge_kind> edge_kinds() noexcept;
/// The kind named `name`, or nullptr.
const edge_kind* find_edge_kind(std::string_view name) noexcept;

} // namespace pk::pipeline
