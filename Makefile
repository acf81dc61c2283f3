# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv system-deps bench-deps demo demo-mock lint test test-fast fuzz jepsen docs bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,test,docs]'
	touch $(STAMP)

venv: $(STAMP)

# The lxc client (Debian package lxd-client) is what the CLI integration tests drive;
# dnsmasq (dnsmasq-base: the program, no system service) serves the DNS discovery tests.
system-deps:
	@command -v lxc >/dev/null 2>&1 || { \
	  echo "installing Debian package lxd-client (for the lxc CLI tests)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends lxd-client; }
	@test -x /usr/sbin/dnsmasq || { \
	  echo "installing Debian package dnsmasq-base (the DNS server of the discovery tests)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends dnsmasq-base; }

# The main job: a 3-node pack of reference daemons on loopback.
demo: venv
	$(PY) docs/examples/pack_demo.py

# The mock server walked with the SDK and the CLI.
demo-mock: venv
	$(PY) docs/examples/demo.py

# The linter (ruff: line length, import order, one spelling of types; see pyproject.toml).
lint: venv
	$(PY) -m ruff check .

# Everything: the linter, then every test (what .ci/run calls).
test: venv system-deps lint
	$(PY) -m pytest

# Unit and in-process tests only (under a minute): no daemon processes, network
# namespaces, real clients or installs (the tests marked `system`).
test-fast: venv lint
	$(PY) -m pytest -m "not system" -q

# The hostile-input fuzz at length, with a random seed (make test runs a short one with a
# fixed seed). FUZZ_SEED=<seed> replays a run; FUZZ_EXAMPLES sets its length.
fuzz: venv
	@seed=$${FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "fuzz seed $$seed (replay with: make fuzz FUZZ_SEED=$$seed)"; \
	FUZZ_PROFILE=long $(PY) -m pytest tests/fuzz -q -p no:cacheprovider --hypothesis-seed=$$seed

# The fault-injection run at length: JEPSEN_CYCLES rounds of every fault, at 200/1000 ms
# and 1000/8000 ms, with a random seed (JEPSEN_SEED=<seed> replays one).
jepsen: venv
	JEPSEN_CYCLES=$${JEPSEN_CYCLES:-3} $(PY) -m pytest tests/jepsen -q -s -p no:cacheprovider

docs: venv
	$(PY) -m sphinx -W --keep-going -b html -q docs docs/_build/html

# etcd (Debian package etcd-server, 3.4 on Debian 12): the peer the configuration
# propagation is measured against (benchmarks/config_propagation.py).
bench-deps:
	@test -x /usr/bin/etcd || { \
	  echo "installing Debian package etcd-server (the etcd peer of benchmarks/config_propagation.py)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends etcd-server; }
	@command -v keepalived >/dev/null 2>&1 || { \
	  echo "installing Debian package keepalived (the peer of python -m benchmarks.service_failover)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends keepalived; }

# The `bench` extra: pysyncobj, the Raft peer the leader failover is measured against.
bench: venv bench-deps
	@$(PY) -c 'import pysyncobj' 2>/dev/null || { \
	  echo "installing the bench extra (pysyncobj)"; \
	  $(PY) -m pip install --quiet -e '.[server,test,docs,bench]'; }
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) docs/_build build *.egg-info .pytest_cache
