// The cross-checks on a parsed config: unique names, references, stage types and params,
// RX queue claims, lcores, edge cycles. Values a parse error left unset (empty names,
// defaults) are skipped, so one mistake does not cascade into many messages.
#include <algorithm>
#include <map>

#include "pipeline/config.hh"
#include "pipeline/config_detail.hh"

namespace pk::pipeline {

namespace {

using detail::position;

std::string quoted(std::string_view s) {
    return "'" + std::string(s) + "'";
}
std::string quoted(const located<std::string>& s) {
    return quoted(s.value);
}

/// "0-3,6" from a sorted list.
std::string compress(const std::vector<unsigned>& v) {
    std::string out;
    for (size_t i = 0; i < v.size();) {
        size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1)
            ++j;
        if (!out.empty()) out += ",";
        out += std::to_string(v[i]);
        if (j > i) out += "-" + std::to_string(v[j]);
        i = j + 1;
    }
    return out;
}

mark where(const located<std::string>& v, mark fallback) {
    return v.given() ? v.at : fallback;
}

class validator {
public:
    validator(const config& c, const validation_options& o, std::vector<diagnostic>& out)
        : _c(c), _o(o), _s{c.file, &out} {}

    void run() {
        ports();
        reactors();
        stages();
        edges();
        cycles();
        timers();
    }

private:
    const config& _c;
    const validation_options& _o;
    detail::sink _s;

    struct claim {
        std::string stage;
        mark at;
    };
    std::map<std::pair<std::string, int64_t>, claim> _rx_claims;

    void error(mark at, std::string msg) const { _s.error(at, std::move(msg)); }

    /// Names in file order, without empties and repeats.
    template <typename T>
    static std::vector<std::string> names_of(const std::vector<T>& items) {
        std::vector<std::string> v;
        for (const auto& it : items)
            if (!it.name->empty() && std::find(v.begin(), v.end(), it.name.value) == v.end())
                v.push_back(it.name.value);
        return v;
    }
    std::vector<std::string> port_names() const { return names_of(_c.ports); }
    std::vector<std::string> stage_names() const { return names_of(_c.stages); }
    std::vector<std::string> reactor_names() const { return names_of(_c.reactors.list); }

    /// True when `ref` names a reactor (explicit, or r<k>/<k> of a planned set).
    bool reactor_exists(std::string_view ref) const {
        if (!_c.reactors.automatic) return _c.find_reactor(ref) != nullptr;
        // auto: r<k> or k, below count when count is given.
        std::string_view digits = ref;
        if (!digits.empty() && digits[0] == 'r') digits.remove_prefix(1);
        node tmp;
        tmp.type = node::kind::scalar;
        tmp.text = std::string(digits);
        auto k = to_integer(tmp);
        if (!k || *k < 0 || digits.empty() || digits[0] == '+' || digits[0] == '-') return false;
        return _c.reactors.count.value == 0 || *k < int64_t(_c.reactors.count.value);
    }

    void check_reactor_ref(const located<std::string>& ref, const std::string& who) const {
        if (ref->empty() || reactor_exists(ref.value)) return;
        std::string hint;
        if (_c.reactors.automatic)
            hint = _c.reactors.count.value
                       ? "(with planned reactors, use r0..r" +
                             std::to_string(_c.reactors.count.value - 1) + " or 0.." +
                             std::to_string(_c.reactors.count.value - 1) + ")"
                       : "(with planned reactors, use r<N> or <N>)";
        else
            hint = detail::suggest(ref.value, reactor_names(), "defined");
        error(ref.at, who + " names unknown reactor " + quoted(ref) + " " + hint);
    }

    template <typename T, typename Key>
    void unique(const std::vector<T>& items, Key key, std::string_view what) const {
        std::map<std::string, mark> seen;
        for (const auto& it : items) {
            const located<std::string>& n = key(it);
            if (n->empty()) continue;
            auto [pos, fresh] = seen.emplace(n.value, where(n, it.at));
            if (!fresh)
                error(where(n, it.at), "duplicate " + std::string(what) + " name " + quoted(n) +
                                           " (first defined at " + position(pos->second) + ")");
        }
    }

