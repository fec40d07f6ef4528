// Stages: the units a pipeline is built from. A stage is a class with `process(burst)`
// that hands packets on to named outputs; the graph wires each output either straight
// to the next stage on the same reactor (a direct call: run-to-completion) or to a queue
// towards another reactor.
//
// Writing a stage (see README "Writing a stage"):
//
//   class ttl_dec final : public pk::pipeline::stage {
//   public:
//       explicit ttl_dec(const stage_args& a) : stage(a) { _expired = add_reason("ttl_expired"); }
//       void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
//           ... for each packet: emit_one(0, m) or drop_one(_expired, m) ...
//       }
//   private:
//       unsigned _expired;
//   };
//   PK_REGISTER_STAGE("ttl_dec", ttl_dec, schema);   // then `type: ttl_dec` in YAML
//
// Ownership: a burst handed to process() belongs to the stage; every packet must leave
// through emit (ownership passes on), drop (freed and counted with a reason),
// count_transmitted (handed to a NIC) or be held and reported by held(). This is how
// the accounting invariant holds: every packet produced is transmitted, dropped with
// a reason, released by a broadcast ring, or still queued. A stage whose schema has
// role::observer promises to dispose of every packet inside process() (emit or drop,
// never keep): after a broadcast ring such stages run on loan — in the ring's slots,
// no reference taken; their drops count and the ring frees (set_on_loan).
//
// Threads: construction, connect() and start() on the control thread; everything else
// on the reactor that owns the stage, which is the only writer of its counters. Any
// thread may read counters (relaxed atomics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rte_mbuf.h>

#include "base/compiler.hh"
#include "base/result.hh"
#include "pipeline/config.hh"
#include "sched/counters.hh"

namespace pk::sched {
class reactor;
}

namespace pk::pipeline {

class graph;
class edge_source;
namespace latency {
class histogram;
}

inline constexpr std::uint16_t burst_size = 64; ///< the largest burst a stage may be handed
inline constexpr unsigned max_outputs = 64;
inline constexpr unsigned max_reasons = 24;

/// Reasons every stage has (indices 0 and 1).
inline constexpr unsigned reason_unconnected = 0; ///< emitted on an output with no edge
inline constexpr unsigned reason_queue_full = 1;  ///< the edge's queue refused (drop policy)

/// The producer side of an edge that crosses reactors (link, sub, pub, channel).
class edge_sink {
public:
    virtual ~edge_sink() = default;
    /// Takes up to n packets; returns how many it took. Never waits: the rest stay with
    /// the caller, who drops them as queue_full — or, when waits(), parks them (stage).
    virtual std::uint16_t push(rte_mbuf** pkts, std::uint16_t n) noexcept = 0;
    /// A full queue is backpressure here: what it refuses is held by the producer, which
    /// stops taking input until the queue has room (control thread, fixed at build).
    virtual bool waits() const noexcept { return false; }
    /// The FIFO consumer end of this producer's packets (link, channel, sub), else
    /// nullptr (pub: every subscriber has its own position). With taken_from_here(): a
    /// flow migration's drain marker compares what this producer pushed with what that
    /// consumer has taken of it.
    virtual const edge_source* consumer_end() const noexcept { return nullptr; }
    /// Packets of this producer the consumer has taken and handed through its chain
    /// (exact on the consumer's reactor, between its polls).
    virtual std::uint64_t taken_from_here() const noexcept { return 0; }
    /// A drain marker for what this producer has pushed so far, `sent` packets (the
    /// producer's reactor): a FIFO's marker is `sent`; a lanes queue's packs where each
    /// lane stands, since its lanes drain at different rates.
    virtual std::uint64_t drain_mark(std::uint64_t sent) const noexcept { return sent; }
    /// On the consumer's reactor, between its polls: has the consumer taken (and handed
    /// through its chain) every packet this producer had pushed when `mark` was made?
    virtual bool drained(std::uint64_t mark) const noexcept { return taken_from_here() >= mark; }
};

class stage;

/// Where one output leads.
struct route {
    stage* direct = nullptr;   ///< same reactor: a direct call
    edge_sink* edge = nullptr; ///< another reactor: a queue
    bool wait = false;         ///< edge->waits(): refused packets are parked, not dropped
};

/// Packets a backpressure edge refused, held by the producing stage until it has room:
/// at most this many per output (more than any burst a chain hands down; beyond it they
/// are dropped as queue_full, counted).
inline constexpr unsigned park_capacity = 256;

/// What a factory gets: the stage's name, type, params and the graph being built (for
/// ports, mempools and peers).
struct stage_args {
    std::string name;
    std::string type;
    const node* params = nullptr; ///< a map node (see config.hh); never null for factories
    graph* owner = nullptr;
    unsigned reactor = 0; ///< index of the reactor the stage runs on
    role_set roles;       ///< the type's roles (its schema's)
    std::uint16_t tx_queue = 0; ///< the TX queue the plan gave a stage that transmits
};

/// A stage-specific figure for stats and metrics (stage::extra()). `counter`: it only
/// grows (exported as a Prometheus counter; by convention its name ends in `_total`);
/// otherwise a gauge (a setting or a level).
struct stage_value {
    std::string name;
    std::uint64_t value = 0;
    bool counter = false;
};

struct stage_counters {
    sched::counter in;          ///< packets handed to process()
    sched::counter produced;    ///< packets a source created or received from outside
    sched::counter transmitted; ///< packets handed to a device (port_tx)
    sched::counter calls;       ///< process()/poll() calls that had packets
    sched::counter cycles;      ///< TSC cycles inside those calls (sampled by the runtime)
    std::array<sched::counter, max_outputs> out{};
    std::array<sched::counter, max_reasons> dropped{};
};

class stage {
public:
    explicit stage(const stage_args& a);
    virtual ~stage();
    stage(const stage&) = delete;
    stage& operator=(const stage&) = delete;

