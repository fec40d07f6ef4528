// macswap, count, drop, rate_limit, publish, subscribe.
#include <rte_ether.h>

#include "base/clock.hh"
#include "net/packet.hh"
#include "pipeline/stages/builtin.hh"

namespace pk::pipeline::stages {
namespace {

/// macswap: swaps source and destination MAC in place (testpmd's macswap).
class macswap final : public stage {
public:
    explicit macswap(const stage_args& a) : stage(a) { _short = add_reason("truncated"); }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        std::uint16_t k = 0;
        for (std::uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            if (PK_UNLIKELY(m->data_len < sizeof(rte_ether_hdr))) {
                drop_one(_short, m);
                continue;
            }
            net::swap_macs(rte_pktmbuf_mtod(m, void*));
            pkts[k++] = m;
        }
        emit(0, pkts, k);
    }

private:
    unsigned _short;
};

/// count: counts packets and bytes, then passes them on.
class count final : public stage {
public:
    explicit count(const stage_args& a) : stage(a) {}
    std::vector<stage_value> extra() const override {
        return {{"bytes_total", _bytes.load(), true}};
    }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        std::uint64_t b = 0;
        for (std::uint16_t i = 0; i < n; ++i)
            b += pkts[i]->pkt_len;
        _bytes.add(b);
        emit(0, pkts, n);
    }

private:
    sched::counter _bytes;
};

/// drop: a sink; frees every packet, counted under `reason` (default "sink").
class drop_stage final : public stage {
public:
    explicit drop_stage(const stage_args& a) : stage(a) {
        _reason = add_reason(a.params->string_or("reason", "sink"));
    }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override { drop(_reason, pkts, n); }

private:
    unsigned _reason;
};

/// rate_limit: a token bucket in packets/s (`pps`) or bits/s (`bps`) with depth
/// `burst` (packets, or bytes for bps). Conforming packets go to "out"; the rest to
/// "exceed" when connected, otherwise they are dropped as rate_exceeded.
class rate_limit final : public stage {
public:
    explicit rate_limit(const stage_args& a) : stage(a) {
        _exceed = add_output("exceed");
        _r_exceeded = add_reason("rate_exceeded");
        double pps = a.params->number_or("pps", 0);
        double bps = a.params->number_or("bps", 0);
        _bytes_mode = bps > 0;
        double rate = _bytes_mode ? bps / 8.0 : pps; // tokens per second
        double depth = a.params->number_or("burst", _bytes_mode ? 64 * 1024 : 64);
        // Fixed point: tokens scaled by 2^16 so sub-token refills per cycle accumulate.
        _per_cycle = rate * 65536.0 / static_cast<double>(tsc::hz());
        _depth = static_cast<std::uint64_t>(depth * 65536.0);
        _tokens = _depth;
        _last = tsc::now();
    }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        refill(tsc::now());
        rte_mbuf* pass[burst_size];
        rte_mbuf* over[burst_size];
        std::uint16_t np = 0, no = 0;
        for (std::uint16_t i = 0; i < n; ++i) {
            std::uint64_t cost = (_bytes_mode ? pkts[i]->pkt_len : 1u) * 65536ull;
            if (_tokens >= cost) {
                _tokens -= cost;
                pass[np++] = pkts[i];
            } else {
                over[no++] = pkts[i];
            }
        }
        emit(0, pass, np);
        emit_or_drop(_exceed, _r_exceeded, over, no);
    }

private:
    void refill(std::uint64_t now) noexcept {
        double add = static_cast<double>(now - _last) * _per_cycle;
        _last = now;
        if (add >= static_cast<double>(_depth - _tokens)) { // also keeps the cast in range
            _tokens = _depth;
            return;
        }
        _tokens += static_cast<std::uint64_t>(add);
    }
    unsigned _exceed, _r_exceeded;
    bool _bytes_mode;
    double _per_cycle;
    std::uint64_t _depth, _tokens, _last;
};

/// publish: hands packets to a broadcast (pub) edge: every subscriber sees every packet
/// in place; the ring frees each packet once, when the last subscriber has passed it.
class publish final : public stage {
public:
    explicit publish(const stage_args& a) : stage(a) {}

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override { emit(0, pkts, n); }
};

/// subscribe: the receiving end of a pub edge. Each packet it passes on carries its own
/// reference (taken by the edge), so downstream stages own what they receive.
class subscribe final : public stage {
public:
    explicit subscribe(const stage_args& a) : stage(a) {}

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override { emit(0, pkts, n); }
};

stage_schema schema_of(std::vector<param_spec> params, std::vector<std::string> outputs = {"out"},
                       bool input = true, bool outs = true, role_set roles = {}) {
    stage_schema s;
    s.params = std::move(params);
    s.outputs = std::move(outputs);
    s.accepts_input = input;
    s.has_outputs = outs;
    s.roles = roles;
    return s;
}

} // namespace

void register_basic(registry& r) {
    r.add({"macswap", make_factory<macswap>(),
           schema_of({}, {"out"}, true, true, {role::writes_packets}),
           "swaps source and destination MAC addresses in place"});
    r.add({"count", make_factory<count>(), schema_of({}, {"out"}, true, true, {role::observer}),
           "counts packets and bytes, passes them on"});
    r.add({"drop", make_factory<drop_stage>(),
           schema_of({p_of("reason", param_type::string)}, {}, true, false,
                     {role::sink, role::observer}),
           "frees every packet, counted as a drop with a reason (default sink)"});
    r.add({"rate_limit", make_factory<rate_limit>(),
           schema_of({p_num("pps", 0, 1'000'000'000'000), p_num("bps", 0, 1'000'000'000'000'000),
                      p_num("burst", 1, 1'000'000'000'000)}, // x 2^16 fixed point fits u64
                     {"out", "exceed"}, true, true, {role::observer}),
           "token bucket in packets/s or bits/s; excess to 'exceed' or dropped"});
    r.add({"publish", make_factory<publish>(), schema_of({}),
           "zero-copy fan-out: connect its output to subscribe stages with queue: pub"});
    r.add({"subscribe", make_factory<subscribe>(),
           schema_of({}, {"out"}, true, true, {role::observer}),
           "receiving end of a pub edge: one cursor of the broadcast ring"});
}

} // namespace pk::pipeline::stages