    void ports() const {
        unique(
            _c.ports, [](const port_config& p) -> const located<std::string>& { return p.name; },
            "port");
        std::map<std::string, const port_config*> devices;
        for (const auto& p : _c.ports) {
            if (p.device->empty()) continue;
            auto [pos, fresh] = devices.emplace(p.device_name(), &p);
            if (!fresh)
                error(p.device.at, "device '" + p.device_name() + "' is already used by port '" +
                                       pos->second->name.value + "' at " +
                                       position(pos->second->device.at) +
                                       " (each port needs its own device)");
            // A frame of the MTU must fit one mbuf: the stages read headers and payload
            // as one contiguous segment, so multi-segment (scattered) RX is refused here.
            const std::uint32_t frame = p.mtu.value + 14 + 4 + 4; // Ethernet, a VLAN tag, FCS
            const std::uint32_t room = p.mempool.data_room.value > 128
                                           ? p.mempool.data_room.value - 128 // RTE_PKTMBUF_HEADROOM
                                           : 0;
            if (frame > room)
                error(p.mtu.at.known() ? p.mtu.at : p.mempool.data_room.at,
                      "mtu " + std::to_string(p.mtu.value) + " needs frames of up to " +
                          std::to_string(frame) + " bytes, but an mbuf of mempool.data_room " +
                          std::to_string(p.mempool.data_room.value) + " holds " +
                          std::to_string(room) + " after its 128-byte headroom; set " +
                          "mempool.data_room to at least " + std::to_string(frame + 128) +
                          " (multi-segment packets are not supported) or lower the mtu");
        }
    }

    void reactors() const {
        const auto& rs = _c.reactors;
        const auto& lcores = _c.eal.lcores;
        if (rs.automatic) {
            if (lcores.given() && rs.count.given() && rs.count.value > lcores->size())
                error(rs.count.at, "'count' is " + std::to_string(rs.count.value) +
                                       " reactors but eal.lcores has only " +
                                       std::to_string(lcores->size()) + " lcores (" +
                                       compress(lcores) + ")");
            return;
        }
        std::map<std::string, mark> names;
        std::map<uint32_t, const reactor_config*> ids, cores;
        for (const auto& r : rs.list) {
            const mark name_at = where(r.name, r.at);
            if (auto [pos, fresh] = names.emplace(r.name.value, name_at); !fresh)
                error(name_at, "duplicate reactor name " + quoted(r.name) + " (first defined at " +
                                   position(pos->second) + ")");
            if (auto [pos, fresh] = ids.emplace(r.id.value, &r); !fresh && r.id.given())
                error(r.id.at, "duplicate reactor id " + std::to_string(r.id.value) +
                                   " (first used by reactor '" + pos->second->name.value + "')");
            if (!r.lcore.given()) continue;
            if (auto [pos, fresh] = cores.emplace(r.lcore.value, &r); !fresh)
                error(r.lcore.at, "reactors '" + pos->second->name.value + "' and '" +
                                      r.name.value + "' are both on lcore " +
                                      std::to_string(r.lcore.value) + " (one reactor per lcore)");
            if (lcores.given() &&
                !std::binary_search(lcores->begin(), lcores->end(), r.lcore.value))
                error(
                    r.lcore.at,
                    "reactor '" + r.name.value + "' is on lcore " + std::to_string(r.lcore.value) +
                        ", which eal.lcores does not have (eal.lcores: " + compress(lcores) + ")");
        }
    }

    void stages() {
        unique(
            _c.stages, [](const stage_config& s) -> const located<std::string>& { return s.name; },
            "stage");
        std::vector<std::string> types(_o.stage_types.begin(), _o.stage_types.end());
        for (const auto& s : _c.stages) {
            const std::string who = "stage " + quoted(s.name);
            if (s.reactor.given())
                check_reactor_ref(s.reactor, who);
            else if (!_c.reactors.automatic && _c.reactors.list.size() > 1 && !s.name->empty())
                error(where(s.name, s.at), who + " needs a 'reactor' (there are " +
                                               std::to_string(_c.reactors.list.size()) +
                                               " reactors: " + detail::join(reactor_names()) + ")");
            if (!s.type.given()) continue;
            if (!_o.stage_types.contains(s.type.value)) {
                error(s.type.at, "unknown stage type " + quoted(s.type) + " " +
                                     detail::suggest(s.type.value, types, "known types",
                                                     "no stage types are registered"));
                continue;
            }
            if (!_o.schema) continue;
            if (auto schema = _o.schema(s.type.value)) params(s, *schema);
        }
    }

