#include "stage_test_util.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "pipeline/flow_class.hh"
#include "pipeline/stages/builtin.hh"

namespace pk::pipeline::test {

// ---- frames --------------------------------------------------------------------------

std::array<std::uint8_t, 16> ip4(const char* text) {
    std::array<std::uint8_t, 16> a{};
    EXPECT_EQ(inet_pton(AF_INET, text, a.data()), 1) << text;
    return a;
}

std::array<std::uint8_t, 16> ip6(const char* text) {
    std::array<std::uint8_t, 16> a{};
    EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
    return a;
}

std::uint16_t be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
std::uint32_t be32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(be16(p)) << 16 | be16(p + 2);
}
std::uint64_t be64(const std::uint8_t* p) {
    return static_cast<std::uint64_t>(be32(p)) << 32 | be32(p + 4);
}

namespace {

void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}

std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t acc = 0) {
    for (std::size_t i = 0; i + 1 < n; i += 2)
        acc += be16(p + i);
    if (n & 1) acc += static_cast<std::uint32_t>(p[n - 1]) << 8;
    return acc;
}

std::uint16_t fold(std::uint32_t acc) {
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return static_cast<std::uint16_t>(acc);
}

/// Pseudo-header + L4 segment sum.
std::uint32_t l4_sum(const frame& f, std::size_t l3_off, int family, std::size_t l4_off,
                     std::uint8_t proto) {
    std::size_t l4_len = f.size() - l4_off;
    std::uint32_t acc = 0;
    if (family == 4) {
        acc = sum16(f.data() + l3_off + 12, 8);
    } else {
        acc = sum16(f.data() + l3_off + 8, 32);
    }
    acc += proto;
    acc += static_cast<std::uint32_t>(l4_len);
    return sum16(f.data() + l4_off, l4_len, acc);
}

} // namespace

frame make_frame(const pkt_spec& s) {
    const std::size_t l2 = 14 + (s.vlan >= 0 ? 4 : 0);
    const std::size_t l3 = s.family == 4 ? 20 : 40;
    const std::size_t l4 = s.proto == IPPROTO_UDP ? 8 : s.proto == IPPROTO_TCP ? 20 : 0;
    frame f(l2 + l3 + l4 + s.payload, 0);
    std::uint8_t* d = f.data();
    std::memcpy(d, s.dmac.data(), 6);
    std::memcpy(d + 6, s.smac.data(), 6);
    std::size_t off = 12;
    if (s.vlan >= 0) {
        put16(d + off, 0x8100);
        put16(d + off + 2, static_cast<std::uint16_t>(s.vlan));
        off += 4;
    }
    put16(d + off, s.family == 4 ? 0x0800 : 0x86dd);
    std::uint8_t* ip = d + l2;
    const std::size_t ip_total = l3 + l4 + s.payload;
    if (s.family == 4) {
        ip[0] = 0x45;
        put16(ip + 2, static_cast<std::uint16_t>(ip_total));
        ip[8] = 64;
        ip[9] = s.proto;
        std::memcpy(ip + 12, s.src.data(), 4);
        std::memcpy(ip + 16, s.dst.data(), 4);
        put16(ip + 10, static_cast<std::uint16_t>(~fold(sum16(ip, 20))));
    } else {
        ip[0] = 0x60;
        put16(ip + 4, static_cast<std::uint16_t>(l4 + s.payload));
        ip[6] = s.proto;
        ip[7] = 64;
        std::memcpy(ip + 8, s.src.data(), 16);
        std::memcpy(ip + 24, s.dst.data(), 16);
    }
    std::uint8_t* l4p = ip + l3;
    std::uint8_t* pl = l4p + l4;
    if (s.payload >= 4) {
        pl[0] = static_cast<std::uint8_t>(s.tag >> 24);
        pl[1] = static_cast<std::uint8_t>(s.tag >> 16);
        pl[2] = static_cast<std::uint8_t>(s.tag >> 8);
        pl[3] = static_cast<std::uint8_t>(s.tag);
    }
    for (std::size_t i = 4; i < s.payload; ++i)
        pl[i] = static_cast<std::uint8_t>(i * 7);
    if (s.proto == IPPROTO_UDP || s.proto == IPPROTO_TCP) {
        put16(l4p, s.sport);
        put16(l4p + 2, s.dport);
        std::size_t ck;
        if (s.proto == IPPROTO_UDP) {
            put16(l4p + 4, static_cast<std::uint16_t>(l4 + s.payload));
            ck = 6;
        } else {
            l4p[12] = 5 << 4;
            l4p[13] = 0x18; // PSH|ACK
            put16(l4p + 14, 65535);
            ck = 16;
        }
        std::uint16_t c =
            static_cast<std::uint16_t>(~fold(l4_sum(f, l2, s.family, l2 + l3, s.proto)));
        if (c == 0 && s.proto == IPPROTO_UDP) c = 0xffff;
        put16(l4p + ck, c);
    }
    return f;
}

frame make_arp() {
    frame f(42, 0);
    std::memset(f.data(), 0xff, 6);
    f[6] = 0x02;
    f[11] = 0x0c;
    put16(f.data() + 12, 0x0806);
    put16(f.data() + 14, 1);      // ethernet
    put16(f.data() + 16, 0x0800); // ipv4
    f[18] = 6;
    f[19] = 4;
    put16(f.data() + 20, 1); // request
    return f;
}

