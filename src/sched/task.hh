// Task: the schedulable entity of a reactor (the seed's "Scheduleable Entities").
//
// Use it for anything a reactor runs repeatedly: a pipeline stage, a poller, a state
// machine. Subclass `task` and implement `poll(reactor&)`, which does a bounded amount
// of work and reports it (`poll_result`): how much work was done, and whether the task
// stays runnable (`ran`), goes to sleep until woken (`wait`: by a timer, a message, a
// join, a barrier or `reactor::wake`) or is finished (`done`). A task never blocks.
//
// Guarantees: a task is polled only by the reactor that owns it (the one it was
// spawned on), so its own fields need no synchronisation. `state()`, `polls()`,
// `work()` and `finished()` may be read from any thread (relaxed/acquire atomics).
// Ownership: the creator owns the task object and keeps it alive until it is finished
// (or until its reactor stopped); `reactor::spawn_fn` is the owned, heap-allocated form.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "base/cacheline.hh"

namespace pk::sched {

class reactor;
struct message;
class task;
class task_list;
class weighted_priority;
class round_robin;
class tree_discipline;

/// [reactor:8][generation:8][slot:16]; unique among live tasks of a group.
using task_id = std::uint32_t;
inline constexpr task_id invalid_task = 0xffffffffu;
/// Number of priority buckets a discipline may use (bucket 0 is the highest).
inline constexpr unsigned max_buckets = 8;

enum class task_state : std::uint8_t {
    created,   ///< never spawned (or re-usable after finished/cancelled)
    runnable,  ///< in its reactor's discipline
    running,   ///< inside poll()
    waiting,   ///< asleep until woken (timer, message, join, barrier, disk)
    finished,  ///< poll() returned done
    cancelled, ///< refused (reactor stopping) — never polled again
};
const char* to_string(task_state s) noexcept;

struct poll_result {
    enum class next : std::uint8_t { run, wait, done };
    std::uint32_t work = 0; ///< items handled by this poll (0 = idle poll)
    next then = next::run;

    static constexpr poll_result ran(std::uint32_t w) noexcept { return {w, next::run}; }
    static constexpr poll_result wait(std::uint32_t w = 0) noexcept { return {w, next::wait}; }
    static constexpr poll_result done(std::uint32_t w = 0) noexcept { return {w, next::done}; }
};

struct spawn_options {
    std::uint8_t bucket = 0;  ///< priority bucket (0 = highest); clamped to the discipline's
    std::uint32_t shares = 1; ///< weight under the tree discipline (>= 1)
    task* joiner = nullptr;   ///< woken when this task finishes (joiner's own reactor)
    std::uint16_t joiner_reactor = 0xffff; ///< joiner's reactor index (0xffff: the spawning one)
    bool start_waiting = false;            ///< spawn asleep (e.g. a timer-driven task)
};

class alignas(destructive_interference) task {
public:
    task() noexcept = default;
    virtual ~task() = default;
    task(const task&) = delete;
    task& operator=(const task&) = delete;

    /// Reactor thread only (the owner). Do a bounded amount of work; never block.
    virtual poll_result poll(reactor& r) noexcept = 0;
    /// Reactor thread only. A `send` message addressed to this task; the task is woken
    /// right after (if it was waiting).
    virtual void on_message(reactor& r, const message& m) noexcept { (void)r, (void)m; }

