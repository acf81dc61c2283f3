"""Smoke tests of the real servers the live fidelity tests run against: LXD 5.0.2 and
Incus 6.0.4, each a two-member cluster in a loopback-only network namespace
(tests/support/realservers.py). They check the harness gives what it promises: the right
server and version on every member, a formed cluster seen alike through the REST API, the
CLI and the SDK, nothing reachable but loopback, a reset that undoes, and no process,
namespace or directory left behind."""
from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import textwrap

import pytest

import pylxd_cluster
from mockserver.daemon.harness.netns import list_namespaces
from mockserver.daemon.harness.waiting import wait_until
from tests.support import realservers
from tests.support.realservers import FLAVOURS, RealCluster, RealServerError

EXTENSIONS = {"lxd": 318, "incus": 450}   # len(api_extensions) of LXD 5.0.2 and Incus 6.0.4 as packaged


@pytest.fixture(params=sorted(FLAVOURS))
def cluster(request) -> RealCluster:
    """Each flavour's session cluster, for tests that only read."""
    return request.getfixturevalue(f"real_{request.param}")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# ---- what the servers are --------------------------------------------------------------------

def test_every_member_is_the_expected_server_and_version(cluster):
    flavour = cluster.flavour
    for name in ("node1", "node2"):
        status, headers, reply = cluster.request("GET", "/1.0", member=name)
        assert status == 200, reply
        assert headers["content-type"] == "application/json"
        assert reply["type"] == "sync"
        meta = reply["metadata"]
        env = meta["environment"]
        assert (env["server"], env["server_version"]) == (flavour.name, flavour.version)
        assert env["server_clustered"] is True
        assert env["server_name"] == name
        assert meta["auth"] == "trusted"  # over the unix socket
        assert meta["api_version"] == "1.0"
        assert "clustering" in meta["api_extensions"]
        assert len(meta["api_extensions"]) == EXTENSIONS[flavour.name]


def test_both_members_online_with_one_leader_in_every_view(cluster):
    for view in ("node1", "node2"):
        status, _, reply = cluster.request("GET", "/1.0/cluster/members", member=view)
        assert status == 200
        assert sorted(reply["metadata"]) == ["/1.0/cluster/members/node1", "/1.0/cluster/members/node2"]
        members = {m["server_name"]: m for m in cluster.members_of(view)}
        assert sorted(members) == ["node1", "node2"]
        assert {name: m["status"] for name, m in members.items()} == {"node1": "Online", "node2": "Online"}
        assert {name: m["url"] for name, m in members.items()} == {"node1": "https://127.0.0.1:8443",
                                                                  "node2": "https://127.0.0.2:8443"}
        assert [name for name, m in members.items() if "database-leader" in m["roles"]] in (["node1"], ["node2"])
    status, _, reply = cluster.request("GET", "/1.0/cluster")
    assert status == 200 and reply["metadata"]["enabled"] is True, reply


def test_the_cli_lists_both_members(cluster):
    for member in ("node1", "node2"):
        proc = cluster.cli("cluster", "list", "--format", "csv", member=member)
        assert proc.returncode == 0, proc.stderr
        rows = {row[0]: row for row in csv.reader(io.StringIO(proc.stdout)) if row}
        assert sorted(rows) == ["node1", "node2"], proc.stdout
        assert all("ONLINE" in row for row in rows.values()), proc.stdout
        assert rows["node2"][1] == "https://127.0.0.2:8443"
        assert sum("database-leader" in ",".join(row) for row in rows.values()) == 1, proc.stdout


def test_the_sdk_lists_the_members(cluster):
    for member in ("node1", "node2"):
        with pylxd_cluster.Client(cluster.socket_path(member), timeout=15) as client:
            assert client.server_clustered and client.server_name == member
            assert client.environment["server"] == cluster.flavour.name
            members = client.cluster.members.all()
            assert sorted(members.names) == ["node1", "node2"]
            assert {m.status for m in members} == {"Online"}
            assert sum("database-leader" in m.roles for m in members) == 1
            assert client.cluster.members.get("node2").url == "https://127.0.0.2:8443"


# ---- only loopback ---------------------------------------------------------------------------

def test_the_namespace_has_only_lo_up_and_no_route_out(cluster):
    ns = cluster.netns
    up = [line.split(":")[1].strip() for line in ns.ip("-o", "link", "show", "up").splitlines()]
    assert up == ["lo"]
    addresses = [line.split()[3] for line in ns.ip("-o", "addr", "show").splitlines()]
    assert sorted(addresses) == ["127.0.0.1/8", "::1/128"]
    assert ns.ip("route", "show").strip() == ""
    assert ns.ip("-6", "route", "show", "default").strip() == ""
    # the daemons run in there
    pids = subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True, text=True, check=True).stdout
    assert {m.proc.pid for m in cluster.members.values()} <= set(map(int, pids.split()))


def test_start_up_downloads_failed_on_the_closed_local_port(cluster):
    for member in cluster.members.values():
        log = member.log_path.read_text()
        failed = [line for line in log.splitlines() if "images.linuxcontainers.org" in line]
        assert failed, f"no download attempt logged by {member.name}:\n{log}"
        assert all("proxyconnect tcp" in line and "127.0.0.1:9" in line and "connection refused" in line
                   for line in failed), failed
        # Every connection a daemon reported failing was to loopback (the proxy's closed port).
        dialled = re.findall(r"dial tcp (\[?[0-9a-fA-F.:]+?\]?):\d+", log)
        assert dialled and all(ipaddress.ip_address(host.strip("[]")).is_loopback for host in dialled), dialled


