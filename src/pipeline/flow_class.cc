#include "pipeline/flow_class.hh"

namespace pk::pipeline::flow_class {

int field_offset = -1;
std::uint64_t set_flag = 0;

bool register_field() noexcept {
    if (field_offset >= 0) return true;
    static const rte_mbuf_dynfield field = {"pktkernel_flow_class", sizeof(std::uint8_t),
                                            alignof(std::uint8_t), 0};
    static const rte_mbuf_dynflag flag = {"pktkernel_flow_class_set", 0};
    const int bit = rte_mbuf_dynflag_register(&flag);
    const int off = rte_mbuf_dynfield_register(&field);
    if (bit < 0 || off < 0) return false;
    set_flag = 1ull << bit;
    field_offset = off;
    return true;
}

} // namespace pk::pipeline::flow_class
