#include "flow/balancer.hh"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "base/clock.hh"
#include "base/log.hh"

namespace pk::flow {
namespace {

constexpr std::uint64_t never = UINT64_MAX;

/// max / mean × 1000 of `v` (0 when empty).
std::uint64_t ratio_milli(const std::uint64_t* v, unsigned n) noexcept {
    std::uint64_t sum = 0, hi = 0;
    for (unsigned i = 0; i < n; ++i) {
        sum += v[i];
        hi = std::max(hi, v[i]);
    }
    if (sum == 0) return 0;
    return static_cast<std::uint64_t>(std::llround(1000.0 * static_cast<double>(hi) * n /
                                                   static_cast<double>(sum)));
}

} // namespace

void balancer::configure(const balancer_config& cfg, unsigned workers, handoff* h) {
    if (cfg.buckets == 0 || (cfg.buckets & (cfg.buckets - 1)) != 0)
        throw std::invalid_argument("balancer: buckets must be a power of two");
    if (workers == 0 || workers > max_workers)
        throw std::invalid_argument("balancer: 1 to 64 workers");
    _cfg = cfg;
    _cfg.hold = std::max(1u, cfg.hold);
    _cfg.max_migrations = std::clamp(cfg.max_migrations, 1u, 65535u);
    _workers = workers;
    _mask = cfg.buckets - 1;
    _h = h;
    _table.resize(cfg.buckets);
    for (std::uint32_t b = 0; b < cfg.buckets; ++b)
        _table[b] = static_cast<std::uint8_t>(b % workers);
    _count.assign(cfg.buckets, 0);
    _slot.assign(cfg.buckets, 0);
    _last.assign(cfg.buckets, 0);
    _rate.assign(cfg.buckets, 0.0);
    _moved_at.assign(cfg.buckets, never);
    _sent_last.assign(workers, 0);
    _settled_base.assign(workers, 0);
    _load.assign(workers, 0.0);
    _static_cnt.assign(workers, 0);
    _moves.assign(_cfg.max_migrations, move{});
    _hold = std::make_unique<rte_mbuf*[]>(std::size_t{_cfg.max_migrations} * _cfg.hold);
}

std::uint32_t balancer::tick(std::uint64_t now, bool rebalance_ok) noexcept {
    std::uint32_t work = 0;
    if (PK_UNLIKELY(_releasing != 0))
        for (unsigned s = 0; s < _moves.size(); ++s)
            if (_moves[s].active && _moves[s].releasing) work += pump(s, true);
    if (_cfg.interval == 0 || now < _next || !rebalance_ok) return work;
    // Drift-free grid; a late tick runs once and resumes on the grid.
    _next = _next == 0 ? now + _cfg.interval
                       : _next + ((now - _next) / _cfg.interval + 1) * _cfg.interval;
    return work + rebalance(now);
}

void balancer::observe(std::uint64_t now) noexcept {
    ++_intervals;
    std::fill(_load.begin(), _load.end(), 0.0);
    std::fill(_static_cnt.begin(), _static_cnt.end(), 0);
    for (std::uint32_t b = 0; b < _cfg.buckets; ++b) {
        const std::uint64_t d = _count[b] - _last[b];
        _last[b] = _count[b];
        _rate[b] = 0.5 * (_rate[b] + static_cast<double>(d)); // half-life: one interval
        _load[owner(b)] += _rate[b];
        _static_cnt[b % _workers] += d;
    }

    // What each worker really got this interval, and since the load first balanced.
    std::uint64_t got[max_workers], since[max_workers], total = 0;
    for (unsigned w = 0; w < _workers; ++w) {
        const std::uint64_t s = _h->sent(w);
        got[w] = s - _sent_last[w];
        _sent_last[w] = s;
        since[w] = s - _settled_base[w];
        total += got[w];
    }
    const std::uint64_t r = ratio_milli(got, _workers);
    _stats.ratio_milli.set(r);
    _stats.static_ratio_milli.set(ratio_milli(_static_cnt.data(), _workers));
    if (total < 64ull * _workers) return; // too few packets to judge a share

    const bool balanced = r <= static_cast<std::uint64_t>(std::llround(_cfg.target * 1000));
    if (_balanced && !balanced) {
        _imbalanced_since = now;
        _stats.imbalances.add();
    } else if (!_balanced && balanced) {
        const auto ns = static_cast<std::uint64_t>(tsc::to_ns(now - _imbalanced_since));
        _stats.converge_ns_last.set(ns);
        _stats.converge_ns_max.max(ns);
    }
    _balanced = balanced;
    if (balanced && !_settled) {
        _settled = true;
        for (unsigned w = 0; w < _workers; ++w)
            _settled_base[w] = _sent_last[w];
    } else if (_settled) {
        _stats.settled_ratio_milli.set(ratio_milli(since, _workers));
    }
}

std::uint32_t balancer::rebalance(std::uint64_t now) noexcept {
    observe(now);
    double total = 0;
    for (double l : _load)
        total += l;
    if (total <= 0) return 0;
    const double mean = total / _workers;
    std::uint64_t elephants = 0;
    for (double r : _rate)
        elephants += r > mean;
    if (elephants > _stats.elephants.load())
        PK_WARN("flow", "%llu bucket(s) carry more than a worker's fair share: reported, not moved",
                static_cast<unsigned long long>(elephants));
    _stats.elephants.set(elephants);
    if (!_cfg.rebalance) return 0;

    auto hi_lo = [&](unsigned& hi, unsigned& lo) {
        hi = lo = 0;
        for (unsigned w = 1; w < _workers; ++w) {
            if (_load[w] > _load[hi]) hi = w;
            if (_load[w] < _load[lo]) lo = w;
        }
    };
    unsigned hi, lo;
    hi_lo(hi, lo);
    // The band: `trigger`, or wider when the rates are too few packets to tell an
    // imbalance from counting noise — a worker's smoothed load varies by about
    // sqrt(mean / 3) packets (Poisson counts through the EWMA): three of those.
    const double band = std::max(_cfg.trigger - 1.0, 3.0 * std::sqrt(mean / 3.0) / mean);
    if (_load[hi] <= mean * (1.0 + band)) return 0; // inside the band: leave it
    const double aim = mean * (1.0 + band / 2); // stop well inside it

    std::uint32_t started = 0;
    while (started < _cfg.max_moves && _active < _cfg.max_migrations && _load[hi] > aim) {
        const double gap = _load[hi] - _load[lo];
        std::uint32_t best = UINT32_MAX;
        double best_err = 0;
        for (std::uint32_t b = 0; b < _cfg.buckets; ++b) {
            const double r = _rate[b];
            if (_table[b] != hi || r <= 0 || r >= gap || r > mean) continue; // held: bit set
            if (_moved_at[b] != never && _intervals - _moved_at[b] < _cfg.cooldown) continue;
            const double err = std::fabs(r - gap / 2);
            if (best == UINT32_MAX || err < best_err) {
                best = b;
                best_err = err;
            }
        }
        if (best == UINT32_MAX) break; // nothing movable lowers the max
        const double r = _rate[best];
        if (!begin(best, lo, now)) break;
        _load[hi] -= r;
        _load[lo] += r;
        ++started;
        hi_lo(hi, lo);
    }
    if (started) _stats.rebalances.add();
    return started;
}

bool balancer::begin(std::uint32_t b, unsigned to, std::uint64_t now) noexcept {
    unsigned s = 0;
    while (s < _moves.size() && _moves[s].active)
        ++s;
    if (s == _moves.size()) return false;
    move& mv = _moves[s];
    mv.bucket = b;
    mv.from = static_cast<std::uint8_t>(owner(b));
    mv.to = static_cast<std::uint8_t>(to);
    mv.active = true;
    mv.releasing = false;
    mv.started = now;
    mv.head = mv.n = 0;
    ++mv.gen;
    ++_active;
    _slot[b] = static_cast<std::uint16_t>(s);
    _table[b] = static_cast<std::uint8_t>(to | held_bit);
    _moved_at[b] = _intervals;
    const std::uint64_t token = s | (std::uint64_t{mv.gen} << 16);
    switch (_h->request_drain(mv.from, _h->sent(mv.from), token)) {
    case handoff::drain::done: release(s, true); break;
    case handoff::drain::refused: release(s, false); break;
    case handoff::drain::pending: break;
    }
    _stats.in_flight.set(_active - _releasing);
    return true;
}

void balancer::hold(std::uint32_t b, rte_mbuf* m) noexcept {
    const unsigned s = _slot[b];
    move& mv = _moves[s];
    if (PK_UNLIKELY(mv.n == _cfg.hold)) {
        if (!mv.releasing) {
            // The old worker is too slow to drain: cancel the move (its packets go back
            // to it in order, then this one), rather than drop or wait.
            release(s, false, false);
        }
        pump(s, false); // make room; the move stays open: m goes in behind
        if (mv.n == _cfg.hold) // the target refuses everything: the oldest go on anyway
            pump(s, false, true, 64);
    }
    rte_mbuf** ring = held_of(s);
    ring[(mv.head + mv.n) % _cfg.hold] = m;
    ++mv.n;
    _stats.held.add(1);
    _stats.held_total.add(1);
    if (mv.releasing) pump(s, true);
}

void balancer::drained(std::uint64_t token, std::uint64_t now) noexcept {
    const unsigned s = static_cast<unsigned>(token & 0xffff);
    if (s >= _moves.size()) return;
    move& mv = _moves[s];
    if (!mv.active || mv.releasing || mv.gen != static_cast<std::uint32_t>(token >> 16))
        return; // cancelled meanwhile
    const auto ns = static_cast<std::uint64_t>(tsc::to_ns(now - mv.started));
    _stats.hold_ns_sum.add(ns);
    _stats.hold_ns_max.max(ns);
    release(s, true);
}

void balancer::release(unsigned s, bool to_new, bool now) noexcept {
    move& mv = _moves[s];
    mv.releasing = true;
    mv.to_new = to_new;
    mv.dest = to_new ? mv.to : mv.from;
    ++mv.gen; // a late answer for this slot is ignored
    ++_releasing;
    _stats.in_flight.set(_active - _releasing);
    // The table shows the destination from now on (for the load view); the held bit
    // stays until the hold is empty, so new packets queue behind the held ones.
    _table[mv.bucket] = static_cast<std::uint8_t>(mv.dest | held_bit);
    if (now) pump(s, true);
}

std::uint32_t balancer::pump(unsigned s, bool complete, bool force, std::uint32_t max) noexcept {
    move& mv = _moves[s];
    rte_mbuf** ring = held_of(s);
    std::uint32_t moved = 0;
    while (mv.n && moved < max) {
        const std::uint32_t run =
            std::min({mv.n, _cfg.hold - mv.head, 64u, max - moved}); // contiguous
        const std::uint16_t k =
            _h->deliver(mv.dest, ring + mv.head, static_cast<std::uint16_t>(run), force);
        mv.head = (mv.head + k) % _cfg.hold;
        mv.n -= k;
        moved += k;
        if (k < run) break; // the queue is full: again next round
    }
    if (moved) _stats.held.set(_stats.held.load() - moved);
    if (mv.n == 0 && complete) {
        _table[mv.bucket] = mv.dest;
        mv.active = mv.releasing = false;
        mv.head = 0;
        --_active;
        --_releasing;
        _stats.in_flight.set(_active - _releasing);
        (mv.to_new ? _stats.moves : _stats.aborted).add();
    }
    return moved;
}

void balancer::abort_all() noexcept {
    for (unsigned s = 0; s < _moves.size(); ++s) {
        move& mv = _moves[s];
        if (!mv.active) continue;
        if (!mv.releasing) {
            mv.releasing = true; // back to the old worker, forced below
            mv.to_new = false;
            mv.dest = mv.from;
            ++mv.gen;
            ++_releasing;
        }
        pump(s, true, true);
    }
}

} // namespace pk::flow
