// Ports: DPDK ethdev devices as RX burst sources and buffered TX sinks.
//
// When to use: to open any ethdev — a PCI NIC, or a virtual device (net_memif,
// net_ring, net_pcap, net_null, net_tap, net_af_packet) — configure its queues,
// descriptors, RSS, offloads and MTU, and move packets in bursts.
//
//   pk::net::port_config cfg;
//   cfg.device = "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"; // created if absent
//   cfg.rx_queues = 2;
//   auto p = pk::net::port::open(cfg);      // result: clear message on failure
//   (*p)->start();
//   auto rx = (*p)->rxq(0);                  // hand to a reactor as its NET source
//   pk::net::tx_buffer tx((*p)->id(), 0);    // one per (lcore, TX queue)
//
// Guarantees: `open` validates the request against rte_eth_dev_info (queue and
// descriptor limits, RSS hash functions and key size, offloads) and returns errc
// with an actionable message; features the device does not offer are masked off
// (RSS, offloads) and reported by `describe()`. Mempools are per NUMA socket
// (`mempool_set`) and sized from the queue/descriptor counts (`mbufs_needed`).
// Link changes arrive by LSC interrupt when the device supports it, otherwise by
// polling; either way `poll_link()` on the control thread reports them.
//
// Threads: open/start/stop/stats/poll_link on the control (main) thread. An
// `rx_queue` or `tx_buffer` belongs to exactly one lcore (DPDK queues are not
// thread-safe); their burst calls are noexcept, lock-free and allocation-free.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "base/clock.hh"
#include "base/compiler.hh"
#include "base/result.hh"
#include "net/peer_guard.hh"

namespace pk::net {

struct port_config {
    /// Ethdev name ("net_ring0", "0000:03:00.0") or a vdev spec "name,args..." that
    /// is created with rte_vdev_init when no device of that name exists yet (and
    /// removed again when the port is closed).
    std::string device;
    std::uint16_t rx_queues = 1;
    std::uint16_t tx_queues = 1;
    std::uint16_t rx_desc = 1024; ///< adjusted to the device's limits
    std::uint16_t tx_desc = 1024;
    /// RSS across rx_queues (> 1) with these hash functions, masked by what the
    /// device offers (dev_info.flow_type_rss_offloads).
    bool rss = true;
    std::uint64_t rss_hf = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
    /// RSS key; empty → the driver's default. Must match dev_info.hash_key_size.
    std::vector<std::uint8_t> rss_key;
    /// Enable RX/TX checksum offloads when the device offers them.
    bool offloads = true;
    std::uint64_t rx_offloads = 0; ///< extra RTE_ETH_RX_OFFLOAD_* (error if not offered)
    std::uint64_t tx_offloads = 0; ///< extra RTE_ETH_TX_OFFLOAD_* (error if not offered)
    std::uint16_t mtu = 0;         ///< 0: keep the device default
    bool promiscuous = true;
    bool lsc_interrupt = true; ///< use the LSC interrupt when supported (else poll)
    /// Mempool sizing: mbufs the pipeline may hold beyond the descriptor rings
    /// (queues between stages, reorder buffers). 0 → 4096.
    unsigned pipeline_mbufs = 0;
    unsigned burst = 32;
    unsigned mbufs = 0;        ///< explicit pool size; 0 → mbufs_needed()
    unsigned mbuf_cache = 256; ///< per-lcore mempool cache
    std::uint16_t mbuf_data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
};

/// What can hold a port's mbufs at once: every RX/TX descriptor filled, a burst in
/// flight per queue, the per-lcore caches (which may overfill to 1.5x), and the
/// pipeline's share (`pipeline_mbufs` as given).
struct mbuf_budget {
    std::uint64_t rx = 0, tx = 0, bursts = 0, caches = 0, pipeline = 0;
    std::uint64_t total() const noexcept { return rx + tx + bursts + caches + pipeline; }
};
mbuf_budget mbuf_budget_of(const port_config& cfg, unsigned lcores) noexcept;
/// The smallest 2^k - 1 >= n (a mempool's optimum size).
std::uint32_t pow2_minus1(std::uint64_t n) noexcept;
/// mbufs a port needs: its mbuf_budget (the pipeline's share 4096 when not given),
/// rounded up to 2^n - 1.
unsigned mbufs_needed(const port_config& cfg, unsigned lcores) noexcept;

/// Packet mempools, one (or more) per NUMA socket, shared by the ports on it.
/// Control thread only. Destroying the set frees the pools: close ports first.
class mempool_set {
public:
    mempool_set() = default;
    ~mempool_set();
    mempool_set(const mempool_set&) = delete;
    mempool_set& operator=(const mempool_set&) = delete;

