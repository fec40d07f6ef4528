// The config model: diagnostics, scalars, node getters, lookups and loading. The parse
// phase (node tree → typed model) lives in config_parse.cc and config_sections.cc, the
// cross-checks in config_validate.cc, YAML reading in config_yaml.cc.
#include "pipeline/config.hh"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pipeline/config_parser.hh"

namespace pk::pipeline {

using std::chrono::nanoseconds;

// ---------------------------------------------------------------------------------------
// Helpers

namespace detail {

size_t edit_distance(std::string_view a, std::string_view b) {
    const size_t n = a.size(), m = b.size();
    std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
    for (size_t i = 0; i <= n; ++i)
        d[i][0] = i;
    for (size_t j = 0; j <= m; ++j)
        d[0][j] = j;
    for (size_t i = 1; i <= n; ++i) {
        for (size_t j = 1; j <= m; ++j) {
            const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[n][m];
}

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
    const size_t limit = word.size() <= 3 ? 1 : word.size() <= 6 ? 2 : 3;
    std::string best;
    size_t best_d = limit + 1;
    for (const auto& c : candidates) {
        const size_t d = edit_distance(word, c);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best;
}

std::string join(const std::vector<std::string>& words, std::string_view sep) {
    std::string out;
    for (size_t i = 0; i < words.size(); ++i) {
        if (i) out += sep;
        out += words[i];
    }
    return out;
}

std::string suggest(std::string_view word, const std::vector<std::string>& candidates,
                    std::string_view label, std::string_view empty_text) {
    if (candidates.empty()) return "(" + std::string(empty_text) + ")";
    if (auto c = closest(word, candidates); !c.empty()) return "(did you mean '" + c + "'?)";
    return "(" + std::string(label) + ": " + join(candidates) + ")";
}

std::string describe(const node& n) {
    switch (n.type) {
    case node::kind::null:
        return "nothing";
    case node::kind::sequence:
        return "a list";
    case node::kind::map:
        return "a map";
    case node::kind::scalar:
        break;
    }
    if (n.quoted) return "the quoted string \"" + n.text + "\"";
    return "'" + n.text + "'";
}

std::string position(mark m) {
    return std::to_string(m.line) + ":" + std::to_string(m.col);
}

void sort(std::vector<diagnostic>& ds) {
    std::stable_sort(ds.begin(), ds.end(), [](const diagnostic& a, const diagnostic& b) {
        return std::tie(a.line, a.col) < std::tie(b.line, b.col);
    });
}

bool valid_name(std::string_view s) noexcept {
    if (s.empty()) return false;
    auto alpha = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    };
    if (!alpha(s[0])) return false;
    for (char c : s)
        if (!alpha(c) && !(c >= '0' && c <= '9') && c != '-') return false;
    return true;
}

} // namespace detail

namespace {
/// Control bytes (a name or value quoted from the file may hold any) as `\xNN`, so a
/// diagnostic is always one printable line.
std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 0xf];
        } else {
            out += c;
        }
    }
    return out;
}
} // namespace

std::string format(const diagnostic& d) {
    if (d.line == 0) return printable(d.file) + ": " + printable(d.message);
    return printable(d.file) + ":" + std::to_string(d.line) + ":" + std::to_string(d.col) + ": " +
           printable(d.message);
}

std::string format(const std::vector<diagnostic>& ds) {
    // The first ones say what is wrong; a thousand more only bury them.
    constexpr std::size_t shown = 50;
    std::string out;
    for (std::size_t i = 0; i < ds.size() && i < shown; ++i)
        out += format(ds[i]) + "\n";
    if (ds.size() > shown)
        out += ds[0].file + ": ... and " + std::to_string(ds.size() - shown) +
               " more errors (fix the first ones and run again)\n";
    return out;
}

// ---------------------------------------------------------------------------------------
// Scalars

std::optional<int64_t> to_integer(const node& n) {
    if (!n.is_scalar() || n.quoted || n.text.empty()) return std::nullopt;
    std::string_view s = n.text;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    }
    if (s.empty()) return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
}

std::optional<double> to_number(const node& n) {
    if (!n.is_scalar() || n.quoted || n.text.empty()) return std::nullopt;
    if (auto i = to_integer(n)) return static_cast<double>(*i);
    const std::string& s = n.text;
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

std::optional<bool> to_boolean(const node& n) {
    if (!n.is_scalar() || n.quoted) return std::nullopt;
    std::string s = n.text;
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true" || s == "on" || s == "yes") return true;
    if (s == "false" || s == "off" || s == "no") return false;
    return std::nullopt;
}

std::optional<nanoseconds> parse_duration(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
        ++i;
    if (i == 0 || i == s.size()) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + i, v);
    if (ec != std::errc{} || p != s.data() + i) return std::nullopt;
    const std::string_view unit = s.substr(i);
    double scale = 0;
    if (unit == "ns")
        scale = 1;
    else if (unit == "us" || unit == "\u00b5s")
        scale = 1e3;
    else if (unit == "ms")
        scale = 1e6;
    else if (unit == "s")
        scale = 1e9;
    else if (unit == "min")
        scale = 60e9;
    else
        return std::nullopt;
    const double ns = v * scale;
    if (!std::isfinite(ns) || ns > 9.2e18) return std::nullopt;
    return nanoseconds(static_cast<int64_t>(std::llround(ns)));
}

