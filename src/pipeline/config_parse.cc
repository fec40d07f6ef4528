// The parse phase, top level: the sections of a config file, eal and its lcores.
#include <algorithm>
#include <charconv>

#include "pipeline/config_parser.hh"

namespace pk::pipeline::detail {

namespace {

/// EAL's `-d` loads a shared object (a driver, or every one in a directory): code a
/// config must not be able to run. Also inside a cluster of short options (`-vd x.so`):
/// EAL's only short options without an argument are -v and -h.
bool loads_code(std::string_view a) {
    if (a.size() < 2 || a[0] != '-' || a[1] == '-') return false;
    for (char c : a.substr(1)) {
        if (c == 'd') return true;
        if (c != 'v' && c != 'h') return false; // takes an argument: the rest is that
    }
    return false;
}

} // namespace

void parser::parse(const node& root, config& c) {
    if (root.is_null()) {
        error(root.at, "the config is empty (expected a map with keys: " + join(top_keys) + ")");
        return;
    }
    if (!root.is_map()) {
        error(root.at,
              "the config must be a map with keys: " + join(top_keys) + "; got " + describe(root));
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
    integer(n, "control_cpu", e.control_cpu, 0, max_lcore);
    boolean(n, "hugepages", e.hugepages);
    if (string(n, "file_prefix", e.file_prefix) && !valid_name(e.file_prefix.value))
        error(e.file_prefix.at, "invalid file_prefix '" + e.file_prefix.value +
                                    "' (use letters, digits, '_' and '-')");
    if (const node* a = n.find("extra_args")) {
        std::vector<std::string> args;
        bool ok = a->is_sequence();
        if (ok)
            for (const auto& it : a->items) {
                if (!it.is_scalar()) {
                    error(it.at, "each of 'extra_args' must be a string, got " + describe(it));
                    ok = false;
                } else if (loads_code(it.text)) {
                    error(it.at, "'extra_args' cannot load code: '" + it.text +
                                     "' (EAL's -d loads a shared object; drivers come from "
                                     "DPDK's plugin directory, or give -d on the command line "
                                     "after --)");
                    ok = false;
                } else {
                    args.push_back(it.text);
                }
            }
        else
            error(a->at, "'extra_args' must be a list of strings like [\"--log-level=8\"], got " +
                             describe(*a));
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
                             position(at[i]) + ")");
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
                error(it.at, "each lcore must be an integer, got " + describe(it));
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
            error(n.at, bad + describe(n));
            return;
        }
        for (auto [a, b] : ranges)
            for (int64_t v = a; v <= b && ok; ++v)
                add(v, n.at);
    } else {
        error(n.at, bad + describe(n));
        return;
    }
    if (!ok) return;
    std::sort(ids.begin(), ids.end());
    e.lcores = located<std::vector<unsigned>>(std::move(ids), n.at);
}

} // namespace pk::pipeline::detail
