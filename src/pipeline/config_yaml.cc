// The only file that talks to yaml-cpp: YAML text → pk::pipeline::node (with 1-based
// positions). yaml-cpp marks are 0-based; a syntax error carries one.
#include <sstream>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "pipeline/config_detail.hh"

namespace pk::pipeline::detail {
namespace {

constexpr int max_depth = 64;

/// Budget of YAML nodes one config may expand to, aliases included: an alias is a
/// reference in yaml-cpp's tree but a copy in ours, so a "billion laughs" config (an
/// alias of an alias of ...) would otherwise grow without bound while it is converted.
/// The largest real configs are a few thousand nodes.
constexpr std::size_t max_nodes = 200000;

mark to_mark(const YAML::Mark& m) {
    if (m.is_null()) return {};
    return mark{static_cast<uint32_t>(m.line + 1), static_cast<uint32_t>(m.column + 1)};
}

// `fallback`: where to point when yaml-cpp gives an empty value no useful mark (an
// empty value `key:` is marked at the next token, so we use the key's position).
// `path`: the nodes being converted above this one. Nesting too deep or an alias that
// refers to a node containing it (a cycle: yaml-cpp builds it) ends the whole conversion
// with one error (budget 0): each would otherwise be reported once per path to it, and
// a few self-references make those paths exponential.
bool convert(const YAML::Node& y, node& out, mark fallback, std::vector<YAML::Node>& path,
             const sink& s, std::size_t& budget) {
    if (budget == 0) return false; // reported once, where the conversion ended
    for (const YAML::Node& above : path)
        if (above.is(y)) {
            s.error(to_mark(y.Mark()), "an alias refers to a node that contains it (a cycle)");
            budget = 0;
            return false;
        }
    if (static_cast<int>(path.size()) > max_depth) {
        s.error(to_mark(y.Mark()), "YAML nesting is deeper than 64 levels");
        budget = 0;
        return false;
    }
    if (--budget == 0) {
        s.error(to_mark(y.Mark()), "the config expands to more than " +
                                       std::to_string(max_nodes) +
                                       " YAML nodes (aliases count as copies): is an alias "
                                       "repeated on purpose?");
        return false;
    }
    out.at = to_mark(y.Mark());
    switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
        out.type = node::kind::null;
        if (fallback.known()) out.at = fallback;
        return true;
    case YAML::NodeType::Scalar:
        out.type = node::kind::scalar;
        out.text = y.Scalar();
        // "?" is a plain scalar; "!" a quoted one; anything else an explicit tag. Only
        // plain scalars may be numbers or booleans.
        out.quoted = y.Tag() != "?";
        return true;
    case YAML::NodeType::Sequence: {
        out.type = node::kind::sequence;
        out.items.reserve(y.size());
        bool ok = true;
        path.push_back(y);
        for (const auto& item : y) {
            out.items.emplace_back();
            ok &= convert(item, out.items.back(), {}, path, s, budget);
            if (budget == 0) break;
        }
        path.pop_back();
        return ok && budget != 0;
    }
    case YAML::NodeType::Map: {
        out.type = node::kind::map;
        bool ok = true;
        path.push_back(y);
        for (auto it = y.begin(); it != y.end(); ++it) {
            const mark key_at = to_mark(it->first.Mark());
            if (!it->first.IsScalar()) {
                s.error(key_at, "map keys must be plain words, not lists or maps");
                ok = false;
                continue;
            }
            const std::string key = it->first.Scalar();
            bool dup = false;
            for (const auto& e : out.entries) {
                if (e.key == key) {
                    s.error(key_at, "duplicate key '" + key + "' (first given at " +
                                        position(e.key_at) + ")");
                    dup = true;
                    break;
                }
            }
            if (dup) continue;
            node_entry e;
            e.key = key;
            e.key_at = key_at;
            ok &= convert(it->second, e.value, key_at, path, s, budget);
            out.entries.push_back(std::move(e));
            if (budget == 0) break;
        }
        path.pop_back();
        return ok && budget != 0;
    }
    }
    return true;
}

} // namespace

namespace {
/// Counts documents and remembers where each one's content starts; ignores the rest.
struct document_counter final : YAML::EventHandler {
    std::vector<YAML::Mark> starts;
    bool fresh = false;
    void first(const YAML::Mark& m) {
        if (fresh) starts.back() = m;
        fresh = false;
    }
    void OnDocumentStart(const YAML::Mark& m) override {
        starts.push_back(m);
        fresh = true;
    }
    void OnDocumentEnd() override { fresh = false; }
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { first(m); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { first(m); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  const std::string&) override {
        first(m);
    }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        first(m);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
        first(m);
    }
    void OnMapEnd() override {}
};
} // namespace

bool read_yaml(std::string_view text, node& root, const sink& s) {
    // Not YAML::LoadAll: yaml-cpp 0.7 loops for ever, allocating, on a stray flow
    // indicator (a file that is just ","), because its parser then returns one empty
    // document after another without consuming input. Asking for at most two documents
    // is enough to know whether there is more than one.
    YAML::Node doc;
    try {
        std::istringstream in{std::string(text)};
        YAML::Parser parser(in);
        document_counter count;
        for (int i = 0; i < 2 && parser.HandleNextDocument(count); ++i) {
        }
        if (count.starts.empty()) {
            root = node{};
            root.at = {1, 1};
            return true;
        }
        if (count.starts.size() > 1) {
            const YAML::Mark& m = count.starts[1];
            mark at = to_mark(m);
            if (!at.known()) at = {1, 1};
            if (m.pos == count.starts[0].pos)
                s.error(at, "YAML syntax error: unexpected character");
            else
                s.error(at, "only one YAML document is allowed in a config (remove the '---')");
            return false;
        }
        doc = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        mark at = to_mark(e.mark);
        if (!at.known()) at = {1, 1};
        s.error(at, "YAML syntax error: " + e.msg);
        return false;
    }
    std::size_t budget = max_nodes;
    std::vector<YAML::Node> path;
    path.reserve(max_depth + 1);
    const bool ok = convert(doc, root, {1, 1}, path, s, budget);
    return ok;
}

} // namespace pk::pipeline::detail
