// A packet's flow class: which priority lane it takes on a `lanes` edge (edges.hh).
//
// A classifier (flow_balance's `class_by`: DSCP or VLAN PCP, mapped by `classes`) writes
// the class, 0 (highest) .. lanes-1, into an 8-bit mbuf dynamic field and marks it with
// a dynamic ol_flags bit; a packet without the mark (fresh from a pool or a NIC: both
// reset ol_flags) takes the lowest lane. One store per packet at the classifier, one
// load at the lanes edge (the flag is in the first cache line, read anyway).
//
// Threads: register_field() on the control thread after EAL (stages call it from
// start()); set/of on any reactor that owns the packet.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "base/compiler.hh"

namespace pk::pipeline::flow_class {

/// Classes (and lanes of a `lanes` edge): one per reactor priority bucket.
inline constexpr unsigned count = 4;

/// Registers the dynamic field and flag (once per process); false if DPDK refused.
bool register_field() noexcept;
extern int field_offset;
extern std::uint64_t set_flag;

PK_ALWAYS_INLINE void set(rte_mbuf* m, std::uint8_t c) noexcept {
    const int off = field_offset;
    if (PK_UNLIKELY(off < 0)) return;
    *RTE_MBUF_DYNFIELD(m, off, std::uint8_t*) = c;
    m->ol_flags |= set_flag;
}

/// The packet's class, clamped to count-1; unclassified packets: count-1.
PK_ALWAYS_INLINE unsigned of(const rte_mbuf* m) noexcept {
    if (!(m->ol_flags & set_flag) || PK_UNLIKELY(field_offset < 0)) return count - 1;
    const unsigned c = *RTE_MBUF_DYNFIELD(m, field_offset, const std::uint8_t*);
    return c < count ? c : count - 1;
}

} // namespace pk::pipeline::flow_class
