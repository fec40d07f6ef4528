// Private to the config parse phase (config_parse.cc, config_sections.cc): the parser and
// its typed readers. Each reader checks one key (type, range, choices) and reports what
// is wrong at the value's position; a value that fails keeps the model's default.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config_detail.hh"

namespace pk::pipeline::detail {

using std::chrono::nanoseconds;

inline const std::vector<std::string> top_keys = {"name",     "description", "eal",   "ports",
                                                  "reactors", "stages",      "edges", "timers",
                                                  "metrics",  "console"};
inline const std::vector<std::string> eal_keys = {"lcores",      "memory_mb",  "hugepages",
                                                  "file_prefix", "extra_args", "control_cpu"};
inline const std::vector<std::string> port_keys = {"name",    "device",  "rx_queues", "tx_queues",
                                                   "rx_desc", "tx_desc", "mtu",       "promiscuous",
                                                   "rss",     "mempool"};
inline const std::vector<std::string> rss_keys = {"enabled", "types"};
inline const std::vector<std::string> rss_types = {"ip",       "ipv4",     "ipv6",      "tcp",
                                                   "udp",      "sctp",     "ipv4_tcp",  "ipv4_udp",
                                                   "ipv6_tcp", "ipv6_udp", "l2_payload"};
inline const std::vector<std::string> mempool_keys = {"size", "cache", "data_room"};
inline const std::vector<std::string> reactor_keys = {"name",       "id",    "lcore",  "cpu",
                                                      "discipline", "polls", "shares", "idle"};
inline const std::vector<std::string> auto_reactor_keys = {"count", "discipline", "polls", "shares",
                                                           "idle"};
inline const std::vector<std::string> stage_keys = {"name", "type", "params", "reactor",
                                                    "priority"};
inline const std::vector<std::string> edge_keys = {"from", "to",       "queue",
                                                   "size", "overflow", "allow_cycle"};
inline const std::vector<std::string> timer_keys = {"name", "interval", "action", "reactor"};
inline const std::vector<std::string> metrics_keys = {"enabled", "listen"};
inline const std::vector<std::string> console_keys = {"stdin", "socket"};

inline constexpr int64_t max_lcore = 1023;

class parser {
public:
    explicit parser(const sink& s) : _s(s) {}

    void parse(const node& root, config& c);

private:
    const sink& _s;

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
                    : suggest(e.key, allowed, "allowed");
            error(e.key_at, "unknown key '" + e.key + "' " + std::string(where) + " " + hint);
        }
    }

    bool expect_map(const node& n, std::string_view key, std::string_view hint) const {
        if (n.is_map()) return true;
        error(n.at, "'" + std::string(key) + "' must be a map" + std::string(hint) + ", got " +
                        describe(n));
        return false;
    }

    void require(const node& m, std::string_view key, std::string_view what) const {
        if (!m.find(key))
            error(m.at, std::string(what) + " is missing required key '" + std::string(key) + "'");
    }

    /// A list item (a port, stage, edge, timer): its keys checked, its required keys
    /// present. Returns where it starts.
    mark item(const node& n, const std::vector<std::string>& keys, std::string_view what,
              std::initializer_list<std::string_view> required) const {
        check_keys(n, keys, "in " + std::string(what));
        for (auto k : required)
            require(n, k, what);
        return n.at;
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
            error(n.at, "'" + std::string(key) + "' must be an integer, got " + describe(n));
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
        if (!is_power_of_two(v.value)) {
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
                             describe(*n));
            return false;
        }
        out = located<bool>(*v, n->at);
        return true;
    }

    bool string(const node& m, std::string_view key, located<std::string>& out) const {
        const node* n = m.find(key);
        if (!n) return false;
        if (!n->is_scalar()) {
            error(n->at, "'" + std::string(key) + "' must be a string, got " + describe(*n));
            return false;
        }
        out = located<std::string>(n->text, n->at);
        return true;
    }

    /// A name: string + the identifier rule. The raw text is kept even when invalid so
    /// that references to it do not cascade into more errors.
    bool name(const node& m, std::string_view key, located<std::string>& out) const {
        if (!string(m, key, out)) return false;
        if (!valid_name(out.value)) {
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
        std::string msg = "invalid " + std::string(key) + " " + describe(*n) + " (";
        if (n->is_scalar())
            if (auto c = closest(n->text, names); !c.empty()) msg += "did you mean '" + c + "'? ";
        error(n->at, msg + "allowed: " + join(names) + ")");
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
                             describe(*n));
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
                                               : describe(*n)));
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
                            "s, got " + describe(n));
            return out;
        }
        for (const auto& it : n.items) {
            if (it.is_map())
                out.push_back(&it);
            else
                error(it.at, "each " + std::string(item) + " must be a map (" + std::string(hint) +
                                 "), got " + describe(it));
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

} // namespace pk::pipeline::detail
