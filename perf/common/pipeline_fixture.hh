// A pipeline built in a benchmark the way app/lifecycle.cc runs one: YAML → config →
// plan → graph → reactor group → pollers, and ports started. Nothing is launched: the
// benchmark thread drives the reactors with run_once().
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <rte_lcore.h>

#include "pipeline/config.hh"
#include "pipeline/graph.hh"
#include "pipeline/plan.hh"
#include "pipeline/pollers.hh"
#include "pipeline/registry.hh"
#include "sched/group.hh"

namespace pk::bench {

using pk::status;

class pipeline_fixture {
public:
    /// Builds `yaml`; `reactors` > 0 plans that many reactors with plan_graph() (no lcores
    /// or CPUs to plan), 0 uses make_plan() (the reactors: section). On failure error()
    /// says why and nothing else may be used.
    pipeline_fixture(const char* yaml, const char* file, unsigned reactors = 0) {
        const pipeline::registry& reg = pipeline::registry::global();
        auto loaded = pipeline::load_string(yaml, file, reg.validation());
        if (!loaded) {
            _error = pipeline::format(loaded.diagnostics());
            return;
        }
        _cfg = std::move(loaded).value();
        auto p = reactors ? pipeline::plan_graph(*_cfg, reg, {}, reactors)
                          : pipeline::make_plan(*_cfg, reg);
        if (!p) {
            _error = p.err().message;
            return;
        }
        _plan = std::move(*p);
        auto built = pipeline::graph::build(*_cfg, reg, *_plan);
        if (!built) {
            _error = built.err().message;
            return;
        }
        _graph = std::move(*built);
        std::vector<sched::reactor_config> rcfg;
        for (auto& r : _plan->reactors)
            rcfg.push_back(r.cfg);
        _rg = std::make_unique<sched::reactor_group>(rcfg);
        _pollers = std::make_unique<pipeline::pollers>(*_cfg, *_plan, *_graph, *_rg);
        if (auto s = _graph->start_ports(); !s) _error = s.err().message;
    }
    /// Runs each reactor on its own thread pinned to its planned CPU (a make_plan()
    /// fixture); the destructor then stops them as the runtime does instead of stepping
    /// them on this thread.
    status start_threads() {
        std::vector<int> cpus;
        for (auto& r : _plan->reactors)
            cpus.push_back(r.cpu);
        // The runtime's reactors are EAL lcores: each has an lcore id and so a mempool
        // cache. Plain threads get one by registering, first thing on each reactor
        // (without, every alloc and free is a multi-producer ring operation, and a
        // thread preempted inside one stalls the others).
        for (unsigned i = 0; i < _rg->size(); ++i) {
            _register.push_back(std::make_unique<lcore_register>());
            (*_rg)[i].spawn(*_register.back(), {.bucket = 0});
        }
        auto s = _rg->start_threads(cpus);
        _threaded = s.ok();
        return s;
    }
    ~pipeline_fixture() {
        if (!_rg) return;
        if (_threaded) {
            for (auto& s : _graph->stages())
                s->quiesce();
            for (int i = 0; i < 1000 && _graph->queued() != 0; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            _rg->stop();
            _graph->settle();
            _pollers.reset();
            _rg.reset();
            (void)_graph->stop_ports();
            return;
        }
        // Graceful stop with every reactor stepped on this thread (the handshake needs
        // all of them), then the ports.
        for (auto& s : _graph->stages())
            s->quiesce();
        _rg->request_stop();
        for (bool any = true; any;) {
            any = false;
            for (unsigned i = 0; i < _rg->size(); ++i)
                any = (*_rg)[i].run_once() || any;
        }
        _pollers.reset();
        _rg.reset();
        (void)_graph->stop_ports();
    }
    /// Registers its thread with EAL on its first poll, then finishes.
    struct lcore_register final : sched::task {
        sched::poll_result poll(sched::reactor&) noexcept override {
            if (rte_lcore_id() == LCORE_ID_ANY) (void)rte_thread_register();
            return sched::poll_result::done();
        }
    };
    pipeline_fixture(const pipeline_fixture&) = delete;
    pipeline_fixture& operator=(const pipeline_fixture&) = delete;

    bool ok() const noexcept { return _error.empty(); }
    const std::string& error() const noexcept { return _error; }
    pipeline::graph& graph() noexcept { return *_graph; }
    const pipeline::plan& plan() const noexcept { return *_plan; }
    sched::reactor& reactor(unsigned i) noexcept { return (*_rg)[i]; }

private:
    std::string _error;
    std::optional<pipeline::config> _cfg;
    std::optional<pipeline::plan> _plan;
    std::unique_ptr<pipeline::graph> _graph;
    std::vector<std::unique_ptr<lcore_register>> _register; // outlive the reactors
    std::unique_ptr<sched::reactor_group> _rg;
    std::unique_ptr<pipeline::pollers> _pollers;
    bool _threaded = false;
};

} // namespace pk::bench
