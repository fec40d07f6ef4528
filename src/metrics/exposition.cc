#include "metrics/exposition.hh"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace pk::metrics {

const char* to_string(metric_type t) noexcept {
    switch (t) {
    case metric_type::counter:
        return "counter";
    case metric_type::gauge:
        return "gauge";
    case metric_type::histogram:
        return "histogram";
    }
    return "untyped";
}

double number::as_double() const noexcept {
    switch (_kind) {
    case kind::u64:
        return static_cast<double>(_u);
    case kind::i64:
        return static_cast<double>(_i);
    case kind::f64:
        return _d;
    }
    return 0;
}

namespace {

void append_double(std::string& out, double d) {
    if (std::isnan(d)) {
        out += "NaN";
    } else if (std::isinf(d)) {
        out += d > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[32];
        // Shortest form that parses back to the same double (Go's ParseFloat reads it).
        auto r = std::to_chars(buf, buf + sizeof buf, d);
        out.append(buf, r.ptr);
    }
}

template <typename I>
void append_int(std::string& out, I v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

bool name_char(char c, bool first, bool colon) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
    if (colon && c == ':') return true;
    return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view s, bool colon) noexcept {
    if (s.empty()) return false;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (!name_char(s[i], i == 0, colon)) return false;
    return true;
}

bool ends_with(std::string_view s, std::string_view suffix) noexcept {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Canonical key of a label set (sorted by name) to detect duplicate series.
std::string label_key(const label_set& ls) {
    std::vector<const label*> v;
    v.reserve(ls.size());
    for (const auto& l : ls)
        v.push_back(&l);
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->name < b->name; });
    std::string k;
    for (auto* l : v) {
        k += l->name;
        k += '\0';
        k += l->value;
        k += '\0';
    }
    return k;
}

// Returns an empty string when the label set is fine, else what is wrong.
std::string check_labels(const label_set& ls, bool histogram) {
    for (std::size_t i = 0; i < ls.size(); ++i) {
        const auto& n = ls[i].name;
        if (!valid_label_name(n)) return "invalid label name '" + n + "'";
        if (histogram && n == "le") return "histogram sample has its own 'le' label";
        for (std::size_t j = 0; j < i; ++j)
            if (ls[j].name == n) return "label '" + n + "' appears twice";
    }
    return {};
}

std::string check_histogram(const histogram_value& h) {
    if (h.counts.size() != h.bounds.size() + 1)
        return "histogram needs bounds.size()+1 counts (the last is the overflow bucket), got " +
               std::to_string(h.counts.size()) + " counts for " + std::to_string(h.bounds.size()) +
               " bounds";
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
        if (!std::isfinite(h.bounds[i])) return "histogram bound is not finite";
        if (i > 0 && !(h.bounds[i] > h.bounds[i - 1]))
            return "histogram bounds are not strictly increasing";
    }
    return {};
}

// Validate one family on its own; empty string when fine.
std::string check_family(const family& f) {
    if (!valid_metric_name(f.name)) return "invalid metric name";
    if (f.type == metric_type::counter && !ends_with(f.name, "_total"))
        return "counter name must end in _total";
    if (f.type == metric_type::histogram) {
        if (!f.samples.empty()) return "histogram family has plain samples";
        for (const auto& h : f.histograms) {
            if (auto e = check_labels(h.labels, true); !e.empty()) return e;
            if (auto e = check_histogram(h.value); !e.empty()) return e;
        }
    } else {
        if (!f.histograms.empty()) return "counter/gauge family has histogram samples";
        for (const auto& s : f.samples) {
            if (auto e = check_labels(s.labels, false); !e.empty()) return e;
            if (f.type == metric_type::counter && s.value.type() == number::kind::i64 &&
                s.value.as_double() < 0)
                return "counter value is negative";
        }
    }
    return {};
}

void append_labels(std::string& out, const label_set& ls, const char* le = nullptr,
                   double le_value = 0) {
    if (ls.empty() && !le) return;
    out += '{';
    bool first = true;
    for (const auto& l : ls) {
        if (!first) out += ',';
        first = false;
        out += l.name;
        out += "=\"";
        append_escaped_label_value(out, l.value);
        out += '"';
    }
    if (le) {
        if (!first) out += ',';
        out += "le=\"";
        if (*le)
            out += le;
        else
            append_double(out, le_value);
        out += '"';
    }
    out += '}';
}

struct group {
    const family* head = nullptr;         // first contribution: name, help, type
    std::vector<const family*> parts;     // accepted contributions
    std::unordered_set<std::string> keys; // label sets seen
    std::size_t samples = 0;
};

} // namespace

void number::append_to(std::string& out) const {
    switch (_kind) {
    case kind::u64:
        append_int(out, _u);
        break;
    case kind::i64:
        append_int(out, _i);
        break;
    case kind::f64:
        append_double(out, _d);
        break;
    }
}

bool valid_metric_name(std::string_view s) noexcept {
    return valid_name(s, true);
}

bool valid_label_name(std::string_view s) noexcept {
    return valid_name(s, false) && !(s.size() >= 2 && s[0] == '_' && s[1] == '_');
}

