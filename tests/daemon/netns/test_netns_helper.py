"""The namespace helper itself: what it makes, it deletes, also on failure."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from mockserver.daemon.harness import netns
from mockserver.daemon.harness.netns import bridged_namespaces, list_namespaces
from mockserver.daemon.harness.netns import netns as make_netns


def test_prerequisites_are_met_here():
    # Root and iproute2 are required: the tests fail (never skip) without them.
    assert netns.prerequisite_problem() is None
    netns.require_netns()


def test_namespace_is_deleted_with_its_processes_even_on_error():
    with pytest.raises(RuntimeError, match="boom"):
        with make_netns("pkh") as ns:
            name = ns.name
            assert name in list_namespaces("pkh")
            assert "UP" in ns.run(["ip", "link", "show", "lo"]).stdout
            # the namespace has nothing but lo
            assert ns.run(["ip", "-o", "link"]).stdout.count("\n") == 1
            proc = ns.popen(["sleep", "600"])
            # a process started otherwise, still inside the namespace
            stray = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "600"])
            deadline = time.monotonic() + 5
            while True:  # both have entered the namespace
                pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                      text=True).stdout.split()
                if len(pids) >= 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert len(pids) == 2
            raise RuntimeError("boom")
    assert name not in list_namespaces("pkh")
    assert proc.poll() is not None
    assert stray.wait(timeout=5) is not None


def test_names_are_unique():
    with make_netns("pkh") as a, make_netns("pkh") as b:
        assert a.name != b.name
        assert a.name.startswith("pkh-")
    assert not [n for n in list_namespaces("pkh") if n in (a.name, b.name)]


def test_bridged_members_and_cleanup():
    with bridged_namespaces(2, subnet="203.0.113.0/24", name_prefix="pkh") as nodes:
        names = [n.name for n in nodes] + [nodes[0]._switch]
        assert [n.address for n in nodes] == ["203.0.113.1", "203.0.113.2"]
        assert {n.broadcast for n in nodes} == {"203.0.113.255"}
        out = nodes[0].run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
        assert "203.0.113.1/24" in out and "brd 203.0.113.255" in out
        # The host's own network got nothing: no bridge, no veth.
        host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert "br0" not in host_links
        nodes[1].link_down()
        sw = subprocess.run(["ip", "-n", nodes[1]._switch, "-o", "link", "show", "p2"],
                            capture_output=True, text=True).stdout
        assert "state DOWN" in sw
        nodes[1].link_up()
        sw = subprocess.run(["ip", "-n", nodes[1]._switch, "-o", "link", "show", "p2"],
                            capture_output=True, text=True).stdout
        assert ",UP" in sw
    assert not set(names) & set(list_namespaces("pkh"))


def test_subnet_outside_documentation_ranges_is_refused():
    with pytest.raises(ValueError, match="documentation"):
        with bridged_namespaces(2, subnet="100.64.0.0/24"):
            pass
    assert not list_namespaces(f"pkh-{os.getpid()}-")


def test_fixtures(netns_factory, bridged_factory):
    ns = netns_factory("pkh")
    nodes = bridged_factory(2, prefix="pkh")
    assert ns.name in list_namespaces("pkh")
    assert all(n.name in list_namespaces("pkh") for n in nodes)
    assert nodes[1].address == "198.51.100.2"
    assert "198.51.100.2/24" in nodes[1].ip("-4", "-o", "addr", "show", "dev", "eth0")


def test_leftovers_of_fixtures_are_gone():
    # Runs after test_fixtures (file order): its teardown deleted everything.
    assert list_namespaces(f"pkh-{os.getpid()}-") == []


def test_missing_root_or_ip_fails_loudly_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert "must run as root" in netns.prerequisite_problem()
    with pytest.raises(netns.NetnsUnavailable, match="root"):
        netns.require_netns()
    with pytest.raises(netns.NetnsUnavailable, match="root"):
        with make_netns("pkh"):
            pass
    # the fixtures fail the test (pytest.fail), they do not skip it
    with pytest.raises(pytest.fail.Exception, match="root"):
        netns._fail_if_unavailable()
    monkeypatch.undo()
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    assert "iproute2" in netns.prerequisite_problem()
    with pytest.raises(pytest.fail.Exception, match="iproute2"):
        netns._fail_if_unavailable()


def test_bridged_cleanup_on_error():
    with pytest.raises(KeyError):
        with bridged_namespaces(2, name_prefix="pkh") as nodes:
            names = [n.name for n in nodes] + [nodes[0]._switch]
            nodes[0].popen(["sleep", "600"])
            raise KeyError("fail inside")
    assert not set(names) & set(list_namespaces("pkh"))


def test_reap_stale_deletes_leftovers_of_dead_runs_only():
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"pkh-{dead.pid}-1"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        with make_netns("pkh") as live:  # ours, running: kept
            assert netns.reap_stale("pkh") == [stale]
            assert live.name in list_namespaces("pkh")
        assert stale not in list_namespaces("pkh")
    finally:
        subprocess.run(["ip", "netns", "delete", stale], capture_output=True)
