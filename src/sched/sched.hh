// pk::sched — the reactor and scheduler layer, in one include.
//
//   task.hh        task, poll_result, spawn_options, fn_task
//   discipline.hh  weighted_priority [10,6,3,1], round_robin, tree (vruntime/shares)
//   protocol.hh    message (64 bytes), msg_kind: spawn join send register timer cursor
//                  split sync ring seq io reactor
//   source.hh      net_source / ext_source (polled in bursts)
//   counters.hh    reactor_counters (single writer, relaxed readers)
//   reactor.hh     reactor: sources, idle policy, timers, mesh, barrier, graceful stop
//   group.hh       reactor_group: N reactors + full SPSC mesh, pinned-thread launch
//   disk.hh        disk_source: io_uring completions (DISK)
// The DPDK lcore launcher is separate: sched/dpdk_launch.hh (sched_dpdk_dep).
#pragma once

#include "sched/counters.hh"
#include "sched/discipline.hh"
#include "sched/disk.hh"
#include "sched/group.hh"
#include "sched/protocol.hh"
#include "sched/reactor.hh"
#include "sched/source.hh"
#include "sched/task.hh"
