#include "sched/reactor.hh"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "base/log.hh"
#include "sched/disk.hh"
#include "sched/reactor_detail.hh"

namespace pk::sched {

const char* to_string(idle_policy p) noexcept {
    switch (p) {
    case idle_policy::busy:
        return "busy";
    case idle_policy::pause:
        return "pause";
    case idle_policy::adaptive:
        return "adaptive";
    }
    return "?";
}

const char* to_string(source_kind k) noexcept {
    static const char* const names[source_count] = {"irq", "mq",  "timers", "disk",
                                                    "net", "ext", "tasks"};
    const auto i = static_cast<unsigned>(k);
    return i < source_count ? names[i] : "?";
}

const char* to_string(msg_kind k) noexcept {
    static const char* const names[msg_kind_count] = {"spawn", "join",   "send",  "register",
                                                      "timer", "cursor", "split", "sync",
                                                      "ring",  "seq",    "io",    "reactor"};
    const auto i = static_cast<unsigned>(k);
    return i < msg_kind_count ? names[i] : "?";
}

reactor::reactor(reactor_group& g, unsigned index, unsigned count, const reactor_config& cfg)
    : _group(g), _index(index), _count(count), _cfg(cfg), _disc(make_discipline(cfg.discipline)) {
    _adaptive = cfg.idle == idle_policy::adaptive;
    _efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (_efd < 0)
        throw std::runtime_error(std::string("reactor: eventfd failed: ") + std::strerror(errno));
    const std::uint32_t max = std::clamp<std::uint32_t>(cfg.max_tasks, 1, 65536);
    _slots.assign(max, nullptr);
    _gen.assign(max, 0);
    _free.reserve(max);
    for (std::uint32_t i = max; i-- > 0;)
        _free.push_back(static_cast<std::uint16_t>(i));
    std::uint64_t tick = cfg.timer_tick;
    if (tick == 0) tick = cfg.clock ? 1 : std::max<std::uint64_t>(1, tsc::from_ns(1000));
    _last_tsc = tsc::now();
    _now = clock_now(_last_tsc);
    _timers = std::make_unique<timer_state>(timer::timers::config{{max, tick, _now}, 64});
    _lanes.resize(count);
    for (auto& l : _lanes)
        l.backlog.reserve(cfg.backlog_reserve);
}

reactor::~reactor() {
    if (_efd >= 0) ::close(_efd);
}

/// NET or EXT: each source gets the polls its bucket's share (or its own
/// polls_per_round) allows, stopping early when a burst comes back empty.
template <typename S>
std::uint64_t reactor::poll_sources(const std::vector<S*>& sources, std::uint32_t burst,
                                    source_kind kind) noexcept {
    std::uint64_t work = 0;
    for (S* s : sources) {
        std::uint64_t n = 0;
        const std::uint32_t polls = s->bucket >= 0
                                        ? _disc->source_polls(static_cast<unsigned>(s->bucket))
                                        : s->polls_per_round;
        for (std::uint32_t k = 0; k < polls; ++k) {
            const std::uint32_t got = s->poll_burst(*this, burst);
            _ctr.source_polls[src_idx(kind)].add();
            n += got;
            if (got == 0) break;
        }
        _ctr.source_work[src_idx(kind)].add(n);
        work += n;
    }
    return work;
}

void reactor::connect(std::vector<queue::mailbox<message>*> in,
                      std::vector<queue::mailbox<message>*> out, std::vector<reactor*> peers) {
    for (unsigned p = 0; p < _count; ++p) {
        _lanes[p].in = in[p];
        _lanes[p].out = out[p];
        _lanes[p].peer = peers[p];
    }
}

// ---- the round --------------------------------------------------------------------------------

void reactor::run() noexcept {
    _last_tsc = tsc::now();
    while (run_once()) {
    }
}

bool reactor::run_once() noexcept {
    if (PK_UNLIKELY(_exited.load(std::memory_order_relaxed))) return false;
    const std::uint64_t t = tsc::now();
    const std::uint64_t dt = t - _last_tsc;
    _last_tsc = t;
    (_last_busy ? _ctr.busy_cycles : _ctr.idle_cycles).add(dt);
    _now = clock_now(t);
    ++_round;

    std::uint64_t work = 0;
    if (PK_UNLIKELY(_irq.load(std::memory_order_relaxed) != 0)) work += handle_irq();
    work += poll_mq();
    if (PK_UNLIKELY(_now >= _timer_next)) work += poll_timers();
    if (_disk) {
        const std::uint32_t n = _disk->poll(*this, _cfg.disk_burst);
        _ctr.source_polls[src_idx(source_kind::disk)].add();
        _ctr.source_work[src_idx(source_kind::disk)].add(n);
        work += n;
    }
    work += poll_sources(_net, _cfg.net_burst, source_kind::net);
    work += poll_sources(_ext, _cfg.ext_burst, source_kind::ext);
    if (_runnable != 0) work += poll_tasks();

    _ctr.rounds.add();
    if (work != 0) {
        _ctr.busy_rounds.add();
        _last_busy = true;
        _empty_rounds = 0;
    } else {
        _last_busy = false;
        idle();
    }
    if (PK_UNLIKELY(_stopping)) advance_stop();
    return !_exited.load(std::memory_order_relaxed);
}

std::uint64_t reactor::handle_irq() noexcept {
    const std::uint64_t bits = _irq.exchange(0, std::memory_order_acquire);
    _ctr.source_polls[src_idx(source_kind::irq)].add();
    _ctr.source_work[src_idx(source_kind::irq)].add(
        static_cast<std::uint64_t>(__builtin_popcountll(bits)));
    if (bits & (1ull << irq_stop)) begin_stop();
    for (std::uint64_t b = bits & ~(1ull << irq_stop); b != 0; b &= b - 1) {
        const unsigned bit = static_cast<unsigned>(__builtin_ctzll(b));
        if (_irq_handlers[bit]) _irq_handlers[bit](*this, bit, _irq_ctx[bit]);
    }
    return 1;
}

void reactor::raise_irq(unsigned bit) noexcept {
    _irq.fetch_or(1ull << (bit & 63), std::memory_order_release);
    notify();
}

void reactor::on_irq(unsigned bit, irq_handler h, void* ctx) noexcept {
    if (bit < irq_first_user || bit >= 64) return;
    _irq_handlers[bit] = h;
    _irq_ctx[bit] = ctx;
}

void reactor::notify() noexcept {
    // Dekker with the sleeper's exchange: a read-modify-write reads the latest value, so
    // either it sees the sleeper's flag (and writes the eventfd) or the sleeper's exchange
    // reads ours and then sees what we published before it. (No fences: TSan models RMWs.)
    if (_sleeping.fetch_add(0, std::memory_order_acq_rel) != 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto rc = ::write(_efd, &one, sizeof one);
    }
}

// ---- MQ: the mesh -------------------------------------------------------------------------------

std::uint64_t reactor::poll_mq() noexcept {
    if (PK_UNLIKELY(_backlog_total != 0)) flush_backlog();
    std::uint64_t work = 0;
    for (unsigned p = 0; p < _count; ++p) {
        queue::mailbox<message>& box = *_lanes[p].in;
        const std::span<message> got = box.peek(_cfg.mq_burst);
        if (got.empty()) continue;
        for (const message& m : got) // in place; seq is the position (gap-free, in order)
            dispatch(m);
        box.release(got.size());
        work += got.size();
    }
    _ctr.source_polls[src_idx(source_kind::mq)].add();
    if (work) _ctr.source_work[src_idx(source_kind::mq)].add(work);
    return work;
}

bool reactor::push_link(unsigned to, message& m) noexcept {
    m.from = static_cast<std::uint16_t>(_index);
    if (!_lanes[to].out->try_push(m)) return false; // the mailbox numbers it (m.seq)
    _ctr.msgs_sent.add();
    if (to != _index) wake_peer(to);
    return true;
}

void reactor::wake_peer(unsigned to) noexcept {
    reactor& p = *_lanes[to].peer;
    if (!p._adaptive) return;
    if (p._sleeping.fetch_add(0, std::memory_order_acq_rel) != 0) { // see notify()
        const std::uint64_t one = 1;
        [[maybe_unused]] auto rc = ::write(p._efd, &one, sizeof one);
        _ctr.wakeups_sent.add();
    }
}

bool reactor::try_send(unsigned to, message m) noexcept {
    if (PK_UNLIKELY(_fin_sent || to >= _count || !_lanes[to].backlog.empty() ||
                    !push_link(to, m))) {
        _ctr.msgs_refused.add();
        return false;
    }
    return true;
}

bool reactor::post(unsigned to, message m) noexcept {
    if (PK_UNLIKELY(_fin_sent || to >= _count)) {
        _ctr.msgs_refused.add();
        return false;
    }
    if (PK_LIKELY(_lanes[to].backlog.empty()) && push_link(to, m)) return true;
    _lanes[to].backlog.push_back(m); // slow path: may allocate past backlog_reserve
    ++_backlog_total;
    _ctr.msgs_backlogged.add();
    return true;
}

void reactor::flush_backlog() noexcept {
    for (unsigned p = 0; p < _count; ++p) {
        auto& b = _lanes[p].backlog;
        if (b.empty()) continue;
        std::size_t i = 0;
        while (i < b.size() && push_link(p, b[i]))
            ++i;
        b.erase(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(i));
        _backlog_total -= i;
    }
}

void reactor::dispatch(const message& m) noexcept {
    _ctr.msgs_received.add();
    const auto k = m.kind;
    switch (k) {
    case msg_kind::spawn: {
        spawn_options o;
        o.bucket = static_cast<std::uint8_t>(m.a[0]);
        o.shares = static_cast<std::uint32_t>(m.a[1]);
        o.joiner = reinterpret_cast<task*>(m.a[2]);
        o.joiner_reactor = static_cast<std::uint16_t>(m.a[3]);
        spawn(*static_cast<task*>(m.ptr), o);
        return;
    }
    case msg_kind::join:
        handle_join(m);
        return;
    case msg_kind::send: {
        task* t = find(static_cast<task_id>(m.a[0]));
        if (!t) {
            _ctr.msgs_unhandled.add();
            return;
        }
        t->on_message(*this, m);
        wake(*t);
        return;
    }
    case msg_kind::timer: {
        task* t = find(static_cast<task_id>(m.a[0]));
        if (!t) {
            _ctr.msgs_unhandled.add();
            return;
        }
        sleep_until(*t, m.a[1]);
        return;
    }
    case msg_kind::sync:
        handle_sync(m);
        return;
    case msg_kind::reactor:
        switch (static_cast<reactor_op>(m.op)) {
        case reactor_op::stop:
            begin_stop();
            break;
        case reactor_op::fin:
            ++_fin_received;
            break;
        case reactor_op::wake:
            break;
        }
        return;
    default:
        break;
    }
    // generic kinds (and register/io defaults)
    if (m.fn) {
        m.fn(*this, m);
        return;
    }
    if (message_fn h = _handlers[static_cast<unsigned>(k)]) {
        h(*this, m);
        return;
    }
    if (k == msg_kind::register_source && m.ptr) {
        if (m.a[0] == static_cast<std::uint64_t>(source_kind::net))
            add_net(*static_cast<net_source*>(m.ptr));
        else
            add_ext(*static_cast<ext_source*>(m.ptr));
        return;
    }
    if (k == msg_kind::io && m.ptr && _disk) {
        (void)_disk->submit(*static_cast<disk_op*>(m.ptr));
        return;
    }
    _ctr.msgs_unhandled.add();
}

// ---- barrier ------------------------------------------------------------------------------------

bool reactor::arrive(task& waiter) noexcept {
    const std::uint64_t g = ++_sync_gen;
    for (unsigned p = 0; p < _count; ++p) {
        if (p == _index) continue;
        message m;
        m.kind = msg_kind::sync;
        m.a[0] = g;
        post(p, m);
    }
    const unsigned slot = g & 1;
    if (_sync_count[slot] >= _count - 1) {
        _sync_count[slot] = 0;
        ++_sync_done;
        return true;
    }
    _sync_waiter = &waiter;
    return false;
}

void reactor::handle_sync(const message& m) noexcept {
    const std::uint64_t g = m.a[0];
    const unsigned slot = g & 1;
    ++_sync_count[slot];
    if (_sync_waiter && g == _sync_gen && _sync_count[slot] >= _count - 1) {
        _sync_count[slot] = 0;
        ++_sync_done;
        task* w = _sync_waiter;
        _sync_waiter = nullptr;
        wake(*w);
    }
}

// ---- sources
// --------------------------------------------------------------------------------------

void reactor::add_net(net_source& s) noexcept {
    _net.push_back(&s);
}
void reactor::add_ext(ext_source& s) noexcept {
    _ext.push_back(&s);
}
void reactor::add_wake_check(wake_check check, const void* ctx) {
    _wake_checks.emplace_back(check, ctx);
}
void reactor::attach_disk(disk_source& d) noexcept {
    _disk = &d;
    d.set_event_fd(_efd);
}

// ---- idle
// -------------------------------------------------------------------------------------------

void reactor::idle() noexcept {
    ++_empty_rounds;
    switch (_cfg.idle) {
    case idle_policy::busy:
        break;
    case idle_policy::pause:
        for (std::uint32_t i = 0; i < _cfg.pause_spins; ++i)
            cpu_relax();
        break;
    case idle_policy::adaptive:
        if (_empty_rounds >= _cfg.sleep_after && !_stopping)
            sleep();
        else
            cpu_relax();
        break;
    }
}

bool reactor::has_pending() const noexcept {
    if (_irq.load(std::memory_order_relaxed) != 0 || _backlog_total != 0) return true;
    for (unsigned p = 0; p < _count; ++p)
        if (!_lanes[p].in->empty()) return true;
    if (_disk && _disk->ready()) return true;
    for (const auto& [check, ctx] : _wake_checks)
        if (check(ctx)) return true;
    return false;
}

void reactor::sleep() noexcept {
    _sleeping.exchange(1, std::memory_order_acq_rel);
    if (has_pending()) {
        _sleeping.store(0, std::memory_order_relaxed);
        return;
    }
    std::uint64_t ns = static_cast<std::uint64_t>(_cfg.sleep_max_us) * 1000;
    if (!_cfg.clock && _timer_next != UINT64_MAX) {
        const std::uint64_t now = tsc::now();
        const std::uint64_t until =
            _timer_next > now ? static_cast<std::uint64_t>(tsc::to_ns(_timer_next - now)) : 0;
        if (until < ns) ns = until;
    }
    _ctr.sleeps.add();
    timespec ts{static_cast<time_t>(ns / 1000000000u), static_cast<long>(ns % 1000000000u)};
    pollfd pfd{_efd, POLLIN, 0};
    (void)::ppoll(&pfd, 1, &ts, nullptr);
    std::uint64_t v;
    [[maybe_unused]] auto rc = ::read(_efd, &v, sizeof v);
    _sleeping.store(0, std::memory_order_relaxed);
    _empty_rounds = 0;
}

// ---- graceful stop
// -----------------------------------------------------------------------------------

void reactor::begin_stop() noexcept {
    if (_stopping) return;
    _stopping = true;
    _stop_round = _round;
    PK_DEBUG("sched", "reactor %u: stopping at round %llu", _index,
             static_cast<unsigned long long>(_round));
}

void reactor::sweep() noexcept {
    // Every runnable task not polled since the stop began (or since it became runnable)
    // gets one more poll. Bounded: tasks waking each other forever stop after 16 passes.
    for (int pass = 0; pass < 16; ++pass) {
        bool any = false;
        _disc->for_each([&](task& t) {
            if (t._state.load(std::memory_order_relaxed) == task_state::runnable &&
                (t._fresh || t._last_round < _stop_round)) {
                poll_one(t, 1);
                any = true;
            }
        });
        if (!any) break;
    }
}

void reactor::advance_stop() noexcept {
    if (!_fin_sent) {
        sweep();
        message m;
        m.kind = msg_kind::reactor;
        m.op = static_cast<std::uint8_t>(reactor_op::fin);
        for (unsigned p = 0; p < _count; ++p)
            if (p != _index) post(p, m);
        _fin_sent = true;
    }
    if (_fin_received < _count - 1 || _backlog_total != 0) return;
    // All peers are done sending; drain what is left locally (self-mailbox, woken tasks).
    while (poll_mq() != 0) {
    }
    sweep();
    cancel_all_timers();
    _exited.store(true, std::memory_order_release);
    PK_DEBUG("sched", "reactor %u: exited after %llu rounds", _index,
             static_cast<unsigned long long>(_round));
}

} // namespace pk::sched
