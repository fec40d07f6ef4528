#include "sched/discipline.hh"

#include <algorithm>

namespace pk::sched {

const char* to_string(task_state s) noexcept {
    switch (s) {
    case task_state::created:
        return "created";
    case task_state::runnable:
        return "runnable";
    case task_state::running:
        return "running";
    case task_state::waiting:
        return "waiting";
    case task_state::finished:
        return "finished";
    case task_state::cancelled:
        return "cancelled";
    }
    return "?";
}

const char* to_string(discipline_kind k) noexcept {
    switch (k) {
    case discipline_kind::weighted_priority:
        return "weighted_priority";
    case discipline_kind::round_robin:
        return "round_robin";
    case discipline_kind::tree:
        return "tree";
    }
    return "?";
}

std::unique_ptr<discipline> make_discipline(const discipline_config& cfg) {
    switch (cfg.kind) {
    case discipline_kind::round_robin:
        return std::make_unique<round_robin>(cfg);
    case discipline_kind::tree:
        return std::make_unique<tree_discipline>(cfg);
    case discipline_kind::weighted_priority:
        break;
    }
    return std::make_unique<weighted_priority>(cfg);
}

// ---- weighted priority ------------------------------------------------------------------

weighted_priority::weighted_priority(const discipline_config& cfg)
    : _nb(std::clamp(cfg.bucket_count, 1u, max_buckets)) {
    for (unsigned b = 0; b < _nb; ++b)
        _polls[b] = cfg.polls[b] ? cfg.polls[b] : 1;
}

void weighted_priority::begin_round() noexcept {
    _bucket = 0;
    _cursor = _lists[0].front();
}

selection weighted_priority::select(std::uint64_t budget) noexcept {
    while (_bucket < _nb) {
        if (task* t = _cursor) {
            _cursor = task_list::next(*t);
            const std::uint64_t p = _polls[_bucket];
            return {t, static_cast<std::uint32_t>(p < budget ? p : budget)};
        }
        if (++_bucket < _nb) _cursor = _lists[_bucket].front();
    }
    return {};
}

void weighted_priority::enqueue(task& t, bool) noexcept {
    if (t._bucket >= _nb) t._bucket = static_cast<std::uint8_t>(_nb - 1);
    _lists[t._bucket].push_back(t);
    ++_count;
}

void weighted_priority::dequeue(task& t) noexcept {
    if (_cursor == &t) _cursor = task_list::next(t);
    _lists[t._bucket].remove(t);
    --_count;
}

std::uint64_t weighted_priority::capacity() const noexcept {
    std::uint64_t c = 0;
    for (unsigned b = 0; b < _nb; ++b)
        c += static_cast<std::uint64_t>(_lists[b].size()) * _polls[b];
    return c;
}

void weighted_priority::collect(std::vector<task*>& out) const {
    for (unsigned b = 0; b < _nb; ++b)
        for (task* t = _lists[b].front(); t; t = task_list::next(*t))
            out.push_back(t);
}

// ---- round robin --------------------------------------------------------------------------

selection round_robin::select(std::uint64_t budget) noexcept {
    task* t = _cursor;
    if (!t) return {};
    _cursor = task_list::next(*t);
    return {t, static_cast<std::uint32_t>(_quantum < budget ? _quantum : budget)};
}

void round_robin::dequeue(task& t) noexcept {
    if (_cursor == &t) _cursor = task_list::next(t);
    _list.remove(t);
}

void round_robin::collect(std::vector<task*>& out) const {
    for (task* t = _list.front(); t; t = task_list::next(*t))
        out.push_back(t);
}

// ---- tree (virtual runtime) ---------------------------------------------------------------

tree_discipline::tree_discipline(const discipline_config& cfg)
    : _quantum(cfg.quantum ? cfg.quantum : 1), _charge_work(cfg.charge_work) {
    _heap.reserve(1024);
}

selection tree_discipline::select(std::uint64_t budget) noexcept {
    if (_left == 0 || _heap.empty()) return {};
    --_left;
    return {_heap[0], static_cast<std::uint32_t>(_quantum < budget ? _quantum : budget)};
}

void tree_discipline::charge(task& t, std::uint32_t polls, std::uint64_t work) noexcept {
    std::uint64_t cost = _charge_work ? (work ? work : 1) : polls;
    const std::uint32_t shares = t._shares ? t._shares : 1;
    t._vruntime += (cost << shift) / shares;
    if (t._heap_index < _heap.size()) sift_down(t._heap_index);
    if (!_heap.empty() && _heap[0]->_vruntime > _min_vruntime) _min_vruntime = _heap[0]->_vruntime;
}

void tree_discipline::enqueue(task& t, bool waking) noexcept {
    // A sleeper (or a newcomer) restarts at the floor: no banked credit.
    if (waking && t._vruntime < _min_vruntime) t._vruntime = _min_vruntime;
    _heap.push_back(&t);
    t._heap_index = static_cast<std::uint32_t>(_heap.size() - 1);
    sift_up(t._heap_index);
}

void tree_discipline::dequeue(task& t) noexcept {
    const std::uint32_t i = t._heap_index;
    if (i >= _heap.size()) return;
    task* last = _heap.back();
    _heap.pop_back();
    t._heap_index = 0xffffffffu;
    if (last != &t) {
        place(i, last);
        sift_up(i);
        sift_down(last->_heap_index);
    }
    if (_left > _heap.size()) _left = _heap.size();
}

void tree_discipline::sift_up(std::uint32_t i) noexcept {
    task* t = _heap[i];
    while (i > 0) {
        const std::uint32_t p = (i - 1) / 2;
        if (!less(t, _heap[p])) break;
        place(i, _heap[p]);
        i = p;
    }
    place(i, t);
}

void tree_discipline::sift_down(std::uint32_t i) noexcept {
    const std::uint32_t n = static_cast<std::uint32_t>(_heap.size());
    task* t = _heap[i];
    for (;;) {
        std::uint32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && less(_heap[c + 1], _heap[c])) ++c;
        if (!less(_heap[c], t)) break;
        place(i, _heap[c]);
        i = c;
    }
    place(i, t);
}

void tree_discipline::collect(std::vector<task*>& out) const {
    out.insert(out.end(), _heap.begin(), _heap.end());
}

} // namespace pk::sched