bool ipv4_header_ok(const frame& f, std::size_t l3_off) {
    std::size_t ihl = (f[l3_off] & 0x0f) * 4u;
    return fold(sum16(f.data() + l3_off, ihl)) == 0xffff;
}

bool l4_checksum_ok(const frame& f, std::size_t l3_off, int family, std::size_t l4_off,
                    std::uint8_t proto) {
    if (family == 4 && proto == IPPROTO_UDP && be16(f.data() + l4_off + 6) == 0) return true;
    return fold(l4_sum(f, l3_off, family, l4_off, proto)) == 0xffff;
}

// ---- mbufs ---------------------------------------------------------------------------

rte_mempool* test_pool() {
    static rte_mempool* mp = [] {
        rte_mempool* p =
            rte_pktmbuf_pool_create("pk_stage_test", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    static_cast<int>(rte_socket_id()));
        if (!p)
            p = rte_pktmbuf_pool_create("pk_stage_test", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                        SOCKET_ID_ANY);
        return p;
    }();
    return mp;
}

rte_mbuf* to_mbuf(const frame& f, rte_mempool* mp) {
    rte_mbuf* m = rte_pktmbuf_alloc(mp);
    EXPECT_NE(m, nullptr);
    if (!m) return nullptr;
    char* d = rte_pktmbuf_append(m, static_cast<std::uint16_t>(f.size()));
    EXPECT_NE(d, nullptr);
    if (!f.empty()) std::memcpy(d, f.data(), f.size());
    return m;
}

frame bytes_of(const rte_mbuf* m) {
    auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
    return frame(d, d + m->data_len);
}

// ---- collector -----------------------------------------------------------------------

collector::collector(const stage_args& a) : stage(a) {
    _collected = add_reason("collected");
}

void collector::process(rte_mbuf** pkts, std::uint16_t n) noexcept {
    for (std::uint16_t i = 0; i < n; ++i) {
        const rte_mbuf* m = pkts[i];
        items.push_back(item{bytes_of(m), static_cast<std::uint16_t>(m->l2_len),
                             static_cast<std::uint16_t>(m->l3_len),
                             static_cast<std::uint16_t>(m->l4_len), m->packet_type,
                             rte_mbuf_refcnt_read(m), m, flow_class::of(m)});
    }
    drop(_collected, pkts, n);
}

void register_test_stages() {
    static const bool once = [] {
        stage_schema s;
        s.accepts_input = true;
        s.has_outputs = false;
        registry::global().add(
            {"t_collect", stages::make_factory<collector>(), s, "test sink: records every packet"});
        // The same sink declared an observer (it copies what it records and drops every
        // packet inside process()): after a pub edge it runs in place, on loan.
        s.roles = {role::observer};
        registry::global().add({"t_observe", stages::make_factory<collector>(), s,
                                "test sink: records every packet, an observer"});
        return true;
    }();
    (void)once;
}

// ---- graphs --------------------------------------------------------------------------

stage* env::operator[](std::string_view name) const {
    stage* s = g ? g->find_stage(name) : nullptr;
    EXPECT_NE(s, nullptr) << "no stage " << name;
    return s;
}

collector& env::col(std::string_view name) const {
    auto* c = dynamic_cast<collector*>((*this)[name]);
    if (!c) throw std::runtime_error("not a collector: " + std::string(name));
    return *c;
}

std::string try_build(env& e, const std::string& yaml, unsigned reactors,
                      const std::vector<std::pair<std::string, unsigned>>& where,
                      const validation_options* opts) {
    register_test_stages();
    auto r = opts ? load_string(yaml, "t.yaml", *opts)
                  : load_string(yaml, "t.yaml", registry::global().validation());
    if (!r) return format(r.diagnostics());
    e.cfg = std::move(r).value();
    std::vector<unsigned> placed(e.cfg.stages.size(), 0);
    for (std::size_t i = 0; i < e.cfg.stages.size(); ++i)
        for (auto& [n, rr] : where)
            if (*e.cfg.stages[i].name == n) placed[i] = rr;
    auto p = plan_graph(e.cfg, registry::global(), placed, reactors);
    if (!p) return p.err().message;
    e.p = std::move(*p);
    auto g = graph::build(e.cfg, registry::global(), e.p);
    if (!g) return g.err().message;
    e.g = std::move(*g);
    return "";
}

std::uint64_t drops(const stage& s, std::string_view reason) {
    for (std::size_t i = 0; i < s.reasons().size(); ++i)
        if (s.reasons()[i] == reason) return s.counters().dropped[i].load();
    return 0;
}

std::uint64_t outs(const stage& s, std::string_view name) {
    for (std::size_t i = 0; i < s.outputs().size(); ++i)
        if (s.outputs()[i] == name) return s.counters().out[i].load();
    return 0;
}

std::uint64_t run_until_idle(graph& g) {
    std::uint64_t total = 0;
    for (;;) {
        std::uint64_t w = 0;
        for (auto& s : g.stages())
            if (s->is_source() && !s->blocked()) w += s->poll();
        for (auto& s : g.stages()) // what the housekeeping task does each round
            w += s->retry_parked();
        for (unsigned r = 0; r < g.reactors(); ++r) {
            for (auto* src : g.sources_of(r))
                w += src->poll();
            g.service(r);
        }
        total += w;
        if (w == 0) return total;
    }
}

} // namespace pk::pipeline::test
