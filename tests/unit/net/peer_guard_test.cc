// peer_guard: a fault inside a guarded burst is contained (the burst reports it, the
// process lives, nothing is counted twice or lost), a fault anywhere else still kills,
// and handlers installed before ours still see the faults that are not ours.
// The driver tearing memory down under a burst is played by RX/TX callbacks on a
// net_ring port: ethdev runs them inside rte_eth_rx_burst / rte_eth_tx_burst, after
// the driver filled the burst (RX) or before it takes it (TX) — where memif faults.
#include <csignal>
#include <cstdint>
#include <functional>
#include <thread>

#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/peer_guard.hh"
#include "net/port.hh"

using namespace pk::net;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

// A page that was mapped and is not any more: what memif's regions are after the unmap.
volatile char* unmapped_page() {
    const long pg = ::sysconf(_SC_PAGESIZE);
    void* p = ::mmap(nullptr, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ::munmap(p, pg);
    return static_cast<volatile char*>(p);
}

void touch_unmapped(void*) {
    (void)*unmapped_page();
}
// A store through a null base plus an offset (memif's freed region table: region->addr is
// gone, the offset is not). Not nullptr itself, which UBSan reports before it faults.
void write_near_null(void*) {
    volatile std::uintptr_t at = 0x40; // opaque: the compiler sees no fixed address
    *reinterpret_cast<volatile int*>(at) = 1;
}
void touch_truncated(void* addr) {
    (void)*static_cast<volatile char*>(addr);
}
void fine(void* arg) {
    ++*static_cast<int*>(arg);
}

std::uint16_t fault_in_rx(std::uint16_t, std::uint16_t, rte_mbuf**, std::uint16_t n, std::uint16_t,
                          void*) {
    touch_unmapped(nullptr);
    return n;
}

std::unique_ptr<port> ring_port(const char* dev) {
    port_config cfg;
    cfg.device = dev;
    cfg.rx_desc = cfg.tx_desc = 256;
    auto p = port::open(cfg);
    if (!p || !(*p)->start()) return nullptr;
    return std::move(*p);
}

void send(port& p, unsigned n) {
    tx_buffer tx(p.id(), 0, 32);
    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = rte_pktmbuf_alloc(p.mempool());
        ASSERT_NE(m, nullptr);
        rte_pktmbuf_append(m, 64);
        tx.send(m);
    }
    tx.flush();
    ASSERT_EQ(tx.counters().sent, n);
}

} // namespace

TEST(peer_guard, only_memif_needs_it) {
    EXPECT_TRUE(peer_guard::enabled_for("net_memif"));
    EXPECT_FALSE(peer_guard::enabled_for("net_ring"));
    EXPECT_FALSE(peer_guard::enabled_for("net_af_xdp"));
    EXPECT_FALSE(peer_guard::enabled_for(nullptr));
    auto p = ring_port("net_ring_pg0");
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->peer_memory());
    EXPECT_FALSE(p->rxq(0).guarded());
    EXPECT_FALSE(tx_buffer(p->id(), 0).guarded());
}

TEST(peer_guard, contains_faults_inside_a_guarded_call_again_and_again) {
    peer_guard::install();
    const auto before = peer_guard::faults();
    for (int i = 0; i < 100; ++i) { // the signal must not stay blocked after a jump back
        EXPECT_FALSE(peer_guard::run(&touch_unmapped, nullptr));
        EXPECT_FALSE(peer_guard::run(&write_near_null, nullptr)); // memif's freed region table
    }
    EXPECT_EQ(peer_guard::faults() - before, 200u);
    int calls = 0;
    EXPECT_TRUE(peer_guard::run(&fine, &calls));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(peer_guard::faults() - before, 200u);
}

TEST(peer_guard, contains_sigbus_from_a_peer_truncating_shared_memory) {
    peer_guard::install();
    const long pg = ::sysconf(_SC_PAGESIZE);
    int fd = ::memfd_create("pk-peer-guard", 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, pg), 0);
    void* m = ::mmap(nullptr, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(m, MAP_FAILED);
    ASSERT_EQ(::ftruncate(fd, 0), 0); // the peer shrinks the file under our mapping
    const auto before = peer_guard::faults();
    EXPECT_FALSE(peer_guard::run(&touch_truncated, m));
    EXPECT_EQ(peer_guard::faults() - before, 1u);
    ::munmap(m, pg);
    ::close(fd);
}

TEST(peer_guard, other_threads_are_not_guarded_by_this_one) {
    peer_guard::install();
    // Thread A faults under its guard while thread B runs guarded code that does not.
    std::atomic<int> ok{0};
    std::thread a([&] {
        for (int i = 0; i < 50; ++i)
            if (!peer_guard::run(&touch_unmapped, nullptr)) ++ok;
    });
    std::thread b([&] {
        int calls = 0;
        for (int i = 0; i < 50; ++i)
            if (peer_guard::run(&fine, &calls)) ++ok;
    });
    a.join();
    b.join();
    EXPECT_EQ(ok.load(), 100);
}

TEST(peer_guard_death, a_fault_outside_a_guard_still_kills) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            peer_guard::install();
            touch_unmapped(nullptr);
        },
        // killed by SIGSEGV — or, under AddressSanitizer, its SEGV report, then exit 1
        // (or SIGABRT with abort_on_error=1, as make sanitize runs it)
        [](int st) {
            if (!WIFSIGNALED(st)) return sanitized && WEXITSTATUS(st) != 0;
            return WTERMSIG(st) == SIGSEGV || (sanitized && WTERMSIG(st) == SIGABRT);
        },
        "");
}

