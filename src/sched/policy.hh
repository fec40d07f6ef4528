// The scheduling policies a reactor is configured with: its discipline and its idle
// policy. One enum each for the whole tree (the pipeline config names them in YAML).
// Plain values; any thread.
#pragma once

#include <cstdint>

namespace pk::sched {

/// Which runnable task the reactor polls next (discipline.hh).
enum class discipline_kind : std::uint8_t { weighted_priority, round_robin, tree };

/// What a reactor does after a round with no work (reactor.hh).
enum class idle_policy : std::uint8_t { busy, pause, adaptive };

const char* to_string(discipline_kind k) noexcept;
const char* to_string(idle_policy p) noexcept;

} // namespace pk::sched
