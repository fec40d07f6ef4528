// Metric registry: the set of collectors a scrape asks for metric families.
//
// Hot-path counters stay where they are updated (per-lcore cells, relaxed atomics in
// their owners — e.g. the pipeline's stage counters); nothing here is touched by the
// packet path. At scrape time the HTTP thread calls `registry::collect()`, which calls
// every collector's `collect()` under the registry mutex; collectors read their
// owners' counters (relaxed loads, summing per-lcore cells) and append families.
//
// Threads: add/remove/collect may be called from any non-packet thread. `remove()`
// (and a `registration` going out of scope) waits for an in-progress scrape to finish,
// so once it returns the collector may be destroyed. A collector must not call back
// into the registry from `collect()` (it would deadlock).
#pragma once

#include "metrics/exposition.hh"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pk::metrics {

/// Produces metric families at scrape time (HTTP thread). Must be cheap-ish and must
/// not block on the packet path; reading relaxed atomics is the expected pattern.
class collector {
public:
    virtual ~collector() = default;
    virtual void collect(std::vector<family>& out) const = 0;
};

/// A collector from a callable, for owners that do not want a class.
class function_collector final : public collector {
public:
    using fn = std::function<void(std::vector<family>&)>;
    explicit function_collector(fn f) : _f(std::move(f)) {}
    void collect(std::vector<family>& out) const override { _f(out); }

private:
    fn _f;
};

class registry;

/// RAII handle: removes its collector from the registry when destroyed. Move-only.
class [[nodiscard]] registration {
public:
    registration() = default;
    registration(registration&& o) noexcept { *this = std::move(o); }
    registration& operator=(registration&& o) noexcept;
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
    ~registration() { reset(); }

    void reset() noexcept; ///< unregister now (waits for an in-progress scrape)
    bool active() const noexcept { return _reg != nullptr; }

private:
    friend class registry;
    registration(registry* r, const collector* c, std::unique_ptr<collector> owned)
        : _reg(r), _c(c), _owned(std::move(owned)) {}
    registry* _reg = nullptr;
    const collector* _c = nullptr;
    std::unique_ptr<collector> _owned; // for add(fn)
};

class registry {
public:
    registry() = default;
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    /// Add a collector owned by the caller; it stays registered until remove(c).
    /// Collectors are asked in the order they were added.
    void add(const collector& c);
    /// Remove a collector; waits for an in-progress scrape. No-op if absent.
    void remove(const collector& c) noexcept;

    /// Register a callable; unregistered when the returned handle is destroyed.
    registration add(function_collector::fn f);
    /// Register a caller-owned collector, unregistered when the handle is destroyed.
    registration scoped(const collector& c);

    /// Ask every collector (scrape time).
    void collect(std::vector<family>& out) const;
    /// collect() + encode(); skipped families are reported in `report` if given.
    std::string scrape(encode_report* report = nullptr) const;

    std::size_t size() const;

private:
    mutable std::mutex _mu;
    std::vector<const collector*> _collectors;
};

} // namespace pk::metrics
