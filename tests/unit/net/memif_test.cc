// memif between two processes: this test (pktkernel's port wrapper, memif server) and
// dpdk-testpmd (memif client) in a child process.
//   1. testpmd in macswap mode: our packets go to testpmd and come back MAC-swapped
//      (traffic both ways, payload intact).
//   2. testpmd is killed: our port sees the link go down and survives.
//   3. testpmd restarts in txonly mode: the link comes back up on the same port and
//      testpmd's own packets arrive; our TX towards it is accepted again.
// testpmd's path comes from $PK_TESTPMD (meson sets it); skipped when absent.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/packet.hh"
#include "net/port.hh"
#include "pkt_builder.hh"

extern char** environ;
using namespace pk::net;
using namespace std::chrono_literals;

namespace {

std::string g_sock = "/tmp/pk-memif-" + std::to_string(::getpid()) + ".sock";

// A testpmd child with stdin on a pipe we hold open (non-interactive testpmd exits
// on EOF), output in a log file.
struct testpmd {
    pid_t pid = -1;
    int stdin_w = -1;
    std::string log;

    bool start(const std::string& mode, int run) {
        const char* bin = std::getenv("PK_TESTPMD");
        if (!bin || !*bin) return false;
        log = "/tmp/pk-memif-testpmd-" + std::to_string(::getpid()) + "-" + std::to_string(run) +
              ".log";
        int p[2];
        if (::pipe(p) != 0) return false;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[0], 0);
        posix_spawn_file_actions_addclose(&fa, p[1]);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        std::string prefix = "--file-prefix=pk-gen-" + std::to_string(::getpid());
        std::string vdev = "--vdev=net_memif0,role=client,socket=" + g_sock;
        std::string fwd = "--forward-mode=" + mode;
        std::vector<std::string> args = {bin,    "--lcores",    "0@0,1@0",   "--no-huge", "-m",
                                         "1024", "--no-pci",    prefix,      vdev,        "--",
                                         fwd,    "--txpkts=64", "--burst=32"};
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        int rc = posix_spawn(&pid, bin, &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(p[0]);
        stdin_w = p[1];
        return rc == 0;
    }
    void kill_hard() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            pid = -1;
        }
        if (stdin_w >= 0) ::close(stdin_w);
        stdin_w = -1;
    }
    ~testpmd() {
        kill_hard();
        // A killed testpmd leaves its EAL runtime directory behind.
        std::error_code ec;
        std::filesystem::remove_all("/var/run/dpdk/pk-gen-" + std::to_string(::getpid()), ec);
    }
};

rte_mbuf* make_mbuf(rte_mempool* mp, const std::vector<std::uint8_t>& bytes) {
    rte_mbuf* m = rte_pktmbuf_alloc(mp);
    if (!m) return nullptr;
    std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(bytes.size())), bytes.data(),
                bytes.size());
    return m;
}

std::size_t drain(rx_queue q, std::vector<std::vector<std::uint8_t>>* keep = nullptr) {
    rte_mbuf* b[32];
    std::size_t total = 0;
    std::uint16_t n;
    while ((n = q.rx_burst(b, 32)) > 0) {
        for (std::uint16_t i = 0; i < n && keep; ++i) {
            const auto* d = rte_pktmbuf_mtod(b[i], const std::uint8_t*);
            keep->emplace_back(d, d + b[i]->data_len);
        }
        rte_pktmbuf_free_bulk(b, n);
        total += n;
    }
    return total;
}

} // namespace

