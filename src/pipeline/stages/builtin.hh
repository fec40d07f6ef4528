// Registration hooks of the built-in stage families (one per source file).
#pragma once

#include "pipeline/registry.hh"

namespace pk::pipeline::stages {

void register_io(registry& r);        ///< port_rx, port_tx
void register_basic(registry& r);     ///< macswap, count, drop, rate_limit, publish, subscribe
void register_classify(registry& r);  ///< parse, filter, udp_echo
void register_balance(registry& r);   ///< flow_balance
void register_generator(registry& r); ///< generator
void register_capture(registry& r);   ///< capture
void register_flows(registry& r);     ///< flow_table

/// Helper for factories: constructs T from the args.
template <typename T>
stage_factory make_factory() {
    return [](const stage_args& a) -> result<std::unique_ptr<stage>> {
        return std::unique_ptr<stage>(new T(a));
    };
}

inline param_spec p_int(std::string n, std::int64_t min, std::int64_t max, bool req = false) {
    param_spec s;
    s.name = std::move(n);
    s.type = param_type::integer;
    s.min = min;
    s.max = max;
    s.required = req;
    return s;
}
inline param_spec p_num(std::string n, std::int64_t min, std::int64_t max) {
    auto s = p_int(std::move(n), min, max);
    s.type = param_type::number;
    return s;
}
inline param_spec p_of(std::string n, param_type t, bool req = false) {
    param_spec s;
    s.name = std::move(n);
    s.type = t;
    s.required = req;
    return s;
}
inline param_spec p_choice(std::string n, std::vector<std::string> choices) {
    auto s = p_of(std::move(n), param_type::string);
    s.choices = std::move(choices);
    return s;
}

} // namespace pk::pipeline::stages
