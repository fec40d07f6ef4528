// Parser table: every header combination, each truncated at every byte offset (as a
// short frame and as a first segment of a longer packet), plus hand-made malformed
// packets, one per reason. No EAL needed.
#include <memory>
#include <set>

#include <gtest/gtest.h>

#include "net/parse.hh"
#include "pkt_builder.hh"

using namespace pk::net;
using pk::test::build;
using pk::test::built;
using pk::test::pkt_spec;

namespace {

std::vector<pkt_spec> all_combinations() {
    std::vector<pkt_spec> out;
    std::vector<std::vector<std::uint16_t>> vlan_sets = {{}, {0x0064}, {0x2005, 0x0007}};
    for (auto& v : vlan_sets) {
        // IPv4: plain, options (4 and 40 bytes), first fragment, later fragment.
        for (unsigned opt : {0u, 4u, 40u})
            for (std::uint8_t proto : {17, 6, 1, 47}) {
                pkt_spec s;
                s.vlans = v;
                s.ip_opt_len = opt;
                s.proto = proto;
                out.push_back(s);
                if (proto == 6) {
                    s.tcp_opt_len = 12;
                    out.push_back(s);
                }
            }
        for (bool later : {false, true}) {
            pkt_spec s;
            s.vlans = v;
            s.v4_first_fragment = !later;
            s.later_fragment = later;
            out.push_back(s);
        }
        // IPv6: no ext, hop-by-hop, hbh+routing+dstopts, AH, fragment (first, later).
        std::vector<std::vector<std::uint8_t>> exts = {{}, {0}, {0, 43, 60}, {51}, {44}};
        for (auto& e : exts)
            for (std::uint8_t proto : {17, 6, 58, 59, 47}) {
                pkt_spec s;
                s.vlans = v;
                s.l3k = pkt_spec::l3::ipv6;
                s.v6_ext = e;
                s.proto = proto;
                out.push_back(s);
                if (proto == 6) {
                    s.tcp_opt_len = 8;
                    out.push_back(s);
                }
            }
        pkt_spec f;
        f.vlans = v;
        f.l3k = pkt_spec::l3::ipv6;
        f.v6_ext = {0, 44};
        f.later_fragment = true;
        out.push_back(f);
        pkt_spec a;
        a.vlans = v;
        a.l3k = pkt_spec::l3::arp;
        out.push_back(a);
        a.l3k = pkt_spec::l3::other;
        out.push_back(a);
    }
    return out;
}

l4_type expected_l4(const pkt_spec& s) {
    if (s.l3k == pkt_spec::l3::arp || s.l3k == pkt_spec::l3::other) return l4_type::none;
    if (s.later_fragment || s.proto == 59) return l4_type::none;
    switch (s.proto) {
    case 17:
        return l4_type::udp;
    case 6:
        return l4_type::tcp;
    case 1:
        return s.l3k == pkt_spec::l3::ipv4 ? l4_type::icmp : l4_type::other;
    case 58:
        return s.l3k == pkt_spec::l3::ipv6 ? l4_type::icmpv6 : l4_type::other;
    default:
        return l4_type::other;
    }
}

void check_full(const pkt_spec& s, const built& b, const parsed& r) {
    SCOPED_TRACE(b.name);
    ASSERT_EQ(r.why, reason::ok) << to_string(r.why);
    EXPECT_EQ(r.vlan_count, s.vlans.size());
    for (std::size_t i = 0; i < s.vlans.size(); ++i)
        EXPECT_EQ(r.vlan_tci[i], s.vlans[i]);
    EXPECT_EQ(r.l3_off, b.l3_off);
    l3_type l3 = s.l3k == pkt_spec::l3::ipv4   ? l3_type::ipv4
                 : s.l3k == pkt_spec::l3::ipv6 ? l3_type::ipv6
                 : s.l3k == pkt_spec::l3::arp  ? l3_type::arp
                                               : l3_type::other;
    EXPECT_EQ(r.l3, l3);
    EXPECT_EQ(r.l4, expected_l4(s)) << to_string(r.l4);
    if (l3 != l3_type::ipv4 && l3 != l3_type::ipv6) return;
    EXPECT_EQ(r.l3_len, b.l3_len);
    EXPECT_EQ(r.ip_proto, s.proto);
    EXPECT_EQ(r.fragment, s.v4_first_fragment || s.later_fragment ||
                              std::count(s.v6_ext.begin(), s.v6_ext.end(), 44) > 0);
    EXPECT_EQ(r.ipv6_ext_count, s.v6_ext.size());
    if (r.l4 == l4_type::none) return;
    EXPECT_EQ(r.l4_off, b.l4_off);
    EXPECT_EQ(r.l4_len, b.l4_len);
    EXPECT_EQ(r.payload_off, b.payload_off);
    EXPECT_EQ(r.payload_len, s.payload);
    if (r.l4 == l4_type::udp || r.l4 == l4_type::tcp) {
        EXPECT_EQ(r.src_port, s.sport);
        EXPECT_EQ(r.dst_port, s.dport);
    }
    if (r.l4 == l4_type::icmp || r.l4 == l4_type::icmpv6) {
        EXPECT_EQ(r.src_port, s.sport);
    }
    if (r.l4 == l4_type::tcp) {
        EXPECT_EQ(r.tcp_flags, 0x02);
    }
}

} // namespace