    /// A pool on `socket` with room for `n` more mbufs: reuses a pool on that socket
    /// whose unreserved capacity suffices, otherwise creates one of max(n, min_size).
    result<rte_mempool*> reserve(int socket, unsigned n, unsigned cache = 256,
                                 std::uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE);
    /// Creates a pool of `n` on `socket` up front (e.g. from the summed pipeline plan).
    status prepare(int socket, unsigned n, unsigned cache = 256,
                   std::uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE);
    std::size_t pool_count() const noexcept { return _pools.size(); }
    rte_mempool* pool(std::size_t i) const noexcept { return _pools[i].mp; }

    /// One pool as --stats-json and the plan show it. `socket` -1: any socket (the
    /// device's NUMA node is unknown).
    struct pool_info {
        std::string name;
        int socket;
        unsigned size;     ///< mbufs
        unsigned reserved; ///< mbufs the ports that share it sized it for
        unsigned in_use;   ///< allocated right now (caches included)
        std::uint16_t data_room;
    };
    std::vector<pool_info> info() const;

private:
    struct entry {
        rte_mempool* mp;
        int socket;
        unsigned size;
        unsigned reserved;
        std::uint16_t data_room;
    };
    result<entry*> create(int socket, unsigned n, unsigned cache, std::uint16_t data_room);
    std::vector<entry> _pools;
};

struct link_status {
    bool up = false;
    std::uint32_t speed_mbps = 0;
    bool full_duplex = false;
    bool autoneg = false;
    std::string to_string() const;
    bool operator==(const link_status&) const = default;
};

struct queue_stats {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t errors = 0; ///< RX: q_errors; TX: 0 (not reported per queue)
};

struct port_stats {
    std::uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
    std::uint64_t imissed = 0;    ///< dropped by the NIC: RX descriptors exhausted
    std::uint64_t ierrors = 0;    ///< bad packets received
    std::uint64_t oerrors = 0;    ///< failed transmits
    std::uint64_t rx_nombuf = 0;  ///< RX mbuf allocation failures
    std::vector<queue_stats> rxq; ///< per queue (first RTE_ETHDEV_QUEUE_STAT_CNTRS)
    std::vector<queue_stats> txq;
};

/// An RX queue as a burst source: what a reactor polls as its NET source. A plain
/// value (port id, queue id, guarded); owned by one lcore.
class rx_queue {
public:
    rx_queue() = default;
    /// `guarded`: bursts run under peer_guard (the port's rings are a peer's memory).
    rx_queue(std::uint16_t port, std::uint16_t queue, bool guarded = false) noexcept
        : _port(port), _queue(queue), _guarded(guarded) {}
    /// Receives up to `n` packets into `mbufs`; returns how many. On a guarded queue a
    /// burst the peer's disappearance cut short frees what it had received, counts it
    /// in faults()/fault_drops() and returns 0.
    PK_ALWAYS_INLINE std::uint16_t rx_burst(rte_mbuf** mbufs, std::uint16_t n) noexcept {
        if (PK_LIKELY(!_guarded)) return rte_eth_rx_burst(_port, _queue, mbufs, n);
        std::uint16_t got;
        if (PK_LIKELY(peer_guard::rx_burst(_port, _queue, mbufs, n, &got))) return got;
        return faulted(mbufs, got);
    }
    std::uint16_t port_id() const noexcept { return _port; }
    std::uint16_t queue_id() const noexcept { return _queue; }
    bool guarded() const noexcept { return _guarded; }
    /// Guarded bursts that faulted, and the packets they had received (freed, unseen).
    std::uint64_t faults() const noexcept { return _faults; }
    std::uint64_t fault_drops() const noexcept { return _fault_drops; }

private:
    PK_NOINLINE std::uint16_t faulted(rte_mbuf** mbufs, std::uint16_t got) noexcept;

