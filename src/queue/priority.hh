// Priority lanes: N backends behind one dequeue, strict or weighted.
//
// Use it where one consumer serves several classes of work (control before data, the
// reactor's IRQ and TASKS sources). Lane 0 is the highest priority.
//   strict   — a lane is served only when every higher lane is empty (starvation of
//              low lanes is the point).
//   weighted — deficit round-robin: per visit lane i may yield up to weight[i] items;
//              over time lane i gets weight[i]/sum(weights) of the dequeues when all
//              lanes are busy, and nothing is starved.
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
    [[nodiscard]] bool try_push(std::size_t lane_index, const value_type& v) {
        return _lanes[lane_index]->try_push(v);
    }
    [[nodiscard]] std::size_t push_burst(std::size_t lane_index, const value_type* in,
                                         std::size_t n) {
        return _lanes[lane_index]->push_burst(in, n);
    }

    /// Consumer only. Up to n items by the discipline.
    [[nodiscard]] std::size_t pop_burst(value_type* out, std::size_t n) noexcept {
        return _d == lane_discipline::strict ? pop_strict(out, n) : pop_weighted(out, n);
    }
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
    std::size_t pop_strict(value_type* out, std::size_t n) noexcept {
        std::size_t got = 0;
        for (auto& l : _lanes) {
            got += l->pop_burst(out + got, n - got);
            if (got == n) break;
        }
        return got;
    }
    std::size_t pop_weighted(value_type* out, std::size_t n) noexcept {
        std::size_t got = 0;
        const std::size_t nl = _lanes.size();
        // Two sweeps at most: the first spends deficits, the second refills them.
        for (std::size_t sweep = 0; sweep < 2 * nl && got < n; ++sweep) {
            const std::size_t i = _cur;
            if (_deficit[i] == 0) _deficit[i] = _weights[i];
            std::size_t want = n - got < _deficit[i] ? n - got : _deficit[i];
            const std::size_t k = _lanes[i]->pop_burst(out + got, want);
            got += k;
            _deficit[i] -= k;
            if (k < want) _deficit[i] = 0; // lane empty: no credit carried (DRR rule)
            if (_deficit[i] == 0) _cur = (_cur + 1) % nl;
        }
        return got;
    }

    lane_discipline _d;
    std::vector<unsigned> _weights;
    std::vector<std::unique_ptr<Q>> _lanes;
    std::vector<std::size_t> _deficit;
    std::size_t _cur = 0;
};

} // namespace pk::queue
