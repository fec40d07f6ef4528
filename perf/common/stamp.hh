// When a repetition ran: counter `at_s`, seconds since the benchmark process started.
//
// This machine class has long fast and slow phases (the same binary runs 2-4x apart
// for tens of seconds). perf/ratios.py pairs each repetition of one side with the other
// side's repetition nearest in time, so a ratio compares runs made in the same phase.
#pragma once

#include <chrono>

#include <benchmark/benchmark.h>

namespace pk::bench {

inline const std::chrono::steady_clock::time_point process_start = std::chrono::steady_clock::now();

/// Call once per repetition, when it ends (with the other counters).
inline void stamp(benchmark::State& st) {
    st.counters["at_s"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - process_start).count();
}

} // namespace pk::bench
