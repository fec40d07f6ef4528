#include "flow/toeplitz.hh"

namespace pk::flow {
namespace {
// The 32-bit window of the key starting at bit `bit` (MSB-first).
std::uint32_t key_window(std::span<const std::uint8_t> key, std::size_t bit) noexcept {
    std::uint64_t w = 0;
    std::size_t byte = bit / 8;
    for (std::size_t i = 0; i < 5; ++i)
        w = (w << 8) | (byte + i < key.size() ? key[byte + i] : 0);
    return static_cast<std::uint32_t>(w >> (8 - bit % 8));
}
} // namespace

std::uint32_t toeplitz_hash(std::span<const std::uint8_t> key,
                            std::span<const std::uint8_t> input) noexcept {
    std::size_t n = input.size();
    if (key.size() < 4) return 0;
    if (n > key.size() - 4) n = key.size() - 4;
    std::uint32_t h = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (unsigned b = 0; b < 8; ++b)
            if (input[i] & (0x80u >> b)) h ^= key_window(key, i * 8 + b);
    return h;
}

toeplitz_hasher::toeplitz_hasher(std::span<const std::uint8_t> key) {
    std::size_t positions = key.size() >= 4 ? key.size() - 4 : 0;
    _table.assign(positions * 256, 0);
    for (std::size_t i = 0; i < positions; ++i) {
        std::uint32_t bitval[8];
        for (unsigned b = 0; b < 8; ++b)
            bitval[b] = key_window(key, i * 8 + b);
        for (unsigned v = 0; v < 256; ++v) {
            std::uint32_t h = 0;
            for (unsigned b = 0; b < 8; ++b)
                if (v & (0x80u >> b)) h ^= bitval[b];
            _table[i * 256 + v] = h;
        }
    }
}

} // namespace pk::flow
