# The two commands of the README: `make run` builds and starts the main job, `make test` builds
# and runs every test. Both install their dependencies first (Debian packages, via apt-get).
BUILD ?= build/release
JOBS ?= $(shell nproc)

.PHONY: deps build run test test-asan test-tsan test-lto bench fuzz format clean

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# weft serve: the seed's demo API and static files from www/, on port 8080.
run: build
	$(BUILD)/tools/weft/weft serve --addr 127.0.0.1:8080 --root www

test: build
	ctest --test-dir $(BUILD) -j $(JOBS) --output-on-failure --timeout 300

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build build/asan -j $(JOBS)
	ctest --test-dir build/asan -L 'runtime|http|loadgen|metrics|log' -j $(JOBS) --output-on-failure --timeout 600

test-tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build build/tsan -j $(JOBS)
	ctest --test-dir build/tsan -L 'runtime|http|loadgen|metrics|log' -j $(JOBS) --output-on-failure --timeout 600

# The runtime suites (in tests/runtime, and weft::net's in tests/net) built with link-time
# optimisation, which sees across the library and would drop what only an asm statement names.
test-lto: deps
	@cmake --preset lto >/dev/null
	@cmake --build build/lto -j $(JOBS) --target weft tests/runtime/all tests/net/all
	ctest --test-dir build/lto -L runtime -j $(JOBS) --output-on-failure --timeout 300

bench: build
	bash ../shared/anchors/runtime-compare.sh -- $(BUILD)/bench/runtime_bench

# libFuzzer targets (clang): a minute each on a scratch copy of fuzz/corpus; fails on a finding.
fuzz: deps
	bash scripts/fuzz.sh 60

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
