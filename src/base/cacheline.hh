// Cache-line constants for the whole tree.
//
// Use `cache_line` to align per-lcore state and `destructive_interference` to keep
// producer and consumer fields of a shared structure apart. On x86 the adjacent-line
// prefetcher pulls lines in pairs, so two fields written by different cores must be
// 128 bytes apart, not 64, to avoid false sharing (folly uses the same figure).
#pragma once

#include <cstddef>

namespace pk {

inline constexpr std::size_t cache_line = 64;
inline constexpr std::size_t destructive_interference = 128;

/// Pads T to a whole number of destructive-interference units.
template <typename T>
struct alignas(destructive_interference) padded {
    T value{};
};

static_assert(sizeof(padded<char>) == destructive_interference,
              "padded<T> must occupy exactly one interference unit for small T");

} // namespace pk
