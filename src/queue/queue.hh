// The queue layer in one include: LINK (link.hh), MAILBOX (mailbox.hh: the mesh's
// self-sequenced SPSC ring), SUB (mpsc.hh), PUB (turbine.hh), CHANNEL (channel.hh), priority lanes (priority.hh), the backend concept and the
// core-local backends (backend.hh), fd-backed Pipes (pipes.hh). The DPDK adapter is
// separate (rte_ring.hh, needs queue_dpdk_dep).
#pragma once

#include "queue/backend.hh"
#include "queue/channel.hh"
#include "queue/link.hh"
#include "queue/mailbox.hh"
#include "queue/mpsc.hh"
#include "queue/pipes.hh"
#include "queue/priority.hh"
#include "queue/turbine.hh"

namespace pk::queue {
static_assert(backend<vec<int>>);
static_assert(backend<vec_deque<int>>);
static_assert(backend<link<int>>);
static_assert(backend<mpsc_ring<int>>);
static_assert(backend<turbine_lane<int>>);
static_assert(backend<pipe_queue<int>>);
} // namespace pk::queue
