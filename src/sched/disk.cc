#include "sched/disk.hh"

#include <liburing.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "sched/reactor.hh"

namespace pk::sched {

struct disk_source::impl {
    io_uring ring{};
    bool eventfd_registered = false;
    bool initialised = false;
    ~impl() {
        if (initialised) io_uring_queue_exit(&ring);
    }
};

disk_source::disk_source(std::unique_ptr<impl> p) noexcept : _p(std::move(p)) {}
disk_source::~disk_source() = default;

result<std::unique_ptr<disk_source>> disk_source::create(unsigned depth) {
    auto p = std::make_unique<impl>();
    const int rc = io_uring_queue_init(depth ? depth : 1, &p->ring, 0);
    if (rc < 0)
        return make_error(rc == -ENOSYS || rc == -EPERM ? errc::unsupported : errc::io,
                          std::string("disk_source: io_uring_queue_init(") + std::to_string(depth) +
                              ") failed: " + std::strerror(-rc));
    p->initialised = true;
    return std::unique_ptr<disk_source>(new disk_source(std::move(p)));
}

bool disk_source::submit(disk_op& op) noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&_p->ring);
    if (!sqe) return false;
    switch (op.op) {
    case disk_op::kind::read:
        io_uring_prep_read(sqe, op.fd, op.buf, op.len, op.offset);
        break;
    case disk_op::kind::write:
        io_uring_prep_write(sqe, op.fd, op.buf, op.len, op.offset);
        break;
    case disk_op::kind::fsync:
        io_uring_prep_fsync(sqe, op.fd, 0);
        break;
    }
    io_uring_sqe_set_data(sqe, &op);
    op.done = false;
    op.result = 0;
    ++_unsubmitted;
    ++_in_flight;
    return true;
}

bool disk_source::ready() const noexcept {
    return io_uring_cq_ready(&_p->ring) != 0;
}

void disk_source::set_event_fd(int fd) noexcept {
    if (_p->eventfd_registered) io_uring_unregister_eventfd(&_p->ring);
    _p->eventfd_registered = fd >= 0 && io_uring_register_eventfd(&_p->ring, fd) == 0;
}

std::uint32_t disk_source::poll(reactor& r, std::uint32_t max) noexcept {
    if (_unsubmitted) {
        const int n = io_uring_submit(&_p->ring);
        if (n > 0) {
            r._ctr.disk_submitted.add(static_cast<std::uint64_t>(n));
            _unsubmitted -= static_cast<std::uint32_t>(n) < _unsubmitted
                                ? static_cast<std::uint32_t>(n)
                                : _unsubmitted;
        }
    }
    if (_in_flight == 0) return 0;
    io_uring_cqe* cqes[64];
    const unsigned want = max < 64 ? max : 64;
    const unsigned n = io_uring_peek_batch_cqe(&_p->ring, cqes, want);
    if (n == 0) return 0;
    disk_op* ops[64];
    for (unsigned i = 0; i < n; ++i) {
        ops[i] = static_cast<disk_op*>(io_uring_cqe_get_data(cqes[i]));
        ops[i]->result = cqes[i]->res;
    }
    io_uring_cq_advance(&_p->ring, n);
    _in_flight -= n;
    _completed += n;
    r._ctr.disk_completed.add(n);
    for (unsigned i = 0; i < n; ++i) {
        disk_op& op = *ops[i];
        op.done = true;
        if (op.on_complete)
            op.on_complete(r, op);
        else if (op.waiter)
            r.wake(*op.waiter);
    }
    return n;
}

} // namespace pk::sched
