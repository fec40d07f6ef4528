// Logging with levels, printf-style, to stderr.
//
// Cheap when the level is filtered out (one relaxed load and a branch), but it still
// formats and writes when enabled, so keep it off the per-packet path; count there.
// Each line: "<time> <level> <tag>: message". Thread-safe (one write(2) per line).
#pragma once

#include <atomic>
#include <optional>
#include <string_view>

namespace pk::log {

enum class level : int { trace = 0, debug, info, warn, error, off };

/// Parse "trace|debug|info|warn|error|off"; nullopt on anything else.
std::optional<level> parse_level(std::string_view s) noexcept;
const char* to_string(level l) noexcept;

void set_level(level l) noexcept;
level get_level() noexcept;

namespace detail {
extern std::atomic<int> g_level;
void write(level l, const char* tag, const char* fmt, ...) noexcept
    __attribute__((format(printf, 3, 4)));
} // namespace detail

inline bool enabled(level l) noexcept {
    return static_cast<int>(l) >= detail::g_level.load(std::memory_order_relaxed);
}

} // namespace pk::log

#define PK_LOG(lvl, tag, ...)                                                                      \
    do {                                                                                           \
        if (::pk::log::enabled(::pk::log::level::lvl))                                             \
            ::pk::log::detail::write(::pk::log::level::lvl, tag, __VA_ARGS__);                     \
    } while (0)

#define PK_TRACE(tag, ...) PK_LOG(trace, tag, __VA_ARGS__)
#define PK_DEBUG(tag, ...) PK_LOG(debug, tag, __VA_ARGS__)
#define PK_INFO(tag, ...) PK_LOG(info, tag, __VA_ARGS__)
#define PK_WARN(tag, ...) PK_LOG(warn, tag, __VA_ARGS__)
#define PK_ERROR(tag, ...) PK_LOG(error, tag, __VA_ARGS__)
