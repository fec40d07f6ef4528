// The parse phase, one section at a time: ports, reactors, stages, edges, timers,
// metrics, console.
#include <algorithm>
#include <charconv>
#include <regex>

#include "pipeline/config_parser.hh"

namespace pk::pipeline::detail {

namespace {
const std::regex& pci_regex() {
    // [pci:][dddd:]bb:dd.f[,key=value...] (net/pci.hh)
    static const std::regex re("^(pci:)?([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]"
                               "(,[A-Za-z0-9_-]+=[^,]+)*$");
    return re;
}
const std::regex& vdev_regex() {
    static const std::regex re("^net_[a-z][a-z0-9_]*(,[A-Za-z0-9_-]+=[^,]+)*$");
    return re;
}
} // namespace

void parser::parse_port(const node& n, port_config& p) const {
    p.at = item(n, port_keys, "port", {"name", "device"});
    name(n, "name", p.name);
    if (string(n, "device", p.device)) {
        const std::string& d = p.device.value;
        if (!std::regex_match(d, pci_regex()) && !std::regex_match(d, vdev_regex()))
            error(p.device.at, "invalid device '" + d +
                                   "' (a PCI address like 0000:03:00.0 or pci:0000:03:00.0[,devargs], or a "
                                   "vdev like net_ring0, "
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
                                     join(rss_types) + "), got " + describe(*t));
                else
                    for (const auto& it : t->items) {
                        if (it.is_scalar() && std::find(rss_types.begin(), rss_types.end(),
                                                        it.text) != rss_types.end()) {
                            types.push_back(it.text);
                            continue;
                        }
                        std::string msg = "invalid RSS hash type " + describe(it) + " (";
                        if (auto c = it.is_scalar() ? closest(it.text, rss_types) : ""; !c.empty())
                            msg += "did you mean '" + c + "'? ";
                        error(it.at, msg + "allowed: " + join(rss_types) + ")");
                        ok = false;
                    }
                if (ok) p.rss.types = located<std::vector<std::string>>(std::move(types), t->at);
            }
        } else {
            auto v = to_boolean(*r);
            if (v)
                p.rss.enabled = located<bool>(*v, r->at);
            else
                error(r->at, "'rss' must be on/off or a map (enabled, types), got " + describe(*r));
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
    if (r.polls.given() && r.discipline.value != discipline_kind::weighted_priority)
        error(r.polls.at, std::string("'polls' applies only to discipline 'weighted' (this "
                                      "reactor uses '") +
                              yaml_name(r.discipline.value) + "')");
    if (r.shares.given() && r.discipline.value != discipline_kind::tree)
        error(r.shares.at, std::string("'shares' applies only to discipline 'tree' (this "
                                       "reactor uses '") +
                               yaml_name(r.discipline.value) + "')");
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
        error(n.at, "'reactors' must be " + forms + ", got " + describe(n));
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
        r.id.value = static_cast<uint32_t>(i);
        integer(it, "id", r.id, 0, max_lcore);
        r.name.value = "r" + std::to_string(r.id.value);
        name(it, "name", r.name);
        integer(it, "lcore", r.lcore, 0, max_lcore);
        integer(it, "cpu", r.cpu, 0, max_lcore);
        parse_reactor_settings(it, r);
        rs.list.push_back(std::move(r));
    }
    (void)items;
}

void parser::parse_stage(const node& n, stage_config& s) const {
    s.at = item(n, stage_keys, "stage", {"name", "type"});
    name(n, "name", s.name);
    string(n, "type", s.type);
    s.params.type = node::kind::map;
    s.params.at = n.at;
    if (const node* p = n.find("params")) {
        if (p->is_map())
            s.params = *p;
        else if (!p->is_null())
            error(p->at, "'params' must be a map of stage parameters, got " + describe(*p));
    }
    if (const node* r = n.find("reactor")) {
        if (r->is_scalar())
            s.reactor = located<std::string>(r->text, r->at);
        else
            error(r->at, "'reactor' must be a reactor name or id, got " + describe(*r));
    }
    integer(n, "priority", s.priority, 0, priority_buckets - 1);
}

void parser::parse_edge(const node& n, edge_config& e) const {
    e.at = item(n, edge_keys, "edge", {"from", "to"});
    if (string(n, "from", e.from)) {
        const std::string& f = e.from.value;
        const size_t dot = f.find('.');
        e.from_stage = f.substr(0, dot);
        if (dot != std::string::npos) e.from_output = f.substr(dot + 1);
        if (!valid_name(e.from_stage) || (dot != std::string::npos && !valid_name(e.from_output))) {
            error(e.from.at, "invalid 'from' '" + f + "' (expected \"stage\" or \"stage.output\")");
            e.from_stage.clear(); // no reference checks or cycles on a malformed endpoint
        }
    }
    if (string(n, "to", e.to) && !valid_name(e.to.value))
        error(e.to.at, "invalid 'to' '" + e.to.value + "' (expected a stage name)");
    string(n, "queue", e.queue); // checked against the edge kinds by the validator
    pow2(n, "size", e.size, 2, 1 << 24);
    enumeration(n, "overflow", e.overflow, overflow_choices);
    boolean(n, "allow_cycle", e.allow_cycle);
}

void parser::parse_timer(const node& n, timer_config& t) const {
    t.at = item(n, timer_keys, "timer", {"name", "interval", "action"});
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
            error(r->at, "'reactor' must be a reactor name or id, got " + describe(*r));
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

} // namespace pk::pipeline::detail
