// Writes the seed corpus (tests/fuzz/corpus/parse/): one well-formed packet per header
// combination the parser knows, from the unit tests' packet builder. Run once by hand:
//   build/tests/fuzz/pk-gen-parse-corpus tests/fuzz/corpus/parse
#include <cstdio>
#include <fstream>
#include <string>

#include "../unit/net/pkt_builder.hh"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <dir>\n", argv[0]);
        return 2;
    }
    using pk::test::pkt_spec;
    int n = 0;
    auto emit = [&](const pkt_spec& s) {
        auto b = pk::test::build(s);
        std::string name = b.name;
        for (auto& c : name)
            if (c == '/' || c == '+') c = '_';
        std::ofstream(std::string(argv[1]) + "/" + std::to_string(n++) + "_" + name,
                      std::ios::binary)
            .write(reinterpret_cast<const char*>(b.bytes.data()), std::streamsize(b.bytes.size()));
    };
    for (std::vector<std::uint16_t> v : {std::vector<std::uint16_t>{}, {5}, {7, 9}}) {
        for (std::uint8_t proto : {17, 6, 1, 47}) {
            pkt_spec s;
            s.vlans = v;
            s.proto = proto;
            s.ip_opt_len = proto == 6 ? 12 : 0;
            s.tcp_opt_len = proto == 6 ? 8 : 0;
            emit(s);
        }
        for (std::vector<std::uint8_t> e : {std::vector<std::uint8_t>{}, {0, 43, 60}, {51}, {44}})
            for (std::uint8_t proto : {17, 6, 58, 59}) {
                pkt_spec s;
                s.vlans = v;
                s.l3k = pkt_spec::l3::ipv6;
                s.v6_ext = e;
                s.proto = proto;
                emit(s);
            }
        pkt_spec f;
        f.vlans = v;
        f.later_fragment = true;
        emit(f);
        pkt_spec a;
        a.vlans = v;
        a.l3k = pkt_spec::l3::arp;
        emit(a);
    }
    std::printf("wrote %d seeds\n", n);
    return 0;
}
