#include "pipeline/registry.hh"

#include "pipeline/edges.hh"

namespace pk::pipeline {

registry& registry::global() {
    static registry r = [] {
        registry x;
        register_builtin_stages(x);
        return x;
    }();
    return r;
}

void registry::add(stage_type t) {
    auto name = t.name;
    _types.insert_or_assign(std::move(name), std::move(t));
}

const stage_type* registry::find(std::string_view name) const {
    auto it = _types.find(name);
    return it == _types.end() ? nullptr : &it->second;
}

validation_options registry::validation() const {
    validation_options o;
    o.stage_types.clear();
    for (auto& [name, t] : _types)
        o.stage_types.insert(name);
    o.schema = [this](std::string_view type) -> std::optional<stage_schema> {
        if (auto* t = find(type)) return t->schema;
        return std::nullopt;
    };
    for (const auto& k : edge_kinds())
        o.edge_kinds.push_back({k.name, k.evict, k.max_size});
    return o;
}

} // namespace pk::pipeline
