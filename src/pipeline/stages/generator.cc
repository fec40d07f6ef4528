// generator: synthetic traffic for pipelines that have no NIC (and for the perf harness).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "base/clock.hh"
#include "pipeline/graph.hh"
#include "pipeline/latency.hh"
#include "pipeline/stages/builtin.hh"

namespace pk::pipeline::stages {
namespace {

/// xorshift64*: fast, good enough for traffic shapes, deterministic per seed.
struct rng {
    std::uint64_t s;
    std::uint64_t next() noexcept {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

/// generator: N flows (IPv4/IPv6, UDP/TCP), a packet size or a size mix, flow
/// popularity uniform or Zipf(s), at `rate_pps` (0: as fast as the pool allows). A load
/// shift: every `shift_every` packets the popularity ranks rotate by `shift_by` flows
/// (a different set of flows becomes popular; each flow keeps its own sequence). Every
/// payload starts with the flow id (u32) and that flow's sequence number (u64), both
/// big-endian, so any capture can be checked for order and loss. `dscp`: a list; flow f
/// carries DSCP dscp[f % length] (traffic classes for priority lanes).
class generator final : public stage {
public:
    explicit generator(const stage_args& a) : stage(a) {
        const node& p = *a.params;
        _flows = static_cast<std::uint32_t>(p.integer_or("flows", 1024));
        auto fam = p.string_or("family", "ipv4");
        _family_mode = fam == "ipv6" ? 6 : fam == "mix" ? 0 : 4;
        auto proto = p.string_or("proto", "udp");
        _proto_mode = proto == "tcp" ? IPPROTO_TCP : proto == "mix" ? 0 : IPPROTO_UDP;
        _rate = p.number_or("rate_pps", 0);
        _limit = static_cast<std::uint64_t>(p.integer_or("count", 0));
        _burst = static_cast<std::uint16_t>(p.integer_or("burst", 32));
        _mbufs = static_cast<unsigned>(p.integer_or("mbufs", 16383));
        _rng.s = static_cast<std::uint64_t>(p.integer_or("seed", 1)) * 0x9E3779B97F4A7C15ull | 1;
        if (auto* sizes = p.find("sizes"); sizes && sizes->is_sequence()) {
            for (auto& it : sizes->items) {
                auto v = to_integer(it); // in range: checked by the schema (check_sizes)
                if (v && *v >= 60 && *v <= max_size)
                    _sizes.push_back(static_cast<std::uint16_t>(*v));
            }
        } else if (p.string_or("sizes", "") == "imix") {
            // Simple IMIX: 7 x 64, 4 x 570, 1 x 1518 (frame sizes incl. FCS).
            for (int i = 0; i < 7; ++i)
                _sizes.push_back(60);
            for (int i = 0; i < 4; ++i)
                _sizes.push_back(566);
            _sizes.push_back(1514);
        }
        if (_sizes.empty()) _sizes.push_back(static_cast<std::uint16_t>(p.integer_or("size", 60)));
        if (p.string_or("popularity", "uniform") == "zipf") {
            double s = p.number_or("zipf_s", 1.0);
            _cdf.resize(_flows);
            double sum = 0;
            for (std::uint32_t k = 0; k < _flows; ++k)
                sum += 1.0 / std::pow(k + 1.0, s);
            double acc = 0;
            for (std::uint32_t k = 0; k < _flows; ++k) {
                acc += 1.0 / std::pow(k + 1.0, s) / sum;
                _cdf[k] = acc;
            }
            _cdf.back() = 1.0;
        }
        if (auto* ds = p.find("dscp"); ds && ds->is_sequence())
            for (auto& it : ds->items) // 0..63: checked by the schema
                if (auto v = to_integer(it)) _dscp.push_back(static_cast<std::uint8_t>(*v));
        _seq.assign(_flows, 0);
        _shift_every = static_cast<std::uint64_t>(p.integer_or("shift_every", 0));
        _shift_by = static_cast<std::uint32_t>(p.integer_or("shift_by", _flows / 3 + 1) % _flows);
        _next_shift = _shift_every;
    }

    status start() override {
        auto mp = owner()->mempool(static_cast<int>(rte_socket_id()), _mbufs);
        if (!mp) return mp.err();
        _pool = *mp;
        (void)latency::register_field();
        _last = tsc::now();
        _per_cycle = _rate / static_cast<double>(tsc::hz());
        _depth = std::max(static_cast<double>(_burst), _rate / 1000.0);
        return {};
    }

    std::uint32_t poll() noexcept override {
        if (quiesced()) return 0;
        std::uint16_t n = _burst;
        if (_limit) {
            if (_made >= _limit) return 0;
            n = static_cast<std::uint16_t>(std::min<std::uint64_t>(n, _limit - _made));
        }
        if (_rate > 0) {
            std::uint64_t now = tsc::now();
            // Credit up to 1 ms of traffic: a reactor that was descheduled (several
            // reactors sharing a CPU) catches up in bursts instead of losing its rate.
            _tokens = std::min(_tokens + static_cast<double>(now - _last) * _per_cycle, _depth);
            _last = now;
            if (_tokens < 1.0) return 0;
            n = static_cast<std::uint16_t>(std::min<double>(n, _tokens));
            _tokens -= n;
        }
        rte_mbuf* pkts[burst_size];
        if (rte_pktmbuf_alloc_bulk(_pool, pkts, n) != 0) {
            _nombuf.add(n); // not created: nothing to account for, but visible
            return 0;
        }
        for (std::uint16_t i = 0; i < n; ++i) {
            if (PK_UNLIKELY(_shift_every && _made + i == _next_shift)) {
                _offset = (_offset + _shift_by) % _flows;
                _next_shift += _shift_every;
                _shifts.add();
            }
            fill(pkts[i], (pick_flow() + _offset) % _flows);
        }
        latency::stamp(pkts, n, tsc::now());
        _made += n;
        count_produced(n);
        emit(0, pkts, n);
        return n;
    }

    std::vector<stage_value> extra() const override {
        return {{"nombuf_total", _nombuf.load(), true},
                {"flows", _flows, false},
                {"load_shifts_total", _shifts.load(), true}};
    }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override { emit(0, pkts, n); }

public:
    static constexpr std::int64_t max_size = RTE_MBUF_DEFAULT_DATAROOM; ///< one segment

private:
    /// Headers plus the 12-byte flow id + sequence: smaller sizes are raised to this.
    static std::uint16_t min_size(int family, std::uint8_t proto) noexcept {
        return static_cast<std::uint16_t>(
            sizeof(rte_ether_hdr) + (family == 6 ? sizeof(rte_ipv6_hdr) : sizeof(rte_ipv4_hdr)) +
            (proto == IPPROTO_TCP ? sizeof(rte_tcp_hdr) : sizeof(rte_udp_hdr)) + 12);
    }

    std::uint32_t pick_flow() noexcept {
        if (_cdf.empty()) return static_cast<std::uint32_t>(_rng.next() % _flows);
        double u = _rng.unit();
        return static_cast<std::uint32_t>(std::lower_bound(_cdf.begin(), _cdf.end(), u) -
                                          _cdf.begin());
    }

    /// Flow f's DSCP: dscp[f % the list's length] (none given: 0).
    std::uint8_t dscp_of(std::uint32_t flow) const noexcept {
        return _dscp.empty() ? 0 : _dscp[flow % _dscp.size()];
    }
    void fill(rte_mbuf* m, std::uint32_t flow) noexcept {
        int family = _family_mode ? _family_mode : (flow & 1 ? 6 : 4);
        const int mixed = (flow >> 1) & 1 ? int{IPPROTO_TCP} : int{IPPROTO_UDP};
        const auto proto = static_cast<std::uint8_t>(_proto_mode ? _proto_mode : mixed);
        std::uint16_t size = _sizes.size() == 1 ? _sizes[0] : _sizes[_rng.next() % _sizes.size()];
        size = std::max(size, min_size(family, proto));

        auto* d = rte_pktmbuf_mtod(m, std::uint8_t*);
        auto* eth = reinterpret_cast<rte_ether_hdr*>(d);
        static constexpr rte_ether_addr src{{0x02, 0, 0, 0, 0, 0x01}},
            dst{{0x02, 0, 0, 0, 0, 0x02}};
        eth->src_addr = src;
        eth->dst_addr = dst;
        std::uint16_t l3 = sizeof(rte_ether_hdr);
        std::uint16_t l4_len = proto == IPPROTO_TCP ? sizeof(rte_tcp_hdr) : sizeof(rte_udp_hdr);
        std::uint16_t ip_len = family == 6 ? sizeof(rte_ipv6_hdr) : sizeof(rte_ipv4_hdr);
        std::uint16_t l4 = static_cast<std::uint16_t>(l3 + ip_len);
        std::uint16_t payload = static_cast<std::uint16_t>(size - l4 - l4_len);
        std::uint8_t* pl = d + l4 + l4_len;

        std::uint32_t fid = rte_cpu_to_be_32(flow);
        std::uint64_t seq = rte_cpu_to_be_64(_seq[flow]++);
        std::memcpy(pl, &fid, 4);
        std::memcpy(pl + 4, &seq, 8);
        if (payload > 12) std::memset(pl + 12, 0, payload - 12u);

        std::uint16_t sport = static_cast<std::uint16_t>(1024 + flow % 60000);
        std::uint16_t dport = static_cast<std::uint16_t>(5000 + flow / 60000);
        void* iph = d + l3;
        if (family == 4) {
            eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
            auto* ip = static_cast<rte_ipv4_hdr*>(iph);
            ip->version_ihl = RTE_IPV4_VHL_DEF;
            ip->type_of_service = static_cast<std::uint8_t>(dscp_of(flow) << 2);
            ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(size - l3));
            ip->packet_id = 0;
            ip->fragment_offset = 0;
            ip->time_to_live = 64;
            ip->next_proto_id = proto;
            ip->src_addr = rte_cpu_to_be_32(0x0a000000u + (flow & 0x00ffffffu)); // 10.x.y.z
            ip->dst_addr = rte_cpu_to_be_32(0xc0a80001u);                        // 192.168.0.1
            ip->hdr_checksum = 0;
            ip->hdr_checksum = rte_ipv4_cksum(ip);
        } else {
            eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
            auto* ip = static_cast<rte_ipv6_hdr*>(iph);
            ip->vtc_flow = rte_cpu_to_be_32(6u << 28 | std::uint32_t{dscp_of(flow)} << 22);
            ip->payload_len = rte_cpu_to_be_16(static_cast<std::uint16_t>(size - l4));
            ip->proto = proto;
            ip->hop_limits = 64;
            std::memset(ip->src_addr, 0, 16);
            std::memset(ip->dst_addr, 0, 16);
            ip->src_addr[0] = 0xfd; // fd00::<flow>
            std::uint32_t f = rte_cpu_to_be_32(flow);
            std::memcpy(ip->src_addr + 12, &f, 4);
            ip->dst_addr[0] = 0xfd;
            ip->dst_addr[1] = 0x01; // fd01::1
            ip->dst_addr[15] = 1;
        }
        if (proto == IPPROTO_UDP) {
            auto* udp = reinterpret_cast<rte_udp_hdr*>(d + l4);
            udp->src_port = rte_cpu_to_be_16(sport);
            udp->dst_port = rte_cpu_to_be_16(dport);
            udp->dgram_len = rte_cpu_to_be_16(static_cast<std::uint16_t>(l4_len + payload));
            udp->dgram_cksum = 0;
            if (family == 6)
                udp->dgram_cksum = rte_ipv6_udptcp_cksum(static_cast<rte_ipv6_hdr*>(iph), udp);
        } else {
            auto* tcp = reinterpret_cast<rte_tcp_hdr*>(d + l4);
            std::memset(tcp, 0, sizeof *tcp);
            tcp->src_port = rte_cpu_to_be_16(sport);
            tcp->dst_port = rte_cpu_to_be_16(dport);
            tcp->sent_seq = rte_cpu_to_be_32(static_cast<std::uint32_t>(_seq[flow]));
            tcp->data_off = (sizeof(rte_tcp_hdr) / 4) << 4;
            tcp->tcp_flags = RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG;
            tcp->rx_win = rte_cpu_to_be_16(65535);
            tcp->cksum = family == 4 ? rte_ipv4_udptcp_cksum(static_cast<rte_ipv4_hdr*>(iph), tcp)
                                     : rte_ipv6_udptcp_cksum(static_cast<rte_ipv6_hdr*>(iph), tcp);
        }
        m->data_len = m->pkt_len = size;
    }

    std::uint32_t _flows;
    int _family_mode, _proto_mode;
    double _rate, _per_cycle = 0, _tokens = 0, _depth = 0;
    std::uint64_t _limit, _made = 0, _last = 0;
    std::uint16_t _burst;
    unsigned _mbufs;
    rng _rng{};
    std::vector<std::uint16_t> _sizes;
    std::vector<double> _cdf;
    std::vector<std::uint64_t> _seq;
    std::uint64_t _shift_every = 0, _next_shift = 0;
    std::uint32_t _shift_by = 0, _offset = 0;
    rte_mempool* _pool = nullptr;
    std::vector<std::uint8_t> _dscp;
    sched::counter _nombuf, _shifts;
};

} // namespace

void register_generator(registry& r) {
    stage_schema s;
    s.params = {p_int("flows", 1, 1 << 24),
                p_choice("family", {"ipv4", "ipv6", "mix"}),
                p_choice("proto", {"udp", "tcp", "mix"}),
                p_num("rate_pps", 0, INT64_MAX),
                p_int("count", 0, INT64_MAX),
                p_int("burst", 1, burst_size),
                p_int("size", 60, RTE_MBUF_DEFAULT_DATAROOM),
                p_of("sizes", param_type::any),
                p_choice("popularity", {"uniform", "zipf"}),
                p_num("zipf_s", 0, 10),
                p_int("seed", 0, INT64_MAX),
                p_int("mbufs", 1023, 1 << 22),
                p_int("shift_every", 0, INT64_MAX),
                p_int("shift_by", 0, 1 << 24),
                p_of("dscp", param_type::list)};
    s.accepts_input = false;
    s.outputs = {"out"};
    s.roles = {role::source};
    s.check = [](const node& params, const param_error& error) {
        if (const node* ds = params.find("dscp"); ds && ds->is_sequence()) {
            if (ds->items.empty()) error(ds->at, "'dscp' must list at least one DSCP (0..63)");
            for (const auto& it : ds->items)
                if (auto v = to_integer(it); !v || *v < 0 || *v > 63)
                    error(it.at, "DSCP '" + it.text + "' in dscp is out of range (0..63)");
        }
        const node* sizes = params.find("sizes");
        if (!sizes) return;
        if (sizes->is_scalar() && sizes->text == "imix") return;
        if (!sizes->is_sequence() || sizes->items.empty()) {
            error(sizes->at, "'sizes' must be a list of packet sizes or 'imix'");
            return;
        }
        for (const auto& it : sizes->items) {
            auto v = to_integer(it);
            if (!v || *v < 60 || *v > generator::max_size)
                error(it.at, "packet size '" + it.text +
                                 "' in sizes is out of range (an integer in [60, " +
                                 std::to_string(generator::max_size) + "])");
        }
    };
    s.pool_mbufs = [](const node& params) -> std::uint64_t {
        return static_cast<std::uint64_t>(params.integer_or("mbufs", 16383));
    };
    r.add({"generator", make_factory<generator>(), s,
           "synthetic flows (IPv4/IPv6, UDP/TCP, size mix, uniform or Zipf) with flow id + "
           "sequence in every payload"});
}

} // namespace pk::pipeline::stages
