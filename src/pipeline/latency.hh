// RX→TX latency, sampled: the first packet of every RX burst (or of every burst a
// generator makes) carries the TSC of its arrival in a 64-bit mbuf dynamic field, marked
// by a dynamic ol_flags bit; port_tx observes now − stamp for the marked packets when it
// hands them to its TX buffer, into a fixed log-scale histogram: 4 sub-buckets per
// power of two of TSC cycles (each at most 25% of its lower bound wide), one per stage,
// single writer (its reactor), read by the exporter (`pktkernel_latency_seconds`) and
// --stats-json (p50/p99/p99.9). Packets of one burst arrive together, so one sample a
// burst describes them; stamping every packet would write each mbuf's second cache line.
//
// Cost on the hot path: one TSC read and one store per burst at RX; at TX one TSC read
// per burst and a test of ol_flags (first cache line, read anyway) per packet. No
// atomics beyond the relaxed single-writer counters.
//
// Threads: register_field() on the control thread after EAL (stages call it from
// start()); stamp/observe on the owning reactor; reads from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "base/compiler.hh"
#include "sched/counters.hh"

namespace pk::pipeline::latency {

/// Registers the dynamic field and flag (once per process); false if DPDK refused.
bool register_field() noexcept;
/// What register_field() got; field_offset -1 before (or when it failed): no stamps.
extern int field_offset;
extern std::uint64_t stamped_flag;

/// Stamps the burst's first packet with `now` (its arrival: the burst's).
PK_ALWAYS_INLINE void stamp(rte_mbuf** pkts, std::uint16_t n, std::uint64_t now) noexcept {
    const int off = field_offset;
    if (PK_UNLIKELY(off < 0) || n == 0) return;
    *RTE_MBUF_DYNFIELD(pkts[0], off, std::uint64_t*) = now;
    pkts[0]->ol_flags |= stamped_flag;
}

class histogram {
public:
    static constexpr unsigned sub_bits = 2;
    static constexpr unsigned per_octave = 1u << sub_bits;
    static constexpr unsigned buckets = 44 * per_octave; ///< up to 2^45 cycles (hours)

    /// Bucket of a latency of `d` cycles: exact below 4, then 4 per power of two.
    static constexpr unsigned bucket_of(std::uint64_t d) noexcept {
        if (d < per_octave) return static_cast<unsigned>(d);
        const unsigned msb = 63u - static_cast<unsigned>(__builtin_clzll(d));
        const unsigned sub = static_cast<unsigned>(d >> (msb - sub_bits)) & (per_octave - 1);
        const unsigned b = (msb - sub_bits + 1) * per_octave + sub;
        return b < buckets ? b : buckets - 1;
    }
    /// The smallest latency (cycles) that is not in bucket `b` (its exclusive bound).
    static constexpr std::uint64_t upper_of(unsigned b) noexcept {
        if (b < per_octave) return b + 1;
        const unsigned octave = b / per_octave - 1, sub = b % per_octave;
        return (std::uint64_t{per_octave} + sub + 1) << octave;
    }

    /// Owner reactor: the stamped packets of the burst, at time `now`.
    PK_ALWAYS_INLINE void observe(rte_mbuf* const* pkts, std::uint16_t n,
                                  std::uint64_t now) noexcept {
        const int off = field_offset;
        if (PK_UNLIKELY(off < 0)) return;
        std::uint64_t sum = 0;
        for (std::uint16_t i = 0; i < n; ++i) {
            if (!(pkts[i]->ol_flags & stamped_flag)) continue;
            const std::uint64_t t = *RTE_MBUF_DYNFIELD(pkts[i], off, const std::uint64_t*);
            const std::uint64_t d = now > t ? now - t : 0;
            _counts[bucket_of(d)].add(1);
            sum += d;
        }
        if (sum) _sum.add(sum);
    }

    // ---- any thread ----------------------------------------------------------------
    /// Samples observed (one per RX burst that reached this stage).
    std::uint64_t count() const noexcept;
    std::uint64_t sum_cycles() const noexcept { return _sum.load(); }
    /// The q-quantile (0 < q < 1) in nanoseconds, interpolated inside its bucket; 0
    /// when nothing was observed.
    double quantile_ns(double q) const noexcept;
    /// Per-bucket counts merged to powers of two: (exclusive bound in cycles, count).
    std::vector<std::pair<std::uint64_t, std::uint64_t>> octaves() const;

private:
    std::array<sched::counter, buckets> _counts{};
    sched::counter _sum;
};

} // namespace pk::pipeline::latency
