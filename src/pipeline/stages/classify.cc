// parse, filter, udp_echo: stages that look into headers.
#include <arpa/inet.h>
#include <cstring>
#include <vector>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "flow/key.hh"
#include "net/packet.hh"
#include "pipeline/flow_class.hh"
#include "pipeline/stages/builtin.hh"

namespace pk::pipeline::stages {
namespace {

/// parse: checks every header and records the offsets in the mbuf (l2/l3/l4_len,
/// packet_type); malformed packets are dropped with the parser's reason.
class parse_stage final : public stage {
public:
    explicit parse_stage(const stage_args& a) : stage(a) {
        for (unsigned r = 1; r < net::reason_count; ++r)
            _reason[r] = add_reason(net::to_string(static_cast<net::reason>(r)));
        _drop_non_ip = a.params->boolean_or("drop_non_ip", false);
        _r_non_ip = add_reason("non_ip");
    }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        std::uint16_t k = 0;
        for (std::uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            net::parsed p = net::parse(m);
            if (PK_UNLIKELY(!p.ok())) {
                drop_one(_reason[static_cast<unsigned>(p.why)], m);
                continue;
            }
            if (_drop_non_ip && p.l3 != net::l3_type::ipv4 && p.l3 != net::l3_type::ipv6) {
                drop_one(_r_non_ip, m);
                continue;
            }
            net::set_offload_lengths(m, p);
            pkts[k++] = m;
        }
        emit(0, pkts, k);
    }

private:
    std::array<unsigned, net::reason_count> _reason{};
    bool _drop_non_ip;
    unsigned _r_non_ip;
};

struct prefix {
    std::uint8_t family = 0; ///< 0: any
    std::uint8_t bits = 0;
    std::array<std::uint8_t, 16> addr{};

    bool match(const std::array<std::uint8_t, 16>& a, std::uint8_t fam) const noexcept {
        if (family == 0) return true;
        if (fam != family) return false;
        unsigned full = bits / 8, rest = bits % 8;
        if (std::memcmp(a.data(), addr.data(), full) != 0) return false;
        if (rest == 0) return true;
        std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
        return (a[full] & mask) == (addr[full] & mask);
    }
};

/// "10.0.0.0/8", "2001:db8::/32", "192.168.1.1" (a host). False on bad syntax.
bool parse_prefix(const std::string& s, prefix& p) {
    auto slash = s.find('/');
    std::string a = s.substr(0, slash);
    if (inet_pton(AF_INET, a.c_str(), p.addr.data()) == 1) {
        p.family = 4;
        p.bits = 32;
    } else if (inet_pton(AF_INET6, a.c_str(), p.addr.data()) == 1) {
        p.family = 6;
        p.bits = 128;
    } else {
        return false;
    }
    if (slash != std::string::npos) {
        char* end = nullptr;
        long b = std::strtol(s.c_str() + slash + 1, &end, 10);
        if (*end != '\0' || b < 0 || b > p.bits) return false;
        p.bits = static_cast<std::uint8_t>(b);
    }
    return true;
}

struct port_range {
    std::uint16_t lo = 0, hi = 65535;
    bool match(std::uint16_t v) const noexcept { return v >= lo && v <= hi; }
};

/// "53" or "1000-2000". False on bad syntax.
bool parse_range(const std::string& s, port_range& r) {
    unsigned a = 0, b = 0;
    char tail = 0;
    if (std::sscanf(s.c_str(), "%u-%u%c", &a, &b, &tail) == 2 && a <= b && b <= 65535) {
        r = {static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(b)};
        return true;
    }
    if (std::sscanf(s.c_str(), "%u%c", &a, &tail) == 1 && a <= 65535) {
        r = {static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(a)};
        return true;
    }
    return false;
}

/// Base of the parse-then-decide stages (filter, udp_echo): malformed packets are
/// dropped as `malformed`; Derived::pick(m, parsed) says whether a packet goes to "out"
/// (it may rewrite it first) or to "miss" — dropped under `miss_reason` when no edge
/// leaves "miss". Order is kept within each output.
template <typename Derived>
class hit_or_miss : public stage {
protected:
    hit_or_miss(const stage_args& a, const char* miss_reason) : stage(a) {
        _miss = add_output("miss");
        _r_miss = add_reason(miss_reason);
        _r_malformed = add_reason("malformed");
    }

    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        rte_mbuf* hit[burst_size];
        rte_mbuf* miss[burst_size];
        std::uint16_t nh = 0, nm = 0;
        for (std::uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            net::parsed p = net::parse(m);
            if (PK_UNLIKELY(!p.ok()))
                drop_one(_r_malformed, m);
            else if (static_cast<Derived*>(this)->pick(m, p))
                hit[nh++] = m;
            else
                miss[nm++] = m;
        }
        emit(0, hit, nh);
        emit_or_drop(_miss, _r_miss, miss, nm);
    }

private:
    unsigned _miss, _r_miss, _r_malformed;
};

/// filter: packets matching every given field (proto, src/dst prefix, src/dst port
/// range, vlan) go to "out", the others to "miss" when connected, else they are dropped
/// as `filtered`. `invert: true` swaps the two.
class filter final : public hit_or_miss<filter> {
public:
    explicit filter(const stage_args& a) : hit_or_miss(a, "filtered") {
        _invert = a.params->boolean_or("invert", false);
        auto proto = a.params->string_or("proto", "any");
        _proto = proto == "udp"      ? IPPROTO_UDP
                 : proto == "tcp"    ? IPPROTO_TCP
                 : proto == "icmp"   ? IPPROTO_ICMP
                 : proto == "icmpv6" ? IPPROTO_ICMPV6
                                     : -1;
        auto src = a.params->string_or("src", ""), dst = a.params->string_or("dst", "");
        if (!src.empty()) parse_prefix(src, _src); // checked by the schema (check_filter)
        if (!dst.empty()) parse_prefix(dst, _dst);
        auto sp = a.params->string_or("src_port", ""), dp = a.params->string_or("dst_port", "");
        if (!sp.empty()) parse_range(sp, _sport);
        if (!dp.empty()) parse_range(dp, _dport);
        _vlan = static_cast<int>(a.params->integer_or("vlan", -1));
        _class = static_cast<int>(a.params->integer_or("class", -1));
        if (_class >= 0) (void)flow_class::register_field();
    }

