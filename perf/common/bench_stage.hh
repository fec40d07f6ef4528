// The schema of a benchmark's own stage type (PK_REGISTER_STAGE in a benchmark file):
// no parameters, an input or not, one output `out` or none, and its roles.
#pragma once

#include <string>
#include <vector>

#include "pipeline/config.hh"

namespace pk::bench {

inline pipeline::stage_schema stage_schema(bool input, bool outputs, pipeline::role_set roles) {
    pipeline::stage_schema s;
    s.accepts_input = input;
    s.has_outputs = outputs;
    s.outputs = outputs ? std::vector<std::string>{"out"} : std::vector<std::string>{};
    s.roles = roles;
    return s;
}

} // namespace pk::bench
