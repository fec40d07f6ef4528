#include "net/port.hh"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <thread>

#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include "base/log.hh"
#include "net/pci.hh"

namespace pk::net {
namespace {

std::mutex g_ports_mu;
std::vector<port*> g_ports;

std::string dpdk_err(int rc) {
    return rte_strerror(rc < 0 ? -rc : rc);
}

std::string hex64(std::uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof(b), "0x%" PRIx64, v);
    return b;
}

std::string rss_names(std::uint64_t hf) {
    struct {
        std::uint64_t bit;
        const char* name;
    } names[] = {
        {RTE_ETH_RSS_IPV4, "ipv4"},
        {RTE_ETH_RSS_FRAG_IPV4, "ipv4-frag"},
        {RTE_ETH_RSS_NONFRAG_IPV4_TCP, "ipv4-tcp"},
        {RTE_ETH_RSS_NONFRAG_IPV4_UDP, "ipv4-udp"},
        {RTE_ETH_RSS_NONFRAG_IPV4_OTHER, "ipv4-other"},
        {RTE_ETH_RSS_IPV6, "ipv6"},
        {RTE_ETH_RSS_FRAG_IPV6, "ipv6-frag"},
        {RTE_ETH_RSS_NONFRAG_IPV6_TCP, "ipv6-tcp"},
        {RTE_ETH_RSS_NONFRAG_IPV6_UDP, "ipv6-udp"},
        {RTE_ETH_RSS_NONFRAG_IPV6_OTHER, "ipv6-other"},
    };
    std::string s;
    for (auto& n : names)
        if (hf & n.bit) {
            if (!s.empty()) s += ',';
            s += n.name;
        }
    std::uint64_t known = 0;
    for (auto& n : names)
        known |= n.bit;
    if (hf & ~known) {
        if (!s.empty()) s.push_back(',');
        s.append(hex64(hf & ~known));
    }
    return s.empty() ? "off" : s;
}

} // namespace

std::uint32_t pow2_minus1(std::uint64_t n) noexcept {
    std::uint64_t p = 1;
    while (p - 1 < n)
        p <<= 1;
    return static_cast<std::uint32_t>(p - 1);
}

std::string device_name(const std::string& spec) {
    if (auto pci = parse_pci(spec)) return pci->address; // DPDK names PCI ethdevs so
    return spec.substr(0, spec.find(','));
}

mbuf_budget mbuf_budget_of(const port_config& c, unsigned lcores) noexcept {
    mbuf_budget b;
    b.rx = std::uint64_t(c.rx_queues) * c.rx_desc;
    b.tx = std::uint64_t(c.tx_queues) * c.tx_desc;
    b.bursts = std::uint64_t(c.rx_queues + c.tx_queues) * c.burst;
    b.caches = std::uint64_t(std::max(1u, lcores)) * c.mbuf_cache * 3 / 2;
    b.pipeline = c.pipeline_mbufs;
    return b;
}

unsigned mbufs_needed(const port_config& c, unsigned lcores) noexcept {
    mbuf_budget b = mbuf_budget_of(c, lcores);
    if (!b.pipeline) b.pipeline = 4096;
    return pow2_minus1(b.total());
}

// ---- mempool_set -----------------------------------------------------------------

mempool_set::~mempool_set() {
    for (auto& e : _pools)
        rte_mempool_free(e.mp);
}

