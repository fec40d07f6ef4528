// flow_table: tracks every flow through it in its reactor's flow table (flow/table.hh).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <thread>

#include "base/clock.hh"
#include "flow/table.hh"
#include "net/packet.hh"
#include "pipeline/stages/builtin.hh"
#include "sched/counters.hh"

namespace pk::pipeline::stages {
namespace {

/// One flow as `show flows` prints it: "udp 10.0.0.1:1024 > 10.0.1.1:5000 vlan 7".
std::string describe(const flow::flow_key& k) {
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    const int af = k.family == 6 ? AF_INET6 : AF_INET;
    inet_ntop(af, k.src.data(), a, sizeof a);
    inet_ntop(af, k.dst.data(), b, sizeof b);
    const char* proto = k.proto == IPPROTO_UDP    ? "udp"
                        : k.proto == IPPROTO_TCP  ? "tcp"
                        : k.proto == IPPROTO_ICMP ? "icmp"
                                                  : nullptr;
    std::string o = proto ? proto : "proto " + std::to_string(k.proto);
    const bool v6 = k.family == 6;
    o += " ";
    o += v6 ? "[" + std::string(a) + "]" : a;
    o += ":" + std::to_string(k.src_port) + " > ";
    o += v6 ? "[" + std::string(b) + "]" : b;
    o += ":" + std::to_string(k.dst_port);
    if (k.vlan) o += " vlan " + std::to_string(k.vlan);
    return o;
}

/// flow_table: every IP packet's flow (5-tuple + outer VLAN; `symmetric`: both
/// directions as one) is looked up or inserted in a table of `capacity` flows owned by
/// the stage's reactor; idle flows (no packet for `idle_ms`) expire. Packets pass on
/// unchanged to "out" — tracked, untracked (not IP, or a new flow with the table full:
/// counted) alike. Per flow: packets, bytes, first and last seen. `show flows` lists
/// the `top` flows with the most packets.
class flow_table final : public stage {
public:
    explicit flow_table(const stage_args& a)
        : stage(a), _symmetric(a.params->boolean_or("symmetric", false)),
          _use_nic_hash(!_symmetric),
          _top_n(static_cast<unsigned>(a.params->integer_or("top", 10))),
          _table(static_cast<std::uint32_t>(a.params->integer_or("capacity", 65536)),
                 tsc::from_ns(static_cast<std::uint64_t>(a.params->integer_or("idle_ms", 30000)) *
                              1'000'000),
                 tsc::from_us(1000), tsc::now()),
          _snap(_top_n) {}

    bool ticks() const noexcept override { return true; }
    std::uint32_t tick(std::uint64_t now) noexcept override {
        if (now == UINT64_MAX) { // drain: nothing is held; the counts are final
            publish();
            return 0;
        }
        std::uint32_t work = 0;
        if (now >= _table.next_due_hint())
            work = static_cast<std::uint32_t>(_table.expire(now, [](const flow::flow_entry&, std::uint32_t) {}));
        if (PK_UNLIKELY(_asked.load(std::memory_order_acquire) != _answered)) {
            _snap_n = _table.top(_snap.data(), _snap.size());
            _snap_at = now;
            _answered = _asked.load(std::memory_order_relaxed);
            _answer.store(_answered, std::memory_order_release);
        }
        publish();
        return work;
    }

    std::vector<stage_value> extra() const override {
        return {{"flows_in_table", _flows.load(), false},
                {"flows_capacity", _table.capacity(), false},
                {"flows_created_total", _created.load(), true},
                {"flows_expired_total", _expired.load(), true},
                {"flows_refused_total", _full.load(), true},
                {"untracked_total", _untracked.load(), true}};
    }

