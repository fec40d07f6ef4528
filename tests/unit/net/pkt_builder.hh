// Test helper: builds well-formed packets of any header combination the parser
// knows, with every length field consistent, and records where each header starts.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace pk::test {

struct pkt_spec {
    std::vector<std::uint16_t> vlans; ///< TCIs, outer first (2 → QinQ with 0x88a8 outer)
    enum class l3 { ipv4, ipv6, arp, other } l3k = l3::ipv4;
    unsigned ip_opt_len = 0;          ///< IPv4 options, multiple of 4 (NOPs + an RR)
    std::vector<std::uint8_t> v6_ext; ///< IPv6 extension header types in order (0,43,44,51,60)
    bool v4_first_fragment = false;   ///< MF set, offset 0
    bool later_fragment = false;      ///< IPv4 offset != 0 / IPv6 frag header offset != 0
    std::uint8_t proto = 17;          ///< 17 udp, 6 tcp, 1 icmp, 58 icmpv6, 59 none, other
    unsigned tcp_opt_len = 0;         ///< multiple of 4
    unsigned payload = 10;
    std::uint8_t src4[4] = {10, 0, 0, 1}, dst4[4] = {10, 0, 0, 2};
    std::uint8_t src6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::uint8_t dst6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::uint16_t sport = 1234, dport = 80;
    unsigned pad_to = 0; ///< Ethernet padding: frame grown to this size with zeros
};

struct built {
    std::vector<std::uint8_t> bytes;
    unsigned l3_off = 0, l3_len = 0, l4_off = 0, l4_len = 0, payload_off = 0;
    unsigned hdr_end = 0; ///< end of the last header the parser reads
    std::string name;
};

inline void put16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}