    // ---- control thread ---------------------------------------------------------------
    const std::string& name() const noexcept { return _name; }
    const std::string& type() const noexcept { return _type; }
    unsigned reactor() const noexcept { return _reactor; }
    /// Index of output `name`, adding it when the stage accepts any output name
    /// (accepts_any_output) — returns -1 when the stage has no such output.
    int output_index(std::string_view name);
    const std::vector<std::string>& outputs() const noexcept { return _outputs; }
    const std::vector<std::string>& reasons() const noexcept { return _reasons; }
    void connect(unsigned output, route r);
    const route& route_of(unsigned output) const noexcept { return _routes[output]; }
    /// Called once every stage exists and every edge is connected, before reactors
    /// start (ports are started by then). Sources find their devices here.
    virtual status start() { return {}; }
    /// The reactor the stage will run on, before it runs (control thread): for stages
    /// that message other reactors over the mesh (flow_balance's migrations).
    virtual void bind(sched::reactor& r) noexcept { (void)r; }

    /// What the type is to the runtime (source, sink, ...): declared in its schema.
    const role_set& roles() const noexcept { return _roles; }
    bool is(role r) const noexcept { return _roles.has(r); }
    /// A stage that creates or receives packets (rx_source or source): polled each round.
    bool is_source() const noexcept { return _roles.any({role::rx_source, role::source}); }
    /// Every packet this stage gets is on loan from a broadcast ring: it is read in the
    /// ring's slot, and the ring, not the stage, frees it (a drop here counts and does
    /// not free). The graph sets it on the stages of an in-place subscriber (observers
    /// only, all on one reactor, fed by nothing else), before start().
    void set_on_loan(bool v) noexcept { _on_loan = v; }
    bool on_loan() const noexcept { return _on_loan; }