    void params(const stage_config& s, const stage_schema& schema) {
        const std::string& type = s.type.value;
        std::vector<std::string> names;
        for (const auto& p : schema.params)
            names.push_back(p.name);
        const port_config* port = nullptr;
        mark port_at = s.params.at;
        const param_spec* rx_spec = nullptr;
        const param_spec* tx_spec = nullptr;
        const size_t errors_before = _s.out->size();
        for (const auto& e : s.params.entries) {
            auto spec = std::find_if(schema.params.begin(), schema.params.end(),
                                     [&](const param_spec& p) { return p.name == e.key; });
            if (spec == schema.params.end()) {
                if (!schema.open)
                    error(e.key_at,
                          "unknown param " + quoted(e.key) + " for stage type " + quoted(type) +
                              " " +
                              detail::suggest(e.key, names, "allowed", type + " takes no params"));
                continue;
            }
            const node& v = e.value;
            const std::string what = "param " + quoted(e.key);
            auto wrong = [&](std::string_view expected) {
                error(v.at,
                      what + " must be " + std::string(expected) + ", got " + detail::describe(v));
            };
            auto range = [&](double x, const std::string& shown) {
                if (x < double(spec->min) || x > double(spec->max)) {
                    error(v.at, what + " must be between " + std::to_string(spec->min) + " and " +
                                    std::to_string(spec->max) + ", got " + shown);
                }
            };
            switch (spec->type) {
            case param_type::any:
                break;
            case param_type::boolean:
                if (!to_boolean(v)) wrong("on or off (true/false, yes/no)");
                break;
            case param_type::integer:
                if (auto x = to_integer(v))
                    range(double(*x), std::to_string(*x));
                else
                    wrong("an integer");
                break;
            case param_type::number:
                if (auto x = to_number(v))
                    range(*x, v.text);
                else
                    wrong("a number");
                break;
            case param_type::string:
                if (!v.is_scalar())
                    wrong("a string");
                else if (!spec->choices.empty() &&
                         std::find(spec->choices.begin(), spec->choices.end(), v.text) ==
                             spec->choices.end()) {
                    std::string msg = "invalid value " + quoted(v.text) + " for " + what + " (";
                    if (auto c = detail::closest(v.text, spec->choices); !c.empty())
                        msg += "did you mean '" + c + "'? ";
                    error(v.at, msg + "allowed: " + detail::join(spec->choices) + ")");
                }
                break;
            case param_type::duration:
                if (!to_duration(v)) wrong("a duration with a unit (ns, us, ms, s, min) like 10ms");
                break;
            case param_type::list:
                if (!v.is_sequence()) wrong("a list");
                break;
            case param_type::map:
                if (!v.is_map()) wrong("a map");
                break;
            case param_type::port:
                if (!v.is_scalar()) {
                    wrong("a port name");
                } else if (const port_config* p = _c.find_port(v.text)) {
                    if (!port) {
                        port = p;
                        port_at = v.at;
                    }
                } else {
                    error(v.at, "stage " + quoted(s.name) + " " + what + " names unknown port " +
                                    quoted(v.text) + " " +
                                    detail::suggest(v.text, port_names(), "defined",
                                                    "no ports are defined"));
                }
                break;
            case param_type::stage:
                if (!v.is_scalar())
                    wrong("a stage name");
                else if (!_c.find_stage(v.text))
                    error(v.at, "stage " + quoted(s.name) + " " + what + " names unknown stage " +
                                    quoted(v.text) + " " +
                                    detail::suggest(v.text, stage_names(), "defined"));
                break;
            case param_type::rx_queue: {
                rx_spec = &*spec;
                bool ok = v.is_sequence() ? !v.items.empty() : true;
                for (const node& q : v.is_sequence() ? v.items : std::vector<node>{v}) {
                    auto x = to_integer(q);
                    if (!x || *x < 0) ok = false;
                }
                if (!ok) wrong("an RX queue index or a list of them, like 0 or [0, 1]");
                break;
            }
            case param_type::tx_queue: {
                tx_spec = &*spec;
                auto x = to_integer(v);
                if (!x || *x < 0) wrong("a TX queue index");
                break;
            }
            }
        }
        for (const auto& p : schema.params) {
            if (p.required && !s.params.find(p.name))
                error(s.params.entries.empty() ? where(s.name, s.at) : s.params.at,
                      "stage " + quoted(s.name) + " (" + type + ") is missing required param " +
                          quoted(p.name));
            if (p.type == param_type::rx_queue && !rx_spec) rx_spec = &p;
            if (p.type == param_type::tx_queue && !tx_spec) tx_spec = &p;
        }
        if (_s.out->size() != errors_before) return;
        if (schema.check)
            schema.check(s.params, [&](mark at, std::string msg) {
                error(at.known() ? at : where(s.name, s.at),
                      "stage " + quoted(s.name) + " (" + type + "): " + msg);
            });
        // Queue checks only on params that are otherwise right: a misspelt 'queue'
        // would otherwise also report a clash on the default queue 0.
        if (!port || _s.out->size() != errors_before) return;
        if (rx_spec) claim_rx(s, *port, port_at, rx_spec->name);
        if (tx_spec) {
            const node* v = s.params.find(tx_spec->name);
            auto x = v ? to_integer(*v) : std::optional<int64_t>(0);
            if (x && *x >= int64_t(port->tx_queues.value))
                error(v ? v->at : port_at, "TX queue " + std::to_string(*x) + " is beyond port " +
                                               quoted(port->name) + ", which has " +
                                               std::to_string(port->tx_queues.value) +
                                               " tx_queues (allowed: 0.." +
                                               std::to_string(port->tx_queues.value - 1) + ")");
        }
    }