result<mempool_set::entry*> mempool_set::create(int socket, unsigned n, unsigned cache,
                                                std::uint16_t data_room) {
    static std::atomic<unsigned> seq{0};
    char name[RTE_MEMPOOL_NAMESIZE];
    std::snprintf(name, sizeof(name), "pk_mb_s%d_%u", socket, seq.fetch_add(1));
    cache = std::min<unsigned>(cache, RTE_MEMPOOL_CACHE_MAX_SIZE);
    if (cache * 1.5 > n) cache = 0;
    rte_mempool* mp = rte_pktmbuf_pool_create(name, n, cache, 0, data_room, socket);
    if (!mp && socket != SOCKET_ID_ANY) // no memory on that socket: any will do (slower)
        mp = rte_pktmbuf_pool_create(name, n, cache, 0, data_room, SOCKET_ID_ANY);
    if (!mp)
        return make_error(errc::dpdk, "cannot create a mempool of " + std::to_string(n) +
                                          " mbufs on socket " + std::to_string(socket) + ": " +
                                          rte_strerror(rte_errno) +
                                          " (raise EAL memory (-m) or lower descriptors/queues)");
    _pools.push_back(entry{mp, socket, n, 0, data_room});
    return &_pools.back();
}

result<rte_mempool*> mempool_set::reserve(int socket, unsigned n, unsigned cache,
                                          std::uint16_t data_room) {
    for (auto& e : _pools)
        if (e.socket == socket && e.data_room == data_room && e.size - e.reserved >= n) {
            e.reserved += n;
            return e.mp;
        }
    auto e = create(socket, n, cache, data_room);
    if (!e) return std::move(e).err();
    (*e)->reserved = n;
    return (*e)->mp;
}

std::vector<mempool_set::pool_info> mempool_set::info() const {
    std::vector<pool_info> v;
    for (const auto& e : _pools)
        v.push_back(pool_info{e.mp->name, e.socket, e.size, e.reserved,
                              rte_mempool_in_use_count(e.mp), e.data_room});
    return v;
}

status mempool_set::prepare(int socket, unsigned n, unsigned cache, std::uint16_t data_room) {
    auto e = create(socket, n, cache, data_room);
    if (!e) return std::move(e).err();
    return {};
}

// ---- link ------------------------------------------------------------------------

std::string link_status::to_string() const {
    if (!up) return "down";
    std::string s = "up";
    if (speed_mbps && speed_mbps != RTE_ETH_SPEED_NUM_UNKNOWN) {
        s += ' ';
        s += speed_mbps >= 1000 ? std::to_string(speed_mbps / 1000) + "G"
                                : std::to_string(speed_mbps) + "M";
    }
    s += full_duplex ? " full-duplex" : " half-duplex";
    return s;
}

// ---- tx_buffer -------------------------------------------------------------------

const char* to_string(tx_drop d) noexcept {
    switch (d) {
    case tx_drop::queue_full:
        return "tx_queue_full";
    case tx_drop::shutdown:
        return "tx_shutdown";
    case tx_drop::peer_gone:
        return "tx_peer_gone";
    }
    return "unknown";
}

tx_buffer::tx_buffer(std::uint16_t port, std::uint16_t queue, std::uint16_t size,
                     std::uint64_t drain_cycles, unsigned retries) noexcept
    : _port(port), _queue(queue), _size(size == 0 ? 1 : (size > max_size ? max_size : size)),
      _guarded(peer_guard::needed(port)), _retries(retries),
      _drain(drain_cycles ? drain_cycles : tsc::from_us(100)) {}

tx_buffer::~tx_buffer() {
    if (_count) flush();
    discard(tx_drop::shutdown);
}

std::uint16_t tx_buffer::transmit(rte_mbuf** pkts, std::uint16_t n) noexcept {
    ++_c.flushes;
    std::uint16_t sent;
    if (PK_LIKELY(!_guarded)) {
        sent = rte_eth_tx_burst(_port, _queue, pkts, n);
        for (unsigned r = 0; sent < n && r < _retries; ++r)
            sent += rte_eth_tx_burst(_port, _queue, pkts + sent, n - sent);
    } else if (PK_UNLIKELY(!peer_guard::tx_burst(_port, _queue, pkts, n, _retries, &sent))) {
        // The peer vanished mid-burst: what the driver had copied it freed; the rest is
        // ours to free — unless how far it got cannot be told (then it is lost).
        ++_c.faults;
        if (sent == peer_guard::unknown)
            _c.fault_leaks += n;
        else
            rte_pktmbuf_free_bulk(pkts + sent, n - sent);
        _c.dropped[static_cast<unsigned>(tx_drop::peer_gone)] += n;
        return 0;
    }
    if (PK_UNLIKELY(sent < n)) {
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
        _c.dropped[static_cast<unsigned>(tx_drop::queue_full)] += n - sent;
    }
    _c.sent += sent;
    return sent;
}

