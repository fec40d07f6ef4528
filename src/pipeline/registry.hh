// Stage registry: type name → factory and schema (params, outputs, roles). The one
// description of each stage type: the validator asks it which types exist and what
// params each takes, so a typo in a user's YAML is reported at `FILE:LINE:COL` before
// anything starts; the plan reads the roles (source, sink, writer...) and `pktkernel
// --check` both without EAL; the graph builder asks it to construct stages. Built-ins are
// registered by register_builtin_stages(); a user adds a type with `registry::global().add(...)`
// before loading the config, or with PK_REGISTER_STAGE in one of their own source
// files (a static initialiser: put it in an object file the executable links, not in
// a static library the linker may drop).
//
// Threads: control thread only (start-up).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/result.hh"
#include "pipeline/config.hh"
#include "pipeline/stage.hh"

namespace pk::pipeline {

using stage_factory = std::function<result<std::unique_ptr<stage>>(const stage_args&)>;

struct stage_type {
    std::string name;
    stage_factory make;
    stage_schema schema;
    std::string summary; ///< one line for docs and `show stages`
};

class registry {
public:
    /// The process-wide registry, with the built-in stages already in it.
    static registry& global();

    /// Adds or replaces a type.
    void add(stage_type t);
    const stage_type* find(std::string_view name) const;
    const std::map<std::string, stage_type, std::less<>>& types() const noexcept { return _types; }

    /// Options for load_file()/validate(): every registered type and its schema.
    validation_options validation() const;

private:
    std::map<std::string, stage_type, std::less<>> _types;
};

/// Registers the built-in stages (idempotent).
void register_builtin_stages(registry& r);

namespace detail {
struct auto_register {
    auto_register(stage_type t) { registry::global().add(std::move(t)); }
};
} // namespace detail

/// PK_REGISTER_STAGE("ttl_dec", ttl_dec, schema, "decrements the TTL"): T must be
/// constructible from `const stage_args&`.
#define PK_REGISTER_STAGE(NAME, T, SCHEMA, SUMMARY)                                                \
    static ::pk::pipeline::detail::auto_register pk_register_##T {                                 \
        ::pk::pipeline::stage_type {                                                               \
            NAME,                                                                                  \
                [](const ::pk::pipeline::stage_args& a)                                            \
                    -> ::pk::result<std::unique_ptr<::pk::pipeline::stage>> {                      \
                    return std::unique_ptr<::pk::pipeline::stage>(new T(a));                       \
                },                                                                                 \
                SCHEMA, SUMMARY                                                                    \
        }                                                                                          \
    }

} // namespace pk::pipeline
