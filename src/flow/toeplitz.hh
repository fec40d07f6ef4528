// Software Toeplitz hash, bit-compatible with NIC RSS.
//
// When to use: to compute the RSS hash a NIC would have put in mbuf->hash.rss when the
// device has no RSS (virtual devices, single-queue ports) or for a symmetric key
// variant. Input bytes are in network order: for a 4-tuple (src addr, dst addr,
// src port, dst port), exactly as in the Microsoft RSS verification suite (tested).
//
// `toeplitz_hash()` is the bit-at-a-time reference; `toeplitz_hasher` precomputes a
// table per input byte position from the key (40 KiB for a 40-byte key) and then
// costs one lookup and XOR per input byte. Build the hasher at start-up; hash()
// is const, noexcept and safe from any core.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace pk::flow {

/// The default RSS key (Microsoft; also the default of many NIC drivers).
inline constexpr std::array<std::uint8_t, 40> default_rss_key = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

/// A key whose 16-bit period makes the hash symmetric: hash(a→b) == hash(b→a) for
/// 4-tuples (Woo & Park, "Scalable TCP Session Monitoring with Symmetric RSS").
inline constexpr std::array<std::uint8_t, 40> symmetric_rss_key = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a};

/// Reference Toeplitz hash of `input` under `key`. The key must be at least
/// input.size() + 4 bytes long; extra input bytes beyond that are ignored.
std::uint32_t toeplitz_hash(std::span<const std::uint8_t> key,
                            std::span<const std::uint8_t> input) noexcept;

/// Table-driven Toeplitz hash for a fixed key.
class toeplitz_hasher {
public:
    /// Precomputes for inputs of up to key.size() - 4 bytes (36 for a 40-byte key:
    /// an IPv6 4-tuple).
    explicit toeplitz_hasher(std::span<const std::uint8_t> key = default_rss_key);

    std::size_t max_input() const noexcept { return _table.size() / 256; }

    /// Hash of `input`; bytes beyond max_input() are ignored.
    std::uint32_t hash(const std::uint8_t* input, std::size_t n) const noexcept {
        if (n > max_input()) n = max_input();
        std::uint32_t h = 0;
        const std::uint32_t* t = _table.data();
        for (std::size_t i = 0; i < n; ++i, t += 256)
            h ^= t[input[i]];
        return h;
    }
    std::uint32_t hash(std::span<const std::uint8_t> input) const noexcept {
        return hash(input.data(), input.size());
    }

private:
    std::vector<std::uint32_t> _table; // [byte position][byte value]
};

} // namespace pk::flow