std::uint16_t tx_buffer::flush() noexcept {
    if (_count == 0) return 0;
    const std::uint16_t sent = transmit(_buf, _count);
    _count = 0;
    return sent;
}

void tx_buffer::discard(tx_drop why) noexcept {
    if (_count == 0) return;
    rte_pktmbuf_free_bulk(_buf, _count);
    _c.dropped[static_cast<unsigned>(why)] += _count;
    _count = 0;
}

// ---- rx_queue ----------------------------------------------------------------------

std::uint16_t rx_queue::faulted(rte_mbuf** mbufs, std::uint16_t got) noexcept {
    // What the driver completed before the fault came from a ring being torn down.
    if (got) rte_pktmbuf_free_bulk(mbufs, got);
    ++_faults;
    _fault_drops += got;
    return 0;
}

// ---- port ------------------------------------------------------------------------

int port::lsc_callback(std::uint16_t, rte_eth_event_type type, void* arg, void*) noexcept {
    // Runs on DPDK's interrupt thread: only flag it; poll_link() does the work.
    if (type == RTE_ETH_EVENT_INTR_LSC)
        static_cast<port*>(arg)->_lsc_events.fetch_add(1, std::memory_order_release);
    return 0;
}

result<std::unique_ptr<port>> port::open(const port_config& cfg, mempool_set* pools) {
    if (cfg.device.empty())
        return make_error(errc::invalid_argument, "port: no device given (e.g. net_ring0, "
                                                  "0000:03:00.0, net_pcap0,rx_pcap=in.pcap)");
    if (cfg.rx_queues == 0 || cfg.tx_queues == 0)
        return make_error(errc::invalid_argument,
                          "port " + cfg.device + ": rx_queues and tx_queues must be >= 1");
    std::unique_ptr<port> p(new port());
    p->_cfg = cfg;
    p->_name = device_name(cfg.device);
    const std::string& nm = p->_name;

    int rc = rte_eth_dev_get_port_by_name(nm.c_str(), &p->_id);
    if (rc != 0) {
        auto comma = cfg.device.find(',');
        if (nm.rfind("net_", 0) != 0) {
            std::string avail;
            std::uint16_t pid;
            RTE_ETH_FOREACH_DEV(pid) {
                char n[RTE_ETH_NAME_MAX_LEN];
                if (rte_eth_dev_get_name_by_port(pid, n) == 0) avail += std::string(" ") + n;
            }
            return make_error(errc::not_found,
                              "port " + nm + ": no such device (available:" +
                                  (avail.empty() ? std::string(" none") : avail) +
                                  "); a PCI device must be bound to vfio-pci (dpdk-devbind.py "
                                  "--bind=vfio-pci " +
                                  nm + ") and named by its address in the config");
        }
        std::string args = comma == std::string::npos ? "" : cfg.device.substr(comma + 1);
        rc = rte_vdev_init(nm.c_str(), args.c_str());
        if (rc != 0)
            return make_error(errc::dpdk, "port " + nm + ": cannot create virtual device '" +
                                              cfg.device + "': " + dpdk_err(rc) +
                                              " (check the driver name and its arguments)");
        p->_created_vdev = true;
        if (rte_eth_dev_get_port_by_name(nm.c_str(), &p->_id) != 0)
            return make_error(errc::dpdk, "port " + nm + ": created but not an ethdev");
    }
    for (port* o : all())
        if (o->_id == p->_id) return make_error(errc::state, "port " + nm + " is already open");

    rc = rte_eth_dev_info_get(p->_id, &p->_info);
    if (rc != 0) return make_error(errc::dpdk, "port " + nm + ": dev_info: " + dpdk_err(rc));
    const auto& in = p->_info;
    p->_peer_memory = peer_guard::enabled_for(in.driver_name);
    if (p->_peer_memory) peer_guard::install();
    if (cfg.rx_queues > in.max_rx_queues || cfg.tx_queues > in.max_tx_queues)
        return make_error(errc::unsupported, "port " + nm + ": " + std::to_string(cfg.rx_queues) +
                                                 " RX / " + std::to_string(cfg.tx_queues) +
                                                 " TX queues requested, device (" + in.driver_name +
                                                 ") supports at most " +
                                                 std::to_string(in.max_rx_queues) + " / " +
                                                 std::to_string(in.max_tx_queues));

    rte_eth_conf conf{};
    // RSS: only with several RX queues and only the hash functions the device offers.
    p->_rss_hf = cfg.rss ? (cfg.rss_hf & in.flow_type_rss_offloads) : 0;
    if (cfg.rss && cfg.rx_queues > 1 && p->_rss_hf == 0)
        PK_WARN("port", "%s: device offers no RSS for %s; all traffic goes to queue 0", nm.c_str(),
                rss_names(cfg.rss_hf).c_str());
    if (cfg.rx_queues > 1 && p->_rss_hf) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = p->_rss_hf;
        if (!cfg.rss_key.empty()) {
            if (in.hash_key_size && cfg.rss_key.size() != in.hash_key_size)
                return make_error(errc::invalid_argument, "port " + nm + ": RSS key is " +
                                                              std::to_string(cfg.rss_key.size()) +
                                                              " bytes, device needs " +
                                                              std::to_string(in.hash_key_size));
            conf.rx_adv_conf.rss_conf.rss_key = const_cast<std::uint8_t*>(cfg.rss_key.data());
            conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<std::uint8_t>(cfg.rss_key.size());
        }
    } else {
        p->_rss_hf = 0;
    }
    // Offloads: explicit requests must be offered; the checksum defaults are masked.
    if (cfg.rx_offloads & ~in.rx_offload_capa)
        return make_error(errc::unsupported, "port " + nm + ": RX offloads " +
                                                 hex64(cfg.rx_offloads & ~in.rx_offload_capa) +
                                                 " not offered by " + in.driver_name);
    if (cfg.tx_offloads & ~in.tx_offload_capa)
        return make_error(errc::unsupported, "port " + nm + ": TX offloads " +
                                                 hex64(cfg.tx_offloads & ~in.tx_offload_capa) +
                                                 " not offered by " + in.driver_name);
    p->_rx_off = cfg.rx_offloads;
    p->_tx_off = cfg.tx_offloads;
    if (cfg.offloads) {
        p->_rx_off |= in.rx_offload_capa & RTE_ETH_RX_OFFLOAD_CHECKSUM;
        p->_tx_off |=
            in.tx_offload_capa & (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM |
                                  RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
    }
    conf.rxmode.offloads = p->_rx_off;
    conf.txmode.offloads = p->_tx_off;
    p->_lsc = cfg.lsc_interrupt && in.dev_flags && (*in.dev_flags & RTE_ETH_DEV_INTR_LSC);
    conf.intr_conf.lsc = p->_lsc ? 1 : 0;

    rc = rte_eth_dev_configure(p->_id, cfg.rx_queues, cfg.tx_queues, &conf);
    if (rc != 0)
        return make_error(errc::dpdk, "port " + nm + ": configure (" +
                                          std::to_string(cfg.rx_queues) + " rx, " +
                                          std::to_string(cfg.tx_queues) + " tx, rss " +
                                          rss_names(p->_rss_hf) + "): " + dpdk_err(rc));
    p->_configured = true;
    if (cfg.mtu) {
        if (cfg.mtu < in.min_mtu || cfg.mtu > in.max_mtu)
            return make_error(errc::invalid_argument, "port " + nm + ": MTU " +
                                                          std::to_string(cfg.mtu) + " outside [" +
                                                          std::to_string(in.min_mtu) + ", " +
                                                          std::to_string(in.max_mtu) + "]");
        rc = rte_eth_dev_set_mtu(p->_id, cfg.mtu);
        if (rc != 0)
            return make_error(errc::dpdk, "port " + nm + ": set MTU " + std::to_string(cfg.mtu) +
                                              ": " + dpdk_err(rc));
    }
    p->_rx_desc = cfg.rx_desc;
    p->_tx_desc = cfg.tx_desc;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->_id, &p->_rx_desc, &p->_tx_desc);
    if (rc != 0)
        return make_error(errc::dpdk, "port " + nm + ": descriptor limits: " + dpdk_err(rc));

    // Unknown stays unknown (-1, SOCKET_ID_ANY): pools and rings then go on any socket,
    // and a PCI NIC on a multi-socket machine says so instead of landing on socket 0.
    const int sock = rte_eth_dev_socket_id(p->_id);
    p->_socket = sock < 0 ? SOCKET_ID_ANY : sock;
    if (p->_socket == SOCKET_ID_ANY && rte_socket_count() > 1 && parse_pci(cfg.device))
        PK_WARN("port",
                "port %s: the NIC's NUMA node is unknown (sysfs numa_node -1); its "
                "pool and rings go on any socket — place reactors on the NIC's node by "
                "hand (docs/DEPLOY.md)",
                nm.c_str());
    port_config sized = cfg;
    sized.rx_desc = p->_rx_desc;
    sized.tx_desc = p->_tx_desc;
    unsigned n = cfg.mbufs ? cfg.mbufs : mbufs_needed(sized, rte_lcore_count());
    if (!pools) {
        p->_own_pools = std::make_unique<mempool_set>();
        pools = p->_own_pools.get();
    }
    auto mp = pools->reserve(p->_socket, n, cfg.mbuf_cache, cfg.mbuf_data_room);
    if (!mp) return make_error(mp.err().code, "port " + nm + ": " + mp.err().message);
    p->_mp = *mp;

    for (std::uint16_t q = 0; q < cfg.rx_queues; ++q) {
        rte_eth_rxconf rxc = in.default_rxconf;
        rxc.offloads = p->_rx_off;
        rc = rte_eth_rx_queue_setup(p->_id, q, p->_rx_desc, p->_socket, &rxc, p->_mp);
        if (rc != 0)
            return make_error(errc::dpdk, "port " + nm + ": RX queue " + std::to_string(q) + " (" +
                                              std::to_string(p->_rx_desc) +
                                              " descriptors): " + dpdk_err(rc));
    }
    for (std::uint16_t q = 0; q < cfg.tx_queues; ++q) {
        rte_eth_txconf txc = in.default_txconf;
        txc.offloads = p->_tx_off;
        rc = rte_eth_tx_queue_setup(p->_id, q, p->_tx_desc, p->_socket, &txc);
        if (rc != 0)
            return make_error(errc::dpdk, "port " + nm + ": TX queue " + std::to_string(q) + " (" +
                                              std::to_string(p->_tx_desc) +
                                              " descriptors): " + dpdk_err(rc));
    }
    if (p->_lsc) {
        rc = rte_eth_dev_callback_register(p->_id, RTE_ETH_EVENT_INTR_LSC, &port::lsc_callback,
                                           p.get());
        if (rc != 0) {
            PK_WARN("port", "%s: LSC callback not registered (%s); polling the link", nm.c_str(),
                    dpdk_err(rc).c_str());
            p->_lsc = false;
        }
    }
    p->_last_link = p->link(); // changes are reported relative to this
    p->_link_up.store(p->_last_link.up, std::memory_order_relaxed);
    {
        std::lock_guard lk(g_ports_mu);
        g_ports.push_back(p.get());
    }
    PK_INFO("port", "%s", p->describe().c_str());
    return p;
}

