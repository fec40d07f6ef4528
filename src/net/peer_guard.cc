#include "net/peer_guard.hh"

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>

#include <rte_lcore.h>
#include <rte_mempool.h>

namespace pk::net::peer_guard {
namespace {

// One per lcore thread. `armed` is read by the signal handler on the same thread: a
// volatile sig_atomic_t plus signal fences is all the ordering that needs.
struct lcore_guard {
    sigjmp_buf resume{};
    volatile std::sig_atomic_t armed = 0;
    rte_mbuf** pkts = nullptr;     ///< the burst's array (rx)
    std::uint16_t n = 0;           ///< its size
    std::uint16_t* count = nullptr; ///< where the burst reports its count
};
// constinit: no per-access initialisation check (and initial-exec TLS, meson.build):
// one %fs-relative access per burst.
constinit thread_local lcore_guard t_guard;

std::atomic<std::uint64_t> g_faults{0}; // lock-free: safe to bump in the handler
struct sigaction g_prev_segv{}, g_prev_bus{};
std::once_flag g_once;

// Not ours: behave as if we were never installed.
void chain(int sig, siginfo_t* si, void* uc) {
    const struct sigaction& prev = sig == SIGSEGV ? g_prev_segv : g_prev_bus;
    if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction) {
        prev.sa_sigaction(sig, si, uc);
        return;
    }
    if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler != SIG_DFL &&
        prev.sa_handler != SIG_IGN) {
        prev.sa_handler(sig);
        return;
    }
    // The default action: restore it; a hardware fault re-executes the instruction and
    // now terminates with a core dump. A signal sent with kill() is raised again.
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, nullptr);
    if (si->si_code <= 0) raise(sig);
}

void on_fault(int sig, siginfo_t* si, void* uc) {
    lcore_guard& g = t_guard;
    // si_code > 0: raised by the CPU (not kill/raise/sigqueue) while this thread was
    // inside a guarded burst, i.e. in the driver's code.
    if (g.armed && si->si_code > 0) {
        g.armed = 0;
        g_faults.fetch_add(1, std::memory_order_relaxed);
        siglongjmp(g.resume, 1); // SA_NODEFER: the signal is not left blocked
    }
    chain(sig, si, uc);
}

inline void arm(lcore_guard& g) noexcept {
    g.armed = 1;
    std::atomic_signal_fence(std::memory_order_seq_cst);
}
inline void disarm(lcore_guard& g) noexcept {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    g.armed = 0;
}

} // namespace

bool enabled_for(const char* driver_name) noexcept {
    return driver_name && std::strcmp(driver_name, "net_memif") == 0;
}

void install() {
    std::call_once(g_once, [] {
        struct sigaction sa{};
        sa.sa_sigaction = &on_fault;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigaction(SIGSEGV, &sa, &g_prev_segv);
        sigaction(SIGBUS, &sa, &g_prev_bus);
    });
}

bool needed(std::uint16_t port) {
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port, &info) != 0 || !enabled_for(info.driver_name)) return false;
    install();
    return true;
}

// After a jump back, registers hold what they held at sigsetjmp, so nothing a burst
// needs afterwards lives in a local: it is in the thread's guard, read fresh.

bool rx_burst(std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n,
              std::uint16_t* got) noexcept {
    for (std::uint16_t i = 0; i < n; ++i)
        pkts[i] = nullptr;
    t_guard.pkts = pkts;
    t_guard.n = n;
    t_guard.count = got;
    if (sigsetjmp(t_guard.resume, 0) != 0) {
        lcore_guard& g = t_guard;
        std::uint16_t k = 0; // the driver stores each packet as it completes it
        while (k < g.n && g.pkts[k]) ++k;
        *g.count = k;
        return false;
    }
    arm(t_guard);
    *got = rte_eth_rx_burst(port, queue, pkts, n);
    disarm(t_guard);
    return true;
}

// True when every packet of the burst is a plain mbuf (one segment, direct, refcnt 1)
// of one pool: then the driver's free of each is one put into this lcore's cache of
// that pool, and freed_before_fault can tell how far it got.
bool traceable(rte_mbuf* const* pkts, std::uint16_t n) noexcept {
    if (n == 0) return false;
    rte_mempool* mp = pkts[0]->pool;
    std::uint64_t odd = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        const rte_mbuf* m = pkts[i];
        odd |= (rte_mbuf_refcnt_read(m) ^ 1u) | (m->nb_segs ^ 1u) |
               (m->ol_flags & (RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL)) |
               static_cast<std::uint64_t>(m->pool != mp);
    }
    return odd == 0;
}

// The driver frees packet after packet, in order, as it copies them (memif's copy
// mode: rte_pktmbuf_free after each). For a traceable burst each free is a put into
// this lcore's cache of the pool, the newest at objs[len - 1], and nothing else puts
// into that cache during the burst: the newest entry, if it is one of ours, is the last
// packet the driver freed.
std::uint16_t freed_before_fault(rte_mbuf* const* pkts, std::uint16_t n) noexcept {
    rte_mempool_cache* c = rte_mempool_default_cache(pkts[0]->pool, rte_lcore_id());
    if (!c) return unknown;
    if (c->len == 0) return 0; // nothing put since a flush; ours would be there
    void* newest = c->objs[c->len - 1];
    for (std::uint16_t i = 0; i < n; ++i)
        if (newest == pkts[i]) return static_cast<std::uint16_t>(i + 1);
    return 0; // none of ours went back: the fault came during the first packet
}

bool tx_burst(std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n,
              unsigned retries, std::uint16_t* sent) noexcept {
    t_guard.pkts = pkts;
    t_guard.n = traceable(pkts, n) ? n : 0;
    t_guard.count = sent;
    if (sigsetjmp(t_guard.resume, 0) != 0) {
        lcore_guard& g = t_guard;
        *g.count = g.n ? freed_before_fault(g.pkts, g.n) : unknown;
        return false;
    }
    arm(t_guard);
    std::uint16_t s = rte_eth_tx_burst(port, queue, pkts, n);
    for (unsigned r = 0; s < n && r < retries; ++r)
        s += rte_eth_tx_burst(port, queue, pkts + s, n - s);
    disarm(t_guard);
    *sent = s;
    return true;
}

bool run(void (*fn)(void*), void* arg) noexcept {
    if (sigsetjmp(t_guard.resume, 0) != 0) return false;
    arm(t_guard);
    fn(arg);
    disarm(t_guard);
    return true;
}

std::uint64_t faults() noexcept { return g_faults.load(std::memory_order_relaxed); }

} // namespace pk::net::peer_guard
