// Bursts on a port whose rings live in a peer's memory, made survivable.
//
// DPDK's memif driver (22.11, and no later release changes this) maps the rings and
// buffers the peer shares; when the peer goes away its interrupt thread unmaps them and
// frees the region table at once, without waiting for an RX/TX burst that another
// lcore has in flight. A burst that started just before (or whose lcore was
// descheduled inside it) then reads or writes memory that is gone: SIGSEGV in
// rte_eth_rx_burst / rte_eth_tx_burst. There is no event before the unmap the
// application could quiesce on, and no lock of the driver's it could take.
//
// So the port layer contains the fault instead. A burst on such a port runs guarded:
// the lcore marks itself armed and keeps a resume point; a SIGSEGV or SIGBUS taken
// while armed (the only code running is the driver's burst) jumps back to the resume
// point, and the burst returns "faulted". A fault anywhere else goes to the handler
// that was there before (or the default action: a core dump), as if we were not
// installed. The burst itself is not retried: the driver reports the link down and
// refuses further bursts until the peer reconnects, when it resets its ring state.
//
// Cost: an armed burst is a thread-local store, a setjmp (no system call: the signal
// mask is not saved) and a store — a few nanoseconds per burst, paid only on ports
// that need it.
//
//   bool guarded = peer_guard::needed(port_id);       // control thread, once
//   std::uint16_t n;                                   // on the lcore, per burst:
//   if (!peer_guard::rx_burst(port, queue, pkts, 32, &n)) { /* the peer vanished */ }
#pragma once

#include <cstdint>

#include <rte_ethdev.h>

namespace pk::net::peer_guard {

/// True for drivers whose burst functions touch memory a peer process can take away
/// (memif's shared regions).
bool enabled_for(const char* driver_name) noexcept;

/// Installs the SIGSEGV/SIGBUS handler once per process (idempotent, thread-safe).
/// The previous handlers are kept and called for every fault that is not ours.
void install();

/// Control thread: true (and the handler installed) when `port`'s driver needs guarded
/// bursts.
bool needed(std::uint16_t port);

/// rte_eth_rx_burst, guarded. False when the burst faulted: `*got` is then the number of
/// completed packets the driver had already stored in `pkts` (they are valid mbufs; the
/// caller frees them — their data came from a ring being torn down). `pkts` is cleared
/// first so that count is exact; the mbuf the driver was filling when it faulted is lost.
bool rx_burst(std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n,
              std::uint16_t* got) noexcept;

/// What tx_burst reports when it cannot tell how far a faulted burst got.
inline constexpr std::uint16_t unknown = 0xffff;

/// rte_eth_tx_burst (with up to `retries` more attempts for what it refused), guarded;
/// `*sent` is how many the device took. False when a burst faulted: `*sent` is then how
/// many packets from the front the driver had already copied and freed — the rest are
/// still the caller's — or `unknown` when that cannot be told (packets that are not
/// plain mbufs of one pool: chains, clones, shared): then none of them may be touched
/// again and at most that one burst of mbufs is lost.
bool tx_burst(std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n,
              unsigned retries, std::uint16_t* sent) noexcept;

/// Faults caught since start, all lcores (for tests and the port's counters).
std::uint64_t faults() noexcept;

/// Runs `fn(arg)` guarded (what rx_burst/tx_burst do around the driver): false when it
/// faulted. For tests of the guard itself.
bool run(void (*fn)(void*), void* arg) noexcept;

} // namespace pk::net::peer_guard
