// Packet parsing: Ethernet, VLAN/QinQ, IPv4 (with options), IPv6 (with extension
// headers), UDP, TCP, ICMP and ICMPv6, over a plain byte range.
//
// When to use: any stage that needs header offsets, L3/L4 types, ports or a flow key.
// `parse(data, len)` needs no DPDK and no EAL (the fuzzer and table tests use it);
// `net/packet.hh` adds the rte_mbuf overload.
//
// Guarantees: every read is bounded by `len` — no input, however malformed, reads out
// of bounds (fuzzed, and tested with a truncation at every byte offset). A packet that
// is truncated or malformed gives `parsed::why != reason::ok` naming the first problem,
// with every field before it filled in; stages count drops by `reason` and print it
// with `to_string(reason)`. Unknown EtherTypes and IP protocols are not errors: the
// layer is reported as `other` and parsing stops there.
//
// Threads: pure functions, no state; callable from any core. Hot path: noexcept, no
// allocation.
#pragma once

#include <cstdint>

namespace pk::net {

/// Why a parse stopped early. `ok` means every header present was parsed and is
/// consistent. Stable order: used as a counter index (`reason_count`).
enum class reason : std::uint8_t {
    ok = 0,
    truncated_l2,           ///< shorter than an Ethernet header
    truncated_vlan,         ///< a VLAN tag is cut off
    too_many_vlans,         ///< more than `max_vlans` stacked tags
    truncated_l3,           ///< IP header (or its declared length) runs past the data
    bad_ip_version,         ///< IPv4 EtherType but version != 4 (or 6 for IPv6)
    bad_ihl,                ///< IPv4 IHL < 5
    bad_ip_length,          ///< IPv4 total length < IHL*4
    bad_ip_option,          ///< IPv4 option with a length that is < 2 or overruns the header
    truncated_ipv6_ext,     ///< an IPv6 extension header is cut off
    bad_ipv6_ext,           ///< hop-by-hop not first, or a malformed extension header
    too_many_ipv6_ext,      ///< more than `max_ipv6_ext` extension headers
    truncated_l4,           ///< L4 header runs past the IP payload
    bad_tcp_offset,         ///< TCP data offset < 5
    bad_udp_length,         ///< UDP length < 8 or larger than the IP payload
    headers_not_contiguous, ///< headers continue past the first segment (multi-seg mbuf)
};
inline constexpr unsigned reason_count = 16;

/// "ok", "truncated_l2", ... (never null).
const char* to_string(reason r) noexcept;

enum class l3_type : std::uint8_t { none = 0, ipv4, ipv6, arp, other };
enum class l4_type : std::uint8_t { none = 0, udp, tcp, icmp, icmpv6, other };
const char* to_string(l3_type t) noexcept;
const char* to_string(l4_type t) noexcept;

inline constexpr unsigned max_vlans = 2;    ///< QinQ: outer S-tag + inner C-tag
inline constexpr unsigned max_ipv6_ext = 8; ///< extension headers walked before giving up

/// The result of a parse. Offsets are from the start of the packet; lengths are header
/// lengths (l3_len includes IPv4 options / IPv6 extension headers). Ports are in host
/// byte order. Fields for layers that were not reached stay zero.
struct parsed {
    reason why = reason::ok;
    l3_type l3 = l3_type::none;
    l4_type l4 = l4_type::none;
    std::uint8_t vlan_count = 0;
    std::uint16_t vlan_tci[max_vlans] = {0, 0}; ///< [0] outer, [1] inner; host order
    std::uint16_t ether_type = 0;               ///< innermost EtherType, host order
    std::uint16_t l3_off = 0;                   ///< == L2 header length incl. tags
    std::uint16_t l3_len = 0;
    std::uint16_t l4_off = 0;
    std::uint16_t l4_len = 0;
    std::uint16_t payload_off = 0;
    std::uint16_t payload_len = 0;    ///< L4 payload, bounded by the IP length
    std::uint16_t ip_payload_len = 0; ///< bytes after the L3 header per the IP length
    std::uint8_t ip_proto = 0;        ///< final next-header / protocol
    std::uint8_t ipv6_ext_count = 0;
    bool fragment = false;       ///< IPv4 MF/offset or IPv6 fragment header
    bool first_fragment = false; ///< fragment with offset 0 (L4 parsed)
    std::uint16_t src_port = 0;  ///< UDP/TCP; ICMP echo: the identifier
    std::uint16_t dst_port = 0;
    std::uint8_t icmp_type = 0;
    std::uint8_t icmp_code = 0;
    std::uint8_t tcp_flags = 0;

    bool ok() const noexcept { return why == reason::ok; }
    /// Outer VLAN id (12 bits) or 0.
    std::uint16_t vlan_id() const noexcept {
        return vlan_count ? static_cast<std::uint16_t>(vlan_tci[0] & 0x0fff) : 0;
    }
};

/// Parses `len` bytes at `data`. `wire_len` is the whole packet length when only the
/// first `len` bytes are contiguous (multi-segment mbufs): IP/UDP length fields are
/// checked against it, and a header that starts beyond `len` but within `wire_len`
/// gives `headers_not_contiguous` instead of a truncation. Default: wire_len = len.
parsed parse(const std::uint8_t* data, std::uint32_t len, std::uint32_t wire_len = 0) noexcept;

} // namespace pk::net
