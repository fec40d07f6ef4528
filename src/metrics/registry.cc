#include "metrics/registry.hh"

#include <algorithm>

namespace pk::metrics {

registration& registration::operator=(registration&& o) noexcept {
    if (this != &o) {
        reset();
        _reg = std::exchange(o._reg, nullptr);
        _c = std::exchange(o._c, nullptr);
        _owned = std::move(o._owned);
    }
    return *this;
}

void registration::reset() noexcept {
    if (_reg) _reg->remove(*_c);
    _reg = nullptr;
    _c = nullptr;
    _owned.reset();
}

void registry::add(const collector& c) {
    std::lock_guard lk(_mu);
    if (std::find(_collectors.begin(), _collectors.end(), &c) == _collectors.end())
        _collectors.push_back(&c);
}

void registry::remove(const collector& c) noexcept {
    std::lock_guard lk(_mu);
    std::erase(_collectors, &c);
}

registration registry::add(function_collector::fn f) {
    auto owned = std::make_unique<function_collector>(std::move(f));
    const collector* c = owned.get();
    add(*c);
    return registration(this, c, std::move(owned));
}

registration registry::scoped(const collector& c) {
    add(c);
    return registration(this, &c, nullptr);
}

void registry::collect(std::vector<family>& out) const {
    std::lock_guard lk(_mu);
    for (const collector* c : _collectors)
        c->collect(out);
}

std::string registry::scrape(encode_report* report) const {
    std::vector<family> fams;
    collect(fams);
    std::string body;
    auto rep = encode(fams, body);
    if (report) *report = std::move(rep);
    return body;
}

std::size_t registry::size() const {
    std::lock_guard lk(_mu);
    return _collectors.size();
}

} // namespace pk::metrics
