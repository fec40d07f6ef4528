// Error and result types for start-up and control paths.
//
// `error` carries a category code and a human message ("what is wrong and what to
// do"). `result<T>` holds either a T or an error; `status` is result<void>. These
// allocate (the message is a std::string) and are meant for configuration, start-up
// and control commands — never the per-packet path, where faults become counters.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace pk {

enum class errc : int {
    ok = 0,
    invalid_argument, ///< bad user input: CLI flag, config value
    not_found,        ///< file, device, name does not exist
    io,               ///< OS-level failure (errno in the message)
    dpdk,             ///< EAL / ethdev / mempool failure (rte_errno in the message)
    exhausted,        ///< out of memory, queue slots, lcores
    unsupported,      ///< the device or platform cannot do it
    state,            ///< called in the wrong state (not started, already closed)
};

const char* to_string(errc c) noexcept;

struct error {
    errc code = errc::ok;
    std::string message;

    error() = default;
    error(errc c, std::string m) : code(c), message(std::move(m)) {}
};

template <typename T>
class [[nodiscard]] result {
public:
    result(T v) : _v(std::in_place_index<0>, std::move(v)) {}
    result(error e) : _v(std::in_place_index<1>, std::move(e)) {}

    bool ok() const noexcept { return _v.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(_v);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(_v);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(_v));
    }
    T& operator*() & { return value(); }
    T* operator->() { return &value(); }

    const error& err() const& {
        assert(!ok());
        return std::get<1>(_v);
    }
    error&& err() && {
        assert(!ok());
        return std::get<1>(std::move(_v));
    }

private:
    std::variant<T, error> _v;
};

template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(error e) : _e(std::move(e)), _failed(true) {}

    bool ok() const noexcept { return !_failed; }
    explicit operator bool() const noexcept { return ok(); }
    const error& err() const& {
        assert(_failed);
        return _e;
    }

private:
    error _e;
    bool _failed = false;
};

using status = result<void>;

inline error make_error(errc c, std::string m) {
    return error{c, std::move(m)};
}

} // namespace pk
