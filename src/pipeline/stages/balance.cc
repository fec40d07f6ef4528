// flow_balance: the dispatcher stage over flow::balancer (flow/balancer.hh). This file
// adds what a stage brings: the packet hash, one emit per worker output per burst, and
// the migration handoff over the reactor mesh (split → the old worker, seq ← it).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <memory>
#include <vector>

#include <rte_ip.h>

#include "base/clock.hh"
#include "flow/balancer.hh"
#include "flow/key.hh"
#include "flow/toeplitz.hh"
#include "net/packet.hh"
#include "pipeline/edges.hh"
#include "pipeline/flow_class.hh"
#include "pipeline/stages/builtin.hh"
#include "sched/counters.hh"
#include "sched/reactor.hh"

namespace pk::pipeline::stages {
namespace {

/// flow_balance: spreads flows over its outputs (one per worker) without reordering a
/// flow: hash (the NIC's RSS hash when the mbuf carries one, software Toeplitz
/// otherwise; `symmetric`: both directions of a connection alike) → one of `buckets` buckets → output, through a RETA-like table that the
/// rebalancer rewrites every `interval` (moving buckets from the busiest worker to the
/// idlest, order kept: see flow/balancer.hh). Non-IP packets hash to one bucket.
///
/// The drain marker of a move: the dispatcher sends `split` {marker = packets it has
/// pushed to the old worker's queue} to the old worker's reactor; there, between two
/// rounds' polls, the queue's consumer has taken `taken_from_here()` packets — each one
/// handed through its chain already. Once that reaches the marker, the check goes on
/// downstream: for every FIFO queue the worker's chain feeds (a `sub` merge of the
/// workers, say), the same question with the marker read there and then (what the
/// chain had pushed into it), on that queue's consumer reactor, and so on down the
/// graph (a drain tree built at start, 8 levels at most). When every branch has
/// answered, the last one sends `seq` to the dispatcher, which releases the bucket to
/// the new worker: nothing of the moved flows that the old worker had can be overtaken
/// anywhere below it. A check not yet satisfied puts its split back in its reactor's
/// own mailbox: it is looked at once a round.
class flow_balance final : public stage, private flow::handoff {
public:
    explicit flow_balance(const stage_args& a)
        : stage(a) {
        const node& p = *a.params;
        _symmetric = p.boolean_or("symmetric", false);
        _cfg.buckets = static_cast<std::uint32_t>(p.integer_or("buckets", 1024));
        _cfg.rebalance = p.boolean_or("rebalance", true);
        _interval_ns = static_cast<std::uint64_t>(
            p.duration_or("interval", std::chrono::milliseconds(10)).count());
        _cfg.trigger = p.number_or("trigger", 1.05);
        _cfg.cooldown = static_cast<unsigned>(p.integer_or("cooldown", 8));
        _cfg.max_moves = static_cast<unsigned>(p.integer_or("max_moves", 32));
        _cfg.hold = static_cast<unsigned>(p.integer_or("hold", 1024));
        _use_nic_hash = p.boolean_or("nic_hash", true);
        _r_no_worker = add_reason("no_worker");
        const std::string by = p.string_or("class_by", "none");
        _class_by = by == "dscp" ? class_by::dscp : by == "pcp" ? class_by::pcp : class_by::none;
        _class_of.fill(static_cast<std::uint8_t>(p.integer_or("class_default", flow_class::count - 1)));
        if (const node* c = p.find("classes"); c && c->is_map())
            for (const auto& e : c->entries) { // keys and values: checked by the schema
                node key;
                key.type = node::kind::scalar;
                key.text = e.key;
                auto k = to_integer(key);
                auto v = to_integer(e.value);
                if (k && v && *k >= 0 && *k < static_cast<std::int64_t>(_class_of.size()))
                    _class_of[static_cast<std::size_t>(*k)] = static_cast<std::uint8_t>(*v);
            }
    }

