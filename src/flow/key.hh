// Flow keys: the 5-tuple plus outer VLAN id, for IPv4 and IPv6, with a symmetric
// variant (both directions of a connection give the same key).
//
// When to use: after net::parse(), to find a packet's flow (flow table, balancer
// buckets). `make_key()` reads addresses straight from the packet using the parse
// offsets (only when the parse reached L3 cleanly). `rss_hash()` hashes the key the
// way a NIC's RSS does (Toeplitz over src/dst address then src/dst port, network
// order), so software and hardware hashes agree for the same key.
//
// Layout: 40 bytes, no padding (static_assert), so keys compare and hash as bytes.
// Everything here is header-only, noexcept and allocation-free; any core.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>

#include "flow/toeplitz.hh"
#include "net/parse.hh"

namespace pk::flow {

struct flow_key {
    std::array<std::uint8_t, 16> src{}; ///< network order; IPv4 in bytes [0, 4)
    std::array<std::uint8_t, 16> dst{};
    std::uint16_t src_port = 0; ///< host order; 0 for fragments / non-L4
    std::uint16_t dst_port = 0;
    std::uint16_t vlan = 0;  ///< outer VLAN id (12 bits), 0 if untagged
    std::uint8_t proto = 0;  ///< IP protocol / final IPv6 next header
    std::uint8_t family = 0; ///< 4 or 6

    bool operator==(const flow_key& o) const noexcept {
        return std::memcmp(this, &o, sizeof(*this)) == 0;
    }
    std::size_t addr_len() const noexcept { return family == 6 ? 16 : 4; }

    /// The same key with the endpoints ordered (lower address, then port, first).
    flow_key symmetric() const noexcept {
        flow_key k = *this;
        int c = std::memcmp(src.data(), dst.data(), 16);
        if (c > 0 || (c == 0 && src_port > dst_port)) {
            std::swap(k.src, k.dst);
            std::swap(k.src_port, k.dst_port);
        }
        return k;
    }
    /// The key of the reverse direction.
    flow_key reversed() const noexcept {
        flow_key k = *this;
        std::swap(k.src, k.dst);
        std::swap(k.src_port, k.dst_port);
        return k;
    }

    /// Writes the RSS input (src addr, dst addr[, src port, dst port]) to `out` and
    /// returns its length: 8/12 bytes for IPv4, 32/36 for IPv6.
    std::size_t rss_tuple(std::uint8_t (&out)[36], bool with_ports = true) const noexcept {
        std::size_t a = addr_len();
        std::memcpy(out, src.data(), a);
        std::memcpy(out + a, dst.data(), a);
        if (!with_ports) return 2 * a;
        out[2 * a] = static_cast<std::uint8_t>(src_port >> 8);
        out[2 * a + 1] = static_cast<std::uint8_t>(src_port);
        out[2 * a + 2] = static_cast<std::uint8_t>(dst_port >> 8);
        out[2 * a + 3] = static_cast<std::uint8_t>(dst_port);
        return 2 * a + 4;
    }
};
static_assert(sizeof(flow_key) == 40, "flow_key must have no padding: compared as bytes");
static_assert(std::is_trivially_copyable_v<flow_key>);

/// Fills `k` from a parsed packet. False (k untouched) unless the parse reached IPv4
/// or IPv6 with a complete L3 header; L4 ports are taken only for UDP/TCP (and the
/// ICMP echo identifier) in unfragmented or first-fragment packets — a NIC hashes
/// later fragments on addresses only, and so do we (ports 0 for every fragment).
inline bool make_key(const std::uint8_t* pkt, const net::parsed& p, flow_key& k) noexcept {
    if (p.l3 != net::l3_type::ipv4 && p.l3 != net::l3_type::ipv6) return false;
    if (p.l3_len == 0) return false; // L3 header not complete
    flow_key r;
    const std::uint8_t* ip = pkt + p.l3_off;
    if (p.l3 == net::l3_type::ipv4) {
        r.family = 4;
        std::memcpy(r.src.data(), ip + 12, 4);
        std::memcpy(r.dst.data(), ip + 16, 4);
    } else {
        r.family = 6;
        std::memcpy(r.src.data(), ip + 8, 16);
        std::memcpy(r.dst.data(), ip + 24, 16);
    }
    r.proto = p.ip_proto;
    r.vlan = p.vlan_id();
    if (!p.fragment && p.l4_len != 0) {
        r.src_port = p.src_port;
        r.dst_port = p.dst_port;
    }
    k = r;
    return true;
}

/// The NIC-compatible RSS hash of a key. `with_ports` selects the 4-tuple (what NICs
/// use for TCP/UDP) or the address pair (fragments, other protocols).
inline std::uint32_t rss_hash(const flow_key& k, const toeplitz_hasher& h,
                              bool with_ports = true) noexcept {
    std::uint8_t t[36];
    std::size_t n = k.rss_tuple(t, with_ports);
    return h.hash(t, n);
}

/// A fast non-cryptographic hash for hash tables (not RSS-compatible).
struct flow_key_hash {
    std::size_t operator()(const flow_key& k) const noexcept {
        std::uint64_t w[5];
        std::memcpy(w, &k, sizeof(w));
        std::uint64_t h = 0x9e3779b97f4a7c15ull;
        for (auto x : w) {
            h ^= x;
            h *= 0xff51afd7ed558ccdull;
            h ^= h >> 32;
        }
        return static_cast<std::size_t>(h);
    }
};

} // namespace pk::flow