    /// A hit with `class` set takes that flow class (its lane on a `lanes` edge).
    bool pick(rte_mbuf* m, const net::parsed& p) const noexcept {
        const bool hit = matches(m, p) != _invert;
        if (hit && _class >= 0) flow_class::set(m, static_cast<std::uint8_t>(_class));
        return hit;
    }

private:
    bool matches(const rte_mbuf* m, const net::parsed& p) const noexcept {
        if (_vlan >= 0 && p.vlan_id() != _vlan) return false;
        if (_proto >= 0 && p.ip_proto != _proto) return false;
        if (_src.family || _dst.family || _sport.lo || _sport.hi != 65535 || _dport.lo ||
            _dport.hi != 65535) {
            flow::flow_key k;
            if (!flow::make_key(rte_pktmbuf_mtod(m, const std::uint8_t*), p, k)) return false;
            if (!_src.match(k.src, k.family) || !_dst.match(k.dst, k.family)) return false;
            if (!_sport.match(k.src_port) || !_dport.match(k.dst_port)) return false;
        }
        return true;
    }

    bool _invert;
    int _proto, _vlan, _class;
    prefix _src, _dst;
    port_range _sport, _dport;
};

/// Prefixes and port ranges parse (before anything starts).
void check_filter(const node& params, const param_error& error) {
    for (const char* k : {"src", "dst", "src_port", "dst_port"}) {
        const node* v = params.find(k);
        if (!v || !v->is_scalar()) continue;
        prefix p;
        port_range r;
        const bool addr = std::string_view(k).find("port") == std::string_view::npos;
        if (addr ? parse_prefix(v->text, p) : parse_range(v->text, r)) continue;
        error(v->at, "bad prefix or port range in param '" + std::string(k) + "': '" + v->text +
                         "' (src/dst: '10.0.0.0/8' or '2001:db8::/32'; ports: '53' or "
                         "'1000-2000')");
    }
}

} // namespace

namespace {

/// udp_echo: answers UDP datagrams to `port` (default 7, any when 0) by swapping MAC,
/// IP addresses and UDP ports in place (checksums stay valid: the sums are
/// order-independent). Other packets go to "miss" when connected, else dropped as
/// not_echo.
class udp_echo final : public hit_or_miss<udp_echo> {
public:
    explicit udp_echo(const stage_args& a) : hit_or_miss(a, "not_echo") {
        _port = static_cast<std::uint16_t>(a.params->integer_or("port", 7));
    }

    /// Matching datagrams are answered in place.
    bool pick(rte_mbuf* m, const net::parsed& p) noexcept {
        if (p.l4 != net::l4_type::udp || p.fragment || (_port && p.dst_port != _port)) return false;
        auto* d = rte_pktmbuf_mtod(m, std::uint8_t*);
        net::swap_macs(d);
        std::uint8_t* ip = d + p.l3_off;
        const std::size_t off = p.l3 == net::l3_type::ipv4 ? 12 : 8,
                          len = p.l3 == net::l3_type::ipv4 ? 4 : 16;
        std::uint8_t a[16];
        std::memcpy(a, ip + off, len);
        std::memmove(ip + off, ip + off + len, len);
        std::memcpy(ip + off + len, a, len);
        auto* udp = reinterpret_cast<rte_udp_hdr*>(d + p.l4_off);
        rte_be16_t sp = udp->src_port;
        udp->src_port = udp->dst_port;
        udp->dst_port = sp;
        return true;
    }

private:
    std::uint16_t _port;
};

} // namespace

void register_classify(registry& r) {
    stage_schema ps;
    ps.params = {p_of("drop_non_ip", param_type::boolean)};
    ps.outputs = {"out"};
    ps.roles = {role::writes_packets}; // l2/l3/l4_len, packet_type
    r.add({"parse", make_factory<parse_stage>(), ps,
           "validates headers, sets l2/l3/l4 lengths; drops malformed packets by reason"});

    stage_schema fs;
    fs.params = {p_choice("proto", {"any", "udp", "tcp", "icmp", "icmpv6"}),
                 p_of("src", param_type::string),
                 p_of("dst", param_type::string),
                 p_of("src_port", param_type::string),
                 p_of("dst_port", param_type::string),
                 p_int("vlan", 0, 4095),
                 p_of("invert", param_type::boolean),
                 p_int("class", 0, flow_class::count - 1)};
    fs.outputs = {"out", "miss"};
    fs.check = check_filter;
    fs.roles = {role::observer}; // parses read-only, emits or drops every packet
    fs.roles_of = [](const node& params) {
        // With `class` it writes the class into the packet's metadata: a writer.
        return params.find("class") ? role_set{role::writes_packets} : role_set{role::observer};
    };
    r.add({"filter", make_factory<filter>(), fs,
           "matches 5-tuple fields and prefixes: hits to 'out', others to 'miss' or dropped"});

    stage_schema es;
    es.params = {p_int("port", 0, 65535)};
    es.outputs = {"out", "miss"};
    es.roles = {role::writes_packets};
    r.add({"udp_echo", make_factory<udp_echo>(), es,
           "answers UDP datagrams in place (swap MAC, IP, ports)"});
}

} // namespace pk::pipeline::stages