port::~port() {
    {
        std::lock_guard lk(g_ports_mu);
        g_ports.erase(std::remove(g_ports.begin(), g_ports.end(), this), g_ports.end());
    }
    if (_lsc)
        rte_eth_dev_callback_unregister(_id, RTE_ETH_EVENT_INTR_LSC, &port::lsc_callback, this);
    if (_started) (void)stop();
    // A device we created is closed and removed; one that existed before (PCI, --vdev)
    // is only stopped: closing releases the ethdev, and it could not be opened again.
    if (_created_vdev) {
        if (_configured) rte_eth_dev_close(_id);
        rte_vdev_uninit(_name.c_str());
    }
    // _own_pools (if any) is freed after the device that used it is closed.
}

status port::start() {
    if (_started) return {};
    int rc = rte_eth_dev_start(_id);
    if (rc != 0) return make_error(errc::dpdk, "port " + _name + ": start: " + dpdk_err(rc));
    _started = true;
    if (_cfg.promiscuous) {
        rc = rte_eth_promiscuous_enable(_id);
        if (rc != 0 && rc != -ENOTSUP)
            PK_WARN("port", "%s: promiscuous mode: %s", _name.c_str(), dpdk_err(rc).c_str());
    }
    return {}; // the link coming up is reported by the next poll_link()
}