    std::uint16_t _port = 0;
    std::uint16_t _queue = 0;
    bool _guarded = false;
    std::uint64_t _faults = 0, _fault_drops = 0;
};

/// Why a TX buffer dropped packets.
enum class tx_drop : std::uint8_t {
    queue_full = 0, ///< the device did not take them after `retries` attempts
    shutdown,       ///< still buffered when the buffer was destroyed or discarded
    peer_gone,      ///< in a guarded burst the peer's disappearance cut short
};
inline constexpr unsigned tx_drop_count = 3;
const char* to_string(tx_drop d) noexcept;

struct tx_counters {
    std::uint64_t sent = 0;
    std::uint64_t flushes = 0;
    std::uint64_t deadline_flushes = 0; ///< flushes triggered by flush_if_due
    std::array<std::uint64_t, tx_drop_count> dropped{};
    std::uint64_t faults = 0;      ///< guarded bursts that faulted (see peer_guard.hh)
    std::uint64_t fault_leaks = 0; ///< of their packets, those that could not be freed
    std::uint64_t total_dropped() const noexcept {
        std::uint64_t t = 0;
        for (auto d : dropped)
            t += d;
        return t;
    }
};

/// A TX queue as a buffered sink. Packets collect until the buffer is full (then it
/// flushes at once) or until `flush_if_due(now)` sees the oldest buffered packet is
/// older than the drain deadline (default 100 µs: l2fwd's figure). What the device
/// does not accept after `retries` extra attempts is freed and counted as
/// tx_drop::queue_full — never lost silently. One lcore only.
class tx_buffer {
public:
    static constexpr std::uint16_t max_size = 128;

    /// `drain_cycles` 0 → tsc::from_us(100).
    tx_buffer(std::uint16_t port, std::uint16_t queue, std::uint16_t size = 32,
              std::uint64_t drain_cycles = 0, unsigned retries = 2) noexcept;
    /// Flushes, then frees and counts (as shutdown) whatever the device refused.
    ~tx_buffer();
    tx_buffer(const tx_buffer&) = delete;
    tx_buffer& operator=(const tx_buffer&) = delete;

    /// Buffers one packet; flushes when the buffer becomes full.
    PK_ALWAYS_INLINE void send(rte_mbuf* m) noexcept {
        if (_count == 0) _first_tsc = tsc::now();
        _buf[_count++] = m;
        if (_count == _size) flush();
    }
    /// Buffers `n` packets (flushing as it fills). A whole burst that finds the buffer
    /// empty goes to the device as it is: no copy, no deadline.
    void send_burst(rte_mbuf* const* m, std::uint16_t n) noexcept {
        if (_count == 0 && n >= _size) {
            transmit(const_cast<rte_mbuf**>(m), n);
            return;
        }
        for (std::uint16_t i = 0; i < n; ++i)
            send(m[i]);
    }
    /// Transmits everything buffered; returns how many the device took.
    std::uint16_t flush() noexcept;
    /// Flushes if something has waited at least the drain time. True if it flushed.
    PK_ALWAYS_INLINE bool flush_if_due(std::uint64_t now) noexcept {
        if (_count == 0 || now - _first_tsc < _drain) return false;
        ++_c.deadline_flushes;
        flush();
        return true;
    }
    /// Frees everything buffered, counting it as `why`.
    void discard(tx_drop why = tx_drop::shutdown) noexcept;

    std::uint16_t buffered() const noexcept { return _count; }
    std::uint16_t size() const noexcept { return _size; }
    std::uint64_t drain_cycles() const noexcept { return _drain; }
    const tx_counters& counters() const noexcept { return _c; }
    std::uint16_t port_id() const noexcept { return _port; }
    std::uint16_t queue_id() const noexcept { return _queue; }
    /// Bursts run under peer_guard: set from the driver at construction (memif); a test,
    /// or a driver the guard does not know, may set it.
    bool guarded() const noexcept { return _guarded; }
    void set_guarded(bool g) noexcept { _guarded = g; }

private:
    /// rte_eth_tx_burst with the retries; what the device still refuses is freed and
    /// counted as queue_full. Returns how many it took.
    std::uint16_t transmit(rte_mbuf** pkts, std::uint16_t n) noexcept;

    std::uint16_t _port, _queue, _size, _count = 0;
    bool _guarded;
    unsigned _retries;
    std::uint64_t _drain;
    std::uint64_t _first_tsc = 0;
    tx_counters _c;
    rte_mbuf* _buf[max_size];
};

/// An opened, configured ethdev port. The destructor stops it; a vdev that open()
/// created is also closed and removed (a pre-existing device stays, stopped, and can
/// be opened again).
class port {
public:
    using link_handler = std::function<void(port&, const link_status&)>;

    /// Finds or creates the device and configures it (does not start it). Pools come
    /// from `pools` when given (shared per socket), else the port owns its own set.
    static result<std::unique_ptr<port>> open(const port_config& cfg, mempool_set* pools = nullptr);
    ~port();
    port(const port&) = delete;
    port& operator=(const port&) = delete;

