// The built-in demo loop used until a pipeline drives the binary: a generator feeds a
// net_ring port, packets take the real ethdev RX path, get their MACs swapped and
// leave through a second net_ring port whose far end is drained and counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace pk::app {

struct demo_counters {
    std::uint64_t generated = 0;
    std::uint64_t rx = 0;
    std::uint64_t tx = 0;
    std::uint64_t delivered = 0;
    std::uint64_t drop_gen_tx_full = 0; ///< generator could not enqueue (ring full)
    std::uint64_t drop_tx_full = 0;     ///< forward TX ring full
    std::uint64_t drop_nombuf = 0;      ///< mempool empty at generation
    std::uint64_t busy_cycles = 0;
    std::uint64_t total_cycles = 0;
};

/// Runs until `stop` is set or `duration_s` elapses (<= 0: no limit). `on_second`
/// is called about once a second from the loop with a snapshot.
int run_demo(std::atomic<bool>& stop, double duration_s,
             const std::function<void(const demo_counters&, double elapsed_s)>& on_second,
             demo_counters& out);

} // namespace pk::app
