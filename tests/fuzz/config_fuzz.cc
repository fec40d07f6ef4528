// libFuzzer target for the pipeline YAML loader and validator (pipeline/config.hh) and the
// planner behind `pktkernel --check` (pipeline/plan.hh), with the real stage registry.
//
// Each input is a config file's text. Invariants checked on every result (a violation
// traps, which libFuzzer reports): the loader returns either a config or at least one
// diagnostic, never both; every diagnostic names the file, points inside the text
// (line <= lines + 1) and formats as exactly one line; at most 50 are printed plus one
// count line; a config that loaded validates again with no diagnostics, and planning it
// either succeeds with a plan that names every reactor or fails with a message. Limits
// (file size, nodes, aliases, depth) must hold: an input never takes more than the
// fuzzer's -rss_limit_mb or -timeout. The machine is read once, with hwloc.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pipeline/config.hh"
#include "pipeline/plan.hh"
#include "pipeline/registry.hh"
#include "topology/topology.hh"

namespace {

using namespace pk::pipeline;

struct fixture {
    registry& reg = registry::global();
    validation_options opts = reg.validation();
    pk::topology::machine machine;
    fixture() {
        auto m = pk::topology::discover();
        if (!m) __builtin_trap();
        machine = std::move(*m);
    }
};

std::size_t count(std::string_view s, char c) {
    std::size_t n = 0;
    for (char x : s) n += x == c;
    return n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static fixture fx;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    config_result r = load_string(text, "fuzz.yaml", fx.opts);
    const auto lines = count(text, '\n') + 1;
    if (r.ok()) {
        if (!r.diagnostics().empty()) __builtin_trap();
        if (!validate(*r, fx.opts).empty()) __builtin_trap(); // validation is stable
        auto p = make_plan(*r, fx.reg, fx.machine);
        if (p) {
            std::string d = p->describe(*r);
            if (d.empty()) __builtin_trap();
        } else if (p.err().message.empty()) {
            __builtin_trap();
        }
        return 0;
    }
    const auto& ds = r.diagnostics();
    if (ds.empty()) __builtin_trap();
    for (const diagnostic& d : ds) {
        if (d.file != "fuzz.yaml") __builtin_trap();
        if (d.line > lines) __builtin_trap();
        if (d.line == 0 && d.col != 0) __builtin_trap();
        std::string one = format(d);
        if (one.empty() || count(one, '\n') != 0) __builtin_trap();
    }
    std::string all = format(ds);
    std::size_t printed = count(all, '\n');
    if (printed != (ds.size() <= 50 ? ds.size() : 51)) __builtin_trap();
    if (r.err().message.empty()) __builtin_trap();
    return 0;
}
