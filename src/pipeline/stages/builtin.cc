#include "pipeline/stages/builtin.hh"

namespace pk::pipeline {

void register_builtin_stages(registry& r) {
    stages::register_io(r);
    stages::register_basic(r);
    stages::register_classify(r);
    stages::register_balance(r);
    stages::register_generator(r);
    stages::register_capture(r);
    stages::register_flows(r);
}

} // namespace pk::pipeline
