#include "pipeline/edges.hh"

#include <cstring>
#include <vector>

#include "base/compiler.hh"
#include "pipeline/flow_class.hh"
#include "queue/link.hh"
#include "queue/mpsc.hh"
#include "queue/priority.hh"
#include "queue/turbine.hh"

namespace pk::pipeline {
namespace {

/// The consumer end shared by link and sub queues: pops bursts from Q and hands them to
/// the target stage; a torn-down graph (no graceful stop) still frees what Q holds.
template <typename Q>
class fifo_queue : public edge_queue, public edge_source {
public:
    fifo_queue(std::size_t size, bool backpressure, const std::atomic<bool>& abort)
        : _q(size), _bp(backpressure), _abort(abort) {}
    ~fifo_queue() override {
        rte_mbuf* b[burst_size];
        while (auto n = _q.pop_burst(b, burst_size))
            rte_pktmbuf_free_bulk(b, static_cast<unsigned>(n));
    }

    edge_source* add_consumer(stage& target, bool, bool) override {
        if (_target) return nullptr; // one consumer, shared by every producer
        _target = &target;
        return this;
    }
    std::uint32_t poll() noexcept override {
        if (PK_UNLIKELY(_target->blocked())) return 0; // its chain has parked packets
        rte_mbuf* b[burst_size];
        auto n = static_cast<std::uint16_t>(_q.pop_burst(b, burst_size));
        if (n) {
            _target->receive(b, n);
            _taken += n; // after the chain ran: a drain marker means "processed"
        }
        return n;
    }
    std::uint64_t queued() const noexcept override { return _q.size(); }
    stage& target() const noexcept override { return *_target; }

protected:
    Q _q;
    stage* _target = nullptr;
    std::uint64_t _taken = 0; ///< consumer's reactor only
    bool _bp; ///< the edges' overflow is backpressure
    const std::atomic<bool>& _abort;
};

/// link / channel: one SPSC ring, one producer stage, one consumer.
class link_queue final : public fifo_queue<queue::link<rte_mbuf*>>, public edge_sink {
public:
    using fifo_queue::fifo_queue;
    edge_sink* add_producer(bool wait) override {
        if (_has_producer) return nullptr;
        _has_producer = true;
        _wait = _bp && wait;
        return this;
    }
    std::uint16_t push(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        return pushed(static_cast<std::uint16_t>(_q.push_burst(pkts, n)));
    }
    bool waits() const noexcept override { return _wait; }
    const edge_source* consumer_end() const noexcept override { return this; }
    std::uint64_t taken_from_here() const noexcept override { return _taken; }

private:
    bool _has_producer = false, _wait = false;
};

/// sub: several producers (on any reactors) into one consumer, multicursor form: one
/// SPSC lane per producer, polled by the consumer — no CAS on the hot path. Lanes are
/// opened at build and closed only at teardown, so queued() may be read from the
/// control thread while the pipeline runs.
class sub_queue final : public fifo_queue<queue::multicursor<rte_mbuf*>> {
public:
    using fifo_queue::fifo_queue;
    ~sub_queue() override { _producers.clear(); } // close the lanes; the base drains them

    class producer final : public edge_sink {
    public:
        producer(sub_queue& q, bool wait) : _q(q), _p(q._q.add_producer()), _wait(wait) {}
        bool valid() const noexcept { return _p.valid(); }
        std::uint16_t push(rte_mbuf** pkts, std::uint16_t n) noexcept override {
            return _q.pushed(static_cast<std::uint16_t>(_p.push_burst(pkts, n)));
        }
        bool waits() const noexcept override { return _wait; }
        const edge_source* consumer_end() const noexcept override { return &_q; }
        /// The lane's consumer position: popped, and (between the consumer's polls)
        /// handed through its chain.
        std::uint64_t taken_from_here() const noexcept override { return _p.consumed(); }

    private:
        sub_queue& _q;
        queue::multicursor<rte_mbuf*>::producer _p;
        bool _wait;
    };