status port::stop() {
    if (!_started) return {};
    int rc = rte_eth_dev_stop(_id);
    _started = false;
    if (rc != 0) return make_error(errc::dpdk, "port " + _name + ": stop: " + dpdk_err(rc));
    return {};
}

std::uint16_t port::mtu() const noexcept {
    std::uint16_t m = 0;
    rte_eth_dev_get_mtu(_id, &m);
    return m;
}

rte_ether_addr port::mac() const noexcept {
    rte_ether_addr a{};
    rte_eth_macaddr_get(_id, &a);
    return a;
}

link_status port::link() const noexcept {
    rte_eth_link l{};
    link_status s;
    if (rte_eth_link_get_nowait(_id, &l) != 0) return s;
    s.up = l.link_status == RTE_ETH_LINK_UP;
    s.speed_mbps = l.link_speed;
    s.full_duplex = l.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
    s.autoneg = l.link_autoneg == RTE_ETH_LINK_AUTONEG;
    return s;
}

bool port::poll_link() {
    std::uint32_t missed = 0; // LSC events since the last look
    if (_lsc) {
        std::uint32_t ev = _lsc_events.load(std::memory_order_acquire);
        // An interrupt-driven device still gets a periodic query: cheap, and it
        // covers drivers that miss an event.
        if (ev == _lsc_seen && _last_link.up == link().up) return false;
        missed = ev - _lsc_seen;
        _lsc_seen = ev;
    }
    link_status now = link();
    if (now.up == _last_link.up && (!now.up || now.speed_mbps == _last_link.speed_mbps)) {
        // Same state as last time but two or more events: the link went and came
        // back (or came and went) between two looks. Counted, so a flapping peer
        // shows in link_changes even when no poll caught it in the other state.
        if (missed < 2) return false;
        _link_changes.fetch_add(2, std::memory_order_relaxed);
        PK_INFO("port", "%s: link flapped (%u events), %s", _name.c_str(), missed,
                now.to_string().c_str());
        return true;
    }
    _last_link = now;
    _link_up.store(now.up, std::memory_order_relaxed);
    _link_changes.fetch_add(1, std::memory_order_relaxed);
    PK_INFO("port", "%s: link %s", _name.c_str(), now.to_string().c_str());
    if (_on_link) _on_link(*this, now);
    return true;
}

