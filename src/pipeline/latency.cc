#include "pipeline/latency.hh"

#include "base/clock.hh"

namespace pk::pipeline::latency {

int field_offset = -1;
std::uint64_t stamped_flag = 0;

bool register_field() noexcept {
    if (field_offset >= 0) return true;
    static const rte_mbuf_dynfield field = {"pktkernel_rx_tsc", sizeof(std::uint64_t),
                                            alignof(std::uint64_t), 0};
    static const rte_mbuf_dynflag flag = {"pktkernel_rx_tsc_valid", 0};
    const int bit = rte_mbuf_dynflag_register(&flag);
    const int off = rte_mbuf_dynfield_register(&field);
    if (bit < 0 || off < 0) return false;
    stamped_flag = 1ull << bit;
    field_offset = off; // last: stamp() and observe() test it first
    return true;
}

std::uint64_t histogram::count() const noexcept {
    std::uint64_t n = 0;
    for (auto& c : _counts)
        n += c.load();
    return n;
}

double histogram::quantile_ns(double q) const noexcept {
    std::array<std::uint64_t, buckets> c;
    std::uint64_t total = 0;
    for (unsigned b = 0; b < buckets; ++b)
        total += c[b] = _counts[b].load();
    if (total == 0) return 0;
    const double want = q * static_cast<double>(total);
    double seen = 0;
    for (unsigned b = 0; b < buckets; ++b) {
        if (c[b] == 0) continue;
        if (seen + static_cast<double>(c[b]) >= want) {
            const double lo = b ? static_cast<double>(upper_of(b - 1)) : 0.0;
            const double hi = static_cast<double>(upper_of(b));
            const double cycles = lo + (hi - lo) * (want - seen) / static_cast<double>(c[b]);
            return cycles * 1e9 / static_cast<double>(tsc::hz());
        }
        seen += static_cast<double>(c[b]);
    }
    return static_cast<double>(upper_of(buckets - 1)) * 1e9 / static_cast<double>(tsc::hz());
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> histogram::octaves() const {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
    std::uint64_t acc = 0;
    for (unsigned b = 0; b < buckets; ++b) {
        acc += _counts[b].load();
        // Octave ends: the last exact bucket (3), then every 4th.
        if (b + 1 >= per_octave && (b + 1) % per_octave == 0) {
            out.emplace_back(upper_of(b), acc);
            acc = 0;
        }
    }
    return out;
}

} // namespace pk::pipeline::latency
