// Private helpers shared by the config loader (config.cc), the YAML reader
// (config_yaml.cc) and the validator (config_validate.cc). Not a public header.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config.hh"

namespace pk::pipeline::detail {

/// Collects diagnostics for one file.
struct sink {
    std::string file;
    std::vector<diagnostic>* out;

    void error(mark at, std::string message) const {
        out->push_back(diagnostic{file, at.line, at.col, std::move(message)});
    }
};

/// Reads YAML text into `root`. Syntax errors (and more than one document) become
/// diagnostics; returns false when the text could not be read at all.
bool read_yaml(std::string_view text, node& root, const sink& s);

/// Damerau (optimal string alignment) distance.
size_t edit_distance(std::string_view a, std::string_view b);
/// The candidate closest to `word` when it is close enough to be a likely typo, else "".
std::string closest(std::string_view word, const std::vector<std::string>& candidates);
std::string join(const std::vector<std::string>& words, std::string_view sep = ", ");
/// "(did you mean 'x'?)" when a candidate is close, else "(<label>: a, b, c)", or
/// "(<empty_text>)" when there are no candidates.
std::string suggest(std::string_view word, const std::vector<std::string>& candidates,
                    std::string_view label, std::string_view empty_text = "none defined");
/// How a node reads in "got ..." messages: 'text', "a quoted string \"4\"", a list, ...
std::string describe(const node& n);
std::string position(mark m); ///< "LINE:COL"
void sort(std::vector<diagnostic>& ds);
constexpr bool is_power_of_two(uint64_t v) noexcept {
    return v != 0 && (v & (v - 1)) == 0;
}
/// A name for ports, stages, reactors, timers: [A-Za-z_][A-Za-z0-9_-]*.
bool valid_name(std::string_view s) noexcept;

/// The YAML spellings of an enum.
template <typename E>
struct choice {
    const char* name;
    E value;
};
inline constexpr choice<discipline_kind> discipline_choices[] = {
    {"weighted", discipline_kind::weighted_priority},
    {"round_robin", discipline_kind::round_robin},
    {"tree", discipline_kind::tree}};
inline constexpr choice<idle_policy> idle_choices[] = {{"busy", idle_policy::busy},
                                                       {"pause", idle_policy::pause},
                                                       {"adaptive", idle_policy::adaptive}};
inline constexpr choice<overflow_policy> overflow_choices[] = {
    {"drop", overflow_policy::drop},
    {"backpressure", overflow_policy::backpressure},
    {"drop_newest", overflow_policy::drop_newest},
    {"evict", overflow_policy::evict}};
inline constexpr choice<param_type> param_type_choices[] = {
    {"any", param_type::any},           {"boolean", param_type::boolean},
    {"integer", param_type::integer},   {"number", param_type::number},
    {"string", param_type::string},     {"duration", param_type::duration},
    {"list", param_type::list},         {"map", param_type::map},
    {"port", param_type::port},         {"stage", param_type::stage},
    {"rx_queue", param_type::rx_queue}, {"tx_queue", param_type::tx_queue}};

template <typename E, size_t N>
const char* name_of(const choice<E> (&table)[N], E v) noexcept {
    for (const auto& c : table)
        if (c.value == v) return c.name;
    return "?";
}

} // namespace pk::pipeline::detail
