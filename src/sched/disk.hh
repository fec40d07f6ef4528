// DISK: an io_uring completion source for a reactor (the seed's "Async I/O Disk Streams").
//
// Create one per reactor with `disk_source::create(depth)` and `reactor::attach_disk()`.
// Describe each operation in a caller-owned `disk_op` (no allocation per I/O), `submit()`
// it from the reactor's thread (or send a `msg_kind::io` message with ptr=disk_op* from
// another reactor); submissions are flushed to the kernel once per round, completions
// are reaped in bursts by the reactor's DISK step: `result` is set (bytes or -errno),
// then `on_complete` runs or `waiter` is woken. The ring's eventfd is the reactor's, so
// a completion wakes a sleeping (adaptive) reactor. The disk_op must stay alive and
// untouched until `done` is true. Owner reactor thread only.
#pragma once

#include <cstdint>
#include <memory>

#include "base/result.hh"

namespace pk::sched {

class reactor;
class task;

struct disk_op {
    enum class kind : std::uint8_t { read, write, fsync };
    kind op = kind::read;
    int fd = -1;
    void* buf = nullptr;
    std::uint32_t len = 0;
    std::uint64_t offset = 0;
    task* waiter = nullptr; ///< woken on completion (a task of the disk's reactor)
    void (*on_complete)(reactor& r, disk_op& op) noexcept = nullptr;
    void* user = nullptr;
    std::int32_t result = 0; ///< bytes transferred or -errno
    bool done = false;
};

class disk_source {
public:
    /// An io_uring with `depth` entries. errc::unsupported when the kernel (or a seccomp
    /// profile) refuses io_uring.
    static result<std::unique_ptr<disk_source>> create(unsigned depth = 256);
    ~disk_source();
    disk_source(const disk_source&) = delete;
    disk_source& operator=(const disk_source&) = delete;

    /// Owner thread. Queues op (submitted to the kernel at the next poll). False if the
    /// submission queue is full (retry later).
    [[nodiscard]] bool submit(disk_op& op) noexcept;
    /// Owner thread (the reactor's DISK step). Flushes submissions, reaps up to max
    /// completions; returns how many completed.
    std::uint32_t poll(reactor& r, std::uint32_t max) noexcept;
    /// Any time on the owner thread: completions waiting to be reaped.
    [[nodiscard]] bool ready() const noexcept;
    [[nodiscard]] std::uint64_t in_flight() const noexcept { return _in_flight; }
    [[nodiscard]] std::uint64_t completed() const noexcept { return _completed; }
    /// Registers fd (an eventfd) to be signalled on completions (attach_disk does it).
    void set_event_fd(int fd) noexcept;

private:
    struct impl;
    explicit disk_source(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> _p;
    std::uint32_t _unsubmitted = 0;
    std::uint64_t _in_flight = 0;
    std::uint64_t _completed = 0;
};

} // namespace pk::sched
