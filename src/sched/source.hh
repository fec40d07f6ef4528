// Reactor sources polled in bursts: NET (ethdev RX queues) and EXT (app streams).
//
// Implement `poll_burst(reactor&, max)`: handle up to `max` items and return how many
// (0 when empty — it must be cheap then: it runs every round). Register with
// `reactor::add_net(src)` / `add_ext(src)` before the reactor starts or from its own
// thread, or from another reactor with a `register_source` message. A source is polled
// only by the reactor it is registered on; `polls_per_round` is its share of a round.
// The packet-I/O layer (pk::net) derives its RX-queue pollers from `net_source`.
#pragma once

#include <cstdint>

namespace pk::sched {

class reactor;

class source {
public:
    virtual ~source() = default;
    /// Owner reactor thread only. Handle up to max items; return how many.
    virtual std::uint32_t poll_burst(reactor& r, std::uint32_t max) noexcept = 0;
    [[nodiscard]] virtual const char* name() const noexcept { return "source"; }
    /// Burst calls per round (the source's share of the reactor) when `bucket` < 0.
    std::uint32_t polls_per_round = 1;
    /// Priority bucket: when >= 0 the reactor's discipline decides the share
    /// (weighted priority: polls[bucket] bursts per round, as a task of that bucket).
    std::int32_t bucket = -1;
};

/// NET: a NIC RX queue (or any packet input). Filled in by the packet-I/O layer.
class net_source : public source {
public:
    [[nodiscard]] virtual std::uint16_t port() const noexcept { return 0; }
    [[nodiscard]] virtual std::uint16_t queue() const noexcept { return 0; }
};

/// EXT: an application stream (subscriber cursor, channel, stdin...).
class ext_source : public source {};

} // namespace pk::sched