TEST(parse_table, every_combination_parses_with_the_right_offsets) {
    auto specs = all_combinations();
    EXPECT_GT(specs.size(), 100u);
    for (auto& s : specs) {
        built b = build(s);
        check_full(s, b, parse(b.bytes.data(), static_cast<std::uint32_t>(b.bytes.size())));
    }
}

TEST(parse_table, truncation_at_every_offset_names_the_layer) {
    std::size_t cases = 0;
    for (auto& s : all_combinations()) {
        built b = build(s);
        SCOPED_TRACE(b.name);
        bool ip = s.l3k == pkt_spec::l3::ipv4 || s.l3k == pkt_spec::l3::ipv6;
        for (std::uint32_t k = 0; k < b.bytes.size(); ++k) {
            // A heap copy of exactly k bytes: any read past it is caught by ASan.
            std::unique_ptr<std::uint8_t[]> cut(new std::uint8_t[k]);
            std::copy(b.bytes.begin(), b.bytes.begin() + k, cut.get());
            parsed r = parse(cut.get(), k);
            ++cases;
            reason want;
            if (k < 14)
                want = reason::truncated_l2;
            else if (k < b.l3_off)
                want = reason::truncated_vlan;
            else if (ip)
                want = reason::truncated_l3; // the IP length says more follows
            else
                want = reason::ok; // ARP / other: L2 is all we parse
            ASSERT_EQ(r.why, want) << "cut at " << k << ": got " << to_string(r.why);
        }
    }
    EXPECT_GT(cases, 10000u);
}

TEST(parse_table, first_segment_cut_at_every_offset) {
    // Multi-segment mbuf: only k bytes are contiguous of a complete packet.
    for (auto& s : all_combinations()) {
        built b = build(s);
        SCOPED_TRACE(b.name);
        auto full = static_cast<std::uint32_t>(b.bytes.size());
        for (std::uint32_t k = 0; k < full; ++k) {
            std::unique_ptr<std::uint8_t[]> cut(new std::uint8_t[k]);
            std::copy(b.bytes.begin(), b.bytes.begin() + k, cut.get());
            parsed r = parse(cut.get(), k, full);
            if (k < std::max(14u, b.hdr_end)) {
                ASSERT_EQ(r.why, reason::headers_not_contiguous) << "cut at " << k;
            } else {
                ASSERT_EQ(r.why, reason::ok) << "cut at " << k << ": " << to_string(r.why);
                check_full(s, b, r);
            }
        }
    }
}

namespace {
built v4(std::uint8_t proto = 17) {
    pkt_spec s;
    s.proto = proto;
    return build(s);
}
parsed p(const std::vector<std::uint8_t>& b) {
    return parse(b.data(), static_cast<std::uint32_t>(b.size()));
}
} // namespace

TEST(parse_malformed, ipv4) {
    auto b = v4();
    b.bytes[14] = 0x65; // version 6 under the IPv4 EtherType
    EXPECT_EQ(p(b.bytes).why, reason::bad_ip_version);
    b = v4();
    b.bytes[14] = 0x44; // IHL 4
    EXPECT_EQ(p(b.bytes).why, reason::bad_ihl);
    b = v4();
    pk::test::put16(b.bytes, 16, 19); // total length < header
    EXPECT_EQ(p(b.bytes).why, reason::bad_ip_length);
    b = v4();
    pk::test::put16(b.bytes, 16, 2000); // total length > frame
    EXPECT_EQ(p(b.bytes).why, reason::truncated_l3);
    b = v4();
    pk::test::put16(b.bytes, 16, 20 + 4); // IP payload too short for UDP
    EXPECT_EQ(p(b.bytes).why, reason::truncated_l4);
    EXPECT_EQ(p(b.bytes).l4, l4_type::udp);
}