    /// nullptr when every lane is taken (multicursor's default: 64 producers).
    edge_sink* add_producer(bool wait) override {
        auto p = std::make_unique<producer>(*this, _bp && wait);
        if (!p->valid()) return nullptr;
        _producers.push_back(std::move(p));
        return _producers.back().get();
    }

private:
    std::vector<std::unique_ptr<producer>> _producers;
};

/// lanes: one producer, one consumer, flow_class::count SPSC lanes. The producer sorts
/// each push by the packets' class (flow_class.hh) into the lanes; a lane that is full
/// refuses the rest of its packets in that push (they go back to the producer, which
/// drops them as queue_full or, under backpressure, parks them), while the other lanes
/// still take theirs. The consumer pops by deficit round-robin with its reactor's bucket
/// weights: with every lane busy, lane i gets weights[i] / sum of the dequeues, and an
/// idle lane's turn passes at once, so a packet of a lane that keeps up waits for at
/// most one burst of the others. Per-lane FIFO: a flow (one class) keeps its order.
class lanes_queue final : public edge_queue, public edge_source, public edge_sink {
public:
    static constexpr unsigned lanes_n = flow_class::count;
    /// Per-lane drain markers are 16-bit: a lane never holds 2^15 packets.
    static constexpr std::uint32_t max_lane = 16384;

    lanes_queue(std::size_t size, bool backpressure, const std::atomic<bool>&)
        : _q(queue::lane_discipline::weighted, {10, 6, 3, 1},
             [size](std::size_t) { return std::make_unique<queue::link<rte_mbuf*>>(size); }),
          _bp(backpressure) {
        (void)flow_class::register_field();
    }
    ~lanes_queue() override {
        rte_mbuf* b[burst_size];
        while (auto n = _q.pop_burst(b, burst_size))
            rte_pktmbuf_free_bulk(b, static_cast<unsigned>(n));
    }

    // ---- edge_queue (control thread) ---------------------------------------------------
    edge_sink* add_producer(bool wait) override {
        if (_has_producer) return nullptr;
        _has_producer = true;
        _wait = _bp && wait;
        return this;
    }
    edge_source* add_consumer(stage& target, bool, bool) override {
        if (_target) return nullptr;
        _target = &target;
        return this;
    }
    std::uint64_t queued() const noexcept override { return _q.size(); }
    unsigned lanes() const noexcept override { return lanes_n; }
    std::uint64_t lane_queued(unsigned l) const noexcept override {
        return l < lanes_n ? _q.lane(l).size() : 0;
    }
    std::uint64_t lane_refused(unsigned l) const noexcept override {
        return l < lanes_n ? _refused[l].load() : 0;
    }

    // ---- edge_source (consumer's reactor) ----------------------------------------------
    void use_weights(const std::array<std::uint32_t, 4>& w) override {
        std::vector<unsigned> v(lanes_n);
        for (unsigned i = 0; i < lanes_n; ++i)
            v[i] = std::max<std::uint32_t>(1, w[i]);
        _q.set_weights(v);
    }
    std::uint32_t poll() noexcept override {
        if (PK_UNLIKELY(_target->blocked())) return 0;
        rte_mbuf* b[burst_size];
        std::size_t per[lanes_n] = {};
        auto n = static_cast<std::uint16_t>(_q.pop_burst(b, burst_size, per));
        if (n) {
            _target->receive(b, n);
            for (unsigned l = 0; l < lanes_n; ++l) // after the chain ran, as fifo_queue
                _taken[l] += per[l];
        }
        return n;
    }
    stage& target() const noexcept override { return *_target; }