    status start() override {
        _workers.clear();
        _nodes.clear();
        for (unsigned o = 0; o < outputs().size(); ++o) {
            const route& r = route_of(o);
            if (!r.direct && !r.edge) continue;
            drain_node& root = _nodes.emplace_back();
            root.producer = this;
            root.output = o;
            root.reactor = reactor();
            if (r.edge) {
                const edge_source* c = r.edge->consumer_end();
                if (!c && _cfg.rebalance)
                    return make_error(errc::invalid_argument,
                                      "flow_balance '" + name() + "': output '" + outputs()[o] +
                                          "' is a pub edge; moving a bucket needs each worker "
                                          "fed by a FIFO queue (link or sub), or rebalance: off");
                root.sink = r.edge;
                if (c) root.reactor = c->target().reactor();
                if (c) add_children(root, c->target(), 1);
            } else {
                add_children(root, *r.direct, 1);
            }
            _workers.push_back({o, &root});
        }
        if (_workers.empty()) return {};
        if (_class_by != class_by::none && !flow_class::register_field())
            return make_error(errc::dpdk, "flow_balance '" + name() +
                                                   "': cannot register the flow class mbuf field");
        _staged.assign(_workers.size(), staging{});
        _cfg.interval = _cfg.rebalance ? tsc::from_ns(_interval_ns) : 0;
        _bal.configure(_cfg, static_cast<unsigned>(_workers.size()), this);
        _pending = std::make_unique<std::atomic<std::uint64_t>[]>(_cfg.max_migrations);
        for (unsigned i = 0; i < _cfg.max_migrations; ++i)
            _pending[i].store(0, std::memory_order_relaxed);
        return {};
    }
    void bind(sched::reactor& r) noexcept override { _reactor = &r; }

    bool ticks() const noexcept override { return true; } // the rebalancer's interval
    std::uint32_t tick(std::uint64_t now) noexcept override {
        // UINT64_MAX: a flush timer, not a clock. Parked packets are not in sent() yet:
        // a drain marker taken now would let the new worker overtake them.
        if (_workers.empty()) return 0;
        std::uint32_t work = 0;
        for (unsigned w = 0; w < _workers.size(); ++w)
            if (_staged[w].n) {
                work += _staged[w].n;
                flush(w);
            }
        if (now == UINT64_MAX) return work;
        return work + _bal.tick(now, parked() == 0);
    }
    void drain() noexcept override {
        if (_workers.empty()) return;
        flush_all();
        _bal.abort_all(); // held packets back to their old worker
    }
    std::uint64_t held() const noexcept override {
        if (_workers.empty()) return 0;
        std::uint64_t n = _bal.stats().held.load();
        return n + _staged_now.load();
    }

    std::vector<stage_value> extra() const override {
        const auto& s = _bal.stats();
        return {{"buckets", _cfg.buckets, false},
                {"workers", _workers.size(), false},
                {"bucket_moves_total", s.moves.load(), true},
                {"bucket_moves_aborted_total", s.aborted.load(), true},
                {"rebalances_total", s.rebalances.load(), true},
                {"moves_in_flight", s.in_flight.load(), false},
                {"migration_held_packets_total", s.held_total.load(), true},
                {"migration_hold_ns_sum_total", s.hold_ns_sum.load(), true},
                {"migration_hold_ns_max", s.hold_ns_max.load(), false},
                {"elephant_buckets", s.elephants.load(), false},
                {"share_ratio_milli", s.ratio_milli.load(), false},
                {"static_share_ratio_milli", s.static_ratio_milli.load(), false},
                {"settled_share_ratio_milli", s.settled_ratio_milli.load(), false},
                {"imbalances_total", s.imbalances.load(), true},
                {"converge_ns_last", s.converge_ns_last.load(), false},
                {"converge_ns_max", s.converge_ns_max.load(), false}};
    }

protected:
    bool accepts_any_output() const noexcept override { return true; }

    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        if (PK_UNLIKELY(_workers.empty())) {
            drop(_r_no_worker, pkts, n);
            return;
        }
        std::uint64_t used = 0; // bit per worker seen in this burst (workers <= 64)
        for (std::uint16_t i = 0; i < n; ++i) {
            const int w = _bal.route(classify(pkts[i]), pkts[i]);
            if (PK_UNLIKELY(w < 0)) continue; // its bucket is moving: held, in order
            staging& st = _staged[static_cast<unsigned>(w)];
            st.p[st.n++] = pkts[i];
            ++_staged_sum;
            used |= 1ull << w;
        }
        // A worker's packets go on in batches (one queue push, one cache-line handoff
        // of its ring's head, per batch instead of per burst); the rest at the end of
        // the round (tick). Each batch keeps arrival order, so a flow stays in order.
        while (used) {
            const unsigned w = static_cast<unsigned>(__builtin_ctzll(used));
            used &= used - 1;
            if (_staged[w].n >= batch) flush(w);
        }
        _staged_now.set(_staged_sum);
    }

private:
    static constexpr std::uint16_t batch = 32; ///< packets per push to a worker's queue
    struct staging {
        std::uint16_t n = 0;
        rte_mbuf* p[batch + burst_size];
    };
    void flush(unsigned w) noexcept {
        if (!_staged[w].n) return;
        _staged_sum -= _staged[w].n;
        const std::uint16_t n = _staged[w].n;
        _staged[w].n = 0;
        emit(_workers[w].output, _staged[w].p, n);
        _staged_now.set(_staged_sum);
    }
    void flush_all() noexcept {
        for (unsigned w = 0; w < _workers.size(); ++w)
            flush(w);
    }

