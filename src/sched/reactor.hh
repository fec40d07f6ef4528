// Reactor: one per lcore, the loop that owns and polls its sources (the seed's REACTOR:
// IRQ, MQ, TIMERS, DISK, NET, EXT, TASKS) under a discipline. The round, IRQ, MQ,
// sources, idle and stop live in reactor.cc; tasks and timers in reactor_tasks.cc.
//
// One round = IRQ bits (urgent control) → MQ (mesh inboxes, bursts) → TIMERS (expired
// entries wake their tasks) → DISK (io_uring completions) → NET and EXT sources
// (`polls_per_round` bursts each) → TASKS (the discipline's selections). Idle policy:
// busy (default), pause (PAUSE after an empty round), adaptive (sleep on an eventfd after
// `sleep_after` empty rounds; any producer — mesh sender, io_uring, notify() — wakes it).
//
// Threading: every method is for the reactor's own thread (or any thread before the
// reactor starts running), except those marked "any thread". Reactors are created by a
// `reactor_group`, which owns the mesh (one SPSC link per ordered pair) and launches
// them on pinned std::threads or DPDK lcores (sched/dpdk_launch.hh). Graceful stop
// (request_stop, any thread): stop accepting spawns, poll every runnable task once more,
// send FIN on every link, keep delivering until FIN arrived from every peer, poll what
// those last messages woke, exit. No message accepted by a send is left undelivered.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/cacheline.hh"
#include "base/clock.hh"
#include "base/compiler.hh"
#include "queue/mailbox.hh"
#include "sched/counters.hh"
#include "sched/discipline.hh"
#include "sched/policy.hh"
#include "sched/protocol.hh"
#include "sched/source.hh"
#include "sched/task.hh"

namespace pk::sched {

class disk_source;
class reactor_group;

struct reactor_config {
    discipline_config discipline{};
    idle_policy idle = idle_policy::busy;
    std::uint32_t pause_spins = 16;    ///< pause: PAUSEs after an empty round
    std::uint32_t sleep_after = 256;   ///< adaptive: empty rounds before sleeping
    std::uint32_t sleep_max_us = 1000; ///< adaptive: longest sleep (bounded by next timer)
    std::uint32_t mq_burst = 32;       ///< messages per inbound link per round
    std::uint32_t net_burst = 32;
    std::uint32_t ext_burst = 32;
    std::uint32_t disk_burst = 64;
    std::uint32_t timer_burst = 64;         ///< expired timers handled per round
    std::uint64_t task_budget = UINT64_MAX; ///< task polls per round (cap)
    bool stop_on_idle = false;              ///< end a task's polls early when one reports 0 work
    std::uint32_t max_tasks = 65536;        ///< live tasks per reactor (<= 65536)
    std::size_t backlog_reserve = 256;      ///< per-peer overflow for post() (grows if needed)
    /// Timer clock (deadlines, lateness). nullptr: TSC. Tests inject a virtual clock.
    std::uint64_t (*clock)(void* ctx) noexcept = nullptr;
    void* clock_ctx = nullptr;
    /// Timer wheel resolution in clock units (0: ~1 µs of TSC, or 1 with a custom clock).
    std::uint64_t timer_tick = 0;
};

class alignas(destructive_interference) reactor {
public:
    using irq_handler = void (*)(reactor& r, unsigned bit, void* ctx) noexcept;
    static constexpr unsigned irq_stop = 0; ///< reserved: graceful stop
    static constexpr unsigned irq_first_user = 8;

    reactor(const reactor&) = delete;
    reactor& operator=(const reactor&) = delete;
    ~reactor();

    // ---- identity ----------------------------------------------------------------------
    [[nodiscard]] unsigned index() const noexcept { return _index; }
    [[nodiscard]] unsigned peers() const noexcept { return _count; }
    [[nodiscard]] const reactor_config& config() const noexcept { return _cfg; }
    [[nodiscard]] discipline& disc() noexcept { return *_disc; }
    /// Any thread: torn-free snapshot reads (see counters.hh).
    [[nodiscard]] const reactor_counters& counters() const noexcept { return _ctr; }

    // ---- running -----------------------------------------------------------------------
    /// Runs rounds until the reactor has stopped (after request_stop). Own thread.
    void run() noexcept;
    /// One round; false once the reactor has exited. Lets one thread drive several
    /// reactors, or a benchmark drive one.
    bool run_once() noexcept;
    /// Any thread: begin a graceful stop (idempotent).
    void request_stop() noexcept { raise_irq(irq_stop); }
    /// Any thread: true once run()/run_once() have finished the stop sequence.
    [[nodiscard]] bool exited() const noexcept { return _exited.load(std::memory_order_acquire); }
    /// Own thread: stop requested / accepting spawns.
    [[nodiscard]] bool stopping() const noexcept { return _stopping; }
    /// Any thread: raise an urgent control bit (IRQ source); wakes a sleeping reactor.
    void raise_irq(unsigned bit) noexcept;
    /// Handler for an IRQ bit >= irq_first_user. Before start.
    void on_irq(unsigned bit, irq_handler h, void* ctx) noexcept;
    /// Any thread: wake the reactor if it sleeps (adaptive idle).
    void notify() noexcept;