namespace {
volatile std::sig_atomic_t g_theirs = 0;
void their_handler(int) {
    g_theirs = 1;
    ::_exit(42);
}
} // namespace

TEST(peer_guard_death, faults_that_are_not_ours_reach_the_previous_handler) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            std::signal(SIGSEGV, &their_handler); // e.g. a crash reporter, ASan
            peer_guard::install();
            EXPECT_FALSE(peer_guard::run(&touch_unmapped, nullptr)); // ours: contained
            touch_unmapped(nullptr);                                 // theirs
        },
        testing::ExitedWithCode(42), "");
}

TEST(peer_guard, rx_burst_that_faults_frees_what_it_received_and_counts_it) {
    auto p = ring_port("net_ring_pg1");
    ASSERT_TRUE(p);
    rte_mempool* mp = p->mempool();
    const unsigned in_use = rte_mempool_in_use_count(mp);
    send(*p, 20);
    const rte_eth_rxtx_callback* cb = rte_eth_add_rx_callback(p->id(), 0, &fault_in_rx, nullptr);
    ASSERT_NE(cb, nullptr) << "ethdev built without RX/TX callbacks";
    rx_queue q(p->id(), 0, true);
    rte_mbuf* pkts[32];
    EXPECT_EQ(q.rx_burst(pkts, 32), 0u);
    EXPECT_EQ(q.faults(), 1u);
    EXPECT_EQ(q.fault_drops(), 20u) << "the 20 packets the driver had stored";
    EXPECT_EQ(rte_mempool_in_use_count(mp), in_use) << "and freed: no mbuf lost";
    rte_eth_remove_rx_callback(p->id(), 0, cb);
    // The queue works again once the driver does.
    send(*p, 5);
    EXPECT_EQ(q.rx_burst(pkts, 32), 5u);
    rte_pktmbuf_free_bulk(pkts, 5);
    EXPECT_EQ(q.faults(), 1u);
}

// The TX callback plays memif's copy loop: it frees the first `freed` packets (as the
// driver frees each one it copied), then touches the unmapped region.
unsigned g_tx_freed = 0;
std::uint16_t free_then_fault(std::uint16_t, std::uint16_t, rte_mbuf** pkts, std::uint16_t n,
                              void*) {
    for (unsigned i = 0; i < g_tx_freed && i < n; ++i)
        rte_pktmbuf_free(pkts[i]);
    touch_unmapped(nullptr);
    return n;
}

// Runs on an EAL lcore (the mempool's per-lcore cache is what makes the frees traceable).
int on_lcore(void* fn) {
    (*static_cast<std::function<void()>*>(fn))();
    return 0;
}
void run_on_worker(std::function<void()> fn) {
    unsigned lc = rte_get_next_lcore(-1, 1, 0);
    ASSERT_LT(lc, RTE_MAX_LCORE) << "the test main starts EAL with a worker lcore";
    ASSERT_EQ(rte_eal_remote_launch(&on_lcore, &fn, lc), 0);
    rte_eal_wait_lcore(lc);
}

TEST(peer_guard, tx_burst_that_faults_frees_what_the_driver_did_not) {
    auto p = ring_port("net_ring_pg2");
    ASSERT_TRUE(p);
    rte_mempool* mp = p->mempool();
    const rte_eth_rxtx_callback* cb =
        rte_eth_add_tx_callback(p->id(), 0, &free_then_fault, nullptr);
    ASSERT_NE(cb, nullptr);
    for (unsigned freed : {0u, 1u, 3u, 7u}) {
        g_tx_freed = freed;
        run_on_worker([&] {
            const unsigned in_use = rte_mempool_in_use_count(mp);
            tx_buffer tx(p->id(), 0, 8);
            tx.set_guarded(true);
            for (int i = 0; i < 8; ++i) {
                rte_mbuf* m = rte_pktmbuf_alloc(mp);
                ASSERT_NE(m, nullptr);
                tx.send(m); // the 8th flushes
            }
            EXPECT_EQ(tx.counters().faults, 1u);
            EXPECT_EQ(tx.counters().sent, 0u);
            EXPECT_EQ(tx.counters().dropped[unsigned(tx_drop::peer_gone)], 8u);
            EXPECT_EQ(tx.counters().fault_leaks, 0u);
            EXPECT_EQ(tx.counters().sent + tx.counters().total_dropped(), 8u);
            EXPECT_EQ(rte_mempool_in_use_count(mp), in_use)
                << freed << " freed by the driver: the rest freed by us, none twice";
        });
    }
    // Shared packets (refcnt 2: a subscriber's reference) cannot be traced: counted as
    // lost, never freed by us — the other holder's reference stays valid.
    g_tx_freed = 0;
    run_on_worker([&] {
        tx_buffer tx(p->id(), 0, 4);
        tx.set_guarded(true);
        rte_mbuf* held[4];
        for (auto& m : held) {
            m = rte_pktmbuf_alloc(mp);
            ASSERT_NE(m, nullptr);
            rte_mbuf_refcnt_update(m, 1);
            tx.send(m);
        }
        EXPECT_EQ(tx.counters().faults, 1u);
        EXPECT_EQ(tx.counters().fault_leaks, 4u);
        for (auto* m : held)
            EXPECT_EQ(rte_mbuf_refcnt_read(m), 2u) << "not freed by us";
        for (auto* m : held) {
            rte_pktmbuf_free(m);
            rte_pktmbuf_free(m);
        }
    });
    EXPECT_STREQ(to_string(tx_drop::peer_gone), "tx_peer_gone");
    rte_eth_remove_tx_callback(p->id(), 0, cb);
}
