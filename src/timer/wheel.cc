// Slow paths of the timer wheel: construction, cascades, overflow re-filing and the
// in-place sort of an oversized slot.
#include "timer/wheel.hh"

#include <cstdlib>
#include <new>
#include <stdexcept>

#include "base/clock.hh"

namespace pk::timer {

wheel_config wheel_config::tsc(std::uint32_t capacity, std::uint64_t tick_ns) noexcept {
    wheel_config c;
    c.capacity = capacity;
    const std::uint64_t t = pk::tsc::from_ns(tick_ns);
    c.tick = t == 0 ? 1 : t;
    c.origin = pk::tsc::now();
    return c;
}

namespace {
template <typename T>
T* alloc_array(std::size_t n) {
    std::size_t bytes = n * sizeof(T);
    bytes = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
}
} // namespace

wheel::wheel(const wheel_config& cfg)
    : _tick(cfg.tick), _magic(cfg.tick == 0 ? 0 : ~0ull / cfg.tick), _origin(cfg.origin),
      _capacity(cfg.capacity) {
    if (cfg.tick == 0) throw std::invalid_argument("timer wheel: tick must be > 0");
    if (cfg.capacity == 0 || cfg.capacity >= (1u << 31))
        throw std::invalid_argument("timer wheel: capacity must be in [1, 2^31)");
    // Each non-empty slot holds at most one partly filled block; a cascade briefly holds
    // one block of entries twice.
    _blocks = (cfg.capacity + block_entries - 1) / block_entries + n_slots + 2;
    _entries = alloc_array<entry>(static_cast<std::size_t>(_blocks) * block_entries);
    _meta = alloc_array<block_meta>(_blocks);
    _refs = alloc_array<ref>(_capacity);
    _scratch = alloc_array<std::uint32_t>(_blocks);
    for (std::uint32_t i = 0; i < _blocks; ++i)
        _meta[i] = block_meta{i + 1 == _blocks ? nil : i + 1, 0, 0};
    for (std::uint32_t i = 0; i < _capacity; ++i)
        _refs[i] = ref{0, i + 1 == _capacity ? nil : i + 1};
    _free_block = 0;
    _free_ref = 0;
    for (std::uint32_t s = 0; s < n_slots; ++s) {
        _slot_head[s] = nil;
        _slot_count[s] = 0;
    }
    _next_due = std::numeric_limits<std::uint64_t>::max();
}

wheel::~wheel() {
    std::free(_entries);
    std::free(_meta);
    std::free(_refs);
    std::free(_scratch);
}

std::size_t wheel::memory_bytes() const noexcept {
    return sizeof(*this) + std::size_t(_blocks) * block_entries * sizeof(entry) +
           std::size_t(_blocks) * (sizeof(block_meta) + sizeof(std::uint32_t)) +
           std::size_t(_capacity) * sizeof(ref);
}

void wheel::cascade(std::uint32_t slot) noexcept {
    std::uint32_t b = _slot_head[slot];
    _slot_head[slot] = nil;
    _slot_count[slot] = 0;
    clear_slot_bit(slot);
    while (b != nil) {
        const std::uint32_t next = _meta[b].next;
        if (next != nil) {
            const char* p =
                reinterpret_cast<const char*>(_entries + std::size_t(next) * block_entries);
            for (unsigned l = 0; l < sizeof(entry) * block_entries; l += 64)
                __builtin_prefetch(p + l);
        }
        const entry* es = _entries + static_cast<std::size_t>(b) * block_entries;
        for (std::uint32_t i = 0, c = _meta[b].count; i < c; ++i)
            place(es[i]);
        free_block(b);
        b = next;
    }
}

void wheel::refile_overflow() noexcept {
    _ovf_min = std::numeric_limits<std::uint64_t>::max();
    take_slot(overflow_slot, [this](const entry& e) noexcept { place(e); });
}

// Random-access view over a slot's blocks in _scratch order (entry i lives in block
// scratch[i / 16] at index i % 16), so std::sort can sort entries in place.
struct wheel::block_iter {
    using iterator_category = std::random_access_iterator_tag;
    using value_type = entry;
    using difference_type = std::ptrdiff_t;
    using pointer = entry*;
    using reference = entry&;

    entry* base = nullptr;
    const std::uint32_t* blocks = nullptr;
    difference_type i = 0;

    reference operator*() const noexcept {
        const auto u = static_cast<std::size_t>(i);
        return base[static_cast<std::size_t>(blocks[u / block_entries]) * block_entries +
                    u % block_entries];
    }
    pointer operator->() const noexcept { return &**this; }
    reference operator[](difference_type k) const noexcept { return *(*this + k); }
    block_iter& operator++() noexcept {
        ++i;
        return *this;
    }
    block_iter operator++(int) noexcept {
        block_iter t = *this;
        ++i;
        return t;
    }
    block_iter& operator--() noexcept {
        --i;
        return *this;
    }
    block_iter operator--(int) noexcept {
        block_iter t = *this;
        --i;
        return t;
    }
    block_iter& operator+=(difference_type k) noexcept {
        i += k;
        return *this;
    }
    block_iter& operator-=(difference_type k) noexcept {
        i -= k;
        return *this;
    }
    friend block_iter operator+(block_iter a, difference_type k) noexcept {
        a.i += k;
        return a;
    }
    friend block_iter operator+(difference_type k, block_iter a) noexcept {
        a.i += k;
        return a;
    }
    friend block_iter operator-(block_iter a, difference_type k) noexcept {
        a.i -= k;
        return a;
    }
    friend difference_type operator-(const block_iter& a, const block_iter& b) noexcept {
        return a.i - b.i;
    }
    friend bool operator==(const block_iter& a, const block_iter& b) noexcept { return a.i == b.i; }
    friend auto operator<=>(const block_iter& a, const block_iter& b) noexcept {
        return a.i <=> b.i;
    }
};

void wheel::sort_slot(std::uint32_t slot) noexcept {
    // Blocks from the tail of the list to the head, so the partly filled head block is
    // last and the view is dense.
    std::uint32_t nb = 0;
    for (std::uint32_t b = _slot_head[slot]; b != nil; b = _meta[b].next)
        _scratch[nb++] = b;
    std::reverse(_scratch, _scratch + nb);
    const std::uint32_t head = _slot_head[slot];
    const auto n = static_cast<std::ptrdiff_t>((nb - 1) * block_entries + _meta[head].count);
    const block_iter first{_entries, _scratch, 0};
    const std::uint64_t origin = _origin;
    // Descending: the smallest deadline ends up last, where emit pops.
    std::sort(first, first + n, [origin](const entry& a, const entry& b) noexcept {
        return static_cast<std::int64_t>(a.deadline - origin) >
               static_cast<std::int64_t>(b.deadline - origin);
    });
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        const auto u = static_cast<std::uint32_t>(i);
        const std::uint32_t loc = _scratch[u / block_entries] * block_entries + u % block_entries;
        _refs[_entries[loc].id & ~tomb].loc = loc;
    }
    _sorted_slot = slot;
}

} // namespace pk::timer
