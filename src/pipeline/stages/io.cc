// port_rx and port_tx: the NIC ends of a pipeline.
#include <array>
#include <memory>

#include "base/clock.hh"
#include "net/port.hh"
#include "pipeline/graph.hh"
#include "pipeline/latency.hh"
#include "pipeline/stages/builtin.hh"

namespace pk::pipeline::stages {
namespace {

/// port_rx: receives bursts from one RX queue of a port (a NET source of its reactor).
class port_rx final : public stage {
public:
    explicit port_rx(const stage_args& a) : stage(a) {
        _port_name = a.params->string_or("port", "");
        _queue = static_cast<std::uint16_t>(a.params->integer_or("queue", 0));
        _burst = static_cast<std::uint16_t>(a.params->integer_or("burst", 32));
        _r_bad_cksum = add_reason("bad_checksum");
        _r_peer_gone = add_reason("peer_gone");
    }

    status start() override {
        auto* p = owner()->find_port(_port_name);
        if (!p) return make_error(errc::not_found, "port '" + _port_name + "' is not open");
        if (_queue >= p->rx_queues())
            return make_error(errc::invalid_argument,
                              "port '" + _port_name + "' has " + std::to_string(p->rx_queues()) +
                                  " RX queues; queue " + std::to_string(_queue) +
                                  " does not exist");
        _rxq = p->rxq(_queue);
        (void)latency::register_field();
        return {};
    }

    std::uint32_t poll() noexcept override {
        if (quiesced()) return 0;
        rte_mbuf* pkts[burst_size];
        std::uint16_t n = _rxq.rx_burst(pkts, _burst);
        if (n == 0) {
            if (PK_UNLIKELY(_rxq.fault_drops() != _seen_fault_drops)) return account_faults();
            return 0;
        }
        count_produced(n);
        // The NIC's checksum verdicts: one OR over the burst (the flags sit in the mbuf
        // line the driver just wrote), the exact test only when a BAD bit shows up.
        std::uint64_t any = 0;
        for (std::uint16_t i = 0; i < n; ++i)
            any |= pkts[i]->ol_flags;
        if (PK_UNLIKELY(any & (RTE_MBUF_F_RX_IP_CKSUM_BAD | RTE_MBUF_F_RX_L4_CKSUM_BAD)))
            n = drop_bad_checksums(pkts, n);
        if (n == 0) return 1;
        latency::stamp(pkts, n, tsc::now());
        emit(0, pkts, n);
        return n;
    }

    std::uint16_t port_id() const noexcept { return _rxq.port_id(); }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        emit(0, pkts, n); // nothing flows into port_rx (validated); pass through if it does
    }

private:
    /// A guarded burst the peer's disappearance cut short: the queue freed what the
    /// driver had received; account for it as received and dropped (peer_gone).
    PK_NOINLINE std::uint32_t account_faults() noexcept {
        const std::uint64_t lost = _rxq.fault_drops() - _seen_fault_drops;
        _seen_fault_drops = _rxq.fault_drops();
        count_produced(lost);
        add_drops(_r_peer_gone, lost);
        return 1;
    }