bool port::wait_link(bool up, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        poll_link();
        if (link().up == up) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

port_stats port::stats() const {
    port_stats s;
    rte_eth_stats e{};
    if (rte_eth_stats_get(_id, &e) != 0) return s;
    s.ipackets = e.ipackets;
    s.opackets = e.opackets;
    s.ibytes = e.ibytes;
    s.obytes = e.obytes;
    s.imissed = e.imissed;
    s.ierrors = e.ierrors;
    s.oerrors = e.oerrors;
    s.rx_nombuf = e.rx_nombuf;
    unsigned nr = std::min<unsigned>(_cfg.rx_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS);
    unsigned nt = std::min<unsigned>(_cfg.tx_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS);
    for (unsigned q = 0; q < nr; ++q)
        s.rxq.push_back({e.q_ipackets[q], e.q_ibytes[q], e.q_errors[q]});
    for (unsigned q = 0; q < nt; ++q)
        s.txq.push_back({e.q_opackets[q], e.q_obytes[q], 0});
    return s;
}

status port::reset_stats() {
    int rc = rte_eth_stats_reset(_id);
    if (rc != 0) return make_error(errc::dpdk, "port " + _name + ": stats reset: " + dpdk_err(rc));
    return {};
}

std::string port::describe() const {
    char mac[RTE_ETHER_ADDR_FMT_SIZE];
    rte_ether_addr a = this->mac();
    rte_ether_format_addr(mac, sizeof(mac), &a);
    std::string s = _name + " (port " + std::to_string(_id) + ", " + _info.driver_name +
                    ", socket " + (_socket < 0 ? std::string("unknown") : std::to_string(_socket)) +
                    ", " + mac + "): " + std::to_string(_cfg.rx_queues) + " rxq x " +
                    std::to_string(_rx_desc) + ", " + std::to_string(_cfg.tx_queues) + " txq x " +
                    std::to_string(_tx_desc) + ", rss " + rss_names(_rss_hf) + ", rx-offloads " +
                    hex64(_rx_off) + ", tx-offloads " + hex64(_tx_off) + ", mtu " +
                    std::to_string(mtu()) + ", link " + link().to_string() +
                    (_lsc ? " (lsc)" : " (polled)");
    return s;
}

std::vector<port*> port::all() {
    std::lock_guard lk(g_ports_mu);
    return g_ports;
}

std::string describe_ports() {
    std::string out;
    auto opened = port::all();
    std::uint16_t pid;
    RTE_ETH_FOREACH_DEV(pid) {
        port* mine = nullptr;
        for (port* p : opened)
            if (p->id() == pid) mine = p;
        if (mine) {
            out += mine->describe() + "\n";
            continue;
        }
        char n[RTE_ETH_NAME_MAX_LEN] = "?";
        rte_eth_dev_get_name_by_port(pid, n);
        rte_eth_link l{};
        rte_eth_link_get_nowait(pid, &l);
        out += std::string(n) + " (port " + std::to_string(pid) + ", not opened): link " +
               (l.link_status ? "up" : "down") + "\n";
    }
    return out.empty() ? std::string("(no ports)\n") : out;
}

std::string ports_stats() {
    std::string out;
    char line[512];
    std::uint16_t pid;
    RTE_ETH_FOREACH_DEV(pid) {
        rte_eth_stats e{};
        if (rte_eth_stats_get(pid, &e) != 0) continue;
        char n[RTE_ETH_NAME_MAX_LEN] = "?";
        rte_eth_dev_get_name_by_port(pid, n);
        std::snprintf(line, sizeof(line),
                      "%s: rx %" PRIu64 " pkts %" PRIu64 " bytes, tx %" PRIu64 " pkts %" PRIu64
                      " bytes, imissed %" PRIu64 ", ierrors %" PRIu64 ", oerrors %" PRIu64
                      ", rx_nombuf %" PRIu64 "\n",
                      n, e.ipackets, e.ibytes, e.opackets, e.obytes, e.imissed, e.ierrors,
                      e.oerrors, e.rx_nombuf);
        out += line;
    }
    return out.empty() ? std::string("(no ports)\n") : out;
}

} // namespace pk::net
