// The reactor's TASKS and TIMERS: task ids, spawn, join, wake, polling through the
// discipline; oneshot timers (the wheel) and interval timers (drift-free periods).
#include <algorithm>

#include "sched/reactor.hh"
#include "sched/reactor_detail.hh"

namespace pk::sched {

// ---- tasks ------------------------------------------------------------------------------------

task_id reactor::alloc_id(task& t) noexcept {
    const std::uint16_t slot = _free.back();
    _free.pop_back();
    _slots[slot] = &t;
    t._id = ((_index & 0xffu) << 24) | (static_cast<std::uint32_t>(_gen[slot]) << 16) | slot;
    return t._id;
}

void reactor::free_id(task& t) noexcept {
    const std::uint32_t slot = t._id & 0xffffu;
    _slots[slot] = nullptr;
    ++_gen[slot];
    _free.push_back(static_cast<std::uint16_t>(slot));
}

task* reactor::find(task_id id) const noexcept {
    if ((id >> 24) != (_index & 0xffu)) return nullptr;
    const std::uint32_t slot = id & 0xffffu;
    if (slot >= _slots.size()) return nullptr;
    task* t = _slots[slot];
    return t && t->_id == id ? t : nullptr;
}

task_id reactor::spawn(task& t, const spawn_options& o) noexcept {
    if (o.joiner) {
        t._joiner = o.joiner;
        t._joiner_reactor =
            o.joiner_reactor == 0xffff ? static_cast<std::uint16_t>(_index) : o.joiner_reactor;
    }
    t._owner.store(static_cast<std::uint16_t>(_index), std::memory_order_release);
    if (PK_UNLIKELY(_stopping || _free.empty())) {
        t._id = invalid_task;
        finish(t, task_state::cancelled);
        return invalid_task;
    }
    const unsigned nb = _disc->buckets();
    t._bucket = static_cast<std::uint8_t>(o.bucket < nb ? o.bucket : nb - 1);
    t._shares = o.shares ? o.shares : 1;
    t._vruntime = 0;
    t._wake_pending = false;
    t._timer = 0;
    t._last_round = _round;
    const task_id id = alloc_id(t);
    ++_live;
    _ctr.tasks_spawned.add();
    if (o.start_waiting)
        t.set_state(task_state::waiting);
    else
        make_runnable(t, true);
    return id;
}

bool reactor::spawn_on(unsigned target, task& t, spawn_options o) noexcept {
    if (target == _index) return spawn(t, o) != invalid_task;
    if (target >= _count || _stopping) {
        _ctr.tasks_cancelled.add();
        t.set_state(task_state::cancelled);
        return false;
    }
    t.set_state(task_state::created); // not "finished" while in flight (join)
    t._owner.store(static_cast<std::uint16_t>(target), std::memory_order_release);
    message m;
    m.kind = msg_kind::spawn;
    m.ptr = &t;
    m.a[0] = o.bucket;
    m.a[1] = o.shares;
    m.a[2] = reinterpret_cast<std::uint64_t>(o.joiner);
    m.a[3] = o.joiner_reactor == 0xffff ? _index : o.joiner_reactor;
    return post(target, m);
}

void reactor::make_runnable(task& t, bool waking) noexcept {
    t.set_state(task_state::runnable);
    t._fresh = true;
    _disc->enqueue(t, waking);
    ++_runnable;
}

void reactor::wake(task& t) noexcept {
    const task_state s = t._state.load(std::memory_order_relaxed);
    if (s == task_state::waiting) {
        make_runnable(t, true);
        _ctr.tasks_woken.add();
    } else if (s == task_state::running) {
        t._wake_pending = true;
    }
}

bool reactor::join(task& t, task& waiter) noexcept {
    if (t.finished()) return true;
    const unsigned o = t.owner();
    if (o == _index || o >= _count) {
        t._joiner = &waiter;
        t._joiner_reactor = static_cast<std::uint16_t>(_index);
        return false;
    }
    message m;
    m.kind = msg_kind::join;
    m.op = static_cast<std::uint8_t>(join_op::request);
    m.ptr = &t;
    m.a[0] = reinterpret_cast<std::uint64_t>(&waiter);
    post(o, m);
    return false;
}

void reactor::handle_join(const message& m) noexcept {
    if (static_cast<join_op>(m.op) == join_op::done) {
        wake(*reinterpret_cast<task*>(m.a[0]));
        return;
    }
    task& t = *static_cast<task*>(m.ptr);
    if (t.finished()) {
        message r;
        r.kind = msg_kind::join;
        r.op = static_cast<std::uint8_t>(join_op::done);
        r.ptr = &t;
        r.a[0] = m.a[0];
        r.a[1] = static_cast<std::uint64_t>(t.state());
        post(m.from, r);
        return;
    }
    t._joiner = reinterpret_cast<task*>(m.a[0]);
    t._joiner_reactor = m.from;
}

void reactor::finish(task& t, task_state final_state) noexcept {
    if (t._timer) cancel_timer(t);
    if (t._interval) cancel_every(t);
    if (t._id != invalid_task) {
        free_id(t);
        --_live;
    }
    task* joiner = t._joiner;
    const unsigned jr = t._joiner_reactor;
    const bool owned = t._owned;
    t._joiner = nullptr;
    t._joiner_reactor = 0xffff;
    (final_state == task_state::finished ? _ctr.tasks_finished : _ctr.tasks_cancelled).add();
    t.set_state(final_state); // from here on the owner may reuse or free t
    if (joiner) {
        if (jr == _index) {
            wake(*joiner);
        } else {
            message m;
            m.kind = msg_kind::join;
            m.op = static_cast<std::uint8_t>(join_op::done);
            m.ptr = &t;
            m.a[0] = reinterpret_cast<std::uint64_t>(joiner);
            m.a[1] = static_cast<std::uint64_t>(final_state);
            post(jr, m);
        }
    }
    if (owned) delete &t;
}

std::uint32_t reactor::poll_one(task& t, std::uint32_t max_polls) noexcept {
    t.set_state(task_state::running);
    t._fresh = false;
    t._last_round = _round;
    _current = &t;
    std::uint32_t n = 0;
    std::uint64_t w = 0;
    poll_result r;
    do {
        r = t.poll(*this);
        ++n;
        w += r.work;
    } while (n < max_polls && r.then == poll_result::next::run &&
             (r.work != 0 || !_cfg.stop_on_idle));
    _current = nullptr;
    t.count(n, w);
    _ctr.bucket_polls[t._bucket].add(n);
    _ctr.bucket_work[t._bucket].add(w);
    _ctr.source_polls[src_idx(source_kind::tasks)].add(n);
    _ctr.source_work[src_idx(source_kind::tasks)].add(w);
    _disc->charge(t, n, w);
    switch (r.then) {
    case poll_result::next::run:
        t.set_state(task_state::runnable);
        break;
    case poll_result::next::wait:
        if (t._wake_pending) {
            t.set_state(task_state::runnable);
        } else {
            _disc->dequeue(t);
            --_runnable;
            t.set_state(task_state::waiting);
        }
        break;
    case poll_result::next::done:
        _disc->dequeue(t);
        --_runnable;
        t._wake_pending = false;
        finish(t, task_state::finished);
        return n;
    }
    t._wake_pending = false;
    return n;
}

std::uint64_t reactor::poll_tasks() noexcept {
    _disc->begin_round();
    std::uint64_t budget = _cfg.task_budget;
    const std::uint64_t before = _ctr.source_work[src_idx(source_kind::tasks)].load();
    while (budget != 0) {
        const selection s = _disc->select(budget);
        if (!s) break;
        const std::uint32_t n = poll_one(*s.t, s.polls);
        budget = budget > n ? budget - n : 0;
    }
    return _ctr.source_work[src_idx(source_kind::tasks)].load() - before;
}

// ---- timers ---------------------------------------------------------------------------------

bool reactor::sleep_until(task& t, std::uint64_t deadline) noexcept {
    if (t._timer) cancel_timer(t);
    const timer::handle h = _timers->create(timer::oneshot{deadline}, t._id);
    if (!h.valid()) return false;
    t._timer = h.value;
    t._deadline = deadline;
    _ctr.timers_armed.add();
    note_deadline();
    return true;
}

void reactor::cancel_timer(task& t) noexcept {
    if (t._timer) _timers->cancel(timer::handle{t._timer});
    t._timer = 0;
}

bool reactor::every(task& t, std::uint64_t period, std::uint64_t first) noexcept {
    cancel_every(t);
    const timer::handle h =
        _timers->create(timer::interval{period, first ? first : _now + period}, t._id);
    if (!h.valid()) return false;
    t._interval = h.value;
    _ctr.timers_armed.add();
    note_deadline();
    return true;
}

void reactor::cancel_every(task& t) noexcept {
    if (t._interval) _timers->cancel(timer::handle{t._interval});
    t._interval = 0;
    t._missed = 0;
}

void reactor::note_deadline() noexcept {
    const std::uint64_t hint = _timers->next_due_hint();
    if (hint < _timer_next) _timer_next = hint;
}

std::uint64_t reactor::poll_timers() noexcept {
    timer::expired buf[64];
    std::uint64_t fired = 0;
    const std::size_t want =
        std::min<std::size_t>(64, std::max<std::uint32_t>(1, _cfg.timer_burst));
    std::size_t n;
    do {
        n = _timers->select(_now, buf, want);
        for (std::size_t i = 0; i < n; ++i) {
            task* t = find(buf[i].task_id);
            const bool periodic = buf[i].h.id() & timer::interval_list::handle_flag;
            if (!t || (periodic ? t->_interval : t->_timer) != buf[i].h.value) continue; // gone
            if (periodic)
                t->_missed += buf[i].missed;
            else
                t->_timer = 0;
            const std::uint64_t late = _now - buf[i].deadline;
            t->_lateness = late;
            _ctr.timer_lateness_max.max(late);
            ++fired;
            wake(*t);
        }
    } while (n == want && fired < _cfg.timer_burst);
    _timer_next = _timers->pending() ? _timers->next_due_hint() : UINT64_MAX;
    _ctr.source_polls[src_idx(source_kind::timers)].add();
    _ctr.source_work[src_idx(source_kind::timers)].add(fired);
    _ctr.timers_fired.add(fired);
    return fired;
}

void reactor::cancel_all_timers() noexcept {
    for (task* t : _slots)
        if (t) {
            cancel_timer(*t);
            cancel_every(*t);
        }
    _timer_next = UINT64_MAX;
}

} // namespace pk::sched