    status start();
    status stop();
    bool started() const noexcept { return _started; }

    std::uint16_t id() const noexcept { return _id; }
    const std::string& name() const noexcept { return _name; }
    /// The device's NUMA socket, -1 when DPDK does not know it (virtual devices; NICs
    /// whose firmware reports no node): its pool and rings are then on any socket.
    int socket() const noexcept { return _socket; }
    const port_config& config() const noexcept { return _cfg; }
    const rte_eth_dev_info& info() const noexcept { return _info; }
    rte_mempool* mempool() const noexcept { return _mp; }
    std::uint16_t rx_queues() const noexcept { return _cfg.rx_queues; }
    std::uint16_t tx_queues() const noexcept { return _cfg.tx_queues; }
    std::uint16_t rx_desc() const noexcept { return _rx_desc; }
    std::uint16_t tx_desc() const noexcept { return _tx_desc; }
    std::uint64_t rss_hf() const noexcept { return _rss_hf; } ///< effective
    std::uint64_t rx_offloads() const noexcept { return _rx_off; }
    std::uint64_t tx_offloads() const noexcept { return _tx_off; }
    std::uint16_t mtu() const noexcept;
    rte_ether_addr mac() const noexcept;

    /// RX queue `q` as a burst source (q < rx_queues()).
    rx_queue rxq(std::uint16_t q) const noexcept { return rx_queue(_id, q, _peer_memory); }
    /// The driver's rings live in a peer process's memory (memif): bursts run guarded.
    bool peer_memory() const noexcept { return _peer_memory; }

    /// The link as the device reports it now (non-blocking query).
    link_status link() const noexcept;
    /// True when the device raises LSC interrupts and we registered for them.
    bool lsc_interrupts() const noexcept { return _lsc; }
    /// Control thread: checks for a link change (LSC event pending, or by polling
    /// when the device has no LSC interrupt); calls the handler on a change and
    /// returns true.
    bool poll_link();
    void on_link_change(link_handler h) { _on_link = std::move(h); }
    /// Link transitions seen (any thread may read: /metrics, telemetry).
    std::uint64_t link_changes() const noexcept {
        return _link_changes.load(std::memory_order_relaxed);
    }
    /// The link state poll_link() last saw (any thread may read).
    bool link_up() const noexcept { return _link_up.load(std::memory_order_relaxed); }
    /// Control thread only: the full status poll_link() last saw.
    const link_status& last_link() const noexcept { return _last_link; }
    /// Waits (polling every 10 ms) until the link is up / down; false on timeout.
    bool wait_link(bool up, std::chrono::milliseconds timeout);

    port_stats stats() const;
    status reset_stats();
    /// One line: name, id, driver, socket, queues, descriptors, RSS, offloads, link.
    std::string describe() const;

    /// Ports opened through port::open and still alive (control thread).
    static std::vector<port*> all();

private:
    port() = default;
    static int lsc_callback(std::uint16_t port_id, rte_eth_event_type type, void* arg,
                            void* ret) noexcept;

    port_config _cfg;
    std::string _name;
    std::uint16_t _id = 0;
    int _socket = 0;
    bool _created_vdev = false;
    bool _configured = false;
    bool _started = false;
    bool _lsc = false;
    bool _peer_memory = false;
    std::uint16_t _rx_desc = 0, _tx_desc = 0;
    std::uint64_t _rss_hf = 0, _rx_off = 0, _tx_off = 0;
    rte_eth_dev_info _info{};
    rte_mempool* _mp = nullptr;
    std::unique_ptr<mempool_set> _own_pools;
    std::atomic<std::uint32_t> _lsc_events{0};
    std::uint32_t _lsc_seen = 0;
    link_status _last_link;
    std::atomic<std::uint64_t> _link_changes{0};
    std::atomic<bool> _link_up{false};
    link_handler _on_link;
};

/// Every ethdev, one line each: the configuration of ports opened by port::open, the
/// link of the others (what an operator console shows for `show ports`).
std::string describe_ports();
/// Every ethdev's counters, one line each.
std::string ports_stats();

/// "net_ring0" → "net_ring0"; "net_pcap0,rx_pcap=a" → "net_pcap0"; "pci:3b:00.0,k=v" →
/// "0000:3b:00.0" (the ethdev name DPDK gives a PCI port).
std::string device_name(const std::string& spec);

} // namespace pk::net