    /// Current round's time (timer clock units) and round number.
    [[nodiscard]] std::uint64_t now() const noexcept { return _now; }
    [[nodiscard]] std::uint64_t round() const noexcept { return _round; }
    /// Task being polled right now (nullptr outside poll).
    [[nodiscard]] task* current() const noexcept { return _current; }

    // ---- tasks: spawn / join / wake -------------------------------------------------------
    /// Spawn on this reactor. Returns the id, or invalid_task if refused (stopping, or the
    /// table is full): then t is `cancelled` and its joiner (if any) is woken.
    task_id spawn(task& t, const spawn_options& o = {}) noexcept;
    /// Spawn on reactor `target` (this one included) through the mesh. False if refused
    /// (this reactor is stopping). The joiner, if any, runs on this reactor by default.
    bool spawn_on(unsigned target, task& t, spawn_options o = {}) noexcept;
    /// Spawn an owned callable `F(reactor&) noexcept -> poll_result`; deleted when done.
    template <typename F>
    task_id spawn_fn(F f, const spawn_options& o = {}) {
        auto* t = new fn_task<F>(std::move(f));
        t->_owned = true;
        return spawn(*t, o);
    }
    /// Wake `waiter` (a task of this reactor) when t finishes; t may live on any reactor.
    /// True if t is already finished (waiter needs not wait). One joiner per task.
    bool join(task& t, task& waiter) noexcept;
    /// Make a waiting task of this reactor runnable (no-op if it is not waiting; if it is
    /// running, it stays runnable after this poll).
    void wake(task& t) noexcept;
    /// Look up a live task of this reactor by id.
    [[nodiscard]] task* find(task_id id) const noexcept;
    [[nodiscard]] std::size_t runnable() const noexcept { return _runnable; }
    [[nodiscard]] std::size_t live_tasks() const noexcept { return _live; }

    // ---- timers (TIMERS source) ------------------------------------------------------------
    /// Wake t at `deadline` (timer clock units): its expiry makes t runnable in the first
    /// round whose time is >= deadline (rounded up to the wheel tick). t must belong to
    /// this reactor; usually called by t in poll() before returning wait().
    bool sleep_until(task& t, std::uint64_t deadline) noexcept;
    bool sleep_for(task& t, std::uint64_t delta) noexcept { return sleep_until(t, _now + delta); }
    void cancel_timer(task& t) noexcept;
    /// Wake t every `period` (timer clock units), first at `first` (0: one period from
    /// now), drift-free: the k-th wake is due at first + k * period. When the reactor is
    /// late by whole periods t wakes once and task::take_missed() says how many it
    /// skipped. One interval per task; replaces an earlier one. False if the list is full.
    bool every(task& t, std::uint64_t period, std::uint64_t first = 0) noexcept;
    void cancel_every(task& t) noexcept;

    // ---- mesh (MQ source) --------------------------------------------------------------------
    /// Send to reactor `to` without queuing locally: false if the link is full (retry
    /// later: backpressure) or this reactor has sent FIN. Fills m.from and m.seq.
    [[nodiscard]] bool try_send(unsigned to, message m) noexcept;
    /// Send, queuing in a local per-peer backlog when the link is full (order kept; the
    /// backlog is flushed first each round). False only after FIN (stopping).
    bool post(unsigned to, message m) noexcept;
    /// `send` message to task `id` on reactor `to` (payload in a[1..4] / ptr).
    [[nodiscard]] bool send_to_task(unsigned to, task_id id, message m) noexcept {
        m.kind = msg_kind::send;
        m.a[0] = id;
        return try_send(to, m);
    }
    /// Handler for a generic kind (split, ring, seq, io, cursor, register_source, ...)
    /// used when a message carries no `fn`. Before start.
    void on_message(msg_kind k, message_fn fn) noexcept {
        _handlers[static_cast<unsigned>(k)] = fn;
    }

    // ---- barrier (sync) -----------------------------------------------------------------------
    /// `waiter` arrives at the next barrier across all reactors of the group; it is woken
    /// when every reactor has arrived. True if it completed at once (return ran), else
    /// the caller returns wait(). One barrier participant per reactor at a time.
    bool arrive(task& waiter) noexcept;
    [[nodiscard]] std::uint64_t barrier_generation() const noexcept { return _sync_done; }