TEST(memif, testpmd_peer_both_ways_and_restart) {
    if (!std::getenv("PK_TESTPMD")) GTEST_SKIP() << "PK_TESTPMD not set";
    ::unlink(g_sock.c_str());
    port_config cfg;
    cfg.device = "net_memif_pk0,role=server,socket=" + g_sock;
    cfg.rx_desc = 1024;
    cfg.tx_desc = 1024;
    auto p = port::open(cfg);
    ASSERT_TRUE(p) << p.err().message;
    port& pt = **p;
    int ups = 0, downs = 0;
    pt.on_link_change([&](port&, const link_status& l) { (l.up ? ups : downs)++; });
    ASSERT_TRUE(pt.start());
    EXPECT_FALSE(pt.link().up) << "no peer yet";

    // 1. macswap: both directions.
    testpmd tp;
    ASSERT_TRUE(tp.start("macswap", 1));
    ASSERT_TRUE(pt.wait_link(true, 60s)) << "testpmd did not connect; see " << tp.log;
    EXPECT_EQ(ups, 1);
    std::this_thread::sleep_for(500ms); // let testpmd start forwarding
    drain(pt.rxq(0));

    std::vector<std::vector<std::uint8_t>> sent;
    for (int i = 0; i < 256; ++i) {
        pk::test::pkt_spec s;
        s.sport = static_cast<std::uint16_t>(i);
        s.payload = 32;
        sent.push_back(pk::test::build(s).bytes);
    }
    std::vector<std::vector<std::uint8_t>> back;
    {
        tx_buffer tx(pt.id(), 0, 32);
        for (auto& b : sent) {
            tx.send(make_mbuf(pt.mempool(), b));
            if (tx.buffered() == 0) drain(pt.rxq(0), &back); // keep rings from filling
        }
        tx.flush();
        EXPECT_EQ(tx.counters().total_dropped(), 0u);
        for (int i = 0; i < 400 && back.size() < sent.size(); ++i) {
            drain(pt.rxq(0), &back);
            std::this_thread::sleep_for(5ms);
        }
    }
    ASSERT_EQ(back.size(), sent.size()) << "testpmd returned only " << back.size();
    for (std::size_t i = 0; i < back.size(); ++i) {
        auto r = parse(back[i].data(), static_cast<std::uint32_t>(back[i].size()));
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r.src_port, i) << "order and content preserved";
        EXPECT_TRUE(std::equal(back[i].begin(), back[i].begin() + 6, sent[i].begin() + 6))
            << "MACs swapped";
        EXPECT_TRUE(std::equal(back[i].begin() + 12, back[i].end(), sent[i].begin() + 12));
    }
    auto st = pt.stats();
    EXPECT_GE(st.ipackets, sent.size());
    EXPECT_GE(st.opackets, sent.size());

    // 2. The peer dies: the link goes down, the port survives.
    tp.kill_hard();
    ASSERT_TRUE(pt.wait_link(false, 20s));
    EXPECT_EQ(downs, 1);
    {
        tx_buffer tx(pt.id(), 0, 8);
        for (int i = 0; i < 8; ++i)
            tx.send(make_mbuf(pt.mempool(), sent[0]));
        tx.flush(); // down link: dropped and counted, never a crash
        EXPECT_EQ(tx.counters().sent + tx.counters().total_dropped(), 8u);
    }

    // 3. The peer restarts (txonly): link up again, its packets arrive.
    testpmd tp2;
    ASSERT_TRUE(tp2.start("txonly", 2));
    ASSERT_TRUE(pt.wait_link(true, 60s)) << "testpmd did not reconnect; see " << tp2.log;
    EXPECT_EQ(ups, 2);
    std::size_t from_peer = 0;
    for (int i = 0; i < 1000 && from_peer < 1000; ++i) {
        from_peer += drain(pt.rxq(0));
        std::this_thread::sleep_for(2ms);
    }
    EXPECT_GE(from_peer, 1000u) << "testpmd txonly traffic";
    {
        tx_buffer tx(pt.id(), 0, 32);
        for (int i = 0; i < 64; ++i) {
            tx.send(make_mbuf(pt.mempool(), sent[std::size_t(i)]));
            drain(pt.rxq(0));
        }
        tx.flush();
        EXPECT_GT(tx.counters().sent, 0u) << "TX works again after the restart";
    }
    tp2.kill_hard();
    drain(pt.rxq(0));
    EXPECT_EQ(pt.link_changes(), 3u);
}