    // ---- any thread (snapshots) --------------------------------------------------------
    [[nodiscard]] task_state state() const noexcept {
        return _state.load(std::memory_order_acquire);
    }
    [[nodiscard]] bool finished() const noexcept {
        const auto s = state();
        return s == task_state::finished || s == task_state::cancelled;
    }
    [[nodiscard]] std::uint64_t polls() const noexcept {
        return _polls.load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t work() const noexcept {
        return _work.load(std::memory_order_relaxed);
    }
    /// Index of the owning reactor (valid once spawned).
    [[nodiscard]] unsigned owner() const noexcept { return _owner.load(std::memory_order_acquire); }

    // ---- owner reactor thread ------------------------------------------------------------
    [[nodiscard]] task_id id() const noexcept { return _id; }
    [[nodiscard]] unsigned bucket() const noexcept { return _bucket; }
    [[nodiscard]] std::uint32_t shares() const noexcept { return _shares; }
    /// Tree discipline: weighted virtual runtime (cost << 20 / shares, accumulated).
    [[nodiscard]] std::uint64_t vruntime() const noexcept { return _vruntime; }
    /// Lateness (clock units) of the last timer wake-up: now at expiry - deadline.
    [[nodiscard]] std::uint64_t last_lateness() const noexcept { return _lateness; }
    /// Interval periods skipped (reactor late by whole periods) since the last call.
    std::uint32_t take_missed() noexcept { return std::exchange(_missed, 0u); }
    /// Round (of the owner) in which this task was last polled.
    [[nodiscard]] std::uint64_t last_round() const noexcept { return _last_round; }

private:
    friend class reactor;
    friend class task_list;
    friend class weighted_priority;
    friend class round_robin;
    friend class tree_discipline;

    void set_state(task_state s) noexcept { _state.store(s, std::memory_order_release); }
    void count(std::uint64_t polls, std::uint64_t work) noexcept {
        _polls.store(_polls.load(std::memory_order_relaxed) + polls, std::memory_order_relaxed);
        _work.store(_work.load(std::memory_order_relaxed) + work, std::memory_order_relaxed);
    }

    // intrusive run-list / heap hooks (owned by the discipline)
    task* _next = nullptr;
    task* _prev = nullptr;
    std::uint32_t _heap_index = 0xffffffffu;
    std::uint64_t _vruntime = 0;

    task_id _id = invalid_task;
    std::uint8_t _bucket = 0;
    bool _wake_pending = false; ///< woken while running: stays runnable
    bool _fresh = false;        ///< runnable and not yet polled since
    bool _owned = false;        ///< deleted by the reactor when finished (spawn_fn)
    std::uint32_t _shares = 1;
    std::atomic<std::uint16_t> _owner{0xffff};
    std::atomic<task_state> _state{task_state::created};
    std::atomic<std::uint64_t> _polls{0};
    std::atomic<std::uint64_t> _work{0};
    std::uint64_t _last_round = 0;

    // join: one joiner per task
    task* _joiner = nullptr;
    std::uint16_t _joiner_reactor = 0xffff;

    // timer
    std::uint64_t _deadline = 0;
    std::uint64_t _lateness = 0;
    std::uint64_t _timer = 0;    ///< opaque wheel handle + 1 (0 = none)
    std::uint64_t _interval = 0; ///< interval timer handle (0 = none)
    std::uint32_t _missed = 0;   ///< interval periods skipped since take_missed()
};

/// A task from a callable `F(reactor&) noexcept -> poll_result`.
template <typename F>
class fn_task final : public task {
    static_assert(std::is_nothrow_invocable_r_v<poll_result, F&, reactor&>,
                  "fn_task: F must be callable as poll_result(reactor&) noexcept");

public:
    explicit fn_task(F f) noexcept(std::is_nothrow_move_constructible_v<F>) : _f(std::move(f)) {}
    poll_result poll(reactor& r) noexcept override { return _f(r); }

private:
    F _f;
};

/// Intrusive doubly-linked run list (no allocation). Owner reactor thread only.
class task_list {
public:
    void push_back(task& t) noexcept {
        t._next = nullptr;
        t._prev = _tail;
        if (_tail)
            _tail->_next = &t;
        else
            _head = &t;
        _tail = &t;
        ++_size;
    }
    void remove(task& t) noexcept {
        if (t._prev)
            t._prev->_next = t._next;
        else
            _head = t._next;
        if (t._next)
            t._next->_prev = t._prev;
        else
            _tail = t._prev;
        t._next = t._prev = nullptr;
        --_size;
    }
    [[nodiscard]] task* front() const noexcept { return _head; }
    [[nodiscard]] static task* next(const task& t) noexcept { return t._next; }
    [[nodiscard]] std::size_t size() const noexcept { return _size; }
    [[nodiscard]] bool empty() const noexcept { return _size == 0; }

private:
    task* _head = nullptr;
    task* _tail = nullptr;
    std::size_t _size = 0;
};

} // namespace pk::sched
