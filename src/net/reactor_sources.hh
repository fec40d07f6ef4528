// Adapters that plug the packet-I/O layer into a reactor (sched/source.hh):
//   rx_source       — an RX queue as the reactor's NET source (burst receive → handler)
//   tx_drain_source — flushes a set of tx_buffers on their TSC deadline (EXT source)
//   poll_ext_source — a readiness poll (sockets, stdin, timerfd...) as an EXT source
//   console_source  — a console as an EXT source
//
// When to use: register on the reactor that owns the queue / fds, e.g.
//   pk::net::rx_source rx(port.rxq(0), &my_stage_fn, &my_stage);
//   reactor.add_net(rx);
// Header-only so that pk_net does not link the scheduler; link sched_dep yourself.
// Every poll_burst runs on the owner reactor's thread only, never blocks, and (for
// rx_source / tx_drain_source) never allocates.
#pragma once

#include <vector>

#include "base/clock.hh"
#include "net/console.hh"
#include "net/poll.hh"
#include "net/port.hh"
#include "sched/source.hh"

namespace pk::net {

/// Receives bursts from one RX queue and hands them to `handler`, which takes
/// ownership of the mbufs (forward, enqueue, or free them).
class rx_source final : public sched::net_source {
public:
    using handler = void (*)(void* ctx, rte_mbuf** pkts, std::uint16_t n) noexcept;
    static constexpr std::uint16_t max_burst = 64;

    rx_source(rx_queue q, handler h, void* ctx, std::uint16_t burst = 32) noexcept
        : _q(q), _h(h), _ctx(ctx), _burst(burst > max_burst ? max_burst : burst) {}

    std::uint32_t poll_burst(sched::reactor&, std::uint32_t max) noexcept override {
        std::uint16_t want = max < _burst ? static_cast<std::uint16_t>(max) : _burst;
        std::uint16_t n = _q.rx_burst(_pkts, want);
        if (n) {
            _received += n;
            _h(_ctx, _pkts, n);
        }
        return n;
    }
    const char* name() const noexcept override { return "rx"; }
    std::uint16_t port() const noexcept override { return _q.port_id(); }
    std::uint16_t queue() const noexcept override { return _q.queue_id(); }
    std::uint64_t received() const noexcept { return _received; }

private:
    rx_queue _q;
    handler _h;
    void* _ctx;
    std::uint16_t _burst;
    std::uint64_t _received = 0;
    rte_mbuf* _pkts[max_burst];
};

/// Flushes each registered tx_buffer whose oldest packet has waited past its drain
/// deadline. Returns the number of buffers flushed (work done).
class tx_drain_source final : public sched::ext_source {
public:
    /// Before the reactor starts (or from its thread).
    void add(tx_buffer& b) { _bufs.push_back(&b); }
    std::uint32_t poll_burst(sched::reactor&, std::uint32_t) noexcept override {
        std::uint64_t now = tsc::now();
        std::uint32_t n = 0;
        for (tx_buffer* b : _bufs)
            n += b->flush_if_due(now) ? 1 : 0;
        return n;
    }
    const char* name() const noexcept override { return "tx-drain"; }

private:
    std::vector<tx_buffer*> _bufs;
};

/// A poll_source (readiness poll + dispatch callback) as an EXT source.
class poll_ext_source final : public sched::ext_source {
public:
    explicit poll_ext_source(poll_source& s) noexcept : _s(s) {}
    std::uint32_t poll_burst(sched::reactor&, std::uint32_t) noexcept override {
        return static_cast<std::uint32_t>(_s.run_once());
    }
    const char* name() const noexcept override { return "poll"; }

private:
    poll_source& _s;
};

/// A console served from a reactor: one non-blocking pass per poll.
class console_source final : public sched::ext_source {
public:
    explicit console_source(console& c) noexcept : _c(c) {}
    std::uint32_t poll_burst(sched::reactor&, std::uint32_t) noexcept override {
        return static_cast<std::uint32_t>(_c.run_once());
    }
    const char* name() const noexcept override { return "console"; }

private:
    console& _c;
};

} // namespace pk::net
