// Flow balancer: hash → one of B buckets → worker, through a RETA-like table that a
// rebalancer rewrites at run time without reordering any flow.
//
// When to use: a dispatcher that spreads flows over worker cores (the flow_balance
// stage is a thin stage over this). One balancer per dispatcher; it lives on the
// dispatcher's reactor.
//
// How it balances. The dispatcher counts packets per bucket. Every `interval` the
// rebalancer turns the counts into per-bucket rates (EWMA, half-life one interval),
// sums them per worker and, when the busiest worker carries more than `trigger` × the
// mean (or more than three times the counting noise above it, when intervals see few
// packets), moves buckets from the busiest to the idlest — each time the bucket whose rate
// is closest to half their gap, so every move strictly lowers the busier of the two.
// Hysteresis: nothing moves inside the trigger band; a moved bucket stays put for
// `cooldown` intervals; a bucket heavier than a worker's fair share (an elephant) is
// never moved — moving it only moves the overload — and is reported.
//
// Order-preserving migration. Moving bucket b from worker A to worker B:
//  1. b is marked held: its packets stay with the dispatcher, in arrival order;
//  2. the drain marker is the number of packets the dispatcher has handed to A's queue
//     so far (handoff::sent); the handoff asks A's reactor to say when A's consumer has
//     taken that many (the inter-core `split` message; its answer is `seq`);
//  3. on the answer (drained()), the held packets go to B — as fast as B's queue takes
//     them, later arrivals of b queued behind them — and then b's table entry is B.
// Everything of b that A got is behind A before B sees any of b: no reordering across
// any number of moves, no central scheduler, no lock. A hold that fills while waiting
// (a drain that takes too long) cancels the move: held packets go back to A, still in
// order, counted as aborted. A hold that fills while its target queue refuses
// everything hands its oldest packets on anyway (deliver with `force`: behind a
// backpressure edge they are parked, and the dispatcher's inputs wait), in order.
//
// Threads: construction and configure() on the control thread; route(), tick(),
// drained(), abort_all() on the dispatcher's reactor (single writer of everything);
// stats() from any thread (relaxed single-writer values).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_mbuf.h>

#include "base/compiler.hh"
#include "sched/counters.hh"

namespace pk::flow {

struct balancer_config {
    std::uint32_t buckets = 1024;     ///< power of two
    bool rebalance = true;            ///< false: the static table only
    std::uint64_t interval = 0;       ///< rebalance period in clock units (TSC); 0: never
    double trigger = 1.05;            ///< act when max/mean load is above this
    double target = 1.10;             ///< "balanced" for the convergence figures
    unsigned max_moves = 32;          ///< bucket moves started per interval
    unsigned cooldown = 8;            ///< intervals a moved bucket stays on its worker
    unsigned max_migrations = 32;     ///< moves in flight at once
    unsigned hold = 1024;             ///< packets a moving bucket may hold (then abort)
};

/// What a balancer needs from its owner: where packets go and how a drain marker
/// travels. Implemented by the dispatcher stage (over the reactor mesh) and by tests.
class handoff {
public:
    enum class drain : std::uint8_t { done, pending, refused };
    virtual ~handoff() = default;
    /// Packets worker w's queue has accepted from the dispatcher so far — after handing
    /// on what the owner batches for w (a drain marker counts what is in the queue).
    virtual std::uint64_t sent(unsigned w) noexcept = 0;
    /// Asks worker `from` to report (balancer::drained(token)) once its consumer has
    /// taken `marker` packets. done: it has already (e.g. a direct call on this
    /// reactor); refused: the message cannot be sent (stopping).
    virtual drain request_drain(unsigned from, std::uint64_t marker,
                                std::uint64_t token) noexcept = 0;
    /// Hands held packets to worker w, in order; returns how many it took (ownership
    /// passes for those). A queue that waits (backpressure) may take fewer: the rest stay
    /// held and are offered again. `force` (stop): take all (parked or dropped, counted).
    virtual std::uint16_t deliver(unsigned w, rte_mbuf** pkts, std::uint16_t n,
                                  bool force) noexcept = 0;
};

/// Figures for stats and metrics (any thread).
struct balancer_stats {
    sched::counter moves;            ///< bucket moves completed
    sched::counter aborted;          ///< moves cancelled (hold full, or stop)
    sched::counter rebalances;       ///< intervals that moved something
    sched::counter held;             ///< packets held by moving buckets right now
    sched::counter held_total;       ///< packets that were ever held
    sched::counter hold_ns_sum;      ///< time from hold to release, summed over moves
    sched::counter hold_ns_max;
    sched::counter in_flight;        ///< moves waiting for their drain marker (active - releasing)
    sched::counter elephants;        ///< buckets heavier than a worker's fair share
    sched::counter ratio_milli;      ///< last interval: max/mean packets per worker × 1000
    sched::counter static_ratio_milli; ///< the same traffic under the static table
    sched::counter settled_ratio_milli; ///< since first balanced: max/mean × 1000
    sched::counter converge_ns_last; ///< last imbalance → balanced again (reactor time)
    sched::counter converge_ns_max;
    sched::counter imbalances;       ///< times the load left the target band
};

class balancer {
public:
    static constexpr std::uint8_t held_bit = 0x80;
    static constexpr unsigned max_workers = 64;

    /// Mixes a 32-bit flow hash before taking the bucket: Toeplitz hashes are linear in
    /// their input (and a symmetric key leaves 16 bits of it), so the low bits of
    /// structured addresses cluster; one multiply-xorshift spreads them.
    static PK_ALWAYS_INLINE std::uint32_t mix(std::uint32_t h) noexcept {
        h ^= h >> 16;
        h *= 0x7feb352du;
        h ^= h >> 15;
        h *= 0x846ca68bu;
        h ^= h >> 16;
        return h;
    }

