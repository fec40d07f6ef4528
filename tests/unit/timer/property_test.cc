// Property test: the wheel against a reference model (std::multimap of deadlines) over
// >= 1M random schedule / cancel / advance steps with clock jumps of every size — below
// a tick, one tick, one slot, across each level boundary, beyond the wheel's range.
// Checked after every advance: exactly the model's due timers fire (none early, none
// more than one tick late), cancelled ones never, each once, in deadline order.
// PK_TIMER_PROPERTY_STEPS overrides the number of steps (e.g. smaller under sanitizers).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "timer/wheel.hh"

namespace {

using pk::timer::expired;
using pk::timer::handle;
using pk::timer::wheel;

std::uint64_t steps_from_env(std::uint64_t dflt) {
    if (const char* s = std::getenv("PK_TIMER_PROPERTY_STEPS"))
        return std::strtoull(s, nullptr, 10);
    return dflt;
}

struct model_entry {
    std::int64_t rel; // deadline - origin
    std::uint32_t task;
};

class property_run {
public:
    property_run(std::uint64_t seed, std::uint64_t tick, std::uint64_t origin, std::uint32_t cap)
        : _rng(seed), _tick(tick), _origin(origin), _cap(cap),
          _w(pk::timer::wheel_config{cap, tick, origin}) {}

    // A span (in time units) drawn from every magnitude the wheel distinguishes.
    std::uint64_t span(bool for_advance) {
        const unsigned c = static_cast<unsigned>(_rng() % 100);
        const std::uint64_t l = _tick;
        auto around = [&](std::uint64_t x) { // x - 1, x, x + 1 units (or ± a tick)
            switch (_rng() % 4) {
            case 0:
                return x - 1;
            case 1:
                return x;
            case 2:
                return x + 1;
            default:
                return x + _rng() % l;
            }
        };
        if (c < 20) return _rng() % l;         // sub-tick
        if (c < 30) return around(l);          // one tick
        if (c < 45) return around(64 * l);     // one level-0 revolution
        if (c < 60) return _rng() % (256 * l); // a few slots
        if (c < 90) { // a level boundary: 64^L ticks, L = 2..6 (7 = the range, below)
            const unsigned lv = 2 + static_cast<unsigned>(_rng() % 5);
            const std::uint64_t ticks = 1ull << (6 * lv);
            // multiples too (fewer for advances: the clock must stay far below 2^63)
            const std::uint64_t k = _rng() % 3 == 0 ? 1 + _rng() % (for_advance ? 3 : 63) : 1;
            return around(k * ticks * l);
        }
        if (c < 98 || (for_advance && _rng() % 4 != 0)) return _rng() % (4096 * l);
        // beyond the range (2^42 ticks): the overflow list
        return (1ull << 42) * l * (1 + _rng() % 3) + _rng() % (1ull << 20);
    }

    void schedule() {
        if (_model.size() >= _cap) return;
        std::int64_t rel;
        if (_rng() % 20 == 0) { // already past (possibly before the origin)
            rel = _now - static_cast<std::int64_t>(_rng() % (1000 * _tick));
        } else {
            rel = _now + static_cast<std::int64_t>(span(false));
        }
        const std::uint32_t task = _next_task++;
        const handle h = _w.schedule(_origin + static_cast<std::uint64_t>(rel), task);
        ASSERT_TRUE(h.valid());
        ASSERT_EQ(_model.count(h.value), 0u);
        _model.emplace(h.value, model_entry{rel, task});
        _by_deadline.emplace(rel, h.value);
        _handles.push_back(h);
    }

    void forget(std::uint64_t hv) {
        const auto it = _model.find(hv);
        auto range = _by_deadline.equal_range(it->second.rel);
        for (auto j = range.first; j != range.second; ++j)
            if (j->second == hv) {
                _by_deadline.erase(j);
                break;
            }
        _model.erase(it);
        _dead.push_back(handle{hv});
    }

    void cancel() {
        if (!_dead.empty() && _rng() % 8 == 0) { // stale handle: fired or cancelled
            ASSERT_FALSE(_w.cancel(_dead[_rng() % _dead.size()]));
            return;
        }
        while (!_handles.empty()) {
            const std::size_t i = _rng() % _handles.size();
            const handle h = _handles[i];
            _handles[i] = _handles.back();
            _handles.pop_back();
            if (_model.count(h.value) == 0) continue; // already fired
            ASSERT_TRUE(_w.cancel(h));
            forget(h.value);
            return;
        }
    }

    void check_fired(const expired& e, std::int64_t& last_rel) {
        const auto it = _model.find(e.h.value);
        ASSERT_NE(it, _model.end()) << "fired a cancelled, unknown or already fired timer";
        const std::int64_t rel = it->second.rel;
        ASSERT_EQ(e.deadline, _origin + static_cast<std::uint64_t>(rel));
        ASSERT_EQ(e.task_id, it->second.task);
        ASSERT_LE(rel, _now) << "fired early";
        ASSERT_GE(rel, last_rel) << "out of deadline order";
        last_rel = rel;
        forget(e.h.value);
    }

