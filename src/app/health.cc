#include "app/health.hh"

#include <cstdio>

#include "base/clock.hh"
#include "net/port.hh"

namespace pk::app {

health::health(const pipeline::plan& p, const pipeline::graph& g, sched::reactor_group& rg,
               double stall_s)
    : _p(p), _g(g), _rg(rg),
      _stall(static_cast<std::uint64_t>(stall_s * static_cast<double>(tsc::hz()))),
      _rounds(rg.size(), 0), _moved_at(rg.size(), 0) {}

void health::update(std::uint64_t now) {
    metrics::exporter::probe_result v{true, ""};
    for (unsigned i = 0; i < _rg.size(); ++i) {
        const std::uint64_t r = _rg[i].counters().rounds.load();
        if (r != _rounds[i] || _moved_at[i] == 0) {
            _rounds[i] = r;
            _moved_at[i] = now;
        } else if (v.ok && now - _moved_at[i] > _stall) {
            char b[160];
            std::snprintf(b, sizeof b, "reactor '%s' made no round for %.1f s",
                          _p.reactors[i].name.c_str(), tsc::to_seconds(now - _moved_at[i]));
            v = {false, b};
        }
    }
    const auto& names = _g.port_names();
    for (std::size_t i = 0; v.ok && i < _g.ports().size(); ++i)
        if (!_g.ports()[i]->last_link().up)
            v = {false, "port '" + names[i] + "': link down"};
    std::lock_guard lk(_mu);
    _health = _running ? v : metrics::exporter::probe_result{false, "not running"};
}

void health::set_running(bool running) {
    std::lock_guard lk(_mu);
    _running = running;
    if (!running) _health = {false, "stopping"};
}

metrics::exporter::probe health::healthz() {
    return [this] {
        std::lock_guard lk(_mu);
        return _health;
    };
}

metrics::exporter::probe health::readyz() {
    return [this] {
        std::lock_guard lk(_mu);
        return _running ? metrics::exporter::probe_result{true, ""}
                        : metrics::exporter::probe_result{false, "not running"};
    };
}

} // namespace pk::app