inline built build(const pkt_spec& s) {
    built r;
    auto& b = r.bytes;
    auto push = [&](std::initializer_list<std::uint8_t> x) { b.insert(b.end(), x); };
    push({0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}); // dst, src MAC
    for (std::size_t i = 0; i < s.vlans.size(); ++i) {
        std::uint16_t tpid = (s.vlans.size() >= 2 && i == 0) ? 0x88a8 : 0x8100;
        push({std::uint8_t(tpid >> 8), std::uint8_t(tpid), std::uint8_t(s.vlans[i] >> 8),
              std::uint8_t(s.vlans[i])});
    }
    std::uint16_t et = s.l3k == pkt_spec::l3::ipv4   ? 0x0800
                       : s.l3k == pkt_spec::l3::ipv6 ? 0x86dd
                       : s.l3k == pkt_spec::l3::arp  ? 0x0806
                                                     : 0x88b5;
    push({std::uint8_t(et >> 8), std::uint8_t(et)});
    r.l3_off = static_cast<unsigned>(b.size());
    r.name = std::to_string(s.vlans.size()) + "vlan";
    if (s.l3k == pkt_spec::l3::arp || s.l3k == pkt_spec::l3::other) {
        b.resize(b.size() + 28, 0x11);
        r.hdr_end = r.l3_off;
        r.name += s.l3k == pkt_spec::l3::arp ? "/arp" : "/other";
        return r;
    }
    std::size_t ip = b.size();
    std::uint8_t last_nh = s.proto;
    bool later = s.later_fragment;
    if (s.l3k == pkt_spec::l3::ipv4) {
        unsigned hl = 20 + s.ip_opt_len;
        b.resize(ip + hl, 0);
        b[ip] = static_cast<std::uint8_t>(0x40 | (hl / 4));
        b[ip + 8] = 64;
        b[ip + 9] = s.proto;
        std::uint16_t frag = 0;
        if (s.v4_first_fragment) frag = 0x2000;
        if (later) frag = 0x0010; // offset 16*8
        put16(b, ip + 6, frag);
        std::memcpy(&b[ip + 12], s.src4, 4);
        std::memcpy(&b[ip + 16], s.dst4, 4);
        if (s.ip_opt_len) { // NOPs then a record-route option filling the rest
            std::size_t o = ip + 20;
            unsigned rr = s.ip_opt_len >= 8 ? s.ip_opt_len - 1 : 0;
            for (unsigned i = 0; i < s.ip_opt_len - rr; ++i)
                b[o + i] = 1;
            if (rr) {
                b[o + s.ip_opt_len - rr] = 7;
                b[o + s.ip_opt_len - rr + 1] = static_cast<std::uint8_t>(rr);
                b[o + s.ip_opt_len - rr + 2] = 4;
            }
        }
        r.l3_len = hl;
        r.name += "/ipv4" + (s.ip_opt_len ? "+opt" + std::to_string(s.ip_opt_len) : "");
    } else {
        b.resize(ip + 40, 0);
        b[ip] = 0x60;
        b[ip + 7] = 64;
        std::memcpy(&b[ip + 8], s.src6, 16);
        std::memcpy(&b[ip + 24], s.dst6, 16);
        std::size_t nh_at = ip + 6;
        r.name += "/ipv6";
        for (std::uint8_t t : s.v6_ext) {
            b[nh_at] = t;
            std::size_t e = b.size();
            unsigned len = t == 44 ? 8 : (t == 51 ? 16 : 16); // AH: (2+2)*4; others: (1+1)*8
            b.resize(e + len, 0);
            if (t == 51)
                b[e + 1] = 2;
            else if (t != 44)
                b[e + 1] = 1;
            if (t == 44)
                put16(b, e + 2, later ? std::uint16_t(16 << 3) : std::uint16_t(1)); // offset 16 / M
            nh_at = e;
            r.name += "+ext" + std::to_string(t);
        }
        b[nh_at] = s.proto;
        r.l3_len = static_cast<unsigned>(b.size() - ip);
    }
    r.l4_off = static_cast<unsigned>(b.size());
    std::size_t l4 = b.size();
    bool has_l4 = !later && s.proto != 59;
    if (!has_l4) {
        r.name += later ? "/later-frag" : "/nonext";
    } else if (s.proto == 17) {
        b.resize(l4 + 8, 0);
        put16(b, l4, s.sport);
        put16(b, l4 + 2, s.dport);
        put16(b, l4 + 4, static_cast<std::uint16_t>(8 + s.payload));
        r.l4_len = 8;
        r.name += "/udp";
    } else if (s.proto == 6) {
        unsigned hl = 20 + s.tcp_opt_len;
        b.resize(l4 + hl, 0);
        put16(b, l4, s.sport);
        put16(b, l4 + 2, s.dport);
        b[l4 + 12] = static_cast<std::uint8_t>((hl / 4) << 4);
        b[l4 + 13] = 0x02; // SYN
        for (unsigned i = 0; i < s.tcp_opt_len; ++i)
            b[l4 + 20 + i] = 1;
        r.l4_len = hl;
        r.name += "/tcp" + (s.tcp_opt_len ? "+opt" + std::to_string(s.tcp_opt_len) : "");
    } else if ((s.proto == 1 && s.l3k == pkt_spec::l3::ipv4) ||
               (s.proto == 58 && s.l3k == pkt_spec::l3::ipv6)) {
        b.resize(l4 + 8, 0);
        b[l4] = s.proto == 1 ? 8 : 128; // echo request
        put16(b, l4 + 4, s.sport);      // identifier
        r.l4_len = 8;
        r.name += s.proto == 1 ? "/icmp" : "/icmpv6";
    } else {
        r.name += "/proto" + std::to_string(s.proto);
    }
    r.payload_off = static_cast<unsigned>(b.size());
    r.hdr_end = r.payload_off;
    for (unsigned i = 0; i < s.payload; ++i)
        b.push_back(static_cast<std::uint8_t>(i));
    if (s.l3k == pkt_spec::l3::ipv4)
        put16(b, ip + 2, static_cast<std::uint16_t>(b.size() - ip));
    else
        put16(b, ip + 4, static_cast<std::uint16_t>(b.size() - ip - 40));
    if (s.pad_to > b.size()) b.resize(s.pad_to, 0);
    (void)last_nh;
    return r;
}

} // namespace pk::test