    balancer() = default;
    balancer(const balancer&) = delete;
    balancer& operator=(const balancer&) = delete;

    /// Control thread, before traffic: `workers` (1..64) outputs, bucket b starts on
    /// worker b % workers (the static table).
    void configure(const balancer_config& cfg, unsigned workers, handoff* h);
    const balancer_config& config() const noexcept { return _cfg; }
    unsigned workers() const noexcept { return _workers; }
    std::uint32_t buckets() const noexcept { return _cfg.buckets; }

    // ---- dispatcher reactor ---------------------------------------------------------
    std::uint32_t bucket_of(std::uint32_t hash) const noexcept { return mix(hash) & _mask; }
    /// The worker for a packet of hash `hash`, or -1 when its bucket is moving: then
    /// the balancer holds the packet (ownership passes) until the move completes.
    PK_ALWAYS_INLINE int route(std::uint32_t hash, rte_mbuf* m) noexcept {
        const std::uint32_t b = bucket_of(hash);
        ++_count[b];
        const std::uint8_t e = _table[b];
        if (PK_LIKELY(!(e & held_bit))) return e;
        hold(b, m);
        return -1;
    }
    /// Offers held packets of released moves to their workers again, then rebalances when
    /// an interval is due at `now` (clock units; `rebalance_ok` false skips that step).
    /// Returns packets released plus moves started.
    std::uint32_t tick(std::uint64_t now, bool rebalance_ok = true) noexcept;
    /// One rebalancing step now (tick calls it; tests call it directly).
    std::uint32_t rebalance(std::uint64_t now) noexcept;
    /// A drain marker was reached (the handoff's answer to request_drain).
    void drained(std::uint64_t token, std::uint64_t now) noexcept;
    /// Ends every move now (graceful stop): a move still waiting for its marker goes
    /// back to its old worker, one being released goes on to its new one; every held
    /// packet is delivered with `force`.
    void abort_all() noexcept;

    /// Worker of bucket b (the move's target while it moves). Dispatcher thread, or
    /// any thread for a rough view.
    unsigned owner(std::uint32_t b) const noexcept { return _table[b] & ~held_bit; }
    bool moving(std::uint32_t b) const noexcept { return _table[b] & held_bit; }
    /// Packets counted in bucket b (dispatcher thread).
    std::uint64_t count(std::uint32_t b) const noexcept { return _count[b]; }

    // ---- any thread ------------------------------------------------------------------
    const balancer_stats& stats() const noexcept { return _stats; }

private:
    /// A bucket on the move. Held packets are a ring of `hold` slots: [head, head + n).
    struct move {
        std::uint32_t bucket = 0;
        std::uint8_t from = 0, to = 0;
        std::uint8_t dest = 0;     ///< where the held packets go, once releasing
        bool active = false;
        bool releasing = false;    ///< drained (or cancelled): emptying the hold
        bool to_new = false;       ///< releasing to `to` (done) or back to `from` (aborted)
        std::uint32_t gen = 0;
        std::uint64_t started = 0; ///< TSC
        std::uint32_t head = 0, n = 0;
    };
    PK_NOINLINE void hold(std::uint32_t b, rte_mbuf* m) noexcept;
    bool begin(std::uint32_t b, unsigned to, std::uint64_t now) noexcept;
    /// The move's held packets may go: to `to` (drained) or back to `from` (aborted).
    /// `now`: deliver what the target takes at once (and complete if that is all).
    void release(unsigned slot, bool to_new, bool now = true) noexcept;
    /// Delivers held packets (at most `max`); completes the move when the hold is empty
    /// and `complete`.
    std::uint32_t pump(unsigned slot, bool complete, bool force = false,
                       std::uint32_t max = UINT32_MAX) noexcept;
    rte_mbuf** held_of(unsigned slot) noexcept { return _hold.get() + std::size_t{slot} * _cfg.hold; }
    void observe(std::uint64_t now) noexcept;

    balancer_config _cfg;
    unsigned _workers = 0;
    std::uint32_t _mask = 0;
    handoff* _h = nullptr;
    std::vector<std::uint8_t> _table;   ///< bucket → worker | held_bit
    std::vector<std::uint64_t> _count;  ///< packets per bucket (dispatcher only)
    std::vector<std::uint16_t> _slot;   ///< bucket → move slot while held

    // rebalancer state (dispatcher only)
    std::vector<std::uint64_t> _last;     ///< _count at the previous interval
    std::vector<double> _rate;            ///< packets per interval, EWMA
    std::vector<std::uint64_t> _moved_at; ///< interval index of the bucket's last move
    std::vector<std::uint64_t> _sent_last; ///< handoff::sent per worker, previous interval
    std::vector<std::uint64_t> _settled_base; ///< sent per worker when first balanced
    std::vector<double> _load;            ///< scratch: load per worker
    std::vector<std::uint64_t> _static_cnt; ///< scratch: the interval under the static table
    std::uint64_t _intervals = 0, _next = 0;
    bool _settled = false, _balanced = true;
    std::uint64_t _imbalanced_since = 0;

    std::vector<move> _moves;
    std::unique_ptr<rte_mbuf*[]> _hold;
    unsigned _active = 0;
    unsigned _releasing = 0; ///< moves emptying their hold (tick offers them again)

    balancer_stats _stats;
};

} // namespace pk::flow
