#include "net/parse.hh"

namespace pk::net {
namespace {

constexpr std::uint16_t et_ipv4 = 0x0800;
constexpr std::uint16_t et_ipv6 = 0x86dd;
constexpr std::uint16_t et_arp = 0x0806;
constexpr std::uint16_t et_vlan = 0x8100;
constexpr std::uint16_t et_qinq = 0x88a8;
constexpr std::uint16_t et_qinq_old = 0x9100;

constexpr std::uint8_t proto_icmp = 1;
constexpr std::uint8_t proto_tcp = 6;
constexpr std::uint8_t proto_udp = 17;
constexpr std::uint8_t proto_icmpv6 = 58;
constexpr std::uint8_t ext_hbh = 0;
constexpr std::uint8_t ext_routing = 43;
constexpr std::uint8_t ext_fragment = 44;
constexpr std::uint8_t ext_ah = 51;
constexpr std::uint8_t ext_dstopts = 60;
constexpr std::uint8_t ext_none = 59;

inline std::uint16_t rd16(const std::uint8_t* p) noexcept {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// Bounds state for one parse: `len` bytes readable, `wire` bytes in the packet.
struct cursor {
    const std::uint8_t* p;
    std::uint32_t len;
    std::uint32_t wire;
    parsed& r;

    // True when [0, end) is readable; otherwise records why and returns false.
    bool need(std::uint32_t end, reason trunc) noexcept {
        if (end <= len) return true;
        r.why = end <= wire ? reason::headers_not_contiguous : trunc;
        return false;
    }
    // As need(), and `end` must also lie within the enclosing header's `limit`.
    bool need_in(std::uint32_t end, std::uint32_t limit, reason trunc) noexcept {
        if (end > limit) {
            r.why = trunc;
            return false;
        }
        return need(end, trunc);
    }
};

void parse_l4(cursor& c, std::uint32_t s, std::uint32_t e, bool v6) noexcept {
    parsed& r = c.r;
    const std::uint8_t* p = c.p;
    r.l4_off = static_cast<std::uint16_t>(s);
    switch (r.ip_proto) {
    case proto_udp: {
        r.l4 = l4_type::udp;
        if (!c.need_in(s + 8, e, reason::truncated_l4)) return;
        r.src_port = rd16(p + s);
        r.dst_port = rd16(p + s + 2);
        r.l4_len = 8;
        std::uint32_t ulen = rd16(p + s + 4);
        if (ulen < 8 || s + ulen > e) {
            r.why = reason::bad_udp_length;
            return;
        }
        r.payload_off = static_cast<std::uint16_t>(s + 8);
        r.payload_len = static_cast<std::uint16_t>(ulen - 8);
        return;
    }
    case proto_tcp: {
        r.l4 = l4_type::tcp;
        if (!c.need_in(s + 20, e, reason::truncated_l4)) return;
        r.src_port = rd16(p + s);
        r.dst_port = rd16(p + s + 2);
        r.tcp_flags = p[s + 13];
        std::uint32_t hl = (p[s + 12] >> 4) * 4u;
        if (hl < 20) {
            r.why = reason::bad_tcp_offset;
            return;
        }
        if (!c.need_in(s + hl, e, reason::truncated_l4)) return;
        r.l4_len = static_cast<std::uint16_t>(hl);
        r.payload_off = static_cast<std::uint16_t>(s + hl);
        r.payload_len = static_cast<std::uint16_t>(e - s - hl);
        return;
    }
    case proto_icmp:
    case proto_icmpv6: {
        if ((r.ip_proto == proto_icmpv6) != v6) break; // ICMP over IPv6 etc.: "other"
        r.l4 = v6 ? l4_type::icmpv6 : l4_type::icmp;
        if (!c.need_in(s + 8, e, reason::truncated_l4)) return;
        r.icmp_type = p[s];
        r.icmp_code = p[s + 1];
        bool echo = v6 ? (r.icmp_type == 128 || r.icmp_type == 129)
                       : (r.icmp_type == 8 || r.icmp_type == 0);
        if (echo) r.src_port = r.dst_port = rd16(p + s + 4); // identifier
        r.l4_len = 8;
        r.payload_off = static_cast<std::uint16_t>(s + 8);
        r.payload_len = static_cast<std::uint16_t>(e - s - 8);
        return;
    }
    default:
        break;
    }
    r.l4 = l4_type::other;
    r.payload_off = static_cast<std::uint16_t>(s);
    r.payload_len = static_cast<std::uint16_t>(e - s);
}

void parse_ipv4(cursor& c, std::uint32_t off) noexcept {
    parsed& r = c.r;
    const std::uint8_t* p = c.p;
    r.l3 = l3_type::ipv4;
    if (!c.need(off + 1, reason::truncated_l3)) return;
    if ((p[off] >> 4) != 4) {
        r.why = reason::bad_ip_version;
        return;
    }
    if (!c.need(off + 20, reason::truncated_l3)) return;
    std::uint32_t hl = (p[off] & 0x0f) * 4u;
    if (hl < 20) {
        r.why = reason::bad_ihl;
        return;
    }
    if (!c.need(off + hl, reason::truncated_l3)) return;
    std::uint32_t tot = rd16(p + off + 2);
    if (tot < hl) {
        r.why = reason::bad_ip_length;
        return;
    }
    if (off + tot > c.wire) {
        r.why = reason::truncated_l3;
        return;
    }
    r.l3_len = static_cast<std::uint16_t>(hl);
    r.ip_payload_len = static_cast<std::uint16_t>(tot - hl);
    r.ip_proto = p[off + 9];
    // Options: EOL ends the list, NOP is one byte, everything else is type+len+data.
    for (std::uint32_t i = off + 20, end = off + hl; i < end;) {
        std::uint8_t t = p[i];
        if (t == 0) break;
        if (t == 1) {
            ++i;
            continue;
        }
        if (i + 1 >= end || p[i + 1] < 2 || i + p[i + 1] > end) {
            r.why = reason::bad_ip_option;
            return;
        }
        i += p[i + 1];
    }
    std::uint16_t frag = rd16(p + off + 6);
    std::uint16_t frag_off = frag & 0x1fff;
    if ((frag & 0x2000) || frag_off) {
        r.fragment = true;
        r.first_fragment = frag_off == 0;
        if (frag_off) return; // no L4 header in a later fragment
    }
    parse_l4(c, off + hl, off + tot, false);
}

void parse_ipv6(cursor& c, std::uint32_t off) noexcept {
    parsed& r = c.r;
    const std::uint8_t* p = c.p;
    r.l3 = l3_type::ipv6;
    if (!c.need(off + 1, reason::truncated_l3)) return;
    if ((p[off] >> 4) != 6) {
        r.why = reason::bad_ip_version;
        return;
    }
    if (!c.need(off + 40, reason::truncated_l3)) return;
    std::uint32_t end = off + 40 + rd16(p + off + 4);
    if (end > c.wire) {
        r.why = reason::truncated_l3;
        return;
    }
    std::uint8_t nh = p[off + 6];
    std::uint32_t cur = off + 40;
    bool later_fragment = false;
    for (;;) {
        std::uint32_t hlen;
        if (nh == ext_hbh || nh == ext_routing || nh == ext_dstopts || nh == ext_ah ||
            nh == ext_fragment) {
            if (nh == ext_hbh && r.ipv6_ext_count != 0) {
                r.why = reason::bad_ipv6_ext; // hop-by-hop must come first
                break;
            }
            if (r.ipv6_ext_count == max_ipv6_ext) {
                r.why = reason::too_many_ipv6_ext;
                break;
            }
            if (!c.need_in(cur + 2, end, reason::truncated_ipv6_ext)) break;
            if (nh == ext_fragment)
                hlen = 8;
            else if (nh == ext_ah)
                hlen = (p[cur + 1] + 2u) * 4u;
            else
                hlen = (p[cur + 1] + 1u) * 8u;
            if (!c.need_in(cur + hlen, end, reason::truncated_ipv6_ext)) break;
            if (nh == ext_fragment) {
                std::uint16_t fo = rd16(p + cur + 2) >> 3;
                r.fragment = true;
                r.first_fragment = fo == 0;
                later_fragment = fo != 0;
            }
            nh = p[cur];
            cur += hlen;
            ++r.ipv6_ext_count;
            if (later_fragment) break;
            continue;
        }
        break;
    }
    r.ip_proto = nh;
    r.l3_len = static_cast<std::uint16_t>(cur - off);
    r.ip_payload_len = static_cast<std::uint16_t>(end - cur);
    if (r.why != reason::ok || later_fragment || nh == ext_none) return;
    parse_l4(c, cur, end, true);
}

} // namespace

parsed parse(const std::uint8_t* data, std::uint32_t len, std::uint32_t wire_len) noexcept {
    parsed r;
    if (wire_len < len) wire_len = len;
    cursor c{data, data ? len : 0, data ? wire_len : 0, r};
    if (!c.need(14, reason::truncated_l2)) return r;
    std::uint32_t off = 12;
    std::uint16_t et = rd16(data + off);
    off += 2;
    while (et == et_vlan || et == et_qinq || et == et_qinq_old) {
        if (r.vlan_count == max_vlans) {
            r.why = reason::too_many_vlans;
            return r;
        }
        if (!c.need(off + 4, reason::truncated_vlan)) return r;
        r.vlan_tci[r.vlan_count++] = rd16(data + off);
        et = rd16(data + off + 2);
        off += 4;
    }
    r.ether_type = et;
    r.l3_off = static_cast<std::uint16_t>(off);
    switch (et) {
    case et_ipv4:
        parse_ipv4(c, off);
        break;
    case et_ipv6:
        parse_ipv6(c, off);
        break;
    case et_arp:
        r.l3 = l3_type::arp;
        break;
    default:
        r.l3 = l3_type::other;
        break;
    }
    return r;
}

const char* to_string(reason r) noexcept {
    switch (r) {
    case reason::ok:
        return "ok";
    case reason::truncated_l2:
        return "truncated_l2";
    case reason::truncated_vlan:
        return "truncated_vlan";
    case reason::too_many_vlans:
        return "too_many_vlans";
    case reason::truncated_l3:
        return "truncated_l3";
    case reason::bad_ip_version:
        return "bad_ip_version";
    case reason::bad_ihl:
        return "bad_ihl";
    case reason::bad_ip_length:
        return "bad_ip_length";
    case reason::bad_ip_option:
        return "bad_ip_option";
    case reason::truncated_ipv6_ext:
        return "truncated_ipv6_ext";
    case reason::bad_ipv6_ext:
        return "bad_ipv6_ext";
    case reason::too_many_ipv6_ext:
        return "too_many_ipv6_ext";
    case reason::truncated_l4:
        return "truncated_l4";
    case reason::bad_tcp_offset:
        return "bad_tcp_offset";
    case reason::bad_udp_length:
        return "bad_udp_length";
    case reason::headers_not_contiguous:
        return "headers_not_contiguous";
    }
    return "unknown";
}

const char* to_string(l3_type t) noexcept {
    switch (t) {
    case l3_type::none:
        return "none";
    case l3_type::ipv4:
        return "ipv4";
    case l3_type::ipv6:
        return "ipv6";
    case l3_type::arp:
        return "arp";
    case l3_type::other:
        return "other";
    }
    return "unknown";
}

const char* to_string(l4_type t) noexcept {
    switch (t) {
    case l4_type::none:
        return "none";
    case l4_type::udp:
        return "udp";
    case l4_type::tcp:
        return "tcp";
    case l4_type::icmp:
        return "icmp";
    case l4_type::icmpv6:
        return "icmpv6";
    case l4_type::other:
        return "other";
    }
    return "unknown";
}

} // namespace pk::net
