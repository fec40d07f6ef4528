// Per-reactor counters: rounds, busy/idle TSC cycles, polls and work per source and per
// priority bucket, message and timer statistics.
//
// Single writer (the reactor's thread). Every field is a `counter`: a 64-bit relaxed
// atomic updated with load+store (no lock prefix, same code as a plain add on x86), so a
// metrics exporter on another thread reads torn-free values with `load()` at any time.
// Sum across reactors at scrape time; `visit()` names every field for exposition.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/cacheline.hh"
#include "sched/task.hh"

namespace pk::sched {

class counter {
public:
    void add(std::uint64_t n = 1) noexcept {
        _v.store(_v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void set(std::uint64_t v) noexcept { _v.store(v, std::memory_order_relaxed); }
    void max(std::uint64_t v) noexcept {
        if (v > _v.load(std::memory_order_relaxed)) _v.store(v, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t load() const noexcept { return _v.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> _v{0};
};

/// The reactor's sources (the seed's REACTOR picture), in polling order.
enum class source_kind : std::uint8_t { irq, mq, timers, disk, net, ext, tasks, count_ };
inline constexpr unsigned source_count = static_cast<unsigned>(source_kind::count_);
const char* to_string(source_kind k) noexcept;

struct alignas(cache_line) reactor_counters {
    counter rounds;
    counter busy_rounds;                ///< rounds that did work
    counter busy_cycles;                ///< TSC cycles spent in rounds that did work
    counter idle_cycles;                ///< TSC cycles in empty rounds, pauses and sleeps
    counter sleeps;                     ///< adaptive sleeps entered
    counter wakeups_sent;               ///< eventfd writes to sleeping peers
    counter source_polls[source_count]; ///< burst calls (tasks: task polls)
    counter source_work[source_count];  ///< items / work units returned
    counter bucket_polls[max_buckets];
    counter bucket_work[max_buckets];
    counter tasks_spawned;
    counter tasks_finished;
    counter tasks_cancelled; ///< refused while stopping
    counter tasks_woken;
    counter msgs_sent;
    counter msgs_received;
    counter msgs_backlogged; ///< posted while the link was full (delivered later)
    counter msgs_refused;    ///< try_send on a full link, or after stop
    counter msgs_unhandled;  ///< no handler for the kind / unknown task id
    counter timers_armed;
    counter timers_fired;
    counter timer_lateness_max; ///< clock units, expiry observed - deadline
    counter disk_submitted;
    counter disk_completed;

    /// Calls f(name, label_or_null, value) for every counter.
    template <typename F>
    void visit(F&& f) const {
        f("rounds", nullptr, rounds.load());
        f("busy_rounds", nullptr, busy_rounds.load());
        f("busy_cycles", nullptr, busy_cycles.load());
        f("idle_cycles", nullptr, idle_cycles.load());
        f("sleeps", nullptr, sleeps.load());
        f("wakeups_sent", nullptr, wakeups_sent.load());
        for (unsigned s = 0; s < source_count; ++s) {
            f("source_polls", to_string(static_cast<source_kind>(s)), source_polls[s].load());
            f("source_work", to_string(static_cast<source_kind>(s)), source_work[s].load());
        }
        static const char* const bucket_names[max_buckets] = {"0", "1", "2", "3",
                                                              "4", "5", "6", "7"};
        for (unsigned b = 0; b < max_buckets; ++b) {
            f("bucket_polls", bucket_names[b], bucket_polls[b].load());
            f("bucket_work", bucket_names[b], bucket_work[b].load());
        }
        f("tasks_spawned", nullptr, tasks_spawned.load());
        f("tasks_finished", nullptr, tasks_finished.load());
        f("tasks_cancelled", nullptr, tasks_cancelled.load());
        f("tasks_woken", nullptr, tasks_woken.load());
        f("msgs_sent", nullptr, msgs_sent.load());
        f("msgs_received", nullptr, msgs_received.load());
        f("msgs_backlogged", nullptr, msgs_backlogged.load());
        f("msgs_refused", nullptr, msgs_refused.load());
        f("msgs_unhandled", nullptr, msgs_unhandled.load());
        f("timers_armed", nullptr, timers_armed.load());
        f("timers_fired", nullptr, timers_fired.load());
        f("timer_lateness_max", nullptr, timer_lateness_max.load());
        f("disk_submitted", nullptr, disk_submitted.load());
        f("disk_completed", nullptr, disk_completed.load());
    }

    /// busy_cycles / (busy_cycles + idle_cycles), 0 if nothing measured yet.
    [[nodiscard]] double busy_ratio() const noexcept {
        const double b = static_cast<double>(busy_cycles.load());
        const double i = static_cast<double>(idle_cycles.load());
        return b + i > 0 ? b / (b + i) : 0.0;
    }
};

} // namespace pk::sched