    void advance() {
        _now += static_cast<std::int64_t>(span(true));
        const std::uint64_t now = _origin + static_cast<std::uint64_t>(_now);
        std::int64_t last_rel = std::numeric_limits<std::int64_t>::min();
        if (_rng() % 8 == 0) {
            // poll, with callbacks that cancel other live timers and re-arm
            _w.poll(now, [&](const expired& e) {
                check_fired(e, last_rel);
                if (!_handles.empty() && _rng() % 3 == 0) {
                    const handle victim = _handles[_rng() % _handles.size()];
                    const bool live = _model.count(victim.value) != 0;
                    EXPECT_EQ(_w.cancel(victim), live);
                    if (live) forget(victim.value);
                }
                if (_rng() % 3 == 0 && _model.size() < _cap) {
                    const std::int64_t rel = _now + 1 + static_cast<std::int64_t>(span(false));
                    const handle h =
                        _w.schedule(_origin + static_cast<std::uint64_t>(rel), _next_task);
                    EXPECT_TRUE(h.valid());
                    _model.emplace(h.value, model_entry{rel, _next_task++});
                    _by_deadline.emplace(rel, h.value);
                    _handles.push_back(h);
                }
            });
        } else {
            const std::size_t max = 1 + _rng() % 64;
            expired buf[64];
            for (;;) {
                const std::size_t n = _w.select(now, buf, max);
                for (std::size_t i = 0; i < n; ++i) {
                    check_fired(buf[i], last_rel);
                    if (::testing::Test::HasFatalFailure()) return;
                }
                if (n < max) break;
            }
        }
        // Nothing left that is a whole tick overdue.
        if (!_by_deadline.empty()) {
            const std::int64_t d = _by_deadline.begin()->first;
            const std::int64_t due = d <= 0 ? 0
                                            : (d + static_cast<std::int64_t>(_tick) - 1) /
                                                  static_cast<std::int64_t>(_tick) *
                                                  static_cast<std::int64_t>(_tick);
            ASSERT_GT(due, _now) << "a timer is more than one tick late (deadline rel " << d
                                 << ", now rel " << _now << ")";
        }
        ASSERT_EQ(_w.pending(), _model.size());
        ++_advances;
    }

    void run(std::uint64_t steps) {
        for (std::uint64_t s = 0; s < steps; ++s) {
            const unsigned op = static_cast<unsigned>(_rng() % 100);
            if (op < 45)
                schedule();
            else if (op < 62)
                cancel();
            else
                advance();
            if (::testing::Test::HasFatalFailure()) {
                ADD_FAILURE() << "at step " << s;
                return;
            }
            if (_dead.size() > 4096) _dead.erase(_dead.begin(), _dead.begin() + 2048);
            if (_handles.size() > 4 * _cap) { // drop handles of fired timers
                std::vector<handle> live;
                for (handle h : _handles)
                    if (_model.count(h.value)) live.push_back(h);
                _handles.swap(live);
            }
        }
        // Drain everything at the end: every remaining timer fires, up to the latest
        // deadline (one in the overflow list may lie 2^44 ticks ahead, beyond any fixed
        // jump: with fewer steps the clock had not passed it).
        if (!_by_deadline.empty())
            _now = std::max(_now, _by_deadline.rbegin()->first) + static_cast<std::int64_t>(_tick);
        std::int64_t last_rel = std::numeric_limits<std::int64_t>::min();
        expired buf[64];
        std::size_t n;
        while ((n = _w.select(_origin + static_cast<std::uint64_t>(_now), buf, 64)) > 0)
            for (std::size_t i = 0; i < n; ++i)
                check_fired(buf[i], last_rel);
        EXPECT_TRUE(_model.empty());
        EXPECT_EQ(_w.pending(), 0u);
        EXPECT_GT(_advances, steps / 4);
    }

private:
    std::mt19937_64 _rng;
    std::uint64_t _tick;
    std::uint64_t _origin;
    std::uint32_t _cap;
    wheel _w;
    std::int64_t _now = 0; // relative to origin
    std::uint32_t _next_task = 0;
    std::unordered_map<std::uint64_t, model_entry> _model; // by handle value
    std::multimap<std::int64_t, std::uint64_t> _by_deadline;
    std::vector<handle> _handles; // may hold handles of fired timers
    std::vector<handle> _dead;
    std::uint64_t _advances = 0;
};

TEST(TimerProperty, MatchesMultimapModelOverAMillionSteps) {
    property_run r(0x5eed, 7, 0, 4096); // tick not a power of two: exercises the divider
    r.run(steps_from_env(1'000'000));
}

TEST(TimerProperty, MatchesModelWithTheClockWrappingPast2To64) {
    property_run r(42, 1000, std::numeric_limits<std::uint64_t>::max() - 123'456'789, 512);
    r.run(steps_from_env(1'000'000) / 5);
}

TEST(TimerProperty, MatchesModelWithUnitTick) {
    property_run r(7, 1, 1ull << 40, 256);
    r.run(steps_from_env(1'000'000) / 5);
}

} // namespace
