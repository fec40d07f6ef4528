// The config loader: node tree → typed model, checking every key, type and range (the
// cross-checks live in config_validate.cc, YAML reading in config_yaml.cc).
#include "pipeline/config.hh"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <span>
#include <sstream>

#include "pipeline/config_detail.hh"

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

std::string format(const diagnostic& d) {
    if (d.line == 0) return d.file + ": " + d.message;
    return d.file + ":" + std::to_string(d.line) + ":" + std::to_string(d.col) + ": " + d.message;
}

std::string format(const std::vector<diagnostic>& ds) {
    std::string out;
    for (const auto& d : ds)
        out += format(d) + "\n";
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

namespace {
template <typename E>
struct choice {
    const char* name;
    E value;
};
constexpr choice<discipline> discipline_choices[] = {{"weighted", discipline::weighted},
                                                     {"round_robin", discipline::round_robin},
                                                     {"tree", discipline::tree}};
constexpr choice<idle_policy> idle_choices[] = {{"busy", idle_policy::busy},
                                                {"pause", idle_policy::pause},
                                                {"adaptive", idle_policy::adaptive}};
constexpr choice<queue_kind> queue_choices[] = {{"link", queue_kind::link},
                                                {"sub", queue_kind::sub},
                                                {"pub", queue_kind::pub},
                                                {"channel", queue_kind::channel}};
constexpr choice<overflow_policy> overflow_choices[] = {
    {"drop", overflow_policy::drop},
    {"backpressure", overflow_policy::backpressure},
    {"drop_newest", overflow_policy::drop_newest},
    {"evict", overflow_policy::evict}};
constexpr choice<param_type> param_type_choices[] = {
    {"any", param_type::any},           {"boolean", param_type::boolean},
    {"integer", param_type::integer},   {"number", param_type::number},
    {"string", param_type::string},     {"duration", param_type::duration},
    {"list", param_type::list},         {"map", param_type::map},
    {"port", param_type::port},         {"stage", param_type::stage},
    {"rx_queue", param_type::rx_queue}, {"tx_queue", param_type::tx_queue}};

template <typename E, size_t N>
const char* name_of(const choice<E> (&table)[N], E v) noexcept {
    for (const auto& c : table)
        if (c.value == v) return c.name;
    return "?";
}
} // namespace

const char* to_string(discipline d) noexcept {
    return name_of(discipline_choices, d);
}
const char* to_string(idle_policy p) noexcept {
    return name_of(idle_choices, p);
}
const char* to_string(queue_kind k) noexcept {
    return name_of(queue_choices, k);
}
const char* to_string(overflow_policy p) noexcept {
    return name_of(overflow_choices, p);
}
const char* to_string(param_type t) noexcept {
    return name_of(param_type_choices, t);
}

// ---------------------------------------------------------------------------------------
// Model helpers

namespace {
const std::regex& pci_regex() {
    static const std::regex re("^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$");
    return re;
}
const std::regex& vdev_regex() {
    static const std::regex re("^net_[a-z][a-z0-9_]*(,[A-Za-z0-9_]+=[^,]+)*$");
    return re;
}
} // namespace

bool port_config::is_pci() const noexcept {
    try {
        return std::regex_match(device.value, pci_regex());
    } catch (...) {
        return false;
    }
}

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

std::set<std::string, std::less<>> builtin_stage_types() {
    return {"port_rx",   "port_tx", "parse",   "filter",     "macswap",  "flow_balance", "publish",
            "subscribe", "count",   "capture", "rate_limit", "udp_echo", "generator",    "drop"};
}

std::optional<stage_schema> builtin_stage_schema(std::string_view type) {
    if (type == "port_rx") {
        stage_schema s;
        s.params = {{"port", param_type::port, true},
                    {"queue", param_type::rx_queue},
                    {"burst", param_type::integer, false, 1, 1024}};
        s.accepts_input = false;
        return s;
    }
    if (type == "port_tx") {
        stage_schema s;
        s.params = {{"port", param_type::port, true},
                    {"queue", param_type::tx_queue},
                    {"burst", param_type::integer, false, 1, 1024}};
        s.has_outputs = false;
        return s;
    }
    if (type == "drop") {
        stage_schema s;
        s.has_outputs = false;
        return s;
    }
    return std::nullopt;
}

pk::error config_result::err() const {
    return pk::error{_code, format(_diags)};
}

result<config> config_result::to_result() && {
    if (ok()) return std::move(*_cfg);
    return err();
}

// ---------------------------------------------------------------------------------------
// The parse phase

namespace {

const std::vector<std::string> top_keys = {"name",   "description", "eal",    "ports",   "reactors",
                                           "stages", "edges",       "timers", "metrics", "console"};
const std::vector<std::string> eal_keys = {"lcores", "memory_mb", "hugepages", "file_prefix",
                                           "extra_args"};
const std::vector<std::string> port_keys = {"name",    "device",  "rx_queues", "tx_queues",
                                            "rx_desc", "tx_desc", "mtu",       "promiscuous",
                                            "rss",     "mempool"};
const std::vector<std::string> rss_keys = {"enabled", "types"};
const std::vector<std::string> rss_types = {"ip",       "ipv4",     "ipv6",      "tcp",
                                            "udp",      "sctp",     "ipv4_tcp",  "ipv4_udp",
                                            "ipv6_tcp", "ipv6_udp", "l2_payload"};
const std::vector<std::string> mempool_keys = {"size", "cache", "data_room"};
const std::vector<std::string> reactor_keys = {"name",  "id",     "lcore", "discipline",
                                               "polls", "shares", "idle"};
const std::vector<std::string> auto_reactor_keys = {"count", "discipline", "polls", "shares",
                                                    "idle"};
const std::vector<std::string> stage_keys = {"name", "type", "params", "reactor", "priority"};
const std::vector<std::string> edge_keys = {"from", "to",       "queue",
                                            "size", "overflow", "allow_cycle"};
const std::vector<std::string> timer_keys = {"name", "interval", "action", "reactor"};
const std::vector<std::string> metrics_keys = {"enabled", "listen"};
const std::vector<std::string> console_keys = {"stdin", "socket"};

constexpr int64_t max_lcore = 1023;

class parser {
public:
    explicit parser(const detail::sink& s) : _s(s) {}

    void parse(const node& root, config& c);

private:
    const detail::sink& _s;

    void error(mark at, std::string msg) const { _s.error(at, std::move(msg)); }

    /// Unknown keys in map `m`; `where`: "in port", "at the top level", ...
    void check_keys(const node& m, const std::vector<std::string>& allowed,
                    std::string_view where) const {
        for (const auto& e : m.entries) {
            if (std::find(allowed.begin(), allowed.end(), e.key) != allowed.end()) continue;
            // `{device: net_ring0,x=1}` splits at the comma: say so.
            const std::string hint =
                e.key.find('=') != std::string::npos
                    ? "(a value containing ',' inside {...} must be quoted, e.g. device: "
                      "\"net_memif0,role=server\")"
                    : detail::suggest(e.key, allowed, "allowed");
            error(e.key_at, "unknown key '" + e.key + "' " + std::string(where) + " " + hint);
        }
    }

    bool expect_map(const node& n, std::string_view key, std::string_view hint) const {
        if (n.is_map()) return true;
        error(n.at, "'" + std::string(key) + "' must be a map" + std::string(hint) + ", got " +
                        detail::describe(n));
        return false;
    }

    void require(const node& m, std::string_view key, std::string_view what) const {
        if (!m.find(key))
            error(m.at, std::string(what) + " is missing required key '" + std::string(key) + "'");
    }

    template <typename T>
    bool integer(const node& m, std::string_view key, located<T>& out, int64_t lo,
                 int64_t hi) const {
        const node* n = m.find(key);
        if (!n) return false;
        return integer_value(*n, key, out, lo, hi);
    }

    template <typename T>
    bool integer_value(const node& n, std::string_view key, located<T>& out, int64_t lo,
                       int64_t hi) const {
        auto v = to_integer(n);
        if (!v) {
            error(n.at,
                  "'" + std::string(key) + "' must be an integer, got " + detail::describe(n));
            return false;
        }
        if (*v < lo || *v > hi) {
            error(n.at, "'" + std::string(key) + "' must be between " + std::to_string(lo) +
                            " and " + std::to_string(hi) + ", got " + std::to_string(*v));
            return false;
        }
        out = located<T>(static_cast<T>(*v), n.at);
        return true;
    }

    bool pow2(const node& m, std::string_view key, located<uint32_t>& out, int64_t lo,
              int64_t hi) const {
        located<uint32_t> v;
        if (!integer(m, key, v, lo, hi)) return false;
        if (!detail::is_power_of_two(v.value)) {
            uint64_t below = 1;
            while (below * 2 < v.value)
                below *= 2;
            error(v.at, "'" + std::string(key) + "' must be a power of two, got " +
                            std::to_string(v.value) + " (e.g. " + std::to_string(below) + " or " +
                            std::to_string(below * 2) + ")");
            return false;
        }
        out = v;
        return true;
    }

    bool boolean(const node& m, std::string_view key, located<bool>& out) const {
        const node* n = m.find(key);
        if (!n) return false;
        auto v = to_boolean(*n);
        if (!v) {
            error(n->at, "'" + std::string(key) + "' must be on or off (true/false, yes/no), got " +
                             detail::describe(*n));
            return false;
        }
        out = located<bool>(*v, n->at);
        return true;
    }

    bool string(const node& m, std::string_view key, located<std::string>& out) const {
        const node* n = m.find(key);
        if (!n) return false;
        if (!n->is_scalar()) {
            error(n->at,
                  "'" + std::string(key) + "' must be a string, got " + detail::describe(*n));
            return false;
        }
        out = located<std::string>(n->text, n->at);
        return true;
    }

    /// A name: string + the identifier rule. The raw text is kept even when invalid so
    /// that references to it do not cascade into more errors.
    bool name(const node& m, std::string_view key, located<std::string>& out) const {
        if (!string(m, key, out)) return false;
        if (!detail::valid_name(out.value)) {
            error(out.at, "invalid " + std::string(key) + " '" + out.value +
                              "' (use letters, digits, '_' and '-', starting with a letter or "
                              "'_')");
            return false;
        }
        return true;
    }

    template <typename E, size_t N>
    bool enumeration(const node& m, std::string_view key, located<E>& out,
                     const choice<E> (&table)[N]) const {
        const node* n = m.find(key);
        if (!n) return false;
        std::vector<std::string> names;
        for (const auto& c : table)
            names.emplace_back(c.name);
        if (n->is_scalar()) {
            for (const auto& c : table) {
                if (n->text == c.name) {
                    out = located<E>(c.value, n->at);
                    return true;
                }
            }
        }
        std::string msg = "invalid " + std::string(key) + " " + detail::describe(*n) + " (";
        if (n->is_scalar())
            if (auto c = detail::closest(n->text, names); !c.empty())
                msg += "did you mean '" + c + "'? ";
        error(n->at, msg + "allowed: " + detail::join(names) + ")");
        return false;
    }

    bool duration(const node& m, std::string_view key, located<nanoseconds>& out) const {
        const node* n = m.find(key);
        if (!n) return false;
        auto v = to_duration(*n);
        if (!v) {
            error(n->at, "'" + std::string(key) +
                             "' must be a duration with a unit (ns, us, ms, s, min) like 10ms, "
                             "1s or 500us, got " +
                             detail::describe(*n));
            return false;
        }
        out = located<nanoseconds>(*v, n->at);
        return true;
    }

    bool per_bucket_list(const node& m, std::string_view key, located<per_bucket>& out, int64_t lo,
                         int64_t hi) const {
        const node* n = m.find(key);
        if (!n) return false;
        if (!n->is_sequence() || n->items.size() != priority_buckets) {
            error(n->at, "'" + std::string(key) +
                             "' must list 4 integers, one per priority bucket 0..3 (like "
                             "[10, 6, 3, 1]), got " +
                             (n->is_sequence() ? std::to_string(n->items.size()) + " values"
                                               : detail::describe(*n)));
            return false;
        }
        per_bucket v{};
        bool ok = true;
        for (size_t i = 0; i < priority_buckets; ++i) {
            located<uint32_t> x;
            if (integer_value(n->items[i], key, x, lo, hi))
                v[i] = x.value;
            else
                ok = false;
        }
        if (ok) out = located<per_bucket>(v, n->at);
        return ok;
    }

    /// The items of a list section, each checked to be a map.
    std::vector<const node*> list_of_maps(const node& n, std::string_view key,
                                          std::string_view item, std::string_view hint) const {
        std::vector<const node*> out;
        if (n.is_null()) return out;
        if (!n.is_sequence()) {
            error(n.at, "'" + std::string(key) + "' must be a list of " + std::string(item) +
                            "s, got " + detail::describe(n));
            return out;
        }
        for (const auto& it : n.items) {
            if (it.is_map())
                out.push_back(&it);
            else
                error(it.at, "each " + std::string(item) + " must be a map (" + std::string(hint) +
                                 "), got " + detail::describe(it));
        }
        return out;
    }

    void parse_eal(const node& n, eal_config& e) const;
    void parse_lcores(const node& n, eal_config& e) const;
    void parse_port(const node& n, port_config& p) const;
    void parse_reactors(const node& n, reactors_config& r) const;
    void parse_reactor_settings(const node& n, reactor_config& r) const;
    void parse_stage(const node& n, stage_config& s) const;
    void parse_edge(const node& n, edge_config& e) const;
    void parse_timer(const node& n, timer_config& t) const;
    void parse_metrics(const node& n, metrics_config& m) const;
    void parse_console(const node& n, console_config& c) const;
};

void parser::parse(const node& root, config& c) {
    if (root.is_null()) {
        error(root.at,
              "the config is empty (expected a map with keys: " + detail::join(top_keys) + ")");
        return;
    }
    if (!root.is_map()) {
        error(root.at, "the config must be a map with keys: " + detail::join(top_keys) + "; got " +
                           detail::describe(root));
        return;
    }
    check_keys(root, top_keys, "at the top level");
    string(root, "name", c.name);
    string(root, "description", c.description);

    if (const node* n = root.find("eal")) {
        c.eal.at = n->at;
        if (!n->is_null() && expect_map(*n, "eal", " (lcores, memory_mb, hugepages, ...)"))
            parse_eal(*n, c.eal);
    }
    if (const node* n = root.find("ports")) {
        for (const node* item : list_of_maps(*n, "ports", "port", "name: ..., device: ...")) {
            c.ports.emplace_back();
            parse_port(*item, c.ports.back());
        }
    }
    if (const node* n = root.find("reactors")) parse_reactors(*n, c.reactors);
    if (const node* n = root.find("stages")) {
        for (const node* item : list_of_maps(*n, "stages", "stage", "name: ..., type: ...")) {
            c.stages.emplace_back();
            parse_stage(*item, c.stages.back());
        }
    }
    if (const node* n = root.find("edges")) {
        for (const node* item : list_of_maps(*n, "edges", "edge", "from: ..., to: ...")) {
            c.edges.emplace_back();
            parse_edge(*item, c.edges.back());
        }
    }
    if (const node* n = root.find("timers")) {
        for (const node* item :
             list_of_maps(*n, "timers", "timer", "name: ..., interval: ..., action: ...")) {
            c.timers.emplace_back();
            parse_timer(*item, c.timers.back());
        }
    }
    if (const node* n = root.find("metrics")) {
        c.metrics.at = n->at;
        c.metrics.enabled.value = true; // the section is present
        if (!n->is_null() && expect_map(*n, "metrics", " (enabled, listen)"))
            parse_metrics(*n, c.metrics);
    }
    if (const node* n = root.find("console")) {
        c.console.at = n->at;
        if (!n->is_null() && expect_map(*n, "console", " (stdin, socket)"))
            parse_console(*n, c.console);
    }
}

void parser::parse_eal(const node& n, eal_config& e) const {
    check_keys(n, eal_keys, "in eal");
    if (const node* l = n.find("lcores")) parse_lcores(*l, e);
    integer(n, "memory_mb", e.memory_mb, 1, 1 << 20);
    boolean(n, "hugepages", e.hugepages);
    if (string(n, "file_prefix", e.file_prefix) && !detail::valid_name(e.file_prefix.value))
        error(e.file_prefix.at, "invalid file_prefix '" + e.file_prefix.value +
                                    "' (use letters, digits, '_' and '-')");
    if (const node* a = n.find("extra_args")) {
        std::vector<std::string> args;
        bool ok = a->is_sequence();
        if (ok)
            for (const auto& it : a->items) {
                if (!it.is_scalar()) {
                    error(it.at,
                          "each of 'extra_args' must be a string, got " + detail::describe(it));
                    ok = false;
                } else {
                    args.push_back(it.text);
                }
            }
        else
            error(a->at, "'extra_args' must be a list of strings like [\"--log-level=8\"], got " +
                             detail::describe(*a));
        if (ok) e.extra_args = located<std::vector<std::string>>(std::move(args), a->at);
    }
}

void parser::parse_lcores(const node& n, eal_config& e) const {
    std::vector<unsigned> ids;
    std::vector<mark> at;
    bool ok = true;
    auto add = [&](int64_t v, mark m) {
        if (v < 0 || v > max_lcore) {
            error(m, "lcore " + std::to_string(v) + " is out of range (0.." +
                         std::to_string(max_lcore) + ")");
            ok = false;
            return;
        }
        for (size_t i = 0; i < ids.size(); ++i) {
            if (ids[i] == v) {
                error(m, "lcore " + std::to_string(v) + " is listed twice (first at " +
                             detail::position(at[i]) + ")");
                ok = false;
                return;
            }
        }
        ids.push_back(static_cast<unsigned>(v));
        at.push_back(m);
    };
    const std::string bad =
        "'lcores' must be a list of lcore ids like [0, 1, 2] or a range string like \"0-3,6\", "
        "got ";
    if (n.is_sequence()) {
        for (const auto& it : n.items) {
            if (auto v = to_integer(it))
                add(*v, it.at);
            else {
                error(it.at, "each lcore must be an integer, got " + detail::describe(it));
                ok = false;
            }
        }
    } else if (n.is_scalar()) {
        // "0-3,6" (DPDK -l syntax) or a single id.
        std::string_view s = n.text;
        bool parsed = !s.empty();
        std::vector<std::pair<int64_t, int64_t>> ranges;
        while (parsed && !s.empty()) {
            const size_t comma = s.find(',');
            std::string_view part = s.substr(0, comma);
            s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
            const size_t dash = part.find('-');
            int64_t a = 0, b = 0;
            auto num = [](std::string_view t, int64_t& out) {
                auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
                return !t.empty() && ec == std::errc{} && p == t.data() + t.size();
            };
            if (dash == std::string_view::npos) {
                parsed = num(part, a);
                b = a;
            } else {
                parsed = num(part.substr(0, dash), a) && num(part.substr(dash + 1), b) && a <= b;
            }
            if (parsed) ranges.emplace_back(a, b);
            if (parsed && comma != std::string_view::npos && s.empty()) parsed = false;
        }
        if (!parsed) {
            error(n.at, bad + detail::describe(n));
            return;
        }
        for (auto [a, b] : ranges)
            for (int64_t v = a; v <= b && ok; ++v)
                add(v, n.at);
    } else {
        error(n.at, bad + detail::describe(n));
        return;
    }
    if (!ok) return;
    std::sort(ids.begin(), ids.end());
    e.lcores = located<std::vector<unsigned>>(std::move(ids), n.at);
}

void parser::parse_port(const node& n, port_config& p) const {
    p.at = n.at;
    check_keys(n, port_keys, "in port");
    require(n, "name", "port");
    require(n, "device", "port");
    name(n, "name", p.name);
    if (string(n, "device", p.device)) {
        const std::string& d = p.device.value;
        if (!std::regex_match(d, pci_regex()) && !std::regex_match(d, vdev_regex()))
            error(p.device.at, "invalid device '" + d +
                                   "' (a PCI address like 0000:03:00.0, or a vdev like net_ring0, "
                                   "net_memif0,role=server,socket=/tmp/x or "
                                   "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap)");
    }
    integer(n, "rx_queues", p.rx_queues, 1, 1024);
    integer(n, "tx_queues", p.tx_queues, 1, 1024);
    pow2(n, "rx_desc", p.rx_desc, 32, 32768);
    pow2(n, "tx_desc", p.tx_desc, 32, 32768);
    integer(n, "mtu", p.mtu, 68, 9600);
    boolean(n, "promiscuous", p.promiscuous);

    p.rss.enabled.value = p.rx_queues.value > 1;
    if (const node* r = n.find("rss")) {
        p.rss.at = r->at;
        if (r->is_map()) {
            check_keys(*r, rss_keys, "in rss");
            p.rss.enabled = located<bool>(true, r->at);
            boolean(*r, "enabled", p.rss.enabled);
            if (const node* t = r->find("types")) {
                std::vector<std::string> types;
                bool ok = t->is_sequence() && !t->items.empty();
                if (!ok)
                    error(t->at, "'types' must be a non-empty list of RSS hash types (allowed: " +
                                     detail::join(rss_types) + "), got " + detail::describe(*t));
                else
                    for (const auto& it : t->items) {
                        if (it.is_scalar() && std::find(rss_types.begin(), rss_types.end(),
                                                        it.text) != rss_types.end()) {
                            types.push_back(it.text);
                            continue;
                        }
                        std::string msg = "invalid RSS hash type " + detail::describe(it) + " (";
                        if (auto c = it.is_scalar() ? detail::closest(it.text, rss_types) : "";
                            !c.empty())
                            msg += "did you mean '" + c + "'? ";
                        error(it.at, msg + "allowed: " + detail::join(rss_types) + ")");
                        ok = false;
                    }
                if (ok) p.rss.types = located<std::vector<std::string>>(std::move(types), t->at);
            }
        } else {
            auto v = to_boolean(*r);
            if (v)
                p.rss.enabled = located<bool>(*v, r->at);
            else
                error(r->at, "'rss' must be on/off or a map (enabled, types), got " +
                                 detail::describe(*r));
        }
    }

    // The pool must at least fill every descriptor ring.
    const uint64_t need = uint64_t(p.rx_queues.value) * p.rx_desc.value +
                          uint64_t(p.tx_queues.value) * p.tx_desc.value;
    uint64_t dflt = 8191;
    while (dflt < 2 * need)
        dflt = dflt * 2 + 1;
    p.mempool.size.value = static_cast<uint32_t>(dflt);
    if (const node* m = n.find("mempool")) {
        p.mempool.at = m->at;
        if (expect_map(*m, "mempool", " (size, cache, data_room)")) {
            check_keys(*m, mempool_keys, "in mempool");
            const bool size_ok = integer(*m, "size", p.mempool.size, 63, 1 << 24);
            if (integer(*m, "cache", p.mempool.cache, 0, 512) && size_ok &&
                p.mempool.cache.value * 3 > p.mempool.size.value * 2)
                error(p.mempool.cache.at,
                      "mempool 'cache' " + std::to_string(p.mempool.cache.value) +
                          " is too large for 'size' " + std::to_string(p.mempool.size.value) +
                          " (at most size / 1.5 = " + std::to_string(p.mempool.size.value * 2 / 3) +
                          ")");
            integer(*m, "data_room", p.mempool.data_room, 256, 65535);
            if (size_ok && p.mempool.size.value < need)
                error(p.mempool.size.at,
                      "mempool 'size' " + std::to_string(p.mempool.size.value) +
                          " cannot fill the descriptor rings (rx_queues × rx_desc + tx_queues × "
                          "tx_desc = " +
                          std::to_string(need) + "; use at least " + std::to_string(2 * need) +
                          ")");
        }
    }
}

void parser::parse_reactor_settings(const node& n, reactor_config& r) const {
    enumeration(n, "discipline", r.discipline, discipline_choices);
    per_bucket_list(n, "polls", r.polls, 1, 65535);
    per_bucket_list(n, "shares", r.shares, 1, 1000000);
    enumeration(n, "idle", r.idle, idle_choices);
    if (r.polls.given() && r.discipline.value != discipline::weighted)
        error(r.polls.at, std::string("'polls' applies only to discipline 'weighted' (this "
                                      "reactor uses '") +
                              to_string(r.discipline.value) + "')");
    if (r.shares.given() && r.discipline.value != discipline::tree)
        error(r.shares.at, std::string("'shares' applies only to discipline 'tree' (this "
                                       "reactor uses '") +
                               to_string(r.discipline.value) + "')");
}

void parser::parse_reactors(const node& n, reactors_config& rs) const {
    rs.at = n.at;
    const std::string forms = "'auto', a map (count, discipline, polls, shares, idle) or a list "
                              "of reactors";
    if (n.is_null() || (n.is_scalar() && n.text == "auto")) {
        rs.automatic = true;
        return;
    }
    if (n.is_map()) {
        rs.automatic = true;
        check_keys(n, auto_reactor_keys, "in reactors");
        integer(n, "count", rs.count, 1, max_lcore + 1);
        rs.defaults.at = n.at;
        parse_reactor_settings(n, rs.defaults);
        return;
    }
    if (!n.is_sequence()) {
        error(n.at, "'reactors' must be " + forms + ", got " + detail::describe(n));
        return;
    }
    rs.automatic = false;
    if (n.items.empty()) {
        error(n.at, "'reactors' is an empty list (give at least one reactor, or 'auto')");
        return;
    }
    auto items = list_of_maps(n, "reactors", "reactor", "name: ..., lcore: ...");
    for (size_t i = 0; i < n.items.size(); ++i) {
        const node& it = n.items[i];
        if (!it.is_map()) continue;
        reactor_config r;
        r.at = it.at;
        check_keys(it, reactor_keys, "in reactor");
        require(it, "lcore", "reactor");
        r.id.value = static_cast<uint32_t>(i);
        integer(it, "id", r.id, 0, max_lcore);
        r.name.value = "r" + std::to_string(r.id.value);
        name(it, "name", r.name);
        integer(it, "lcore", r.lcore, 0, max_lcore);
        parse_reactor_settings(it, r);
        rs.list.push_back(std::move(r));
    }
    (void)items;
}

void parser::parse_stage(const node& n, stage_config& s) const {
    s.at = n.at;
    check_keys(n, stage_keys, "in stage");
    require(n, "name", "stage");
    require(n, "type", "stage");
    name(n, "name", s.name);
    string(n, "type", s.type);
    s.params.type = node::kind::map;
    s.params.at = n.at;
    if (const node* p = n.find("params")) {
        if (p->is_map())
            s.params = *p;
        else if (!p->is_null())
            error(p->at, "'params' must be a map of stage parameters, got " + detail::describe(*p));
    }
    if (const node* r = n.find("reactor")) {
        if (r->is_scalar())
            s.reactor = located<std::string>(r->text, r->at);
        else
            error(r->at, "'reactor' must be a reactor name or id, got " + detail::describe(*r));
    }
    integer(n, "priority", s.priority, 0, priority_buckets - 1);
}

void parser::parse_edge(const node& n, edge_config& e) const {
    e.at = n.at;
    check_keys(n, edge_keys, "in edge");
    require(n, "from", "edge");
    require(n, "to", "edge");
    if (string(n, "from", e.from)) {
        const std::string& f = e.from.value;
        const size_t dot = f.find('.');
        e.from_stage = f.substr(0, dot);
        if (dot != std::string::npos) e.from_output = f.substr(dot + 1);
        if (!detail::valid_name(e.from_stage) ||
            (dot != std::string::npos && !detail::valid_name(e.from_output))) {
            error(e.from.at, "invalid 'from' '" + f + "' (expected \"stage\" or \"stage.output\")");
            e.from_stage.clear(); // no reference checks or cycles on a malformed endpoint
        }
    }
    if (string(n, "to", e.to) && !detail::valid_name(e.to.value))
        error(e.to.at, "invalid 'to' '" + e.to.value + "' (expected a stage name)");
    enumeration(n, "queue", e.queue, queue_choices);
    pow2(n, "size", e.size, 2, 1 << 24);
    enumeration(n, "overflow", e.overflow, overflow_choices);
    if (e.overflow.given() && *e.overflow == overflow_policy::evict && *e.queue != queue_kind::pub)
        error(e.overflow.at, "overflow 'evict' applies to pub edges only (a lagging subscriber "
                             "jumps ahead); a " +
                                 std::string(to_string(*e.queue)) +
                                 " edge takes drop or backpressure");
    boolean(n, "allow_cycle", e.allow_cycle);
}

void parser::parse_timer(const node& n, timer_config& t) const {
    t.at = n.at;
    check_keys(n, timer_keys, "in timer");
    require(n, "name", "timer");
    require(n, "interval", "timer");
    require(n, "action", "timer");
    name(n, "name", t.name);
    if (duration(n, "interval", t.interval) && t.interval.value.count() <= 0)
        error(t.interval.at, "'interval' must be greater than 0");
    if (string(n, "action", t.action) && t.action.value != "stats" && t.action.value != "flush" &&
        t.action.value != "service")
        error(t.action.at,
              "unknown timer action '" + t.action.value + "' (allowed: stats, flush, service)");
    if (const node* r = n.find("reactor")) {
        if (r->is_scalar())
            t.reactor = located<std::string>(r->text, r->at);
        else
            error(r->at, "'reactor' must be a reactor name or id, got " + detail::describe(*r));
    }
}

void parser::parse_metrics(const node& n, metrics_config& m) const {
    check_keys(n, metrics_keys, "in metrics");
    boolean(n, "enabled", m.enabled);
    if (!string(n, "listen", m.listen)) return;
    const std::string& l = m.listen.value;
    const size_t colon = l.rfind(':');
    bool ok = colon != std::string::npos && colon > 0 && colon + 1 < l.size();
    std::string host;
    int64_t port = 0;
    if (ok) {
        host = l.substr(0, colon);
        if (host.front() == '[') {
            ok = host.size() > 2 && host.back() == ']';
            host = host.substr(1, host.size() - 2);
        } else {
            ok = host.find(':') == std::string::npos;
        }
        const std::string ps = l.substr(colon + 1);
        auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
        ok = ok && ec == std::errc{} && p == ps.data() + ps.size() && port >= 1 && port <= 65535;
    }
    if (!ok) {
        error(m.listen.at, "'listen' must be ADDR:PORT with a port 1..65535, like 127.0.0.1:9100, "
                           "0.0.0.0:9100 or [::1]:9100; got '" +
                               l + "'");
        return;
    }
    m.host = host;
    m.port = static_cast<uint16_t>(port);
}

void parser::parse_console(const node& n, console_config& c) const {
    check_keys(n, console_keys, "in console");
    boolean(n, "stdin", c.use_stdin);
    if (string(n, "socket", c.socket) && c.socket.value.size() >= 108)
        error(c.socket.at, "'socket' path is " + std::to_string(c.socket.value.size()) +
                               " bytes; a unix socket path must be shorter than 108");
}

} // namespace

// ---------------------------------------------------------------------------------------
// Loading

config_result load_string(std::string_view text, std::string file, const validation_options& opts) {
    std::vector<diagnostic> diags;
    const detail::sink s{file, &diags};
    node root;
    config c;
    c.file = file;
    if (detail::read_yaml(text, root, s)) {
        parser(s).parse(root, c);
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
