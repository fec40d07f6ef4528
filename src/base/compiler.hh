// Branch hints, inlining and CPU-relax helpers shared by every layer.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define PK_LIKELY(x) __builtin_expect(!!(x), 1)
#define PK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PK_ALWAYS_INLINE inline __attribute__((always_inline))
#define PK_NOINLINE __attribute__((noinline))
#define PK_COLD __attribute__((cold))

namespace pk {

/// Tell the CPU we are spinning (PAUSE on x86, YIELD on Arm).
PK_ALWAYS_INLINE void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

} // namespace pk