    // ---- edge_sink (producer's reactor) ------------------------------------------------
    std::uint16_t push(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        // In chunks of a burst: accepted packets are compacted to the front (never past
        // the chunk being read), refused ones collected and put behind them. A lane that
        // refused once refuses the rest of this push: its accepted packets stay a prefix.
        constexpr std::uint16_t max_refused = 512;
        rte_mbuf* refused[max_refused];
        std::uint16_t took = 0, nref = 0, i = 0;
        unsigned full = 0;
        while (i < n && nref + burst_size <= max_refused) {
            const std::uint16_t c = std::min<std::uint16_t>(burst_size, n - i);
            rte_mbuf* by[lanes_n][burst_size];
            std::uint16_t cnt[lanes_n] = {};
            for (std::uint16_t j = 0; j < c; ++j) {
                const unsigned l = flow_class::of(pkts[i + j]);
                by[l][cnt[l]++] = pkts[i + j];
            }
            i = static_cast<std::uint16_t>(i + c);
            for (unsigned l = 0; l < lanes_n; ++l) {
                if (!cnt[l]) continue;
                const std::uint16_t k =
                    full & (1u << l) ? 0 : static_cast<std::uint16_t>(_q.push_burst(l, by[l], cnt[l]));
                for (std::uint16_t j = 0; j < k; ++j)
                    pkts[took++] = by[l][j];
                if (k < cnt[l]) {
                    full |= 1u << l;
                    _refused[l].add(cnt[l] - k);
                    for (std::uint16_t j = k; j < cnt[l]; ++j)
                        refused[nref++] = by[l][j];
                }
                _pushed[l] += k;
            }
        }
        // Past max_refused: the rest is refused as it stands (behind the others, in order).
        if (i < n) {
            for (std::uint16_t j = i; j < n; ++j)
                _refused[flow_class::of(pkts[j])].add(1);
            std::memmove(pkts + took + nref, pkts + i, (n - i) * sizeof(rte_mbuf*));
        }
        for (std::uint16_t j = 0; j < nref; ++j)
            pkts[took + j] = refused[j];
        return pushed(took);
    }
    bool waits() const noexcept override { return _wait; }
    const edge_source* consumer_end() const noexcept override { return this; }
    std::uint64_t taken_from_here() const noexcept override {
        std::uint64_t t = 0;
        for (unsigned l = 0; l < lanes_n; ++l)
            t += _taken[l];
        return t;
    }
    /// Each lane's pushed count, modulo 2^16, 16 bits per lane.
    std::uint64_t drain_mark(std::uint64_t) const noexcept override {
        std::uint64_t m = 0;
        for (unsigned l = 0; l < lanes_n; ++l)
            m |= (_pushed[l] & 0xffff) << (16 * l);
        return m;
    }
    /// Every lane has been taken up to its mark: compared modulo 2^16, exact while a
    /// lane holds fewer than 2^15 packets (max_lane) and the check runs every round.
    bool drained(std::uint64_t mark) const noexcept override {
        for (unsigned l = 0; l < lanes_n; ++l) {
            const auto want = static_cast<std::uint16_t>(mark >> (16 * l));
            const auto d = static_cast<std::int16_t>(static_cast<std::uint16_t>(_taken[l]) - want);
            if (d < 0) return false;
        }
        return true;
    }

private:
    queue::priority_lanes<queue::link<rte_mbuf*>> _q;
    stage* _target = nullptr;
    bool _bp, _has_producer = false, _wait = false;
    std::uint64_t _pushed[lanes_n] = {}; ///< producer's reactor only
    std::uint64_t _taken[lanes_n] = {};  ///< consumer's reactor only
    sched::counter _refused[lanes_n];
};

void free_released(rte_mbuf** items, std::size_t n, void*) noexcept {
    rte_pktmbuf_free_bulk(items, static_cast<unsigned>(n));
}

constexpr unsigned max_subscribers = 32;

/// pub: one broadcast ring per publishing output; each subscriber has a cursor and
/// reads the packets in the ring's slots. An in-place subscriber (its chain keeps
/// nothing: plan.hh) processes a burst while the ring still holds it and only then
/// advances its cursor — no reference, no atomic per packet. Any other subscriber takes
/// its own reference to each packet it passes on (an atomic refcount increment: no
/// clone, no copy). The ring drops its reference in the release hook, once every cursor
/// has passed the slot: one free per packet for in-place subscribers.
class pub_ring final : public edge_queue, public edge_sink {
public:
    pub_ring(std::size_t size, queue::slow_policy policy, const std::atomic<bool>& abort)
        : _ring(size, make_options(policy)), _abort(abort),
          _bp(policy == queue::slow_policy::backpressure) {}

    class cursor final : public edge_source {
    public:
        cursor(pub_ring& r, stage& target, bool in_place)
            : _sub(r._ring.subscribe()), _target(target), _in_place(in_place) {}
        bool valid() const noexcept { return _sub.valid(); }
        std::uint32_t poll() noexcept override {
            if (PK_UNLIKELY(_target.blocked())) return 0; // its chain has parked packets
            auto s = _sub.peek(burst_size);
            if (s.empty()) return 0;
            rte_mbuf* b[burst_size];
            std::uint16_t n = static_cast<std::uint16_t>(s.size());
            if (_in_place) {
                // The stages may reorder their array, never the ring's slots: a copy of
                // the pointers (a loop the compiler inlines, not a libc call: queue/detail.hh).
                // The slots stay ours until release().
                for (std::uint16_t i = 0; i < n; ++i)
                    b[i] = s[i];
                _delivered.add(n);
                _target.receive(b, n);
                _sub.release(n);
                return n;
            }
            for (std::uint16_t i = 0; i < n; ++i) {
                b[i] = s[i];
                // Always atomic: rte_mbuf_refcnt_update() takes a non-atomic fast path when
                // it reads 1, which races with the other subscribers adding theirs. Every
                // segment: a free drops one reference of each.
                for (rte_mbuf* m = b[i]; m; m = m->next)
                    __rte_mbuf_refcnt_update(m, 1);
            }
            _sub.release(n);
            _delivered.add(n);
            _referenced.add(n);
            _target.receive(b, n);
            return n;
        }
        std::uint64_t queued() const noexcept override { return _sub.lag(); }
        stage& target() const noexcept override { return _target; }
        std::uint64_t delivered() const noexcept { return _delivered.load(); }
        std::uint64_t referenced() const noexcept { return _referenced.load(); }