    /// One FIFO queue a move must see drained: the check runs on `reactor`, where the
    /// queue's consumer has taken `sink->taken_from_here()` of what `producer` pushed on
    /// `output`; then its children (the FIFO queues below that consumer's chain).
    struct drain_node {
        const edge_sink* sink = nullptr; ///< nullptr: a direct call (drained at once)
        const stage* producer = nullptr;
        unsigned output = 0;
        unsigned reactor = 0;
        std::vector<const drain_node*> children;
    };
    struct worker {
        unsigned output;
        const drain_node* root;
    };
    static constexpr unsigned max_drain_depth = 8;

    /// The FIFO queues reached from `s` through direct calls become children of `parent`.
    void add_children(drain_node& parent, const stage& s, unsigned depth) {
        if (depth > max_drain_depth) return;
        for (unsigned o = 0; o < s.outputs().size(); ++o) {
            const route& r = s.route_of(o);
            if (r.direct) {
                add_children(parent, *r.direct, depth + 1);
            } else if (r.edge && r.edge->consumer_end()) {
                const edge_source* c = r.edge->consumer_end();
                drain_node& n = _nodes.emplace_back();
                n.sink = r.edge;
                n.producer = &s;
                n.output = o;
                n.reactor = c->target().reactor();
                parent.children.push_back(&n);
                add_children(n, c->target(), depth + 1);
            } // a pub edge below: each subscriber has its own position (not followed)
        }
    }

    /// Marks the packet's flow class (when `class_by` is set) and returns its hash.
    std::uint32_t classify(rte_mbuf* m) const noexcept {
        const bool nic = _use_nic_hash && (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH);
        if (_class_by == class_by::none) return nic ? m->hash.rss : hash_of(m, net::parse(m));
        const net::parsed p = net::parse(m);
        flow_class::set(m, _class_of[class_key(m, p)]);
        return nic ? m->hash.rss : hash_of(m, p);
    }
    /// The DSCP (0..63) or the outer VLAN PCP (0..7) of the packet; 0 when it has none.
    unsigned class_key(const rte_mbuf* m, const net::parsed& p) const noexcept {
        if (_class_by == class_by::pcp) return p.vlan_count ? p.vlan_tci[0] >> 13 : 0;
        if (!p.ok()) return 0;
        const auto* ip = rte_pktmbuf_mtod(m, const std::uint8_t*) + p.l3_off;
        if (p.l3 == net::l3_type::ipv4) return ip[1] >> 2;
        if (p.l3 == net::l3_type::ipv6) return ((ip[0] & 0x0f) << 2) | (ip[1] >> 6);
        return 0;
    }
    /// The hash flow_balance uses for a packet parsed as `p`.
    std::uint32_t hash_of(const rte_mbuf* m, const net::parsed& p) const noexcept {
        flow::flow_key key;
        if (!flow::make_key(rte_pktmbuf_mtod(m, const std::uint8_t*), p, key)) return 0;
        const bool ports = key.proto == IPPROTO_TCP || key.proto == IPPROTO_UDP;
        // Symmetric: the key with its endpoints ordered, under the default RSS key. (The
        // symmetric RSS key, for NICs, hashes only the XOR of the tuple's 16-bit words:
        // flows whose address and port move together collide.)
        return flow::rss_hash(_symmetric ? key.symmetric() : key, _hasher, ports);
    }

