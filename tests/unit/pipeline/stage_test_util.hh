// Helpers for the stage and graph unit tests (stages_test.cc): hand-built frames with
// valid (independently computed) checksums, a test pool, a `t_collect` sink stage that
// records what reaches it, and a small wrapper that loads a YAML pipeline and builds
// its graph with every stage on one reactor (so same-reactor edges are direct calls).
//
// Threads: everything here runs on the gtest main thread (an EAL lcore).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <netinet/in.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "pipeline/config.hh"
#include "pipeline/graph.hh"
#include "pipeline/plan.hh"
#include "pipeline/registry.hh"
#include "pipeline/stage.hh"

namespace pk::pipeline::test {

// ---- frames --------------------------------------------------------------------------

using frame = std::vector<std::uint8_t>;

struct pkt_spec {
    int family = 4;                     ///< 4 or 6
    std::uint8_t proto = IPPROTO_UDP;   ///< UDP, TCP or anything else (no L4 header)
    std::array<std::uint8_t, 16> src{}; ///< IPv4: the first 4 bytes
    std::array<std::uint8_t, 16> dst{};
    std::uint16_t sport = 1000, dport = 2000;
    int vlan = -1;              ///< -1: untagged
    std::uint16_t payload = 18; ///< L4 payload bytes
    std::uint32_t tag = 0;      ///< written at the start of the payload (BE)
    std::array<std::uint8_t, 6> smac{0x02, 0, 0, 0, 0, 0x0a};
    std::array<std::uint8_t, 6> dmac{0x02, 0, 0, 0, 0, 0x0b};
};

std::array<std::uint8_t, 16> ip4(const char* text);
std::array<std::uint8_t, 16> ip6(const char* text);

/// Ethernet (+VLAN) + IPv4/IPv6 + UDP/TCP + payload, every checksum valid.
frame make_frame(const pkt_spec& s);
/// An ARP request (non-IP).
frame make_arp();

/// One's-complement checks, computed here (not with DPDK) so they are independent.
bool ipv4_header_ok(const frame& f, std::size_t l3_off);
/// UDP/TCP checksum over the pseudo-header; IPv4 UDP with checksum 0 counts as valid.
bool l4_checksum_ok(const frame& f, std::size_t l3_off, int family, std::size_t l4_off,
                    std::uint8_t proto);

std::uint16_t be16(const std::uint8_t* p);
std::uint32_t be32(const std::uint8_t* p);
std::uint64_t be64(const std::uint8_t* p);

// ---- mbufs ---------------------------------------------------------------------------

/// A process-wide pool without a per-lcore cache (so rte_mempool_avail_count is exact).
rte_mempool* test_pool();
rte_mbuf* to_mbuf(const frame& f, rte_mempool* mp = test_pool());
frame bytes_of(const rte_mbuf* m);

// ---- the t_collect stage -------------------------------------------------------------

/// A sink that records a copy of every packet (bytes and mbuf metadata), then frees it
/// counted under reason "collected".
class collector final : public stage {
public:
    struct item {
        frame bytes;
        std::uint16_t l2_len, l3_len, l4_len;
        std::uint32_t packet_type;
        std::uint16_t refcnt;
        const rte_mbuf* mbuf;
        unsigned flow_class; ///< pipeline::flow_class::of() when collected
    };
    explicit collector(const stage_args& a);
    std::vector<item> items;

protected:
    void process(rte_mbuf** pkts, std::uint16_t n) noexcept override;

private:
    unsigned _collected;
};

/// Adds `t_collect` and `t_observe` (the same stage with role::observer) to
/// registry::global() (idempotent).
void register_test_stages();

// ---- building graphs -----------------------------------------------------------------

struct env {
    config cfg; ///< outlives the plan and the graph (declared first)
    plan p;
    std::unique_ptr<graph> g;

    stage* operator[](std::string_view name) const;
    collector& col(std::string_view name) const;
};

/// Loads `yaml` (as "t.yaml", validated against the registry) and builds it into `e`
/// with every stage on reactor `where(name)` (default 0) of `reactors`. Returns "" or
/// the error text.
std::string try_build(env& e, const std::string& yaml, unsigned reactors = 1,
                      const std::vector<std::pair<std::string, unsigned>>& where = {},
                      const validation_options* opts = nullptr);

/// Drops counted under `reason` by stage `s` (0 when it has no such reason).
std::uint64_t drops(const stage& s, std::string_view reason);
/// Packets passed on through output `name`.
std::uint64_t outs(const stage& s, std::string_view name);

/// Polls every source stage and every edge consumer (all reactors, this thread), with
/// broadcast-ring service, until a whole round does nothing. Returns packets moved.
std::uint64_t run_until_idle(graph& g);

} // namespace pk::pipeline::test
