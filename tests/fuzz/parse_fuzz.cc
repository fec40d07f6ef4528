// libFuzzer target for the packet parser (net/parse.hh) and flow keys (flow/key.hh).
//
// Each input is parsed whole, and again as a "first segment" of a longer packet (the
// first input byte picks the cut), so both the truncation and the multi-segment paths
// run. Invariants checked on every result (a violation traps, which libFuzzer reports):
// offsets and lengths stay within the bytes that were readable / the wire length, a
// clean parse has consistent layers, and make_key() reads only within the L3 header.
// Built with -fsanitize=fuzzer,address,undefined by clang; otherwise replay_main.cc
// replays a corpus through the same function.
#include <cstddef>
#include <cstdint>

#include "flow/key.hh"
#include "net/parse.hh"

namespace {

void check(const std::uint8_t* data, std::uint32_t len, std::uint32_t wire) {
    using namespace pk::net;
    parsed r = parse(data, len, wire);
    if (static_cast<unsigned>(r.why) >= reason_count) __builtin_trap();
    if (wire < len) wire = len;
    if (r.l3_off > len) __builtin_trap();
    if (r.ok()) {
        if (r.l3 == l3_type::ipv4 || r.l3 == l3_type::ipv6) {
            if (r.l3_off + r.l3_len > len) __builtin_trap(); // header was readable
            if (r.l4 != l4_type::none) {
                if (r.l4_off != r.l3_off + r.l3_len) __builtin_trap();
                if (r.l4_off + r.l4_len > len) __builtin_trap();
                if (r.payload_off != r.l4_off + r.l4_len) __builtin_trap();
                if (std::uint32_t(r.payload_off) + r.payload_len > wire) __builtin_trap();
            }
            pk::flow::flow_key k;
            if (!pk::flow::make_key(data, r, k)) __builtin_trap();
            if (!(k.symmetric() == k.reversed().symmetric())) __builtin_trap();
        } else if (r.l4 != l4_type::none) {
            __builtin_trap();
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 65535) return 0;
    auto len = static_cast<std::uint32_t>(size);
    check(data, len, 0);
    if (size > 0) {
        std::uint32_t cut = data[0] % (len + 1);
        check(data, cut, len); // only `cut` bytes contiguous of `len`
    }
    return 0;
}