    /// Asks the reactor for its top flows and waits for the answer (at most 250 ms: a
    /// reactor that is not running leaves the previous answer, said so).
    std::string flow_report() override {
        std::lock_guard<std::mutex> g(_report_lock);
        const std::uint64_t want = _asked.load(std::memory_order_relaxed) + 1;
        _asked.store(want, std::memory_order_release);
        bool fresh = false;
        for (int i = 0; i < 250 && !fresh; ++i) {
            fresh = _answer.load(std::memory_order_acquire) == want;
            if (!fresh) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        char line[192];
        std::snprintf(line, sizeof line,
                      "%s (reactor %u): %" PRIu64 " flows of %u, created %" PRIu64
                      ", expired %" PRIu64 ", table full %" PRIu64 ", untracked %" PRIu64 "\n",
                      name().c_str(), reactor(), _flows.load(), _table.capacity(),
                      _created.load(), _expired.load(), _full.load(), _untracked.load());
        std::string o = line;
        if (!fresh) {
            o += "  (no answer from the reactor: not running)\n";
            return o;
        }
        // The reactor wrote _snap before its release store of _answer; it writes again
        // only when asked, and asking is under _report_lock.
        o += "  packets    bytes        age_s    idle_s   flow\n";
        for (std::size_t i = 0; i < _snap_n; ++i) {
            const flow::flow_entry& e = _snap[i];
            std::snprintf(line, sizeof line, "  %-10" PRIu64 " %-12" PRIu64 " %-8.2f %-8.2f ",
                          e.packets, e.bytes, tsc::to_seconds(_snap_at - e.first_seen),
                          tsc::to_seconds(_snap_at - e.last_seen));
            o += line + describe(e.key) + "\n";
        }
        return o;
    }

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override {
        const std::uint64_t now = tsc::now();
        std::uint64_t untracked = 0;
        for (std::uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            const net::parsed p = net::parse(m);
            flow::flow_key k;
            if (!flow::make_key(rte_pktmbuf_mtod(m, const std::uint8_t*), p, k)) {
                ++untracked;
                continue;
            }
            if (_symmetric) k = k.symmetric();
            const std::uint32_t h = _use_nic_hash && (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)
                                        ? m->hash.rss
                                        : flow::key_hash(k);
            if (_table.touch(k, h, m->pkt_len, now) == flow::table::none) ++untracked;
        }
        if (untracked) _untracked.add(untracked);
        emit(0, pkts, n);
    }

private:
    /// Mirrors the table's owner-only counts for other threads (when they changed).
    void publish() noexcept {
        if (_table.size() != _flows.load()) _flows.set(_table.size());
        if (_table.created() != _created.load()) _created.set(_table.created());
        if (_table.expired() != _expired.load()) _expired.set(_table.expired());
        if (_table.full() != _full.load()) _full.set(_table.full());
    }

    bool _symmetric;
    bool _use_nic_hash; ///< a NIC's RSS hash is not symmetric under the default key
    unsigned _top_n;
    flow::table _table;
    sched::counter _flows, _created, _expired, _full, _untracked;
    // show flows: the control thread asks (_asked), the reactor answers in tick().
    std::mutex _report_lock;
    std::atomic<std::uint64_t> _asked{0}, _answer{0};
    std::uint64_t _answered = 0; ///< reactor only
    std::vector<flow::flow_entry> _snap;
    std::size_t _snap_n = 0;
    std::uint64_t _snap_at = 0;
};

} // namespace

void register_flows(registry& r) {
    stage_schema s;
    s.params = {p_int("capacity", 1, 1 << 24), p_int("idle_ms", 1, 86'400'000),
                p_of("symmetric", param_type::boolean), p_int("top", 1, 1000)};
    s.outputs = {"out"};
    s.roles = {role::observer}; // reads headers, passes every packet on unchanged
    r.add({"flow_table", make_factory<flow_table>(), s,
           "tracks flows (packets, bytes, first/last seen) in its reactor's table; idle "
           "flows expire; show flows lists the top ones"});
}

} // namespace pk::pipeline::stages