    void claim_rx(const stage_config& s, const port_config& port, mark port_at,
                  const std::string& key) {
        std::vector<std::pair<int64_t, mark>> queues;
        if (const node* v = s.params.find(key)) {
            for (const node& q : v->is_sequence() ? v->items : std::vector<node>{*v})
                if (auto x = to_integer(q); x && *x >= 0) queues.emplace_back(*x, q.at);
        } else {
            queues.emplace_back(0, port_at);
        }
        for (auto [q, at] : queues) {
            if (q >= int64_t(port.rx_queues.value)) {
                error(at, "RX queue " + std::to_string(q) + " is beyond port " + quoted(port.name) +
                              ", which has " + std::to_string(port.rx_queues.value) +
                              " rx_queues (allowed: 0.." +
                              std::to_string(port.rx_queues.value - 1) + ")");
                continue;
            }
            auto [pos, fresh] =
                _rx_claims.emplace(std::pair{port.name.value, q}, claim{s.name, at});
            if (!fresh)
                error(at, "RX queue " + std::to_string(q) + " of port " + quoted(port.name) +
                              " is already claimed by stage " + quoted(pos->second.stage) + " at " +
                              position(pos->second.at) +
                              " (each RX queue is read by exactly one stage)");
        }
    }

    std::optional<stage_schema> schema_of(const stage_config& s) const {
        if (!_o.schema || !s.type.given() || !_o.stage_types.contains(s.type.value))
            return std::nullopt;
        return _o.schema(s.type.value);
    }

    /// The edge's `queue` names a known kind, and its overflow policy suits that kind.
    void edge_kind(const edge_config& e) const {
        if (_o.edge_kinds.empty()) return;
        std::vector<std::string> names, evicting;
        const edge_kind_spec* kind = nullptr;
        for (const auto& k : _o.edge_kinds) {
            names.push_back(k.name);
            if (k.evict) evicting.push_back(k.name);
            if (k.name == *e.queue) kind = &k;
        }
        if (!kind) {
            std::string msg = "invalid queue " + quoted(e.queue) + " (";
            if (auto c = detail::closest(*e.queue, names); !c.empty())
                msg += "did you mean '" + c + "'? ";
            error(e.queue.at, msg + "allowed: " + detail::join(names) + ")");
        } else if (e.overflow.given() && *e.overflow == overflow_policy::evict && !kind->evict) {
            error(e.overflow.at, "overflow 'evict' applies to " + detail::join(evicting, ", ") +
                                     " edges only (a lagging subscriber jumps ahead); a " +
                                     *e.queue + " edge takes drop or backpressure");
        }
        if (kind && kind->max_size && *e.size > kind->max_size)
            error(e.size.at, "size " + std::to_string(*e.size) + " is too large for a " + *e.queue +
                                 " edge (at most " + std::to_string(kind->max_size) +
                                 " per lane: its drain markers count each lane modulo 2^16)");
    }

