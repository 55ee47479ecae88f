# Braid's entry points. Every target installs what is missing first (scripts/install-deps), so a
# fresh Debian 12 machine needs nothing by hand. Builds live in build/ (release, the default),
# build/asan, build/fuzz.
.PHONY: all build deps demo test asan fuzz bench format format-check tidy clean

FUZZ_SECONDS ?= 60

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

# Braid (braid-testapp on DPDK) on a three-path namespace testbed: TCP and MPTCP against the Linux
# kernel, MPTCP against a second Braid; per-subflow results, tshark's verdict on the captures, a
# summary (scripts/demo installs and builds what it needs).
demo:
	@scripts/demo

# Every test tier this machine can run: format check, unit + fuzz seeds under ASan/UBSan, a short
# libFuzzer run of every parser, then the full CTest suite (unit, fuzz, oracle, ...) of the
# release build, ending with ctest's summary.
test: build
	@scripts/run-tests

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan
	@ctest --preset asan -L 'unit|fuzz' --parallel 2

# Runs every parser's libFuzzer target for FUZZ_SECONDS each (clang build in build/fuzz).
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-fuzz

# Benchmarks: our figures beside their baselines, measured in one run -> build/bench/results.json
bench: build
	@cmake --build --preset release --target braid_benchmarks
	@scripts/run-bench

format:
	@scripts/check-format --fix

format-check:
	@scripts/check-format

tidy: build
	@git ls-files '*.cc' | grep -v '^tests/' | xargs -r clang-tidy -p build --quiet

clean:
	rm -rf build
