// Internal helpers shared by the queue kinds: slot storage and power-of-two checks.
//
// Not a public API. `slot_storage<T>` owns uninitialised memory for `n` slots of T,
// aligned to the destructive-interference unit so the first slot never shares a line
// with a neighbouring object; constructing and destroying the objects in the slots is
// the owning queue's job (it knows which slots are live).
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "base/cacheline.hh"

namespace pk::queue::detail {

[[nodiscard]] constexpr bool is_pow2(std::size_t n) noexcept {
    return n != 0 && (n & (n - 1)) == 0;
}

/// Throws std::invalid_argument (construction time only) unless n is a power of two.
inline void require_pow2(std::size_t n, const char* what) {
    if (!is_pow2(n))
        throw std::invalid_argument(std::string(what) + ": capacity " + std::to_string(n) +
                                    " is not a power of two (use 2^k, k >= 0)");
}

/// Throws std::invalid_argument (construction time only) if n > max.
inline void require_at_most(std::size_t n, std::size_t max, const char* what) {
    if (n > max)
        throw std::invalid_argument(std::string(what) + ": capacity " + std::to_string(n) +
                                    " is above " + std::to_string(max));
}

template <typename T>
class slot_storage {
public:
    static constexpr std::size_t alignment = alignof(T) > destructive_interference
                                                 ? alignof(T)
                                                 : destructive_interference;

    explicit slot_storage(std::size_t n)
        : _p(static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{alignment}))) {}
    ~slot_storage() { ::operator delete (_p, std::align_val_t{alignment}); }
    slot_storage(const slot_storage&) = delete;
    slot_storage& operator=(const slot_storage&) = delete;

    T* data() const noexcept { return _p; }
    T& operator[](std::size_t i) const noexcept { return _p[i]; }

private:
    T* _p;
};

/// Copies n items into ring slots starting at slot index `first` (already masked),
/// wrapping at `cap`. Copy-constructs into raw storage (memcpy for trivial types).
template <typename T>
inline void copy_in(T* slots, std::size_t cap, std::size_t first, const T* src,
                    std::size_t n) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    const std::size_t part = n < cap - first ? n : cap - first;
    if constexpr (std::is_trivially_copyable_v<T>) {
        for (std::size_t i = 0; i < part; ++i) slots[first + i] = src[i];
        for (std::size_t i = part; i < n; ++i) slots[i - part] = src[i];
    } else {
        for (std::size_t i = 0; i < part; ++i)
            ::new (slots + first + i) T(src[i]);
        for (std::size_t i = part; i < n; ++i)
            ::new (slots + (i - part)) T(src[i]);
    }
}

/// Moves n items out of ring slots starting at `first` into dst (assigned), destroying
/// the slot objects.
template <typename T>
inline void move_out(T* slots, std::size_t cap, std::size_t first, T* dst, std::size_t n) noexcept {
    const std::size_t part = n < cap - first ? n : cap - first;
    if constexpr (std::is_trivially_copyable_v<T>) {
        for (std::size_t i = 0; i < part; ++i) dst[i] = slots[first + i];
        for (std::size_t i = part; i < n; ++i) dst[i] = slots[i - part];
    } else {
        for (std::size_t i = 0; i < part; ++i) {
            dst[i] = std::move(slots[first + i]);
            slots[first + i].~T();
        }
        for (std::size_t i = part; i < n; ++i) {
            dst[i] = std::move(slots[i - part]);
            slots[i - part].~T();
        }
    }
}

} // namespace pk::queue::detail
