#include "pipeline/stage.hh"

namespace pk::pipeline {

stage::stage(const stage_args& a)
    : _name(a.name), _type(a.type), _graph(a.owner), _reactor(a.reactor), _roles(a.roles) {
    _reasons = {"unconnected", "queue_full"};
    _outputs = {"out"};
}

stage::~stage() = default;

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