    // ---- owner reactor ----------------------------------------------------------------
    /// Hands a burst to this stage (counts `in`, then process()).
    PK_ALWAYS_INLINE void receive(rte_mbuf** pkts, std::uint16_t n) noexcept {
        _c.in.add(n);
        process(pkts, n);
    }
    /// Sources: produce at most one burst and pass it on. Returns packets produced.
    virtual std::uint32_t poll() noexcept { return 0; }
    /// Every round: time-driven work (TX drain deadlines, rate refill). Returns work.
    /// Called only for stages whose ticks() is true: a stage that overrides tick()
    /// overrides ticks() too.
    virtual std::uint32_t tick(std::uint64_t now) noexcept {
        (void)now;
        return 0;
    }
    /// Whether tick() does anything (control thread): the housekeeping task calls only
    /// these stages each round.
    virtual bool ticks() const noexcept { return false; }
    /// Graceful stop: flush or drop (counted) everything the stage holds.
    virtual void drain() noexcept {}
    /// Packets held inside the stage right now (TX buffers, reorder buffers).
    virtual std::uint64_t held() const noexcept { return 0; }
    /// RX→TX latency of the packets this stage hands to a device (latency.hh), or
    /// nullptr for stages that keep none.
    virtual const latency::histogram* latency() const noexcept { return nullptr; }
    /// Stage-specific values for stats and metrics (any thread: read atomics or values fixed
    /// at start(); allocates, so never from the packet path).
    virtual std::vector<stage_value> extra() const { return {}; }
    /// Control thread: what the stage tracks per flow, for `show flows` (flow_table asks
    /// its reactor and waits for the answer); empty for stages that keep no flows.
    virtual std::string flow_report() { return {}; }

    /// Backpressure without stalling the reactor. A full waiting edge leaves its
    /// packets parked in the producing stage; while any are, the chain's entry stages
    /// (the sources and edge consumers from which this stage is reached by direct calls,
    /// set by the graph) take no input, and the reactor goes on with its other sources,
    /// edges and timers. retry_parked() (housekeeping, every round) pushes them on; the
    /// last one out lets the entries take input again. Owner reactor only, except
    /// parked() (any thread: a relaxed single-writer value).
    bool blocked() const noexcept { return _blocked != 0; }
    std::uint64_t parked() const noexcept { return _parked_total.load(std::memory_order_relaxed); }
    bool may_park() const noexcept { return _park != nullptr; }
    std::uint32_t retry_parked() noexcept;
    /// Settle (single thread, no reactor running): drops what is still parked as
    /// queue_full after the last retry.
    void drop_parked() noexcept;
    void add_entry(stage* e) { _entries.push_back(e); }

    /// Stops a source producing more packets (graceful stop, first step).
    void quiesce() noexcept { _quiesced.store(true, std::memory_order_relaxed); }
    bool quiesced() const noexcept { return _quiesced.load(std::memory_order_relaxed); }

    // ---- any thread ---------------------------------------------------------------------
    const stage_counters& counters() const noexcept { return _c; }
    std::uint64_t dropped_total() const noexcept;

protected:
    virtual void process(rte_mbuf** pkts, std::uint16_t n) noexcept = 0;
    /// Whether output_index() may create outputs with any name (e.g. flow_balance).
    virtual bool accepts_any_output() const noexcept { return false; }

    /// Declares an output (constructor only). Output 0, "out", always exists.
    unsigned add_output(std::string name);
    /// Declares a drop reason (constructor only).
    unsigned add_reason(std::string name);

