#include "sched/group.hh"

#include <pthread.h>
#include <sched.h>

#include <string>

#include "base/log.hh"

namespace pk::sched {

reactor_group::reactor_group(unsigned n, const reactor_config& cfg, std::size_t mesh_capacity) {
    build(std::vector<reactor_config>(n ? n : 1, cfg), mesh_capacity);
}

reactor_group::reactor_group(const std::vector<reactor_config>& cfgs, std::size_t mesh_capacity) {
    build(cfgs.empty() ? std::vector<reactor_config>(1) : cfgs, mesh_capacity);
}

void reactor_group::build(const std::vector<reactor_config>& cfgs, std::size_t mesh_capacity) {
    const unsigned n = static_cast<unsigned>(cfgs.size());
    if (n > 256) throw std::invalid_argument("reactor_group: at most 256 reactors");
    _links.reserve(static_cast<std::size_t>(n) * n);
    for (unsigned i = 0; i < n * n; ++i)
        _links.push_back(std::make_unique<queue::mailbox<message>>(mesh_capacity));
    for (unsigned i = 0; i < n; ++i)
        _reactors.push_back(std::unique_ptr<reactor>(new reactor(*this, i, n, cfgs[i])));
    std::vector<reactor*> peers;
    for (auto& r : _reactors)
        peers.push_back(r.get());
    for (unsigned i = 0; i < n; ++i) {
        std::vector<queue::mailbox<message>*> in(n), out(n);
        for (unsigned j = 0; j < n; ++j) {
            in[j] = _links[j * n + i].get();
            out[j] = _links[i * n + j].get();
        }
        _reactors[i]->connect(std::move(in), std::move(out), peers);
    }
}

reactor_group::~reactor_group() {
    if (!_threads.empty()) stop();
}

bool reactor_group::pin_current_thread(int cpu) noexcept {
    if (cpu < 0) return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(cpu), &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

status reactor_group::start_threads(std::span<const int> cpus) {
    std::vector<thread_plan> plan(size());
    const unsigned hw =
        std::thread::hardware_concurrency() ? std::thread::hardware_concurrency() : 1;
    for (unsigned i = 0; i < size(); ++i) {
        plan[i].cpu = cpus.empty() ? static_cast<int>(i % hw) : cpus[i % cpus.size()];
        plan[i].reactors = {i};
    }
    return start_threads(std::span<const thread_plan>(plan));
}

status reactor_group::start_threads(std::span<const thread_plan> plan) {
    if (!_threads.empty()) return make_error(errc::state, "reactor_group: already started");
    std::vector<int> seen(size(), 0);
    for (const auto& t : plan)
        for (unsigned r : t.reactors) {
            if (r >= size())
                return make_error(errc::invalid_argument,
                                  "reactor_group: plan names reactor " + std::to_string(r) +
                                      " but the group has " + std::to_string(size()));
            ++seen[r];
        }
    for (unsigned r = 0; r < size(); ++r)
        if (seen[r] != 1)
            return make_error(errc::invalid_argument,
                              "reactor_group: reactor " + std::to_string(r) + " appears " +
                                  std::to_string(seen[r]) + " times in the plan (must be once)");
    for (const auto& t : plan) {
        std::vector<reactor*> rs;
        for (unsigned r : t.reactors)
            rs.push_back(_reactors[r].get());
        const int cpu = t.cpu;
        try {
            _threads.emplace_back([rs = std::move(rs), cpu] {
                if (!pin_current_thread(cpu))
                    PK_WARN("sched", "cannot pin reactor thread to CPU %d; running unpinned", cpu);
                if (rs.size() == 1) {
                    rs[0]->run();
                    return;
                }
                for (bool any = true; any;) {
                    any = false;
                    for (reactor* r : rs)
                        any |= r->run_once();
                }
            });
        } catch (const std::system_error& e) {
            request_stop();
            join();
            return make_error(errc::exhausted,
                              std::string("reactor_group: cannot start thread: ") + e.what());
        }
    }
    return {};
}

void reactor_group::request_stop() noexcept {
    for (auto& r : _reactors)
        r->request_stop();
}

void reactor_group::join() {
    for (auto& t : _threads)
        if (t.joinable()) t.join();
    _threads.clear();
}

bool reactor_group::all_exited() const noexcept {
    for (auto& r : _reactors)
        if (!r->exited()) return false;
    return true;
}

} // namespace pk::sched