    private:
        queue::turbine<rte_mbuf*>::subscriber _sub;
        stage& _target;
        bool _in_place;
        sched::counter _delivered;
        sched::counter _referenced;
    };

    edge_sink* add_producer(bool) override {
        if (_has_producer) return nullptr;
        _has_producer = true;
        return this;
    }
    /// `wait` false: the publisher must never wait for this subscriber (it runs on the
    /// publisher's reactor, or the edge closes a cycle), so the ring never waits.
    edge_source* add_consumer(stage& target, bool wait, bool in_place) override {
        if (_cursors.size() >= max_subscribers) return nullptr;
        auto c = std::make_unique<cursor>(*this, target, in_place);
        if (!c->valid()) return nullptr;
        if (!wait) _bp = false;
        _cursors.push_back(std::move(c));
        return _cursors.back().get();
    }

    std::uint16_t push(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        auto c = static_cast<std::uint16_t>(_ring.push_burst(pkts, n));
        if (c < n) { // release what every cursor has passed, then once more
            _ring.service();
            c = static_cast<std::uint16_t>(c + _ring.push_burst(pkts + c, n - c));
        }
        return pushed(c);
    }
    bool waits() const noexcept override { return _bp; }
    std::uint32_t service() noexcept override {
        return static_cast<std::uint32_t>(_ring.service());
    }
    std::uint64_t queued() const noexcept override { return _ring.size(); }
    std::uint64_t released() const noexcept override { return _ring.released(); }
    std::uint64_t fanout() const noexcept override {
        std::uint64_t t = 0;
        for (auto& c : _cursors)
            t += c->delivered();
        return t;
    }
    std::uint64_t referenced() const noexcept override {
        std::uint64_t t = 0;
        for (auto& c : _cursors)
            t += c->referenced();
        return t;
    }

private:
    static queue::turbine<rte_mbuf*>::options make_options(queue::slow_policy p) {
        queue::turbine<rte_mbuf*>::options o;
        o.policy = p;
        o.max_subscribers = max_subscribers;
        o.on_release = free_released;
        return o;
    }
    queue::turbine<rte_mbuf*> _ring;
    const std::atomic<bool>& _abort;
    bool _bp;
    bool _has_producer = false;
    std::vector<std::unique_ptr<cursor>> _cursors; // destroyed before _ring (declared after)
};

queue::slow_policy to_slow(overflow_policy p) {
    switch (p) {
    case overflow_policy::backpressure:
        return queue::slow_policy::backpressure;
    case overflow_policy::evict:
        return queue::slow_policy::evict;
    case overflow_policy::drop:
    case overflow_policy::drop_newest:
        return queue::slow_policy::drop_newest;
    }
    return queue::slow_policy::backpressure;
}

template <typename Q>
std::unique_ptr<edge_queue> make_fifo(std::uint32_t size, overflow_policy o,
                                      const std::atomic<bool>& abort) {
    return std::make_unique<Q>(size, o == overflow_policy::backpressure, abort);
}

std::unique_ptr<edge_queue> make_pub(std::uint32_t size, overflow_policy o,
                                     const std::atomic<bool>& abort) {
    return std::make_unique<pub_ring>(size, to_slow(o), abort);
}

constexpr edge_kind kinds[] = {
    {"link", "one producer, one consumer: a direct call on one reactor, an SPSC ring across",
     sharing::none, 0, false, false, 0, make_fifo<link_queue>},
    {"sub", "many producers into one stage: one queue, an SPSC lane per producer",
     sharing::by_target, 64, true, false, 0, make_fifo<sub_queue>},
    {"pub", "zero-copy broadcast: every subscriber reads every packet of one ring",
     sharing::by_output, max_subscribers, true, true, 0, make_pub},
    {"channel", "a (tx, rx) pair: the same queue as link", sharing::none, 0, false, false, 0,
     make_fifo<link_queue>},
    {"lanes", "one producer, one consumer, four priority lanes by flow class (size: per lane)",
     sharing::none, 0, true, false, lanes_queue::max_lane, make_fifo<lanes_queue>},
};

} // namespace

std::span<const edge_kind> edge_kinds() noexcept {
    return kinds;
}

const edge_kind* find_edge_kind(std::string_view name) noexcept {
    for (const auto& k : kinds)
        if (name == k.name) return &k;
    return nullptr;
}

} // namespace pk::pipeline