    // ---- sources ---------------------------------------------------------------------------
    void add_net(net_source& s) noexcept;
    void add_ext(ext_source& s) noexcept;
    void attach_disk(disk_source& d) noexcept;
    [[nodiscard]] disk_source* disk() const noexcept { return _disk; }
    /// Before start or own thread: a check the reactor runs after it has announced that it
    /// will sleep (adaptive idle) and before it does; true (work arrived) keeps it awake.
    /// For inputs whose producers notify() only a sleeping reactor (pipeline edges): it
    /// closes the window between the round's last empty poll and the sleep, in which a
    /// push would otherwise wait for the sleep's timeout.
    using wake_check = bool (*)(const void* ctx) noexcept;
    void add_wake_check(wake_check check, const void* ctx);
    [[nodiscard]] int event_fd() const noexcept { return _efd; }

private:
    friend class reactor_group;
    friend class disk_source;
    struct timer_state;
    reactor(reactor_group& g, unsigned index, unsigned count, const reactor_config& cfg);
    void connect(std::vector<queue::mailbox<message>*> in,
                 std::vector<queue::mailbox<message>*> out, std::vector<reactor*> peers);

    PK_ALWAYS_INLINE std::uint64_t clock_now(std::uint64_t tsc) const noexcept {
        return _cfg.clock ? _cfg.clock(_cfg.clock_ctx) : tsc;
    }
    std::uint64_t handle_irq() noexcept;
    std::uint64_t poll_mq() noexcept;
    std::uint64_t poll_timers() noexcept;
    void note_deadline() noexcept;
    template <typename S>
    std::uint64_t poll_sources(const std::vector<S*>& sources, std::uint32_t burst,
                               source_kind kind) noexcept;
    void cancel_all_timers() noexcept;
    std::uint64_t poll_tasks() noexcept;
    std::uint32_t poll_one(task& t, std::uint32_t max_polls) noexcept;
    void finish(task& t, task_state final_state) noexcept;
    void make_runnable(task& t, bool waking) noexcept;
    void dispatch(const message& m) noexcept;
    void handle_join(const message& m) noexcept;
    void handle_sync(const message& m) noexcept;
    void flush_backlog() noexcept;
    bool push_link(unsigned to, message& m) noexcept;
    void wake_peer(unsigned to) noexcept;
    void idle() noexcept;
    void sleep() noexcept;
    bool has_pending() const noexcept;
    void begin_stop() noexcept;
    void advance_stop() noexcept;
    void sweep() noexcept;
    task_id alloc_id(task& t) noexcept;
    void free_id(task& t) noexcept;

    // read-mostly configuration and topology
    reactor_group& _group;
    unsigned _index;
    unsigned _count;
    reactor_config _cfg;
    bool _adaptive = false;
    std::unique_ptr<discipline> _disc;
    /// What this reactor keeps per peer (itself included: the self mailbox). Only this
    /// reactor writes it; one 128-byte unit each, so nothing it writes per message
    /// shares a line with another reactor's heap data.
    struct alignas(destructive_interference) peer_lane {
        queue::mailbox<message>* in = nullptr;  ///< inbound from the peer
        queue::mailbox<message>* out = nullptr; ///< outbound to the peer
        reactor* peer = nullptr;
        std::vector<message> backlog; ///< post() overflow, flushed first each round
    };
    std::vector<peer_lane> _lanes; ///< [peer]
    std::size_t _backlog_total = 0;
    std::vector<net_source*> _net;
    std::vector<ext_source*> _ext;
    std::vector<std::pair<wake_check, const void*>> _wake_checks;
    disk_source* _disk = nullptr;
    message_fn _handlers[msg_kind_count] = {};
    irq_handler _irq_handlers[64] = {};
    void* _irq_ctx[64] = {};
    std::unique_ptr<timer_state> _timers;
    int _efd = -1;

    // hot per-round state (own thread)
    std::uint64_t _now = 0;
    std::uint64_t _timer_next = UINT64_MAX; ///< nothing can expire before this
    std::uint64_t _round = 0;
    std::uint64_t _last_tsc = 0;
    bool _last_busy = false;
    std::uint32_t _empty_rounds = 0;
    std::size_t _runnable = 0;
    std::size_t _live = 0;
    task* _current = nullptr;

    // task table
    std::vector<task*> _slots;
    std::vector<std::uint8_t> _gen;
    std::vector<std::uint16_t> _free;

    // barrier
    std::uint64_t _sync_gen = 0;  ///< generation this reactor arrived at last
    std::uint64_t _sync_done = 0; ///< generations completed
    std::uint32_t _sync_count[2] = {0, 0};
    task* _sync_waiter = nullptr;

    // stop
    bool _stopping = false;
    bool _fin_sent = false;
    unsigned _fin_received = 0;
    std::uint64_t _stop_round = 0;

    reactor_counters _ctr;

    // shared with other threads, each on its own line
    alignas(destructive_interference) std::atomic<std::uint64_t> _irq{0};
    alignas(destructive_interference) std::atomic<std::uint32_t> _sleeping{0};
    std::atomic<bool> _exited{false};
};

} // namespace pk::sched
