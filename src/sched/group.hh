// reactor_group: N reactors, the full mesh between them, and their launch on threads.
//
// Build a group (before any thread runs), register tasks and sources on its reactors,
// then start them: `start_threads()` (one pinned std::thread per reactor, or a plan that
// puts several reactors on one thread — they then share its core cooperatively), or
// `dpdk::launch()` (sched/dpdk_launch.hh) for EAL lcores. `stop()` = request_stop() on
// every reactor + join. The mesh is one `queue::mailbox<message>` per ordered pair
// (including each reactor's self-mailbox), created here and never resized.
// Not thread-safe itself: construct, start, stop and join from one control thread.
#pragma once

#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "base/result.hh"
#include "sched/reactor.hh"

namespace pk::sched {

/// One launch thread: the CPU to pin it to (-1: no pinning) and the reactors it drives.
struct thread_plan {
    int cpu = -1;
    std::vector<unsigned> reactors;
};

class reactor_group {
public:
    /// n reactors with the same configuration; mailboxes of `mesh_capacity` messages
    /// (power of two).
    explicit reactor_group(unsigned n, const reactor_config& cfg = {},
                           std::size_t mesh_capacity = 1024);
    /// One configuration per reactor.
    explicit reactor_group(const std::vector<reactor_config>& cfgs,
                           std::size_t mesh_capacity = 1024);
    /// Stops and joins threads still running.
    ~reactor_group();
    reactor_group(const reactor_group&) = delete;
    reactor_group& operator=(const reactor_group&) = delete;

    [[nodiscard]] unsigned size() const noexcept { return static_cast<unsigned>(_reactors.size()); }
    [[nodiscard]] reactor& operator[](unsigned i) noexcept { return *_reactors[i]; }
    [[nodiscard]] queue::mailbox<message>& mesh(unsigned from, unsigned to) noexcept {
        return *_links[from * size() + to];
    }

    /// One thread per reactor, reactor i pinned to cpus[i % cpus.size()] (empty: CPU
    /// i % hardware_concurrency). Fails if already started or a thread cannot start.
    status start_threads(std::span<const int> cpus = {});
    /// Threads as planned; every reactor must appear exactly once.
    status start_threads(std::span<const thread_plan> plan);
    /// Any thread: request a graceful stop of every reactor.
    void request_stop() noexcept;
    /// Waits for the launch threads (after request_stop, or when reactors stop themselves).
    void join();
    void stop() {
        request_stop();
        join();
    }
    /// True when every reactor has exited.
    [[nodiscard]] bool all_exited() const noexcept;

    /// Pins the calling thread to `cpu` (false if the CPU does not exist / not allowed).
    static bool pin_current_thread(int cpu) noexcept;

private:
    void build(const std::vector<reactor_config>& cfgs, std::size_t mesh_capacity);
    std::vector<std::unique_ptr<reactor>> _reactors;
    std::vector<std::unique_ptr<queue::mailbox<message>>> _links;
    std::vector<std::thread> _threads;
};

} // namespace pk::sched