    /// Drops (reason bad_checksum) the packets whose IP or L4 checksum the NIC found bad
    /// — not those flagged NONE (both bits: the checksum is not filled in, the data is
    /// fine) — keeping the others in order. Returns how many are left.
    std::uint16_t drop_bad_checksums(rte_mbuf** pkts, std::uint16_t n) noexcept {
        auto bad = [](std::uint64_t f) noexcept {
            return (f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
                   (f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD;
        };
        std::uint16_t keep = 0;
        for (std::uint16_t i = 0; i < n; ++i) {
            if (bad(pkts[i]->ol_flags))
                drop_one(_r_bad_cksum, pkts[i]);
            else
                pkts[keep++] = pkts[i];
        }
        return keep;
    }

    std::string _port_name;
    std::uint16_t _queue, _burst;
    unsigned _r_bad_cksum, _r_peer_gone;
    std::uint64_t _seen_fault_drops = 0;
    net::rx_queue _rxq;
};

/// port_tx: buffers packets and transmits on one TX queue; flushes when the buffer is
/// full and on a short deadline (`drain_us`). What the device refuses is dropped as
/// tx_full (after retries); what is buffered at stop is flushed.
class port_tx final : public stage {
public:
    explicit port_tx(const stage_args& a) : stage(a) {
        _port_name = a.params->string_or("port", "");
        _queue = a.tx_queue; // the plan's: the YAML's `queue`, or the reactor's own
        _burst = static_cast<std::uint16_t>(a.params->integer_or("burst", 32));
        _drain_us = static_cast<std::uint64_t>(a.params->integer_or("drain_us", 100));
        // Indexed by net::tx_drop.
        _reason = {add_reason("tx_full"), add_reason("tx_shutdown"), add_reason("tx_peer_gone")};
    }

    status start() override {
        auto* p = owner()->find_port(_port_name);
        if (!p) return make_error(errc::not_found, "port '" + _port_name + "' is not open");
        if (_queue >= p->tx_queues())
            return make_error(errc::invalid_argument,
                              "port '" + _port_name + "' has " + std::to_string(p->tx_queues()) +
                                  " TX queues; queue " + std::to_string(_queue) +
                                  " does not exist");
        _tx = std::make_unique<net::tx_buffer>(p->id(), _queue, _burst, tsc::from_us(_drain_us));
        (void)latency::register_field();
        return {};
    }

    bool ticks() const noexcept override { return true; }
    std::uint32_t tick(std::uint64_t now) noexcept override {
        if (!_tx->flush_if_due(now)) return 0;
        sync();
        return 1;
    }

    void drain() noexcept override {
        _tx->flush();
        _tx->discard(net::tx_drop::shutdown);
        sync();
    }

    /// Mirrored by sync() into a counter: the control thread and the metrics exporter
    /// read it while this reactor fills the buffer.
    std::uint64_t held() const noexcept override { return _held.load(); }
    const latency::histogram* latency() const noexcept override { return &_latency; }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        _latency.observe(pkts, n, tsc::now());
        _tx->send_burst(pkts, n);
        sync();
    }

private:
    /// Mirrors the TX buffer's counters into the stage's (single writer: this reactor).
    void sync() noexcept {
        _held.set(_tx->buffered());
        const auto& c = _tx->counters();
        if (c.sent != _seen_sent) {
            count_transmitted(c.sent - _seen_sent);
            _seen_sent = c.sent;
        }
        for (unsigned k = 0; k < net::tx_drop_count; ++k) {
            add_drops(_reason[k], c.dropped[k] - _seen[k]);
            _seen[k] = c.dropped[k];
        }
    }

    std::string _port_name;
    std::uint16_t _queue, _burst;
    std::uint64_t _drain_us;
    std::array<unsigned, net::tx_drop_count> _reason{};
    std::unique_ptr<net::tx_buffer> _tx;
    std::uint64_t _seen_sent = 0;
    std::array<std::uint64_t, net::tx_drop_count> _seen{};
    sched::counter _held;
    latency::histogram _latency;
};

stage_schema port_schema(bool rx) {
    stage_schema s;
    s.params = {p_of("port", param_type::port, true),
                p_of("queue", rx ? param_type::rx_queue : param_type::tx_queue),
                p_int("burst", 1, rx ? burst_size : 128)};
    if (!rx) s.params.push_back(p_int("drain_us", 1, 1'000'000));
    s.accepts_input = !rx;
    s.has_outputs = rx;
    if (rx) s.outputs = {"out"};
    s.roles = {rx ? role::rx_source : role::tx_sink};
    return s;
}

} // namespace

void register_io(registry& r) {
    r.add({"port_rx", make_factory<port_rx>(), port_schema(true),
           "receives bursts from one RX queue of a port"});
    r.add({"port_tx", make_factory<port_tx>(), port_schema(false),
           "transmits on one TX queue of a port (buffered, drained on a deadline)"});
}

} // namespace pk::pipeline::stages
