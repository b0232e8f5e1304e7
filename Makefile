# Squadron — the two commands of the README, and the steps behind them.
#   make run    set everything up, build, start the server with demo data
#   make test   set everything up, build, run unit and integration tests and a
#               quick smoke run of the benchmark suite
#   make bench  the full benchmark suite (bench/results/, README table)

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
PYTHON := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: all bootstrap build run test unit integration bench bench-quick clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD_DIR)/build.ninja: CMakeLists.txt | bootstrap
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: bootstrap $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR)

run: build
	@scripts/run-demo $(BUILD_DIR)/squadron

test: build
	$(MAKE) --no-print-directory unit integration bench-quick

unit:
	cd $(BUILD_DIR) && ctest --output-on-failure -j2

integration:
	SQUADRON_BIN=$(abspath $(BUILD_DIR)/squadron) $(PYTHON) -m pytest tests/integration -ra $(PYTEST_ARGS)

bench: build
	bench/run --build-dir $(BUILD_DIR) $(BENCH_ARGS)

bench-quick:
	bench/run --quick --build-dir $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
