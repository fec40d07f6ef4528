// capture: writes a pcapng copy of every packet passing through, then passes it on.
#define ALLOW_EXPERIMENTAL_API 1
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_pcapng.h>

#include "pipeline/graph.hh"
#include "pipeline/stages/builtin.hh"

namespace pk::pipeline::stages {
namespace {

constexpr unsigned copy_pool_size = 4095; ///< copies in flight to the pcapng writer

/// capture: pcapng (readable by Wireshark/tshark) of up to `max_packets` packets
/// (0: no limit), truncated to `snaplen`. The original packets go on to "out"
/// untouched; a copy that cannot be made (pool empty) is counted as `missed`, never
/// as a drop of the packet itself. A debugging tap: it writes from the reactor.
class capture final : public stage {
public:
    explicit capture(const stage_args& a) : stage(a) {
        _path = a.params->string_or("path", "");
        _snaplen = static_cast<std::uint32_t>(a.params->integer_or("snaplen", 2048));
        _max = static_cast<std::uint64_t>(a.params->integer_or("max_packets", 0));
        _port_id = static_cast<std::uint16_t>(a.params->integer_or("port_id", 0));
    }
    ~capture() override {
        if (_pcap) rte_pcapng_close(_pcap); // closes the fd too
        if (_pool) rte_mempool_free(_pool);
    }

    status start() override {
        _fd = ::open(_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (_fd < 0)
            return make_error(errc::io, "capture '" + name() + "': cannot create '" + _path +
                                            "': " + std::strerror(errno));
        _pcap = rte_pcapng_fdopen(_fd, nullptr, nullptr, "pktkernel", name().c_str());
        if (!_pcap) {
            ::close(_fd);
            return make_error(errc::dpdk, "capture '" + name() + "': rte_pcapng_fdopen failed: " +
                                              std::string(rte_strerror(rte_errno)));
        }
        std::string pool = "cap_" + name();
        pool.resize(std::min<std::size_t>(pool.size(), RTE_MEMPOOL_NAMESIZE - 1));
        _pool = rte_pktmbuf_pool_create(pool.c_str(), copy_pool_size, 64, 0,
                                        static_cast<std::uint16_t>(rte_pcapng_mbuf_size(_snaplen)),
                                        static_cast<int>(rte_socket_id()));
        if (!_pool)
            return make_error(errc::dpdk, "capture '" + name() +
                                              "': cannot create its copy pool: " +
                                              std::string(rte_strerror(rte_errno)));
        return {};
    }

    std::vector<stage_value> extra() const override {
        return {{"captured_total", _captured.load(), true}, {"missed_total", _missed.load(), true}};
    }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        rte_mbuf* copies[burst_size];
        std::uint16_t k = 0;
        std::uint64_t ts = rte_get_tsc_cycles();
        for (std::uint16_t i = 0; i < n; ++i) {
            if (_max && _captured.load() + k >= _max) break;
            rte_mbuf* c =
                rte_pcapng_copy(pkts[i]->port == RTE_MBUF_PORT_INVALID ? _port_id : pkts[i]->port,
                                0, pkts[i], _pool, _snaplen, ts, RTE_PCAPNG_DIRECTION_UNKNOWN);
            if (c)
                copies[k++] = c;
            else
                _missed.add(1);
        }
        if (k) {
            if (rte_pcapng_write_packets(_pcap, copies, k) < 0)
                _missed.add(k);
            else
                _captured.add(k);
            rte_pktmbuf_free_bulk(copies, k); // DPDK 22.11 writes but does not free the copies
        }
        emit(0, pkts, n);
    }

private:
    std::string _path;
    std::uint32_t _snaplen;
    std::uint64_t _max;
    std::uint16_t _port_id;
    int _fd = -1;
    rte_pcapng_t* _pcap = nullptr;
    rte_mempool* _pool = nullptr;
    sched::counter _captured, _missed;
};

} // namespace

void register_capture(registry& r) {
    stage_schema s;
    s.params = {p_of("path", param_type::string, true), p_int("snaplen", 64, 65535),
                p_int("max_packets", 0, INT64_MAX), p_int("port_id", 0, 65535)};
    s.outputs = {"out"};
    s.pool_mbufs = [](const node&) -> std::uint64_t { return copy_pool_size; };
    s.roles = {role::observer}; // copies what it keeps (rte_pcapng_copy), passes packets on
    r.add({"capture", make_factory<capture>(), s,
           "writes a pcapng copy of each packet (Wireshark-readable), passes packets on"});
}

} // namespace pk::pipeline::stages