TEST(parse_malformed, ipv4_options) {
    pkt_spec s;
    s.ip_opt_len = 8;
    auto b = build(s);
    ASSERT_TRUE(p(b.bytes).ok());
    b.bytes[14 + 20 + 1] = 0; // RR length byte... first byte is a NOP; set option at 20
    b.bytes[14 + 20] = 7;
    b.bytes[14 + 21] = 1; // length 1 < 2
    EXPECT_EQ(p(b.bytes).why, reason::bad_ip_option);
    b.bytes[14 + 21] = 9; // overruns the 8 option bytes
    EXPECT_EQ(p(b.bytes).why, reason::bad_ip_option);
    b.bytes[14 + 20 + 7] = 7; // option type as the last byte: no room for its length
    b.bytes[14 + 20] = 1;
    for (int i = 1; i < 7; ++i)
        b.bytes[14 + 20 + i] = 1;
    EXPECT_EQ(p(b.bytes).why, reason::bad_ip_option);
    b.bytes[14 + 20] = 0; // EOL first: the rest is ignored
    EXPECT_TRUE(p(b.bytes).ok());
}

TEST(parse_malformed, l4) {
    auto b = v4(17);
    pk::test::put16(b.bytes, 34 + 4, 7); // UDP length < 8
    EXPECT_EQ(p(b.bytes).why, reason::bad_udp_length);
    pk::test::put16(b.bytes, 34 + 4, 500); // longer than the IP payload
    EXPECT_EQ(p(b.bytes).why, reason::bad_udp_length);
    b = v4(6);
    b.bytes[34 + 12] = 0x40; // data offset 4
    EXPECT_EQ(p(b.bytes).why, reason::bad_tcp_offset);
    b.bytes[34 + 12] = 0xf0; // 60 bytes: past the IP payload
    EXPECT_EQ(p(b.bytes).why, reason::truncated_l4);
    b = v4(1);
    pk::test::put16(b.bytes, 16, 20 + 7);
    EXPECT_EQ(p(b.bytes).why, reason::truncated_l4);
}

TEST(parse_malformed, vlans_and_l2) {
    pkt_spec s;
    s.vlans = {1, 2};
    auto b = build(s);
    // A third tag.
    b.bytes.insert(b.bytes.begin() + 22, {0x81, 0x00, 0x00, 0x03});
    pk::test::put16(b.bytes, 20, 0x8100);
    EXPECT_EQ(p(b.bytes).why, reason::too_many_vlans);
    EXPECT_EQ(parse(nullptr, 0).why, reason::truncated_l2);
    EXPECT_EQ(parse(nullptr, 100).why, reason::truncated_l2); // null data is never read
}

TEST(parse_malformed, ipv6_extensions) {
    pkt_spec s;
    s.l3k = pkt_spec::l3::ipv6;
    s.v6_ext = {60, 0}; // hop-by-hop after dst-opts
    EXPECT_EQ(p(build(s).bytes).why, reason::bad_ipv6_ext);
    s.v6_ext.assign(max_ipv6_ext + 1, 60);
    EXPECT_EQ(p(build(s).bytes).why, reason::too_many_ipv6_ext);
    s.v6_ext.assign(max_ipv6_ext, 60);
    EXPECT_TRUE(p(build(s).bytes).ok());
    s.v6_ext = {43};
    auto b = build(s);
    b.bytes[14 + 40 + 1] = 200; // routing header claims 1608 bytes
    EXPECT_EQ(p(b.bytes).why, reason::truncated_ipv6_ext);
    b = build(s);
    b.bytes[14] = 0x40; // version 4 under the IPv6 EtherType
    EXPECT_EQ(p(b.bytes).why, reason::bad_ip_version);
    b = build(s);
    pk::test::put16(b.bytes, 18, 1); // payload length cuts the ext header
    EXPECT_EQ(p(b.bytes).why, reason::truncated_ipv6_ext);
}

TEST(parse_padding, ethernet_padding_is_not_payload) {
    pkt_spec s;
    s.payload = 0;
    s.pad_to = 60;
    auto b = build(s);
    ASSERT_EQ(b.bytes.size(), 60u);
    auto r = p(b.bytes);
    ASSERT_TRUE(r.ok()) << to_string(r.why);
    EXPECT_EQ(r.payload_len, 0);
    EXPECT_EQ(r.ip_payload_len, 8);
}

TEST(parse_reason, names_are_unique_and_known) {
    std::set<std::string> names;
    for (unsigned i = 0; i < reason_count; ++i) {
        std::string n = to_string(static_cast<reason>(i));
        EXPECT_NE(n, "unknown") << i;
        names.insert(n);
    }
    EXPECT_EQ(names.size(), reason_count);
    EXPECT_STREQ(to_string(static_cast<reason>(reason_count)), "unknown");
    EXPECT_STREQ(to_string(reason::bad_ihl), "bad_ihl");
}