namespace {
/// Length of the valid UTF-8 sequence at the start of `v` (1..4), or 0 when it is not
/// one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, cut).
std::size_t utf8_length(std::string_view v) noexcept {
    static constexpr std::uint32_t least[] = {0, 0x80, 0x800, 0x10000};
    const auto c = static_cast<unsigned char>(v[0]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0)
        n = 1, cp = c & 0x1fu;
    else if ((c & 0xf0) == 0xe0)
        n = 2, cp = c & 0x0fu;
    else if ((c & 0xf8) == 0xf0)
        n = 3, cp = c & 0x07u;
    else
        return 0;
    if (v.size() <= n) return 0;
    for (std::size_t k = 1; k <= n; ++k) {
        const auto d = static_cast<unsigned char>(v[k]);
        if ((d & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (d & 0x3fu);
    }
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n + 1;
}

/// The exposition format's escapes: backslash and newline, and '"' in label values.
/// The format is UTF-8 and Prometheus refuses a whole scrape over one bad byte, so each
/// byte that does not start a valid sequence becomes U+FFFD.
void append_escaped(std::string& out, std::string_view v, bool quote) {
    while (!v.empty()) {
        const char c = v[0];
        std::size_t n = 1;
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '"' && quote)
            out += "\\\"";
        else if (static_cast<unsigned char>(c) < 0x80)
            out += c;
        else if ((n = utf8_length(v)) != 0)
            out.append(v.data(), n);
        else
            out += "\xef\xbf\xbd", n = 1;
        v.remove_prefix(n);
    }
}
} // namespace

void append_escaped_label_value(std::string& out, std::string_view v) {
    append_escaped(out, v, true);
}

void append_escaped_help(std::string& out, std::string_view v) {
    append_escaped(out, v, false);
}

encode_report encode(std::span<const family> families, std::string& out) {
    encode_report rep;
    auto skip = [&](const family& f, const std::string& why) {
        rep.skipped.push_back("metric family '" + f.name + "' left out: " + why);
    };

    // 1. Group by name (first-seen order), validating each contribution.
    std::vector<group> groups;
    std::unordered_map<std::string_view, std::size_t> by_name;
    for (const auto& f : families) {
        if (auto e = check_family(f); !e.empty()) {
            skip(f, e);
            continue;
        }
        auto [it, fresh] = by_name.try_emplace(f.name, groups.size());
        if (fresh) groups.push_back(group{&f, {}, {}, 0});
        group& g = groups[it->second];
        if (g.head->type != f.type) {
            skip(f, std::string("registered as ") + to_string(g.head->type) + " and as " +
                        to_string(f.type));
            continue;
        }
        // Duplicate series (same label set), within this part or against earlier parts.
        std::vector<std::string> keys;
        std::string dup;
        auto check_key = [&](const label_set& ls) {
            auto k = label_key(ls);
            if (g.keys.count(k) || std::find(keys.begin(), keys.end(), k) != keys.end())
                dup = "two samples with the same labels";
            keys.push_back(std::move(k));
        };
        for (const auto& s : f.samples)
            check_key(s.labels);
        for (const auto& h : f.histograms)
            check_key(h.labels);
        if (!dup.empty()) {
            skip(f, dup);
            continue;
        }
        for (auto& k : keys)
            g.keys.insert(std::move(k));
        g.parts.push_back(&f);
        g.samples += f.samples.size() + f.histograms.size();
    }

    // 2. Sample names must not collide across families (a gauge `x_count` vs a
    //    histogram `x`, a gauge `x_total` vs ...).
    std::unordered_set<std::string> emitted;
    for (auto& g : groups) {
        if (g.parts.empty()) continue;
        std::vector<std::string> names;
        if (g.head->type == metric_type::histogram)
            names = {g.head->name + "_bucket", g.head->name + "_sum", g.head->name + "_count"};
        names.push_back(g.head->name); // the family name itself (HELP/TYPE)
        bool clash = false;
        for (const auto& n : names)
            clash |= emitted.count(n) > 0;
        if (clash) {
            skip(*g.head, "its sample names collide with another family");
            g.parts.clear();
            continue;
        }
        for (auto& n : names)
            emitted.insert(std::move(n));
    }

    // 3. Write.
    for (const auto& g : groups) {
        if (g.parts.empty() || g.samples == 0) continue;
        const family& h = *g.head;
        out += "# HELP ";
        out += h.name;
        out += ' ';
        append_escaped_help(out, h.help);
        out += "\n# TYPE ";
        out += h.name;
        out += ' ';
        out += to_string(h.type);
        out += '\n';
        for (const family* f : g.parts) {
            for (const auto& s : f->samples) {
                out += h.name;
                append_labels(out, s.labels);
                out += ' ';
                s.value.append_to(out);
                out += '\n';
            }
            for (const auto& hs : f->histograms) {
                const auto& v = hs.value;
                std::uint64_t cum = 0;
                for (std::size_t i = 0; i < v.counts.size(); ++i) {
                    cum += v.counts[i];
                    out += h.name;
                    out += "_bucket";
                    if (i < v.bounds.size())
                        append_labels(out, hs.labels, "", v.bounds[i]);
                    else
                        append_labels(out, hs.labels, "+Inf");
                    out += ' ';
                    append_int(out, cum);
                    out += '\n';
                }
                out += h.name;
                out += "_sum";
                append_labels(out, hs.labels);
                out += ' ';
                append_double(out, v.sum);
                out += '\n';
                out += h.name;
                out += "_count";
                append_labels(out, hs.labels);
                out += ' ';
                append_int(out, cum);
                out += '\n';
            }
        }
        ++rep.families;
    }
    return rep;
}

} // namespace pk::metrics