def test_https_addresses_answer_inside_the_namespace(cluster):
    for name, address in cluster.addresses.items():
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # self-signed: compared with the certificate below
        with context.wrap_socket(cluster.tcp_connect(address)) as tls:
            tls.sendall(b"GET /1.0 HTTP/1.1\r\nHost: lxd\r\nConnection: close\r\n\r\n")
            raw = b""
            while chunk := tls.recv(65536):
                raw += chunk
            der = tls.getpeercert(binary_form=True)
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        if b"transfer-encoding: chunked" in head.lower():
            body = _unchunk(body)
        meta = json.loads(body)["metadata"]
        assert meta["auth"] == "untrusted"
        trusted = cluster.api("GET", "/1.0", member=name)
        assert ssl.DER_cert_to_PEM_cert(der).strip() == trusted["environment"]["certificate"].strip()
    with pytest.raises(ConnectionRefusedError):  # and outside it, the address is nobody's
        socket.create_connection(("127.0.0.2", 8443), timeout=5).close()


def _unchunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2:]


# ---- reset ------------------------------------------------------------------------------------

def test_reset_undoes_cluster_changes(real_cluster):
    c = real_cluster
    c.api("POST", "/1.0/cluster/groups", {"name": "extra", "description": "made by a test", "members": ["node2"]})
    c.api("PUT", "/1.0/cluster/groups/default", {"description": "changed", "members": ["node1", "node2"]})
    node2 = next(m for m in c.members_of() if m["server_name"] == "node2")
    c.api("PUT", "/1.0/cluster/members/node2", {"description": "changed", "config": {}, "failure_domain": "rack2",
                                                "groups": ["default", "extra"], "roles": node2["roles"]})
    c.api("PATCH", "/1.0", {"config": {"images.auto_update_interval": "0"}})
    c.cli("cluster", "add", "node3", "--quiet", check=True)
    c.api("POST", "/1.0/cluster/members/node2", {"server_name": "renamed"})
    c.api("POST", "/1.0/cluster/members/renamed/state", {"action": "evacuate"}, timeout=60)
    assert c.snapshot() != c.baseline

    c.reset()
    assert c.snapshot() == c.baseline
    assert c.snapshot("node2") == c.baseline
    running = c.api("GET", "/1.0/operations?recursion=1").get("running") or []
    assert not [op for op in running if op["class"] == "token"]
    c.wait_formed(timeout=30)


# ---- nothing left behind ----------------------------------------------------------------------

class FailingJoin(RealCluster):
    """A cluster whose second member's join fails, after both daemons started."""

    def _init(self, member, preseed):
        if member.name == "node2":
            raise RuntimeError("join refused by the test")
        super()._init(member, preseed)


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_a_start_that_fails_midway_leaves_nothing(flavour, monkeypatch):
    started = {}
    real_launch = FailingJoin._launch

    def launch(self, member):
        real_launch(self, member)
        started[member.name] = (member.proc, self.netns.name, self.dir)

    monkeypatch.setattr(FailingJoin, "_launch", launch)
    with pytest.raises(RuntimeError, match="join refused by the test"):
        FailingJoin(flavour)
    assert sorted(started) == ["node1", "node2"]
    for proc, ns_name, directory in started.values():
        assert proc.returncode == 0, f"not a graceful shutdown: {proc.returncode}"
        assert gone(proc.pid)
        assert ns_name not in list_namespaces(FLAVOURS[flavour].netns_prefix)
        assert not directory.exists()


def test_daemons_die_with_the_test_process_and_leftovers_are_reaped(tmp_path):
    """A test process killed with SIGKILL takes its daemons with it (PR_SET_PDEATHSIG); the
    next start deletes the namespace and directory it left."""
    script = textwrap.dedent("""
        import json, os, signal, sys
        sys.path.insert(0, sys.argv[1])
        from tests.support.realservers import RealCluster
        c = RealCluster("lxd", size=1)
        print(json.dumps({"pid": c.members["node1"].proc.pid, "netns": c.netns.name, "dir": str(c.dir)}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", script, root], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = json.loads(proc.stdout)
    wait_until(lambda: gone(left["pid"]), 10, what="the orphaned lxd killed by the kernel")
    # Its teardown never ran: its namespace and directory are left (unless a parallel run's
    # start has reaped them already), and the next start reaps them.
    with RealCluster("lxd", size=1) as fresh:
        assert fresh.cli("cluster", "list", "--format", "csv").returncode == 0
        assert left["netns"] not in list_namespaces("rlxd")
        assert not os.path.exists(left["dir"])


def test_a_missing_binary_fails_loudly_naming_the_make_target(monkeypatch):
    monkeypatch.setitem(FLAVOURS, "lxd", realservers.Flavour(
        "lxd", "/nonexistent/lxd", "/usr/bin/lxc", ("/nonexistent/lxd",), "LXD_DIR", "LXD_CONF", "lxd", "5.0.2"))
    with pytest.raises(pytest.fail.Exception, match=r"/nonexistent/lxd not installed .*`make system-deps`"):
        next(realservers._session_cluster("lxd"))
    with pytest.raises(RealServerError, match="make system-deps"):
        RealCluster("lxd")
