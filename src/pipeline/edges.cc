#include "pipeline/edges.hh"

#include <cstring>
#include <vector>

#include "base/compiler.hh"
#include "queue/link.hh"
#include "queue/mpsc.hh"
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
     sharing::none, 0, false, false, make_fifo<link_queue>},
    {"sub", "many producers into one stage: one queue, an SPSC lane per producer",
     sharing::by_target, 64, true, false, make_fifo<sub_queue>},
    {"pub", "zero-copy broadcast: every subscriber reads every packet of one ring",
     sharing::by_output, max_subscribers, true, true, make_pub},
    {"channel", "a (tx, rx) pair: the same queue as link", sharing::none, 0, false, false,
     make_fifo<link_queue>},
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
