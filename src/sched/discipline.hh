// Disciplines: which runnable task the reactor polls next (the seed's
// `Discipline::select(u64) -> Stream`).
//
// Use `make_discipline(cfg)` to build one of the three; a reactor owns exactly one.
// The reactor calls, once per round: begin_round(), then select(budget) until it returns
// an empty selection or the budget (polls left in this round) is spent; after each
// selection it polls the task up to `selection.polls` times and calls charge().
//   - weighted_priority: every task in bucket p gets polls[p] polls per round
//     (default [10,6,3,1]); capacity of a round = sum_p tasks_p * polls_p.
//   - round_robin: every runnable task gets `quantum` polls per round, buckets ignored.
//   - tree: each round makes as many selections as there are runnable tasks, each time
//     the task with the smallest virtual runtime (a min-heap, CFS / Seastar shares);
//     a task is charged cost << 20 / shares, where cost is the polls it got (default,
//     deterministic) or the work it reported. A waking or new task's vruntime is
//     clamped up to min_vruntime, so sleeping never banks credit.
// All methods: owner reactor thread only; no allocation except the tree's heap growth
// past its reserved size. Removing a task (dequeue) during a round is safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "sched/policy.hh"
#include "sched/task.hh"

namespace pk::sched {

struct selection {
    task* t = nullptr;
    std::uint32_t polls = 0;
    explicit operator bool() const noexcept { return t != nullptr; }
};

class discipline {
public:
    virtual ~discipline() = default;
    [[nodiscard]] virtual const char* name() const noexcept = 0;
    /// Number of buckets this discipline distinguishes (tasks' buckets are clamped).
    [[nodiscard]] virtual unsigned buckets() const noexcept { return 1; }
    virtual void begin_round() noexcept = 0;
    /// The next task to poll and how many polls it gets, at most `budget`.
    [[nodiscard]] virtual selection select(std::uint64_t budget) noexcept = 0;
    /// Burst polls per round for a NET/EXT source placed in `bucket` (a source with a
    /// bucket gets the share a saturated task of that bucket would get).
    [[nodiscard]] virtual std::uint32_t source_polls(unsigned bucket) const noexcept {
        (void)bucket;
        return 1;
    }
    /// After polling t `polls` times for `work` items (t still enqueued).
    virtual void charge(task& t, std::uint32_t polls, std::uint64_t work) noexcept {
        (void)t, (void)polls, (void)work;
    }
    /// t became runnable; `waking` is true when it was waiting (or is new).
    virtual void enqueue(task& t, bool waking) noexcept = 0;
    /// t is no longer runnable (waiting, finished).
    virtual void dequeue(task& t) noexcept = 0;
    [[nodiscard]] virtual std::size_t runnable() const noexcept = 0;
    /// Visits every runnable task (slow path: stop/drain, inspection).
    template <typename F>
    void for_each(F&& f) {
        std::vector<task*> v;
        collect(v);
        for (task* t : v)
            f(*t);
    }

protected:
    virtual void collect(std::vector<task*>& out) const = 0;
};

struct discipline_config {
    discipline_kind kind = discipline_kind::weighted_priority;
    /// weighted_priority: polls per task per round, per bucket (first `bucket_count`).
    std::array<std::uint32_t, max_buckets> polls{10, 6, 3, 1};
    unsigned bucket_count = 4;
    /// round_robin and tree: polls per selection.
    std::uint32_t quantum = 1;
    /// tree: charge reported work instead of polls (work 0 is charged as 1).
    bool charge_work = false;
};

std::unique_ptr<discipline> make_discipline(const discipline_config& cfg);

class weighted_priority final : public discipline {
public:
    explicit weighted_priority(const discipline_config& cfg);
    const char* name() const noexcept override { return "weighted_priority"; }
    unsigned buckets() const noexcept override { return _nb; }
    std::uint32_t source_polls(unsigned bucket) const noexcept override {
        return _polls[bucket < _nb ? bucket : _nb - 1];
    }
    void begin_round() noexcept override;
    selection select(std::uint64_t budget) noexcept override;
    void enqueue(task& t, bool waking) noexcept override;
    void dequeue(task& t) noexcept override;
    std::size_t runnable() const noexcept override { return _count; }
    /// Polls per round if every runnable task is saturated: sum tasks_p * polls_p.
    [[nodiscard]] std::uint64_t capacity() const noexcept;
    [[nodiscard]] std::size_t tasks_in(unsigned bucket) const noexcept {
        return _lists[bucket].size();
    }

private:
    void collect(std::vector<task*>& out) const override;
    std::array<task_list, max_buckets> _lists{};
    std::array<std::uint32_t, max_buckets> _polls{};
    unsigned _nb;
    unsigned _bucket = 0;
    task* _cursor = nullptr;
    std::size_t _count = 0;
};

class round_robin final : public discipline {
public:
    explicit round_robin(const discipline_config& cfg) : _quantum(cfg.quantum ? cfg.quantum : 1) {}
    const char* name() const noexcept override { return "round_robin"; }
    std::uint32_t source_polls(unsigned) const noexcept override { return _quantum; }
    void begin_round() noexcept override { _cursor = _list.front(); }
    selection select(std::uint64_t budget) noexcept override;
    void enqueue(task& t, bool) noexcept override { _list.push_back(t); }
    void dequeue(task& t) noexcept override;
    std::size_t runnable() const noexcept override { return _list.size(); }

private:
    void collect(std::vector<task*>& out) const override;
    task_list _list;
    task* _cursor = nullptr;
    std::uint32_t _quantum;
};

class tree_discipline final : public discipline {
public:
    explicit tree_discipline(const discipline_config& cfg);
    const char* name() const noexcept override { return "tree"; }
    std::uint32_t source_polls(unsigned) const noexcept override { return _quantum; }
    void begin_round() noexcept override { _left = _heap.size(); }
    selection select(std::uint64_t budget) noexcept override;
    void charge(task& t, std::uint32_t polls, std::uint64_t work) noexcept override;
    void enqueue(task& t, bool waking) noexcept override;
    void dequeue(task& t) noexcept override;
    std::size_t runnable() const noexcept override { return _heap.size(); }
    /// Monotonic floor of the runnable tasks' vruntimes.
    [[nodiscard]] std::uint64_t min_vruntime() const noexcept { return _min_vruntime; }
    static constexpr unsigned shift = 20;

private:
    void collect(std::vector<task*>& out) const override;
    static bool less(const task* a, const task* b) noexcept {
        return a->_vruntime != b->_vruntime ? a->_vruntime < b->_vruntime : a->_id < b->_id;
    }
    void sift_up(std::uint32_t i) noexcept;
    void sift_down(std::uint32_t i) noexcept;
    void place(std::uint32_t i, task* t) noexcept {
        _heap[i] = t;
        t->_heap_index = i;
    }
    std::vector<task*> _heap;
    std::size_t _left = 0;
    std::uint64_t _min_vruntime = 0;
    std::uint32_t _quantum;
    bool _charge_work;
};

} // namespace pk::sched
