# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv system-deps bench-deps demo demo-mock lint test test-fast fuzz jepsen golden docs bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,test,docs]'
	touch $(STAMP)

venv: $(STAMP)

# The lxc client (Debian package lxd-client) and the incus client (incus-client, below) are
# what the CLI integration tests drive;
# dnsmasq (dnsmasq-base: the program, no system service) serves the DNS discovery tests.
# Real LXD 5.0.2 (Debian 12's lxd) and Incus 6.0.4 (incus-base and incus-client from
# bookworm-backports) are the servers of the live fidelity tests (tests/live; the harness is
# tests/support/realservers.py): the tests start each as a two-member cluster of their own
# inside a network namespace. A policy-rc.d that answers 101 keeps the install from starting
# the packages' services (lxd, incus, lxcfs); it is removed afterwards unless it was there.
system-deps:
	@command -v lxc >/dev/null 2>&1 || { \
	  echo "installing Debian package lxd-client (for the lxc CLI tests)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends lxd-client; }
	@test -x /usr/sbin/dnsmasq || { \
	  echo "installing Debian package dnsmasq-base (the DNS server of the discovery tests)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends dnsmasq-base; }
	@test -x /usr/bin/lxd -a -x /usr/bin/lxc -a -x /usr/libexec/incus/incusd -a -x /usr/bin/incus || { \
	  . /etc/os-release; [ "$$VERSION_CODENAME" = bookworm ] || { \
	    echo "the live fidelity tests need Debian 12 (bookworm) packages of LXD and Incus, not $$PRETTY_NAME"; exit 1; }; \
	  echo "installing Debian packages lxd, incus-base and incus-client (the real servers of the live fidelity tests)"; \
	  grep -qrs '^Suites:.*bookworm-backports' /etc/apt/sources.list.d/ || grep -qs '^deb .* bookworm-backports ' \
	    /etc/apt/sources.list /etc/apt/sources.list.d/*.list || \
	    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
	      /usr/share/keyrings/debian-archive-keyring.gpg | $(SUDO) tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null; \
	  made=; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && \
	    $(SUDO) chmod 755 /usr/sbin/policy-rc.d && made=1; }; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    lxd incus-base/bookworm-backports incus-client/bookworm-backports; rc=$$?; \
	  [ -z "$$made" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; }
	@test -x /usr/bin/etcd || { \
	  echo "installing Debian package etcd-server (the etcd of the etcd backend's tests; its service is not started)"; \
	  made=; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && \
	    $(SUDO) chmod 755 /usr/sbin/policy-rc.d && made=1; }; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server; rc=$$?; \
	  [ -z "$$made" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; }

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

# Re-record the real servers' replies to the live differential sequence (tests/live/sequence.py):
# tests/golden/live/<profile>/<step>.json, from LXD 5.0.2 (lxd-5.0) and Incus 6.0.4 (incus-6.0).
# The recordings are written before the comparisons, so they are refreshed even while the
# mock still differs (those tests then fail, as in any run).
golden: venv system-deps
	REFRESH_GOLDEN=1 $(PY) -m pytest tests/live -q -k differential

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
