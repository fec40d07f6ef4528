// The README's "Writing a stage" example (compiled from README.md itself, see
// readme_snippet.py): it registers, its param schema is enforced, and it works in a
// pipeline loaded from YAML.
#include <gtest/gtest.h>

#include "pipeline/graph.hh"
#include "pipeline/registry.hh"
#include "stage_test_util.hh"

using namespace pk::pipeline;
using namespace pk::pipeline::test;

namespace {
std::string yaml(const std::string& guard_params) {
    return "name: readme\n"
           "stages:\n"
           "  - {name: gen, type: generator, params: {count: 64, flows: 4, mbufs: 1023}}\n"
           "  - {name: guard, type: ttl_guard, params: " +
           guard_params +
           "}\n"
           "  - {name: sink, type: drop}\n"
           "edges:\n"
           "  - {from: gen, to: guard}\n"
           "  - {from: guard, to: sink}\n";
}
} // namespace

TEST(readme_stage, is_registered_with_its_schema) {
    const auto* t = registry::global().find("ttl_guard");
    ASSERT_NE(t, nullptr) << "PK_REGISTER_STAGE in the README example did not register";
    auto r = load_string(yaml("{min_tll: 4}"), "t.yaml", registry::global().validation());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(format(r.diagnostics()[0]), "t.yaml:4:45: unknown param 'min_tll' for stage type "
                                          "'ttl_guard' (did you mean 'min_ttl'?)");
    auto range = load_string(yaml("{min_ttl: 0}"), "t.yaml", registry::global().validation());
    ASSERT_FALSE(range.ok());
}

TEST(readme_stage, passes_and_drops_by_ttl) {
    // The generator sends TTL 64: min_ttl 4 lets everything through, 65 drops all.
    for (auto [min, passed] : {std::pair{4, 64u}, {65, 0u}}) {
        env e;
        auto err = try_build(e, yaml("{min_ttl: " + std::to_string(min) + "}"));
        ASSERT_EQ(err, "");
        run_until_idle(*e.g);
        EXPECT_EQ(outs(*e["guard"], "out"), passed);
        EXPECT_EQ(drops(*e["guard"], "ttl_expired"), 64u - passed);
        EXPECT_EQ(drops(*e["sink"], "sink"), passed);
    }
}