    // ---- flow::handoff (dispatcher reactor) ---------------------------------------------
    std::uint64_t sent(unsigned w) noexcept override {
        flush(w); // what is staged goes in first
        return counters().out[_workers[w].output].load();
    }
    flow::handoff::drain request_drain(unsigned from, std::uint64_t marker,
                                       std::uint64_t token) noexcept override {
        const drain_node& root = *_workers[from].root;
        // Parked packets are not in the queue yet: the new worker could overtake them.
        if (parked() != 0) return flow::handoff::drain::refused;
        if (root.sink) marker = root.sink->drain_mark(marker);
        if (!root.sink && root.children.empty()) return flow::handoff::drain::done;
        if (!_reactor) return flow::handoff::drain::refused;
        const std::uint64_t slot = token & 0xffff, gen = token >> 16;
        _pending[slot].store(gen << 32 | 1, std::memory_order_relaxed); // one open branch
        return post_split(*_reactor, root, marker, token) ? flow::handoff::drain::pending
                                                          : flow::handoff::drain::refused;
    }
    bool post_split(sched::reactor& from, const drain_node& n, std::uint64_t marker,
                    std::uint64_t token) noexcept {
        sched::message m;
        m.kind = sched::msg_kind::split;
        m.fn = &on_split;
        m.ptr = this;
        m.a[0] = marker;
        m.a[1] = token;
        m.a[2] = reinterpret_cast<std::uintptr_t>(&n);
        m.a[3] = _reactor->index();
        return from.post(n.reactor, m);
    }
    /// Adds `d` open branches to the move's count (0 when the move is no longer `gen`);
    /// returns the count after.
    std::uint64_t add_branches(std::uint64_t token, std::int64_t d) noexcept {
        const std::uint64_t slot = token & 0xffff, gen = token >> 16;
        std::uint64_t v = _pending[slot].load(std::memory_order_acquire);
        for (;;) {
            if (v >> 32 != gen) return 0; // cancelled and reused: a stale branch
            const std::uint64_t nv = (v & ~0xffffffffull) |
                                     static_cast<std::uint32_t>(static_cast<std::int64_t>(v & 0xffffffff) + d);
            if (_pending[slot].compare_exchange_weak(v, nv, std::memory_order_acq_rel)) return nv & 0xffffffff;
        }
    }
    std::uint16_t deliver(unsigned w, rte_mbuf** pkts, std::uint16_t n,
                          bool force) noexcept override {
        if (force) {
            emit(_workers[w].output, pkts, n);
            return n;
        }
        return offer(_workers[w].output, pkts, n);
    }

