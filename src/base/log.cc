#include "base/log.hh"
#include "base/result.hh"

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace pk::log {

namespace detail {
std::atomic<int> g_level{static_cast<int>(level::info)};

void write(level l, const char* tag, const char* fmt, ...) noexcept {
    char buf[1024];
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    localtime_r(&ts.tv_sec, &t);
    int n = std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03ld %-5s %s: ", t.tm_hour, t.tm_min,
                          t.tm_sec, ts.tv_nsec / 1000000, to_string(l), tag);
    if (n < 0) return;
    va_list ap;
    va_start(ap, fmt);
    int m = std::vsnprintf(buf + n, sizeof buf - static_cast<size_t>(n) - 1, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    std::size_t len = static_cast<std::size_t>(n) + static_cast<std::size_t>(m);
    if (len > sizeof buf - 2) len = sizeof buf - 2;
    buf[len++] = '\n';
    (void)!::write(STDERR_FILENO, buf, len);
}
} // namespace detail

std::optional<level> parse_level(std::string_view s) noexcept {
    static constexpr std::string_view names[] = {"trace", "debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 6; ++i)
        if (s == names[i]) return static_cast<level>(i);
    if (s == "warning") return level::warn;
    return std::nullopt;
}

const char* to_string(level l) noexcept {
    switch (l) {
    case level::trace:
        return "TRACE";
    case level::debug:
        return "DEBUG";
    case level::info:
        return "INFO";
    case level::warn:
        return "WARN";
    case level::error:
        return "ERROR";
    case level::off:
        return "OFF";
    }
    return "?";
}

void set_level(level l) noexcept {
    detail::g_level.store(static_cast<int>(l), std::memory_order_relaxed);
}
level get_level() noexcept {
    return static_cast<level>(detail::g_level.load(std::memory_order_relaxed));
}

} // namespace pk::log

namespace pk {
const char* to_string(errc c) noexcept {
    switch (c) {
    case errc::ok:
        return "ok";
    case errc::invalid_argument:
        return "invalid argument";
    case errc::not_found:
        return "not found";
    case errc::io:
        return "I/O error";
    case errc::dpdk:
        return "DPDK error";
    case errc::exhausted:
        return "exhausted";
    case errc::unsupported:
        return "unsupported";
    case errc::state:
        return "wrong state";
    }
    return "?";
}
} // namespace pk
