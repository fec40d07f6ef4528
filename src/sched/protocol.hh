// Inter-core protocol: the fixed-size messages reactors exchange over the mesh (the
// seed's "InterCore Protocol": io seq ring / register spawn join / send cursor split /
// sync reactor timer).
//
// A message is one 64-byte cache line, trivially copyable, with no owned heap memory:
// objects travel as pointers whose lifetime the sender guarantees (a task it owns, a
// source, a cursor, a disk op). `from` and `seq` are filled by the mesh; `seq` counts
// per ordered reactor pair and is the publication mark of the mailbox slot (the
// receiver takes a slot when its seq is the next position: in order, exactly once).
//
// Field use per kind (the reactor handles the built-in ones itself):
//   spawn    ptr=task*, a[0]=bucket, a[1]=shares, a[2]=joiner task*, a[3]=joiner reactor
//   join     op=join_op::request: ptr=task* (on the receiver), a[0]=waiter task* (on `from`)
//            op=join_op::done:    ptr=task* finished, a[0]=waiter task*, a[1]=task_state
//   send     a[0]=target task_id, a[1..4], ptr: payload → task::on_message, then wake
//   register ptr=source*, a[0]=source_kind (net or ext)
//   timer    a[0]=task_id on the receiver, a[1]=deadline (receiver's clock units)
//   cursor   ptr=opaque cursor handle, a[0]=type tag, a[1..4] free; adopted by `fn` if set,
//            else by the handler registered for msg_kind::cursor
//   sync     a[0]=barrier generation (barrier across all reactors of the group)
//   reactor  op=reactor_op::{stop, fin, wake}
//   split, ring, seq, io: generic — `fn` if set, else the registered handler; `io`
//            with neither and a disk source attached submits ptr=disk_op*.
#pragma once

#include <cstdint>
#include <type_traits>

#include "sched/task.hh"

namespace pk::sched {

enum class msg_kind : std::uint8_t {
    spawn,
    join,
    send,
    register_source,
    timer,
    cursor,
    split,
    sync,
    ring,
    seq,
    io,
    reactor,
    count_
};
inline constexpr unsigned msg_kind_count = static_cast<unsigned>(msg_kind::count_);
const char* to_string(msg_kind k) noexcept;

enum class join_op : std::uint8_t { request, done };
enum class reactor_op : std::uint8_t { stop, fin, wake };

/// Handler for a message on the receiving reactor (its thread).
using message_fn = void (*)(reactor& r, const struct message& m) noexcept;

struct alignas(64) message {
    msg_kind kind = msg_kind::send;
    std::uint8_t op = 0;     ///< kind-specific sub-operation
    std::uint16_t from = 0;  ///< sender reactor index (set by the mesh)
    std::uint32_t seq = 0;   ///< per ordered pair sequence number (set by the mesh)
    message_fn fn = nullptr; ///< optional handler run on the receiver
    void* ptr = nullptr;     ///< object reference (lifetime guaranteed by the sender)
    std::uint64_t a[5] = {};
};

static_assert(sizeof(message) == 64, "message: exactly one cache line");
static_assert(std::is_trivially_copyable_v<message>, "message: copied byte-wise through rings");

} // namespace pk::sched
