// Prometheus text exposition format, version 0.0.4 — our own encoder.
//
// Use it at scrape time (HTTP thread) to turn metric families into the body of
// `GET /metrics`. Never on the packet path: everything here allocates.
//
// Guarantees of `encode()`:
//  - one `# HELP` and one `# TYPE` line per family; families with the same name coming
//    from different collectors are merged (same type required), in first-seen order;
//  - metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`
//    and do not start with `__`; counter names end in `_total`; histograms carry no
//    `le` label of their own; no two samples of a family share a label set; no
//    sample name (incl. `_bucket`/`_sum`/`_count`) is emitted by two families;
//  - label values escape `\`, `"` and newline; HELP text escapes `\` and newline;
//  - integers (uint64/int64) print exactly in decimal, doubles print the shortest
//    round-trip form, and NaN / +Inf / -Inf print as Prometheus spells them;
//  - histograms take per-bucket (non-cumulative) counts and emit cumulative
//    `_bucket{le=...}` lines ending in `le="+Inf"`, then `_sum` and `_count`.
// A family that breaks a rule is left out whole and its problem is reported; the
// other families are still encoded (one buggy collector must not blank a scrape).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pk::metrics {

enum class metric_type { counter, gauge, histogram };

const char* to_string(metric_type t) noexcept;

struct label {
    std::string name;
    std::string value;
};
using label_set = std::vector<label>;

/// A sample value: exact unsigned / signed integer or a double.
class number {
public:
    enum class kind : std::uint8_t { u64, i64, f64 };

    constexpr number() noexcept : _kind(kind::u64), _u(0) {}
    template <typename T>
    requires std::is_integral_v<T> &&(!std::is_same_v<T, bool>)constexpr number(
        T v) noexcept { // NOLINT(google-explicit-constructor)
        if constexpr (std::is_unsigned_v<T>) {
            _kind = kind::u64;
            _u = v;
        } else {
            _kind = kind::i64;
            _i = v;
        }
    }
    constexpr number(double v) noexcept : _kind(kind::f64), _d(v) {} // NOLINT

    kind type() const noexcept { return _kind; }
    double as_double() const noexcept;
    /// Append the exposition spelling ("12", "-3", "0.25", "+Inf", "NaN").
    void append_to(std::string& out) const;

private:
    kind _kind;
    union {
        std::uint64_t _u;
        std::int64_t _i;
        double _d;
    };
};

/// Histogram data as owners keep it: `counts[i]` observations fell in
/// (bounds[i-1], bounds[i]]; `counts.back()` is the overflow bucket (> last bound).
/// So counts.size() == bounds.size() + 1; bounds strictly increasing and finite.
struct histogram_value {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;
    double sum = 0;
};

struct sample {
    label_set labels;
    number value;
};

struct histogram_sample {
    label_set labels;
    histogram_value value;
};

/// One metric family: a name, help text, a type and its samples. Counters and gauges
/// use `samples`; histograms use `histograms`.
struct family {
    std::string name;
    std::string help;
    metric_type type = metric_type::gauge;
    std::vector<sample> samples;
    std::vector<histogram_sample> histograms;

    family() = default;
    family(std::string n, std::string h, metric_type t)
        : name(std::move(n)), help(std::move(h)), type(t) {}

    family& add(label_set l, number v) {
        samples.push_back(sample{std::move(l), v});
        return *this;
    }
    family& add(histogram_value h, label_set l = {}) {
        histograms.push_back(histogram_sample{std::move(l), std::move(h)});
        return *this;
    }
};

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
bool valid_metric_name(std::string_view s) noexcept;
/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved for Prometheus).
bool valid_label_name(std::string_view s) noexcept;

/// Escapes for label values (`\` `"` newline) and HELP text (`\` newline).
void append_escaped_label_value(std::string& out, std::string_view v);
void append_escaped_help(std::string& out, std::string_view v);

struct encode_report {
    std::size_t families = 0;         ///< families written
    std::vector<std::string> skipped; ///< one message per family left out
    bool ok() const noexcept { return skipped.empty(); }
};

/// Content-Type of the body `encode()` writes.
inline constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Append the exposition of `families` to `out` (see the guarantees above).
encode_report encode(std::span<const family> families, std::string& out);

} // namespace pk::metrics