    void edges() const {
        std::map<std::tuple<std::string, std::string, std::string>, mark> seen;
        for (const auto& e : _c.edges) {
            edge_kind(e);
            const stage_config* from = nullptr;
            const stage_config* to = nullptr;
            if (e.from.given() && !e.from_stage.empty()) {
                from = _c.find_stage(e.from_stage);
                if (!from)
                    error(e.from.at, "edge 'from' names unknown stage " + quoted(e.from_stage) +
                                         " " +
                                         detail::suggest(e.from_stage, stage_names(), "defined",
                                                         "no stages are defined"));
            }
            if (e.to.given() && !e.to->empty()) {
                to = _c.find_stage(e.to.value);
                if (!to)
                    error(e.to.at, "edge 'to' names unknown stage " + quoted(e.to) + " " +
                                       detail::suggest(e.to.value, stage_names(), "defined",
                                                       "no stages are defined"));
            }
            if (from) {
                if (auto sc = schema_of(*from)) {
                    if (!sc->has_outputs)
                        error(e.from.at, "stage " + quoted(from->name) + " (" + from->type.value +
                                             ") has no outputs; no edge can leave it");
                    else if (!sc->outputs.empty() &&
                             std::find(sc->outputs.begin(), sc->outputs.end(), e.from_output) ==
                                 sc->outputs.end())
                        error(e.from.at,
                              "stage " + quoted(from->name) + " (" + from->type.value +
                                  ") has no output " + quoted(e.from_output) + " " +
                                  detail::suggest(e.from_output, sc->outputs, "outputs"));
                }
            }
            if (to) {
                if (auto sc = schema_of(*to); sc && !sc->accepts_input)
                    error(e.to.at, "stage " + quoted(to->name) + " (" + to->type.value +
                                       ") takes no input; no edge can point to it");
            }
            if (from && to) {
                auto [pos, fresh] =
                    seen.emplace(std::tuple{e.from_stage, e.from_output, e.to.value}, e.at);
                if (!fresh)
                    error(e.at, "duplicate edge " + e.from_stage + "." + e.from_output + " -> " +
                                    e.to.value + " (first at " + position(pos->second) + ")");
            }
        }
    }

    /// The edge graph must be a DAG, except through edges marked allow_cycle. Each back
    /// edge found by a depth-first walk (in file order) is one reported cycle.
    void cycles() const {
        const size_t n = _c.stages.size();
        std::map<std::string, size_t> index;
        for (size_t i = 0; i < n; ++i)
            index.emplace(_c.stages[i].name.value, i);
        std::vector<std::vector<const edge_config*>> out(n);
        for (const auto& e : _c.edges) {
            if (e.allow_cycle.value) continue;
            auto f = index.find(e.from_stage);
            auto t = index.find(e.to.value);
            if (f == index.end() || t == index.end() || e.from_stage.empty()) continue;
            out[f->second].push_back(&e);
        }
        enum : uint8_t { white, gray, black };
        std::vector<uint8_t> color(n, white);
        std::vector<size_t> path;
        auto visit = [&](auto&& self, size_t u) -> void {
            color[u] = gray;
            path.push_back(u);
            for (const edge_config* e : out[u]) {
                const size_t v = index.at(e->to.value);
                if (color[v] == gray) {
                    auto start = std::find(path.begin(), path.end(), v);
                    std::string cyc;
                    for (auto it = start; it != path.end(); ++it)
                        cyc += _c.stages[*it].name.value + " -> ";
                    cyc += _c.stages[v].name.value;
                    error(e->at, "edges form a cycle: " + cyc +
                                     " (a cycle is allowed only when one of its edges says "
                                     "'allow_cycle: true')");
                } else if (color[v] == white) {
                    self(self, v);
                }
            }
            path.pop_back();
            color[u] = black;
        };
        for (size_t i = 0; i < n; ++i)
            if (color[i] == white) visit(visit, i);
    }

    void timers() const {
        unique(
            _c.timers, [](const timer_config& t) -> const located<std::string>& { return t.name; },
            "timer");
        for (const auto& t : _c.timers)
            if (t.reactor.given()) check_reactor_ref(t.reactor, "timer " + quoted(t.name));
    }
};

} // namespace

std::vector<diagnostic> validate(const config& c, const validation_options& opts) {
    std::vector<diagnostic> out;
    validator(c, opts, out).run();
    detail::sort(out);
    return out;
}

} // namespace pk::pipeline
