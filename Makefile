# Squadron — the two commands of the README, and the steps behind them.
#   make run    set everything up, build, start the server with demo data
#   make run-cluster  the same, as a local cluster: ZooKeeper and 3 nodes (docs/cluster.md)
#   make run-spark    the same on Spark, as a local cluster: ZooKeeper, Spark Connect on
#                     local-cluster[2,1,1024] with the connector jar and the demo tables, and
#                     2 nodes that serve distributed results (docs/spark.md; --single: 1 node)
#   make test   set everything up, build, run unit, connector (Java) and integration tests, a
#               quick smoke run of the benchmark suite, a 20 s soak and the
#               fuzz targets for 30 s each
#   make bench  the full benchmark suite (bench/results/, README table)
#   make soak   a 5-minute mixed soak with 32 clients (bench/soak.py; SOAK_ARGS=--quick for 20 s)
#   make fuzz   the libFuzzer targets in fuzz/, FUZZ_SECONDS (30) each (docs/fuzzing.md)

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
PYTHON := .venv/bin/python
PYTEST_ARGS ?=
SOAK_ARGS ?=

.PHONY: all bootstrap build run run-cluster run-spark test unit integration bench bench-quick clean connector connector-test
.PHONY: soak soak-quick
.PHONY: fuzz fuzz-build

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD_DIR)/build.ninja: CMakeLists.txt | bootstrap
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: bootstrap $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR)

run: build
	@scripts/run-demo $(BUILD_DIR)/squadron

run-cluster: build
	@scripts/run-cluster $(BUILD_DIR)/squadron

run-spark: build
	@scripts/run-spark $(BUILD_DIR)/squadron

test: build
	$(MAKE) --no-print-directory unit connector-test integration bench-quick soak-quick fuzz

unit:
	cd $(BUILD_DIR) && ctest --output-on-failure -j2

# The Spark connector (connectors/spark, Java): its jar, and its JUnit tests
# (one runs a local Spark). The integration tests build the jar when needed.
connector:
	@scripts/build-connector >/dev/null

connector-test:
	scripts/build-connector --test >/dev/null

integration:
	SQUADRON_BIN=$(abspath $(BUILD_DIR)/squadron) $(PYTHON) -m pytest tests/integration -ra $(PYTEST_ARGS)

bench: build
	bench/run --build-dir $(BUILD_DIR) $(BENCH_ARGS)

bench-quick:
	bench/run --quick --build-dir $(BUILD_DIR)

soak: build
	$(PYTHON) bench/soak.py --squadron-bin $(BUILD_DIR)/squadron $(SOAK_ARGS)

soak-quick:
	$(PYTHON) bench/soak.py --squadron-bin $(BUILD_DIR)/squadron --quick

# libFuzzer targets (fuzz/, docs/fuzzing.md) in their own clang build;
# FUZZ_SECONDS per target (make fuzz FUZZ_SECONDS=600 for a longer run).
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 30

$(FUZZ_DIR)/build.ninja: CMakeLists.txt | bootstrap
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSQUADRON_FUZZ=ON -DSQUADRON_BUILD_TESTS=OFF

fuzz-build: bootstrap $(FUZZ_DIR)/build.ninja
	cmake --build $(FUZZ_DIR)

fuzz: fuzz-build
	fuzz/run $(FUZZ_DIR) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR)
