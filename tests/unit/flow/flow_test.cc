// Flow keys and software Toeplitz: the Microsoft RSS verification vectors (default
// 40-byte key, IPv4 and IPv6, with and without ports), agreement with DPDK's
// rte_softrss on random input, and symmetric variants. No EAL needed.
#include <random>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_thash.h>

#include "../net/pkt_builder.hh"
#include "flow/key.hh"
#include "flow/toeplitz.hh"

using namespace pk::flow;

namespace {

struct v4_vec {
    const char *dst, *src;
    std::uint16_t dport, sport;
    std::uint32_t l3, l3l4;
};
// Microsoft "Verifying the RSS Hash Calculation" (also Intel 82599 datasheet 7.1.2.8.3).
const v4_vec v4_vectors[] = {
    {"161.142.100.80", "66.9.149.187", 1766, 2794, 0x323e8fc2, 0x51ccc178},
    {"65.69.140.83", "199.92.111.2", 4739, 14230, 0xd718262a, 0xc626b0ea},
    {"12.22.207.184", "24.19.198.95", 38024, 12898, 0xd2d0a5de, 0x5c2b394a},
    {"209.142.163.6", "38.27.205.30", 2217, 48228, 0x82989176, 0xafc7327f},
    {"202.188.127.2", "153.39.163.191", 1303, 44251, 0x5d1809c5, 0x10e828a2},
};
const v4_vec v6_vectors[] = {
    {"3ffe:2501:200:3::1", "3ffe:2501:200:1fff::7", 1766, 2794, 0x2cc18cd5, 0x40207d3d},
    {"ff02::1", "3ffe:501:8::260:97ff:fe40:efab", 4739, 14230, 0x0f0c461c, 0xdde51bbf},
    {"fe80::200:f8ff:fe21:67cf", "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 38024, 44251, 0x4b61e985,
     0x02d1feef},
};

flow_key key_of(const v4_vec& v, bool six) {
    flow_key k;
    k.family = six ? 6 : 4;
    inet_pton(six ? AF_INET6 : AF_INET, v.src, k.src.data());
    inet_pton(six ? AF_INET6 : AF_INET, v.dst, k.dst.data());
    k.src_port = v.sport;
    k.dst_port = v.dport;
    k.proto = 6;
    return k;
}

} // namespace

TEST(toeplitz, microsoft_vectors_ipv4) {
    toeplitz_hasher h;
    for (auto& v : v4_vectors) {
        flow_key k = key_of(v, false);
        EXPECT_EQ(rss_hash(k, h, false), v.l3) << v.src;
        EXPECT_EQ(rss_hash(k, h, true), v.l3l4) << v.src;
        std::uint8_t t[36];
        std::size_t n = k.rss_tuple(t);
        EXPECT_EQ(toeplitz_hash(default_rss_key, {t, n}), v.l3l4) << "reference form";
    }
}

TEST(toeplitz, microsoft_vectors_ipv6) {
    toeplitz_hasher h;
    for (auto& v : v6_vectors) {
        flow_key k = key_of(v, true);
        EXPECT_EQ(rss_hash(k, h, false), v.l3) << v.src;
        EXPECT_EQ(rss_hash(k, h, true), v.l3l4) << v.src;
    }
}

TEST(toeplitz, table_and_reference_agree_with_rte_softrss) {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> byte(0, 255);
    toeplitz_hasher h;
    for (int i = 0; i < 2000; ++i) {
        std::uint8_t in[36];
        std::size_t n = 1 + static_cast<std::size_t>(i % 36);
        for (auto& b : in)
            b = static_cast<std::uint8_t>(byte(rng));
        std::uint32_t ref = toeplitz_hash(default_rss_key, {in, n});
        EXPECT_EQ(h.hash(in, n), ref);
        if (n % 4 == 0) { // rte_softrss takes host-order 32-bit words
            std::uint32_t words[9];
            for (std::size_t w = 0; w < n / 4; ++w)
                words[w] = (std::uint32_t(in[4 * w]) << 24) | (in[4 * w + 1] << 16) |
                           (in[4 * w + 2] << 8) | in[4 * w + 3];
            EXPECT_EQ(rte_softrss(words, static_cast<std::uint32_t>(n / 4), default_rss_key.data()),
                      ref);
        }
    }
}

TEST(toeplitz, symmetric_key_hashes_both_directions_alike) {
    toeplitz_hasher sym(symmetric_rss_key), def;
    int differ = 0;
    for (auto& v : v4_vectors) {
        flow_key k = key_of(v, false);
        EXPECT_EQ(rss_hash(k, sym), rss_hash(k.reversed(), sym));
        differ += rss_hash(k, def) != rss_hash(k.reversed(), def);
    }
    EXPECT_GT(differ, 0) << "the default key is not symmetric";
}

TEST(flow_key, from_parsed_packets) {
    using pk::test::pkt_spec;
    pkt_spec s;
    s.vlans = {0x3064};
    s.proto = 6;
    auto b = pk::test::build(s);
    auto r = pk::net::parse(b.bytes.data(), static_cast<std::uint32_t>(b.bytes.size()));
    flow_key k;
    ASSERT_TRUE(make_key(b.bytes.data(), r, k));
    EXPECT_EQ(k.family, 4);
    EXPECT_EQ(k.vlan, 0x064);
    EXPECT_EQ(k.proto, 6);
    EXPECT_EQ(k.src_port, 1234);
    EXPECT_EQ(k.dst_port, 80);
    EXPECT_EQ(k.src[0], 10);
    EXPECT_EQ(k.dst[3], 2);

    // The reply direction: same symmetric key, different plain key.
    pkt_spec t = s;
    std::swap(t.src4, t.dst4);
    std::swap(t.sport, t.dport);
    auto b2 = pk::test::build(t);
    flow_key k2;
    ASSERT_TRUE(make_key(b2.bytes.data(),
                         pk::net::parse(b2.bytes.data(), std::uint32_t(b2.bytes.size())), k2));
    EXPECT_FALSE(k == k2);
    EXPECT_TRUE(k.symmetric() == k2.symmetric());
    EXPECT_TRUE(k.reversed() == k2);
    EXPECT_EQ(flow_key_hash{}(k.symmetric()), flow_key_hash{}(k2.symmetric()));

    pkt_spec v6;
    v6.l3k = pkt_spec::l3::ipv6;
    v6.v6_ext = {0};
    v6.proto = 17;
    auto b3 = pk::test::build(v6);
    ASSERT_TRUE(make_key(b3.bytes.data(),
                         pk::net::parse(b3.bytes.data(), std::uint32_t(b3.bytes.size())), k));
    EXPECT_EQ(k.family, 6);
    EXPECT_EQ(k.proto, 17);
    EXPECT_EQ(k.src[15], 1);
    EXPECT_EQ(k.dst[15], 2);

    // Fragments hash on addresses only; non-IP gives no key.
    pkt_spec f;
    f.v4_first_fragment = true;
    auto b4 = pk::test::build(f);
    ASSERT_TRUE(make_key(b4.bytes.data(),
                         pk::net::parse(b4.bytes.data(), std::uint32_t(b4.bytes.size())), k));
    EXPECT_EQ(k.src_port, 0);
    pkt_spec arp;
    arp.l3k = pkt_spec::l3::arp;
    auto b5 = pk::test::build(arp);
    EXPECT_FALSE(make_key(b5.bytes.data(),
                          pk::net::parse(b5.bytes.data(), std::uint32_t(b5.bytes.size())), k));
}
