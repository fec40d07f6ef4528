// Parsing over rte_mbuf: the DPDK-facing overload of net/parse.hh.
//
// Only the first segment is read (bounded by its data_len); IP and UDP length fields
// are checked against pkt_len, so a multi-segment packet whose headers continue into
// the second segment gives `reason::headers_not_contiguous` (linearise it, or drop and
// count) rather than a truncation. Any core; noexcept; no allocation.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "net/parse.hh"

namespace pk::net {

/// Parses the packet in `m` (first segment only; see above).
inline parsed parse(const rte_mbuf* m) noexcept {
    return parse(rte_pktmbuf_mtod(m, const std::uint8_t*), m->data_len, m->pkt_len);
}

/// Writes the parse offsets into the mbuf's l2/l3/l4 length fields and packet_type, as
/// checksum and TSO offloads expect. Call only when `p.ok()`.
inline void set_offload_lengths(rte_mbuf* m, const parsed& p) noexcept {
    m->l2_len = p.l3_off;
    m->l3_len = p.l3_len;
    m->l4_len = p.l4_len;
    std::uint32_t t = RTE_PTYPE_L2_ETHER;
    if (p.vlan_count == 1) t = RTE_PTYPE_L2_ETHER_VLAN;
    if (p.vlan_count == 2) t = RTE_PTYPE_L2_ETHER_QINQ;
    if (p.l3 == l3_type::ipv4) t |= RTE_PTYPE_L3_IPV4_EXT_UNKNOWN;
    if (p.l3 == l3_type::ipv6) t |= RTE_PTYPE_L3_IPV6_EXT_UNKNOWN;
    if (p.fragment)
        t |= RTE_PTYPE_L4_FRAG;
    else if (p.l4 == l4_type::udp)
        t |= RTE_PTYPE_L4_UDP;
    else if (p.l4 == l4_type::tcp)
        t |= RTE_PTYPE_L4_TCP;
    else if (p.l4 == l4_type::icmp || p.l4 == l4_type::icmpv6)
        t |= RTE_PTYPE_L4_ICMP;
    m->packet_type = t;
}

/// Swaps source and destination MAC of the Ethernet header at `frame` in place.
inline void swap_macs(void* frame) noexcept {
    auto* eth = static_cast<rte_ether_hdr*>(frame);
    rte_ether_addr t = eth->src_addr;
    eth->src_addr = eth->dst_addr;
    eth->dst_addr = t;
}

} // namespace pk::net
