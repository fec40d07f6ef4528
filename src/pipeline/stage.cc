#include "pipeline/stage.hh"

namespace pk::pipeline {

stage::stage(const stage_args& a)
    : _name(a.name), _type(a.type), _graph(a.owner), _reactor(a.reactor), _roles(a.roles) {
    _reasons = {"unconnected", "queue_full"};
    _outputs = {"out"};
}

stage::~stage() {
    // A torn-down graph (no graceful stop) still frees what is parked.
    if (_park)
        for (unsigned o = 0; o < max_outputs; ++o)
            if (_park[o].n && !_on_loan) rte_pktmbuf_free_bulk(_park[o].pkts.data(), _park[o].n);
}

void stage::connect(unsigned output, route r) {
    r.wait = r.edge && r.edge->waits();
    _routes[output] = r;
    if (r.wait && !_park) _park = std::make_unique<parked_burst[]>(max_outputs);
}

void stage::set_blocked(bool on) noexcept {
    for (stage* e : _entries)
        e->_blocked += on ? 1 : static_cast<std::uint32_t>(-1);
}

void stage::park(unsigned output, rte_mbuf** pkts, std::uint16_t n) noexcept {
    parked_burst& p = _park[output];
    const std::uint16_t room = static_cast<std::uint16_t>(park_capacity - p.n);
    const std::uint16_t k = n < room ? n : room;
    for (std::uint16_t i = 0; i < k; ++i)
        p.pkts[p.n + i] = pkts[i];
    const std::uint32_t before = _parked_total.load(std::memory_order_relaxed);
    p.n = static_cast<std::uint16_t>(p.n + k);
    _parked_total.store(before + k, std::memory_order_relaxed);
    if (before == 0 && k) set_blocked(true);
    if (k < n) drop(reason_queue_full, pkts + k, static_cast<std::uint16_t>(n - k));
}

std::uint32_t stage::retry_parked() noexcept {
    std::uint32_t left = _parked_total.load(std::memory_order_relaxed);
    if (left == 0) return 0;
    std::uint32_t moved = 0;
    for (unsigned o = 0; o < _outputs.size(); ++o) {
        parked_burst& p = _park[o];
        if (!p.n) continue;
        const std::uint16_t k = _routes[o].edge->push(p.pkts.data(), p.n);
        if (!k) continue;
        _c.out[o].add(k);
        for (std::uint16_t i = k; i < p.n; ++i)
            p.pkts[i - k] = p.pkts[i];
        p.n = static_cast<std::uint16_t>(p.n - k);
        moved += k;
    }
    _parked_total.store(left - moved, std::memory_order_relaxed);
    if (moved && left == moved) set_blocked(false);
    return moved;
}

void stage::drop_parked() noexcept {
    if (!_park || !parked()) return;
    for (unsigned o = 0; o < _outputs.size(); ++o) {
        drop(reason_queue_full, _park[o].pkts.data(), _park[o].n);
        _park[o].n = 0;
    }
    _parked_total.store(0, std::memory_order_relaxed);
    set_blocked(false);
}

int stage::output_index(std::string_view name) {
    for (std::size_t i = 0; i < _outputs.size(); ++i)
        if (_outputs[i] == name) return static_cast<int>(i);
    if (!accepts_any_output() || _outputs.size() >= max_outputs) return -1;
    _outputs.emplace_back(name);
    return static_cast<int>(_outputs.size() - 1);
}

unsigned stage::add_output(std::string name) {
    for (std::size_t i = 0; i < _outputs.size(); ++i)
        if (_outputs[i] == name) return static_cast<unsigned>(i);
    _outputs.push_back(std::move(name));
    return static_cast<unsigned>(_outputs.size() - 1);
}

unsigned stage::add_reason(std::string name) {
    for (std::size_t i = 0; i < _reasons.size(); ++i)
        if (_reasons[i] == name) return static_cast<unsigned>(i);
    if (_reasons.size() >= max_reasons) return reason_unconnected; // never: built-ins < max
    _reasons.push_back(std::move(name));
    return static_cast<unsigned>(_reasons.size() - 1);
}

std::uint64_t stage::dropped_total() const noexcept {
    std::uint64_t t = 0;
    for (std::size_t i = 0; i < _reasons.size(); ++i)
        t += _c.dropped[i].load();
    return t;
}

} // namespace pk::pipeline
