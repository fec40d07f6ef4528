// Priority lanes: N backends behind one dequeue, strict or weighted.
//
// Use it where one consumer serves several classes of work (control before data, the
// reactor's IRQ and TASKS sources). Lane 0 is the highest priority.
//   strict   — a lane is served only when every higher lane is empty (starvation of
//              low lanes is the point).
//   weighted — deficit round-robin: per visit lane i may yield up to weight[i] items;
//              over time lane i gets weight[i]/sum(weights) of the dequeues when all
//              lanes are busy, and nothing is starved. One pop is one sweep over the
//              lanes (so a higher lane's packet waits for at most one quantum of each
//              lower lane), except that a lane that has been alone with packets for 64
//              pops fills the burst.
// Per-lane FIFO order is kept. Pushing goes to a chosen lane (lane(i) gives the
// backend itself, e.g. a link<T> whose producer is another core).
//
// Threading contract: pop_* from one consumer; pushes follow the lane backend's rules.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <vector>

#include "queue/backend.hh"

namespace pk::queue {

enum class lane_discipline { strict, weighted };

template <backend Q>
class priority_lanes {
public:
    using value_type = typename Q::value_type;

    /// One lane per weight (weights are ignored by `strict` but set the lane count).
    /// make_lane(i) builds lane i (e.g. [](size_t){ return std::make_unique<link<T>>(256); }).
    template <typename Make>
    priority_lanes(lane_discipline d, std::vector<unsigned> weights, Make&& make_lane)
        : _d(d), _weights(std::move(weights)) {
        if (_weights.empty()) throw std::invalid_argument("priority_lanes: need at least one lane");
        for (unsigned w : _weights)
            if (w == 0) throw std::invalid_argument("priority_lanes: weights must be >= 1");
        for (std::size_t i = 0; i < _weights.size(); ++i)
            _lanes.push_back(make_lane(i));
        _deficit.assign(_weights.size(), 0);
    }

    [[nodiscard]] std::size_t lanes() const noexcept { return _lanes.size(); }
    [[nodiscard]] Q& lane(std::size_t i) noexcept { return *_lanes[i]; }
    [[nodiscard]] const Q& lane(std::size_t i) const noexcept { return *_lanes[i]; }
    [[nodiscard]] bool try_push(std::size_t lane_index, const value_type& v) {
        return _lanes[lane_index]->try_push(v);
    }
    [[nodiscard]] std::size_t push_burst(std::size_t lane_index, const value_type* in,
                                         std::size_t n) {
        return _lanes[lane_index]->push_burst(in, n);
    }

    /// Consumer only. Up to n items by the discipline. `per_lane` (optional, lanes()
    /// entries): how many of them came from each lane, added.
    [[nodiscard]] std::size_t pop_burst(value_type* out, std::size_t n,
                                        std::size_t* per_lane = nullptr) noexcept {
        return _d == lane_discipline::strict ? pop_strict(out, n, per_lane)
                                             : pop_weighted(out, n, per_lane);
    }
    /// Before the first pop: new weights, one per lane (each >= 1).
    void set_weights(const std::vector<unsigned>& w) {
        if (w.size() != _lanes.size()) throw std::invalid_argument("priority_lanes: one weight per lane");
        for (unsigned x : w)
            if (x == 0) throw std::invalid_argument("priority_lanes: weights must be >= 1");
        _weights = w;
        _deficit.assign(_weights.size(), 0);
        _cur = 0;
        _mixed = 0;
    }
    [[nodiscard]] const std::vector<unsigned>& weights() const noexcept { return _weights; }
    [[nodiscard]] bool try_pop(value_type& out) noexcept { return pop_burst(&out, 1) == 1; }
    [[nodiscard]] std::size_t size() const noexcept {
        std::size_t s = 0;
        for (auto& l : _lanes)
            s += l->size();
        return s;
    }
    [[nodiscard]] std::size_t capacity() const noexcept {
        std::size_t s = 0;
        for (auto& l : _lanes)
            s += l->capacity();
        return s;
    }

private:
    std::size_t pop_strict(value_type* out, std::size_t n, std::size_t* per_lane) noexcept {
        std::size_t got = 0;
        for (std::size_t i = 0; i < _lanes.size(); ++i) {
            const std::size_t k = _lanes[i]->pop_burst(out + got, n - got);
            got += k;
            if (per_lane) per_lane[i] += k;
            if (got == n) break;
        }
        return got;
    }
    std::size_t pop_weighted(value_type* out, std::size_t n, std::size_t* per_lane) noexcept {
        std::size_t got = 0, last = 0;
        unsigned yielded = 0;
        const std::size_t nl = _lanes.size();
        // One sweep: each lane up to its deficit. Lanes that are empty pass their turn
        // (no credit carried: the DRR rule).
        for (std::size_t v = 0; v < nl && got < n; ++v) {
            const std::size_t i = _cur;
            if (_deficit[i] == 0) _deficit[i] = _weights[i];
            std::size_t want = n - got < _deficit[i] ? n - got : _deficit[i];
            const std::size_t k = _lanes[i]->pop_burst(out + got, want);
            got += k;
            if (per_lane) per_lane[i] += k;
            if (k) ++yielded, last = i;
            _deficit[i] -= k;
            if (k < want) _deficit[i] = 0;
            if (_deficit[i] == 0) _cur = (_cur + 1) % nl;
        }
        // Several lanes had packets: the burst ends with the sweep, and for the next
        // `mixed_pops` pops so do bursts of one lane (a packet of a higher lane that
        // arrives meanwhile waits for at most one quantum of the lower lanes). One lane
        // alone for that long: nobody else has a claim, and it fills the burst.
        if (yielded > 1) {
            _mixed = mixed_pops;
        } else if (yielded == 1 && got < n) {
            if (_mixed) {
                --_mixed;
            } else {
                const std::size_t k = _lanes[last]->pop_burst(out + got, n - got);
                got += k;
                if (per_lane) per_lane[last] += k;
            }
        }
        return got;
    }

    lane_discipline _d;
    std::vector<unsigned> _weights;
    std::vector<std::unique_ptr<Q>> _lanes;
    std::vector<std::size_t> _deficit;
    std::size_t _cur = 0;
    static constexpr unsigned mixed_pops = 64;
    unsigned _mixed = 0; ///< pops left in which a lone lane keeps to its quantum
};

} // namespace pk::queue