    /// On a drain node's reactor: has its consumer taken everything up to the marker?
    /// Then the same below it, or, at a leaf, one branch less; the last branch answers.
    static void on_split(sched::reactor& r, const sched::message& m) noexcept {
        auto* self = static_cast<flow_balance*>(m.ptr);
        const auto* n = reinterpret_cast<const drain_node*>(m.a[2]);
        bool ready = !n->sink || n->sink->drained(m.a[0]);
        for (const drain_node* c : n->children) // parked below: not in the queue yet
            ready = ready && c->producer->parked() == 0;
        if (!ready) {
            (void)r.post(r.index(), m); // not yet: look again next round
            return;
        }
        const std::uint64_t token = m.a[1];
        if (!n->children.empty()) {
            if (self->add_branches(token, static_cast<std::int64_t>(n->children.size()) - 1) == 0)
                return; // the move was cancelled
            // The markers below: what this reactor's chain has pushed into each queue by
            // now (its own counters, exact here).
            for (const drain_node* c : n->children)
                if (!self->post_split(r, *c, c->sink->drain_mark(c->producer->counters().out[c->output].load()), token))
                    (void)self->add_branches(token, -1); // stopping: that branch is moot
            return;
        }
        if (self->add_branches(token, -1) != 0) return; // other branches still open
        sched::message done;
        done.kind = sched::msg_kind::seq;
        done.fn = &on_seq;
        done.ptr = m.ptr;
        done.a[0] = token;
        (void)r.post(static_cast<unsigned>(m.a[3]), done); // refused only when stopping
    }
    /// On the dispatcher's reactor: the old stream is closed.
    static void on_seq(sched::reactor&, const sched::message& m) noexcept {
        static_cast<flow_balance*>(m.ptr)->_bal.drained(m.a[0], tsc::now());
    }

    flow::toeplitz_hasher _hasher; // the default RSS key
    flow::balancer_config _cfg;
    std::uint64_t _interval_ns = 0;
    bool _symmetric, _use_nic_hash;
    enum class class_by : std::uint8_t { none, dscp, pcp } _class_by;
    std::array<std::uint8_t, 64> _class_of{}; ///< DSCP or PCP → flow class
    unsigned _r_no_worker;
    std::vector<worker> _workers;
    std::deque<drain_node> _nodes;    ///< the drain trees (stable addresses)
    std::unique_ptr<std::atomic<std::uint64_t>[]> _pending; ///< per move slot: gen << 32 | branches
    std::vector<staging> _staged;     ///< per worker
    std::uint64_t _staged_sum = 0;    ///< packets in _staged
    sched::counter _staged_now;       ///< the same, for held() on any thread
    sched::reactor* _reactor = nullptr;
    flow::balancer _bal;
};

} // namespace

void register_balance(registry& r) {
    stage_schema bs;
    bs.params = {p_int("buckets", 1, 65536),
                 p_of("symmetric", param_type::boolean),
                 p_of("nic_hash", param_type::boolean),
                 p_of("rebalance", param_type::boolean),
                 p_of("interval", param_type::duration),
                 p_num("trigger", 1, 10),
                 p_int("cooldown", 0, 1000000),
                 p_int("max_moves", 1, 65536),
                 p_int("hold", 1, 1 << 20),
                 p_choice("class_by", {"none", "dscp", "pcp"}),
                 p_of("classes", param_type::map),
                 p_int("class_default", 0, flow_class::count - 1)};
    bs.roles = {role::balancer};
    bs.check = [](const node& params, const param_error& error) {
        const node* b = params.find("buckets");
        auto v = b ? to_integer(*b) : std::nullopt;
        if (v && (*v & (*v - 1)) != 0)
            error(b->at, "buckets must be a power of two, got " + std::to_string(*v));
        const node* i = params.find("interval");
        auto d = i ? to_duration(*i) : std::nullopt;
        if (d && d->count() <= 0) error(i->at, "interval must be above 0");
        const std::string by = params.string_or("class_by", "none");
        const int64_t keys = by == "pcp" ? 8 : 64;
        if (const node* c = params.find("classes"); c && c->is_map())
            for (const auto& e : c->entries) {
                node key;
                key.type = node::kind::scalar;
                key.text = e.key;
                auto k = to_integer(key);
                if (!k || *k < 0 || *k >= keys)
                    error(e.key_at, "classes: '" + e.key + "' is not a " +
                                        (by == "pcp" ? "VLAN PCP (0..7)" : "DSCP (0..63)"));
                auto v = to_integer(e.value);
                if (!v || *v < 0 || *v >= flow_class::count)
                    error(e.value.at, "classes: the class of " + e.key + " must be 0..3 (a lane of a lanes edge, 0 the highest)");
            }
    };
    r.add({"flow_balance", make_factory<flow_balance>(), bs,
           "spreads flows over its outputs by hash bucket and rebalances hot buckets, keeping "
           "each flow in order"});
}

} // namespace pk::pipeline::stages
