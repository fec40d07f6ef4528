# pktkernel — every set-up step in one place. On a fresh Debian 12 machine (root):
#   make run    installs what is missing, builds, runs the default pipeline
#   make test   installs what is missing, builds, runs every test, prints the totals
# Other targets: deps build bench perf fuzz sanitize tsan format clean

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
DURATION   ?= 10
CONFIG     ?= pipelines/default.yaml
MESON_TEST_ARGS ?=

# Debian 12 packages the build, the tests and the perf harness need.
PACKAGES := build-essential pkg-config python3 meson ninja-build \
            dpdk dpdk-dev libdpdk-dev libhwloc-dev libyaml-cpp-dev libgtest-dev \
            libbenchmark-dev libcivetweb-dev liburing-dev libpcap-dev \
            prometheus python3-matplotlib \
            socat clang libclang-rt-14-dev procps tcpreplay iproute2 ethtool
# socat: the console must work with a plain socat client (tested), and it is the kernel
# UDP client of the veth test; tcpreplay, iproute2, ethtool: that test replays a capture
# into a veth whose peer sits in a namespace it creates (af_packet / af_xdp ports);
# clang + libclang-rt-14-dev: the libFuzzer targets (make fuzz).
# procps: pgrep, the perf harness test checks that nothing is left running.

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps configure build run test bench perf fuzz sanitize tsan format clean

all: build

# Idempotent and quiet when everything is present: apt-get update once, then install
# only the missing packages.
deps:
	@missing=""; \
	for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
	    { echo "deps: apt-get install failed for:$$missing"; exit 1; }; \
	fi

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) --buildtype=release -Ddebug=true

configure: deps $(BUILD)/build.ninja

build: configure
	ninja -C $(BUILD)

run: build
	$(BUILD)/src/app/pktkernel --config $(CONFIG) --duration $(DURATION)

# $(call meson_tests,DIR,ENV,ARGS): `meson test` in DIR with ENV set, the log's tail, then
# the totals line `tests: N passed, M failed[, K skipped]`; fails when a test failed.
meson_tests = rm -rf $(1)/test-results; mkdir -p $(1)/test-results; \
  $(2) meson test -C $(1) --print-errorlogs $(3) > $(1)/meson-test.out 2>&1; rc=$$?; \
  tail -n 40 $(1)/meson-test.out; python3 tests/summarize.py $(1) || rc=1; exit $$rc

# Runs every suite; prints one totals line `tests: N passed, M failed[, K skipped]`.
test: build
	@$(call meson_tests,$(BUILD),,$(MESON_TEST_ARGS))

# Every microbenchmark, ours beside DPDK's (one process, one run), then the ratios.
BENCH_ARGS ?= --benchmark_repetitions=10 --benchmark_enable_random_interleaving=true --benchmark_min_time=0.1
bench: build
	$(BUILD)/perf/pktkernel-bench --benchmark_counters_tabular=true $(BENCH_ARGS) \
	  --benchmark_out=$(BUILD)/bench.json --benchmark_out_format=json
	python3 perf/ratios.py $(BUILD)/bench.json

# The perf harness, quick form (< 2 minutes): testpmd traffic over memif, pktkernel and
# testpmd's macswap as DUTs alternating. The full sizing run: perf/run (see README).
PERF_ARGS ?= --quick
perf: build
	/usr/bin/python3 perf/run $(PERF_ARGS)

# libFuzzer over every fuzz target (tests/fuzz/), FUZZ_SECONDS each: a clang build with
# ASan + UBSan and coverage on everything the targets link. A finding fails the run and
# leaves its input in $(FUZZ_BUILD)/tests/fuzz/<target>-work/.
FUZZ_TARGETS ?= parse config console http
fuzz: deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang CXX=clang++ meson setup $(FUZZ_BUILD) \
	  --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false \
	  -Dcpp_args=-fsanitize=fuzzer-no-link
	ninja -C $(FUZZ_BUILD) $(addprefix tests/fuzz/,$(addsuffix _fuzzer,$(FUZZ_TARGETS)))
	@$(call meson_tests,$(FUZZ_BUILD),PK_FUZZ_SECONDS=$(FUZZ_SECONDS),--no-rebuild $(addprefix fuzz_,$(FUZZ_TARGETS)))

# Address + undefined-behaviour sanitizers over the unit and stress tests and the
# pipeline integration tests (suite `pipeline`: pktkernel itself built with them).
sanitize: deps
	@[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) --buildtype=debugoptimized \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false
	ninja -C $(ASAN_BUILD)
	@$(call meson_tests,$(ASAN_BUILD),ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1,--suite unit --suite stress --suite pipeline)

# ThreadSanitizer over the queue, scheduler, timer and metrics tests (suite tsan); builds
# only what that suite runs.
tsan: deps
	@[ -f $(TSAN_BUILD)/build.ninja ] || meson setup $(TSAN_BUILD) --buildtype=debugoptimized \
	  -Db_sanitize=thread -Db_lundef=false -Dbench=false
	ninja -C $(TSAN_BUILD) build.ninja # regenerate first: the suite list is read from it
	ninja -C $(TSAN_BUILD) $$(python3 tests/suite_targets.py $(TSAN_BUILD) tsan)
	@$(call meson_tests,$(TSAN_BUILD),TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 PK_TIMER_PROPERTY_STEPS=200000,--no-rebuild --suite tsan)

format:
	find src tests perf samples -name '*.hh' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