std::optional<nanoseconds> to_duration(const node& n) {
    if (!n.is_scalar()) return std::nullopt;
    return parse_duration(n.text);
}

// ---------------------------------------------------------------------------------------
// node getters

const node* node::find(std::string_view key) const noexcept {
    if (!is_map()) return nullptr;
    for (const auto& e : entries)
        if (e.key == key) return &e.value;
    return nullptr;
}

int64_t node::integer_or(std::string_view key, int64_t dflt) const {
    const node* n = find(key);
    auto v = n ? to_integer(*n) : std::nullopt;
    return v ? *v : dflt;
}

double node::number_or(std::string_view key, double dflt) const {
    const node* n = find(key);
    auto v = n ? to_number(*n) : std::nullopt;
    return v ? *v : dflt;
}

bool node::boolean_or(std::string_view key, bool dflt) const {
    const node* n = find(key);
    auto v = n ? to_boolean(*n) : std::nullopt;
    return v ? *v : dflt;
}

std::string node::string_or(std::string_view key, std::string dflt) const {
    const node* n = find(key);
    return n && n->is_scalar() ? n->text : dflt;
}

nanoseconds node::duration_or(std::string_view key, nanoseconds dflt) const {
    const node* n = find(key);
    auto v = n ? to_duration(*n) : std::nullopt;
    return v ? *v : dflt;
}

// ---------------------------------------------------------------------------------------
// Enums

const char* yaml_name(discipline_kind d) noexcept {
    return detail::name_of(detail::discipline_choices, d);
}
const char* yaml_name(idle_policy p) noexcept {
    return detail::name_of(detail::idle_choices, p);
}
const char* yaml_name(overflow_policy p) noexcept {
    return detail::name_of(detail::overflow_choices, p);
}
const char* to_string(param_type t) noexcept {
    return detail::name_of(detail::param_type_choices, t);
}

// ---------------------------------------------------------------------------------------
// Model helpers

std::string port_config::device_name() const {
    return device.value.substr(0, device.value.find(','));
}

const port_config* config::find_port(std::string_view n) const noexcept {
    for (const auto& p : ports)
        if (p.name.value == n) return &p;
    return nullptr;
}

const stage_config* config::find_stage(std::string_view n) const noexcept {
    for (const auto& s : stages)
        if (s.name.value == n) return &s;
    return nullptr;
}

const reactor_config* config::find_reactor(std::string_view ref) const noexcept {
    node tmp;
    tmp.type = node::kind::scalar;
    tmp.text = std::string(ref);
    const auto id = to_integer(tmp);
    for (const auto& r : reactors.list) {
        if (r.name.value == ref) return &r;
        if (id && *id >= 0 && static_cast<uint64_t>(*id) == r.id.value) return &r;
    }
    return nullptr;
}

diagnostic config::error_at(mark at, std::string message) const {
    return diagnostic{file, at.line, at.col, std::move(message)};
}

pk::error config_result::err() const {
    return pk::error{_code, format(_diags)};
}

result<config> config_result::to_result() && {
    if (ok()) return std::move(*_cfg);
    return err();
}

// ---------------------------------------------------------------------------------------
// Loading

config_result load_string(std::string_view text, std::string file, const validation_options& opts) {
    std::vector<diagnostic> diags;
    const detail::sink s{file, &diags};
    node root;
    config c;
    c.file = file;
    if (detail::read_yaml(text, root, s)) {
        detail::parser(s).parse(root, c);
        auto more = validate(c, opts);
        diags.insert(diags.end(), more.begin(), more.end());
    }
    if (!diags.empty()) {
        detail::sort(diags);
        return config_result(std::move(diags));
    }
    return config_result(std::move(c));
}

config_result load_file(const std::string& path, const validation_options& opts) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        return config_result({diagnostic{path, 0, 0, "cannot read config: it is a directory"}},
                             errc::invalid_argument);
    // A pipeline is a few KiB; anything near this is not a config (and yaml-cpp would
    // spend seconds and gigabytes on it).
    constexpr std::uintmax_t max_bytes = 4u << 20;
    if (const auto size = std::filesystem::file_size(path, ec); !ec && size > max_bytes)
        return config_result({diagnostic{path, 0, 0,
                                         "cannot read config: it is " + std::to_string(size) +
                                             " bytes; a config may be at most 4 MiB"}},
                             errc::invalid_argument);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int e = errno;
        return config_result(
            {diagnostic{path, 0, 0, std::string("cannot read config: ") + std::strerror(e)}},
            e == ENOENT ? errc::not_found : errc::io);
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
        return config_result({diagnostic{path, 0, 0, "cannot read config: read error"}}, errc::io);
    }
    return load_string(ss.str(), path, opts);
}

} // namespace pk::pipeline