    /// Passes packets on through `output`; ownership goes with them.
    PK_ALWAYS_INLINE void emit(unsigned output, rte_mbuf** pkts, std::uint16_t n) noexcept {
        if (n == 0) return;
        const route& r = _routes[output];
        if (r.direct) {
            _c.out[output].add(n);
            r.direct->receive(pkts, n);
        } else if (r.edge) {
            // Packets parked on this output go first: nothing may overtake them.
            if (PK_UNLIKELY(r.wait && _park[output].n)) return park(output, pkts, n);
            std::uint16_t k = r.edge->push(pkts, n);
            _c.out[output].add(k);
            if (PK_UNLIKELY(k < n)) {
                if (r.wait)
                    park(output, pkts + k, static_cast<std::uint16_t>(n - k));
                else
                    drop(reason_queue_full, pkts + k, static_cast<std::uint16_t>(n - k));
            }
        } else {
            drop(reason_unconnected, pkts, n);
        }
    }
    PK_ALWAYS_INLINE void emit_one(unsigned output, rte_mbuf* m) noexcept { emit(output, &m, 1); }
    /// emit() for a caller that can keep what a waiting (backpressure) edge refuses:
    /// such an edge takes what fits and nothing is parked; returns how many left. Any
    /// other route takes all n (an edge that drops drops its overflow as queue_full).
    std::uint16_t offer(unsigned output, rte_mbuf** pkts, std::uint16_t n) noexcept {
        const route& r = _routes[output];
        if (!r.edge || !r.wait) {
            emit(output, pkts, n);
            return n;
        }
        if (_park[output].n) return 0; // parked packets go first
        const std::uint16_t k = r.edge->push(pkts, n);
        _c.out[output].add(k);
        return k;
    }
    /// Emits on `output` when an edge leaves it, else drops under `reason` (an optional
    /// side output such as filter's "miss": unconnected means "not wanted").
    PK_ALWAYS_INLINE void emit_or_drop(unsigned output, unsigned reason, rte_mbuf** pkts,
                                       std::uint16_t n) noexcept {
        if (_routes[output].direct || _routes[output].edge)
            emit(output, pkts, n);
        else
            drop(reason, pkts, n);
    }

    /// Frees packets and counts them under `reason`.
    /// (On loan: counted, not freed — the broadcast ring frees each packet once.)
    PK_ALWAYS_INLINE void drop(unsigned reason, rte_mbuf** pkts, std::uint16_t n) noexcept {
        if (n == 0) return;
        _c.dropped[reason].add(n);
        if (PK_LIKELY(!_on_loan)) rte_pktmbuf_free_bulk(pkts, n);
    }
    PK_ALWAYS_INLINE void drop_one(unsigned reason, rte_mbuf* m) noexcept {
        _c.dropped[reason].add(1);
        if (PK_LIKELY(!_on_loan)) rte_pktmbuf_free(m);
    }
    /// Counts drops of packets the stage no longer holds (freed elsewhere, e.g. by a
    /// TX buffer that reports them).
    void add_drops(unsigned reason, std::uint64_t n) noexcept {
        if (n) _c.dropped[reason].add(n);
    }
    void count_produced(std::uint64_t n) noexcept { _c.produced.add(n); }
    void count_transmitted(std::uint64_t n) noexcept { _c.transmitted.add(n); }
    void count_call(std::uint64_t cycles) noexcept {
        _c.calls.add(1);
        _c.cycles.add(cycles);
    }
    graph* owner() const noexcept { return _graph; }

private:
    struct parked_burst {
        std::uint16_t n = 0;
        std::array<rte_mbuf*, park_capacity> pkts;
    };
    PK_NOINLINE void park(unsigned output, rte_mbuf** pkts, std::uint16_t n) noexcept;
    void set_blocked(bool on) noexcept;

    std::string _name, _type;
    graph* _graph;
    unsigned _reactor;
    role_set _roles;
    std::vector<std::string> _outputs;
    std::vector<std::string> _reasons;
    std::array<route, max_outputs> _routes{};
    std::atomic<bool> _quiesced{false};
    bool _on_loan = false;
    std::unique_ptr<parked_burst[]> _park; ///< per output; only when one waits (connect)
    std::atomic<std::uint32_t> _parked_total{0};
    std::uint32_t _blocked = 0;   ///< stages below this entry with parked packets
    std::vector<stage*> _entries; ///< who stops taking input while this one has parked
    stage_counters _c;
};

} // namespace pk::pipeline
