"""Real LXD 5.0.2 and Incus 6.0.4 servers for the live (fidelity) tests: each flavour a
cluster of two members, ``node1`` and ``node2``, inside a network namespace of its own.

What a :class:`RealCluster` is made of:

- a network namespace (``mockserver.daemon.harness.netns``, named ``rlxd-<pid>-<n>`` or
  ``rincus-<pid>-<n>``) with only ``lo`` up: member ``i`` listens on ``127.0.0.<i>:8443``,
  on that namespace's loopback, so parallel runs never collide and nothing leaves it;
- a short temporary directory (``/tmp/real-<flavour>-<pid>-XXXX``: unix socket paths stay
  far below 108 bytes) holding each member's state directory (``LXD_DIR`` / ``INCUS_DIR``),
  its log (``--logfile``) and its stderr;
- the daemons, started by ``ip netns exec`` in a session of their own (so a process group to
  SIGKILL) and with PR_SET_PDEATHSIG (``setpriv --pdeathsig KILL``): the kernel kills them if
  the test process dies, whatever the cause. Each ``ip netns exec`` also gives its daemon a
  mount namespace of its own, so the tmpfs mounts LXD makes under its state directory never
  appear on the host and vanish with the process;
- ``HTTPS_PROXY`` / ``HTTP_PROXY`` set to ``http://127.0.0.1:9`` for the daemons: what they
  download at start-up (the instance types from images.linuxcontainers.org) fails at once
  against that closed port of the namespace's own loopback, instead of waiting on DNS. The
  cluster's own traffic is to loopback addresses, which Go never sends through a proxy.

``node1`` bootstraps the cluster (``lxd init --preseed`` / ``incus admin init --preseed``),
``lxc cluster add node2`` / ``incus cluster add node2`` issues the join token, and ``node2``
joins with it. Start-up waits on conditions only: each daemon's ``/internal/ready``, then
both members Online with one ``database-leader`` in both members' views.

The test process talks to the members without entering the namespace: the unix sockets are
files (:meth:`RealCluster.request`, :meth:`RealCluster.api`, or the SDK with
``Client(cluster.socket_path("node1"))``). For the HTTPS addresses, which exist only inside
the namespace, :meth:`RealCluster.tcp_connect` opens a TCP socket there from a short-lived
thread that entered it; :meth:`RealCluster.cli` runs ``lxc`` / ``incus`` inside the
namespace, and ``cluster.netns.run([...])`` anything else.

Fixtures: ``real_lxd`` and ``real_incus`` (session-scoped, started on first use, closed at
the end of the session) and ``real_cluster`` (each test once per flavour, the shared cluster
put back by :meth:`RealCluster.reset` afterwards). A missing binary fails the test loudly,
naming ``make system-deps``; it never skips.

Outside pytest::

    with RealCluster("incus") as cluster:
        status, headers, body = cluster.request("GET", "/1.0", member="node2")
        print(cluster.cli("cluster", "list").stdout)
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import pytest

from mockserver.daemon.harness.netns import Namespace, netns, prerequisite_problem, reap_stale
from mockserver.daemon.harness.processes import die_with_parent
from mockserver.daemon.harness.waiting import poll_until

__all__ = ["Flavour", "FLAVOURS", "Member", "RealCluster", "RealServerError", "unix_request",
           "missing_binaries", "DATABASE_ROLES"]

HTTPS_PORT = 8443
#: A port nothing listens on in the namespace: the daemons' proxy, so downloads fail at once.
CLOSED_PROXY = "http://127.0.0.1:9"
START_TIMEOUT = 90.0      # seconds for one step of the start-up (it takes about one in all)
SHUTDOWN_TIMEOUT = 30     # seconds a graceful shutdown may take before the SIGKILL
COMMAND_TIMEOUT = 60.0    # seconds for one CLI command
REQUEST_TIMEOUT = 30.0    # seconds for one request over a unix socket
DATABASE_ROLES = ("database-leader", "database", "database-standby")
_TMP_ROOT = "/tmp"        # short, so that the unix socket paths stay short


class RealServerError(AssertionError):
    """A real server did not start, answer or stop as expected (with its logs' tail)."""


@dataclass(frozen=True)
class Flavour:
    """What differs between LXD and Incus: binaries, environment names, package names."""

    name: str                 # "lxd" or "incus": also environment.server in GET /1.0
    daemon: str               # the daemon binary
    cli: str                  # the client binary
    admin: tuple[str, ...]    # the command with init / waitready / shutdown subcommands
    dir_env: str              # the state directory's variable (LXD_DIR, INCUS_DIR)
    conf_env: str             # the client's configuration directory variable
    packages: str             # the Debian packages (for messages)
    version: str              # the version the tests expect (Debian 12 / bookworm-backports)

    @property
    def netns_prefix(self) -> str:
        return f"r{self.name}"


FLAVOURS: dict[str, Flavour] = {
    "lxd": Flavour("lxd", "/usr/bin/lxd", "/usr/bin/lxc", ("/usr/bin/lxd",), "LXD_DIR", "LXD_CONF",
                   "lxd (and lxd-client)", "5.0.2"),
    "incus": Flavour("incus", "/usr/libexec/incus/incusd", "/usr/bin/incus", ("/usr/bin/incus", "admin"),
                     "INCUS_DIR", "INCUS_CONF", "incus-base and incus-client (bookworm-backports)", "6.0.4"),
}


def missing_binaries(flavour: str) -> list[str]:
    """The binaries of ``flavour`` that are not installed (executable) here."""
    f = FLAVOURS[flavour]
    return [path for path in dict.fromkeys((f.daemon, f.cli, f.admin[0])) if not os.access(path, os.X_OK)]


# ---- plain HTTP over a unix socket ----------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the unix socket at ``socket_path`` (as ``lxc`` talks to a local server)."""

    def __init__(self, socket_path: str, timeout: float):
        super().__init__("lxd", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def unix_request(socket_path: str, method: str, path: str, body: Any = None,
                 timeout: float = REQUEST_TIMEOUT) -> tuple[int, dict[str, str], Any]:
    """One request to the API on ``socket_path``: ``(status, headers, body)``, the headers'
    names lower-cased, the body parsed JSON (or the text if it is not JSON). ``body``: data
    sent as JSON, or bytes sent as they are."""
    conn = UnixHTTPConnection(socket_path, timeout)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read().decode("utf-8", "replace")
        reply_headers = {name.lower(): value for name, value in response.getheaders()}
        try:
            return response.status, reply_headers, json.loads(raw)
        except ValueError:
            return response.status, reply_headers, raw
    finally:
        conn.close()


# ---- entering the namespace from one thread ---------------------------------------------------

_CLONE_NEWNET = 0x40000000


def _in_netns(name: str, work: Callable[[], Any]) -> Any:
    """Run ``work()`` in a new thread that first moves itself into network namespace ``name``
    (setns(2) changes only the calling thread); return its result or raise its exception.
    Sockets it opens stay in that namespace, whichever thread uses them afterwards."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {name}: {os.strerror(err)}")
            finally:
                os.close(fd)
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=body, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# ---- one member ------------------------------------------------------------------------------

class Member:
    """One daemon of a :class:`RealCluster`."""

    def __init__(self, flavour: Flavour, name: str, index: int, root: Path):
        self.flavour = flavour
        self.name = name
        self.host = f"127.0.0.{index}"
        #: the HTTPS address (inside the cluster's namespace only)
        self.address = f"{self.host}:{HTTPS_PORT}"
        self.dir = root / name                       # LXD_DIR / INCUS_DIR
        self.socket_path = str(self.dir / "unix.socket")
        self.log_path = root / f"{name}.log"         # --logfile
        self.stderr_path = root / f"{name}.stderr"   # the daemon's stdout and stderr (panics)
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {self.flavour.dir_env: str(self.dir)}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 25) -> str:
        parts = []
        for path in (self.log_path, self.stderr_path):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                continue
            parts.append(f"  -- {path.name} (last {len(text)} lines):\n" + "\n".join(f"    {t}" for t in text))
        return "\n".join(parts) or "  (no logs)"

    def __repr__(self) -> str:
        state = "running" if self.alive() else "stopped"
        return f"<Member {self.flavour.name}/{self.name} {self.address} {state}>"


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment for the daemons and clients: the host's, minus anything that would
    point them elsewhere (other state directories, proxies, snap variables)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("LXD_", "INCUS_", "SNAP")) and key.lower() not in
           ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
    env.update({"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb"})
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra)
    return env


def _reap_stale_dirs(flavour: str) -> None:
    """Delete temporary directories of earlier runs whose process is gone (killed before its
    teardown; its daemons died with it, through PR_SET_PDEATHSIG)."""
    for path in glob.glob(os.path.join(_TMP_ROOT, f"real-{flavour}-*-*")):
        m = re.fullmatch(rf"real-{flavour}-(\d+)-\w+", os.path.basename(path))
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue


# ---- the cluster ------------------------------------------------------------------------------

class RealCluster:
    """A cluster of real LXD or Incus daemons (``node1`` .. ``node<size>``), started in a
    fresh network namespace; :meth:`close` (or leaving ``with``) shuts them down and deletes
    the namespace and the temporary directory, also when the start fails midway.

    Attributes:
        flavour: the :class:`Flavour` (``.name`` is "lxd" or "incus").
        members: {name: :class:`Member`} (``socket_path``, ``address``, ``log_path``, ``dir``).
        netns: the :class:`~mockserver.daemon.harness.netns.Namespace` they run in.
        dir: the temporary directory.
        timings: seconds per start-up step; ``startup_seconds`` their sum.
        baseline: what :meth:`reset` returns to (taken once the cluster formed).
    """

    def __init__(self, flavour: str, size: int = 2, start_timeout: float = START_TIMEOUT):
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {sorted(FLAVOURS)}, not {flavour!r}")
        if not 1 <= size <= 9:
            raise ValueError(f"size must be 1..9, not {size}")
        self.flavour = FLAVOURS[flavour]
        missing = missing_binaries(flavour)
        if missing:
            raise RealServerError(f"{flavour}: {', '.join(missing)} not installed (Debian packages "
                                  f"{self.flavour.packages}): run `make system-deps`")
        problem = prerequisite_problem()
        if problem:
            raise RealServerError(problem)
        self.start_timeout = start_timeout
        self.timings: dict[str, float] = {}
        self.baseline: dict[str, Any] = {}
        self.members: dict[str, Member] = {}
        self.netns: Namespace | None = None
        self.dir: Path | None = None
        self.startup_seconds: float | None = None
        self.close_seconds: float | None = None
        self._closed = False
        self._stack = contextlib.ExitStack()
        try:
            self._start(size)
        except BaseException:
            self._stack.close()
            raise

    # ---- start-up ---------------------------------------------------------------------------

    def _start(self, size: int) -> None:
        t0 = time.monotonic()
        name = self.flavour.name
        reap_stale(self.flavour.netns_prefix)
        _reap_stale_dirs(name)
        self.dir = Path(tempfile.mkdtemp(prefix=f"real-{name}-{os.getpid()}-", dir=_TMP_ROOT))
        self._stack.callback(shutil.rmtree, self.dir, ignore_errors=True)
        self.netns = self._stack.enter_context(netns(self.flavour.netns_prefix))
        (self.dir / "cli").mkdir()
        for index in range(1, size + 1):
            member = Member(self.flavour, f"node{index}", index, self.dir)
            if len(member.socket_path.encode()) >= 100:
                raise RealServerError(f"unix socket path too long: {member.socket_path}")
            self.members[member.name] = member
        self._step("namespace", t0)

        first, *others = self.members.values()
        self._launch(first)
        self._init(first, {"config": {"core.https_address": first.address},
                           "cluster": {"server_name": first.name, "enabled": True}})
        self._step("node1 bootstrapped", t0)
        for member in others:
            token = self.cli("cluster", "add", member.name, "--quiet", check=True).stdout.strip()
            self._launch(member)
            self._init(member, {"cluster": {"server_name": member.name, "enabled": True,
                                            "server_address": member.address,
                                            "cluster_address": first.address,
                                            "cluster_token": token}})
            self._step(f"{member.name} joined", t0)
        self.wait_formed()
        self._step("formed", t0)
        self.baseline = self.snapshot()
        self.startup_seconds = time.monotonic() - t0

    def _step(self, what: str, t0: float) -> None:
        self.timings[what] = round(time.monotonic() - t0 - sum(self.timings.values()), 3)

    def _launch(self, member: Member) -> None:
        """Start ``member``'s daemon and wait until it is ready."""
        member.dir.mkdir(mode=0o711)
        env = _clean_env(**member.env, HOME=str(self.dir), HTTPS_PROXY=CLOSED_PROXY, HTTP_PROXY=CLOSED_PROXY,
                         https_proxy=CLOSED_PROXY, http_proxy=CLOSED_PROXY)
        cmd = die_with_parent(self.netns.command(
            [self.flavour.daemon, "--group", "root", "--logfile", str(member.log_path)]))
        with open(member.stderr_path, "ab") as out:
            member.proc = subprocess.Popen(cmd, env=env, cwd=str(self.dir), stdin=subprocess.DEVNULL,
                                           stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self._stack.callback(self._stop, member)
        self.wait(lambda: self.request("GET", "/internal/ready", member=member.name, timeout=5)[0] == 200,
                  f"{member.name}'s daemon ready")

    def _init(self, member: Member, preseed: dict) -> None:
        # JSON is YAML: the preseed needs no YAML writer.
        proc = self._admin(member, "init", "--preseed", input=json.dumps(preseed), timeout=self.start_timeout)
        if proc.returncode != 0:
            raise RealServerError(f"`{' '.join(self.flavour.admin)} init --preseed` on {member.name} exited "
                                  f"{proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}\n"
                                  f"{self.describe()}")

    def _admin(self, member: Member, *args: str, input: str | None = None,
               timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
        """``lxd ARGS`` / ``incus admin ARGS`` against ``member``, inside the namespace (a
        joining member's ``init`` connects to the cluster's HTTPS address from there)."""
        try:
            return subprocess.run(self.netns.command([*self.flavour.admin, *args]), env=self._cli_env(member),
                                  input=input, capture_output=True, text=True, timeout=timeout, cwd=str(self.dir),
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise RealServerError(f"`{' '.join(self.flavour.admin)} {' '.join(args)}` on {member.name} did not "
                                  f"finish within {timeout}s (stdout={exc.stdout!r}, stderr={exc.stderr!r})\n"
                                  f"{self.describe()}") from None

    def wait_formed(self, timeout: float | None = None) -> None:
        """Wait until every member shows every member Online, one ``database-leader`` and
        a database role for each (the same view on all of them)."""
        names = sorted(self.members)

        def formed() -> bool:
            views = []
            for member in names:
                view = {m["server_name"]: (m["status"], tuple(m["roles"])) for m in self.members_of(member)}
                if sorted(view) != names or any(status != "Online" for status, _ in view.values()):
                    return False
                leaders = [n for n, (_, roles) in view.items() if "database-leader" in roles]
                if len(leaders) != 1 or any(not set(roles) & set(DATABASE_ROLES) for _, roles in view.values()):
                    return False
                views.append(view)
            return all(view == views[0] for view in views)

        self.wait(formed, f"{len(names)} members Online with one database-leader", timeout)

    # ---- waiting ------------------------------------------------------------------------------

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float | None = None,
             interval: float = 0.05) -> Any:
        """Poll ``predicate`` until it returns something true (exceptions count as false);
        fail at once, with the logs, if a daemon exited."""
        timeout = self.start_timeout if timeout is None else timeout

        def exited() -> str | None:
            dead = [m for m in self.members.values() if m.proc is not None and m.proc.poll() is not None]
            return ", ".join(f"{m.name} exited ({m.proc.returncode})" for m in dead) or None
        return poll_until(predicate, timeout, interval, f"[{self.flavour.name}] {what}", self.describe,
                          abort=exited, error=RealServerError)

    def describe(self) -> str:
        """The members, their processes and the tail of their logs (for failure messages)."""
        lines = [f"{self.flavour.name} cluster in netns {self.netns.name if self.netns else '?'}, dir {self.dir}"]
        for member in self.members.values():
            lines.append(f" {member!r} pid={member.proc.pid if member.proc else None}")
            lines.append(member.tail())
        return "\n".join(lines)

    # ---- talking to it ------------------------------------------------------------------------

    def member(self, name: str) -> Member:
        try:
            return self.members[name]
        except KeyError:
            raise KeyError(f"no member {name!r} (members: {sorted(self.members)})") from None

    def socket_path(self, member: str = "node1") -> str:
        return self.member(member).socket_path

    @property
    def socket_paths(self) -> dict[str, str]:
        return {name: m.socket_path for name, m in self.members.items()}

    @property
    def addresses(self) -> dict[str, str]:
        """The members' HTTPS addresses, ``127.0.0.<i>:8443`` (inside :attr:`netns` only)."""
        return {name: m.address for name, m in self.members.items()}

    @property
    def log_paths(self) -> dict[str, Path]:
        return {name: m.log_path for name, m in self.members.items()}

    def request(self, method: str, path: str, body: Any = None, member: str = "node1",
                timeout: float = REQUEST_TIMEOUT) -> tuple[int, dict[str, str], Any]:
        """:func:`unix_request` to ``member``'s unix socket."""
        return unix_request(self.socket_path(member), method, path, body, timeout)

    def api(self, method: str, path: str, body: Any = None, member: str = "node1",
            timeout: float = REQUEST_TIMEOUT) -> Any:
        """A request that must succeed: the reply's metadata; an asynchronous reply is
        waited for (``/wait``) and its operation's metadata returned. Raises
        :class:`RealServerError` with the error otherwise."""
        status, _, reply = self.request(method, path, body, member, timeout)
        if not isinstance(reply, dict) or reply.get("type") not in ("sync", "async"):
            raise RealServerError(f"{method} {path} on {self.flavour.name}/{member}: {status} {reply!r}")
        if reply["type"] == "async":
            op = reply["operation"]
            status, _, reply = self.request("GET", f"{op}/wait?timeout={int(timeout)}", member=member,
                                            timeout=timeout + 5)
            meta = reply.get("metadata") if isinstance(reply, dict) else None
            if status != 200 or not meta or meta.get("status") != "Success":
                raise RealServerError(f"{method} {path} on {self.flavour.name}/{member}: operation "
                                      f"{op} ended {status} {reply!r}")
            return meta.get("metadata")
        return reply.get("metadata")

    def members_of(self, member: str = "node1") -> list[dict]:
        """``GET /1.0/cluster/members?recursion=1`` as ``member`` sees it."""
        return self.api("GET", "/1.0/cluster/members?recursion=1", member=member)

    def _cli_env(self, member: Member) -> dict[str, str]:
        return _clean_env(**member.env, HOME=str(self.dir / "cli"),
                          **{self.flavour.conf_env: str(self.dir / "cli" / "conf")})

    def cli(self, *args: str, member: str = "node1", input: str | None = None,
            timeout: float = COMMAND_TIMEOUT, check: bool = False) -> subprocess.CompletedProcess:
        """Run ``lxc ARGS`` / ``incus ARGS`` inside the namespace, against ``member`` (its
        ``LXD_DIR`` / ``INCUS_DIR``, a configuration directory of the cluster's own);
        ``check=True`` raises :class:`RealServerError` unless it exits 0."""
        target = self.member(member)
        cmd = self.netns.command([self.flavour.cli, *args])
        try:
            proc = subprocess.run(cmd, env=self._cli_env(target), input=input, capture_output=True, text=True,
                                  timeout=timeout, cwd=str(self.dir),
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise RealServerError(f"`{os.path.basename(self.flavour.cli)} {' '.join(args)}` did not finish "
                                  f"within {timeout}s (stdout={exc.stdout!r}, stderr={exc.stderr!r})") from None
        if check and proc.returncode != 0:
            raise RealServerError(f"`{os.path.basename(self.flavour.cli)} {' '.join(args)}` on {member} exited "
                                  f"{proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def tcp_connect(self, address: str, timeout: float = 10.0) -> socket.socket:
        """A TCP socket connected to ``host:port`` inside the namespace (e.g. a member's
        HTTPS address), usable from any thread of the test process; wrap it with
        :mod:`ssl` for HTTPS (the servers' certificates are self-signed)."""
        host, _, port = address.rpartition(":")
        return _in_netns(self.netns.name, lambda: socket.create_connection((host, int(port)), timeout=timeout))

    # ---- back to a known state -----------------------------------------------------------------

    def snapshot(self, member: str = "node1") -> dict[str, Any]:
        """What :meth:`reset` restores, as ``member`` sees it: each member's name, status,
        description, config, failure domain and groups (sorted; by URL, which a rename keeps),
        the cluster groups (description, members) and each member's server config
        (``GET /1.0`` config). Not the roles: which member leads the database is the
        servers' business."""
        members = {m["url"]: {**{key: m.get(key) for key in ("server_name", "status", "description", "config",
                                                              "failure_domain")},
                              "groups": sorted(m.get("groups") or [])}
                   for m in self.members_of(member)}
        groups = {g["name"]: {"description": g.get("description", ""), "members": sorted(g.get("members") or [])}
                  for g in self.api("GET", "/1.0/cluster/groups?recursion=1", member=member)}
        config = {name: self.api("GET", "/1.0", member=name).get("config") or {} for name in self.members}
        return {"members": members, "groups": groups, "config": config}

    def reset(self) -> None:
        """Put the cluster back to :attr:`baseline` through the API: revoke pending tokens
        (join and trust), rename members back, restore evacuated members, restore each member's
        description, config, failure domain and groups, delete cluster groups made since and
        restore the others, and restore each member's server config (``PATCH /1.0``, keys
        added since set to ""); then wait until node1 shows the baseline (every member shows
        the same cluster state; the server config is read from each). Nothing else (database
        roles, instances, images, profiles, projects, networks, storage, the trust store) is
        touched; a cluster that lost a member cannot be reset (start a new one). Costs a dozen
        requests, about 0.1 s, when there is something to undo."""
        for op in self.api("GET", "/1.0/operations?recursion=1").get("running") or []:
            if op.get("class") == "token":
                self.request("DELETE", f"/1.0/operations/{op['id']}")
        base = self.baseline["members"]
        by_url = {m["url"]: m for m in self.members_of()}
        if set(by_url) != set(base):
            raise RealServerError(f"cannot reset: members {sorted(by_url)} instead of {sorted(base)}")
        for url, want in base.items():
            now = by_url[url]
            if now["server_name"] != want["server_name"]:
                self.api("POST", f"/1.0/cluster/members/{quote(now['server_name'])}",
                         {"server_name": want["server_name"]})
            if now["status"] == "Evacuated":
                self.api("POST", f"/1.0/cluster/members/{quote(want['server_name'])}/state",
                         {"action": "restore"}, timeout=120)
        for group, want in self.baseline["groups"].items():
            status, _, _ = self.request("GET", f"/1.0/cluster/groups/{quote(group)}")
            if status == 404:
                self.api("POST", "/1.0/cluster/groups", {"name": group, "description": want["description"]})
        for url, want in base.items():
            now = {m["url"]: m for m in self.members_of()}[url]
            fields = ("description", "config", "failure_domain", "groups")
            if any(now.get(key) != want[key] for key in fields[:3]) or sorted(now.get("groups") or []) \
                    != want["groups"]:
                self.api("PUT", f"/1.0/cluster/members/{quote(want['server_name'])}",
                         {**{key: want[key] for key in fields}, "roles": now.get("roles") or []})
        for group in self.api("GET", "/1.0/cluster/groups?recursion=1"):
            want = self.baseline["groups"].get(group["name"])
            if want is None:
                if group.get("members"):
                    self.api("PUT", f"/1.0/cluster/groups/{quote(group['name'])}",
                             {"description": group.get("description", ""), "members": []})
                self.api("DELETE", f"/1.0/cluster/groups/{quote(group['name'])}")
            elif group.get("description", "") != want["description"] or sorted(group.get("members") or []) \
                    != want["members"]:
                self.api("PUT", f"/1.0/cluster/groups/{quote(group['name'])}",
                         {"description": want["description"], "members": want["members"]})
        for name, want in self.baseline["config"].items():
            if (self.api("GET", "/1.0", member=name).get("config") or {}) != want:
                self.api("PATCH", "/1.0", {"config": {**{k: "" for k in self._extra_keys(name, want)}, **want}},
                         member=name)
        self.wait(lambda: self.snapshot() == self.baseline, "the baseline again", timeout=30)

    def _extra_keys(self, member: str, want: dict) -> list[str]:
        return [key for key in (self.api("GET", "/1.0", member=member).get("config") or {}) if key not in want]

    # ---- shutting down ------------------------------------------------------------------------

    def _stop(self, member: Member) -> None:
        """Shut ``member`` down gracefully (``lxd shutdown`` / ``incus admin shutdown``); if it
        is not gone within SHUTDOWN_TIMEOUT, SIGKILL its process group."""
        proc = member.proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                with contextlib.suppress(RealServerError):
                    self._admin(member, "shutdown", "--timeout", str(SHUTDOWN_TIMEOUT), timeout=SHUTDOWN_TIMEOUT + 5)
                proc.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            # Anything else it left would be inside the namespace: deleting it kills that.

    def close(self) -> None:
        """Shut the members down (the last one first), delete the namespace and the
        directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        t0 = time.monotonic()
        self._stack.close()
        self.close_seconds = time.monotonic() - t0

    def __enter__(self) -> RealCluster:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.netns.name if self.netns else None
        return f"<RealCluster {self.flavour.name} {sorted(self.members)} netns={where}>"


# ---- pytest fixtures ------------------------------------------------------------------------------

_started: dict[str, RealCluster] = {}


def _session_cluster(flavour: str):
    missing = missing_binaries(flavour)
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed (Debian packages {FLAVOURS[flavour].packages}): "
                    "run `make system-deps`; the live fidelity tests need real servers", pytrace=False)
    problem = prerequisite_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    cluster = RealCluster(flavour)
    _started[flavour] = cluster
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def real_lxd():
    """A real LXD 5.0.2 cluster (node1, node2) for the whole session."""
    yield from _session_cluster("lxd")


@pytest.fixture(scope="session")
def real_incus():
    """A real Incus 6.0.4 cluster (node1, node2) for the whole session."""
    yield from _session_cluster("incus")


@pytest.fixture(params=sorted(FLAVOURS))
def real_cluster(request) -> RealCluster:
    """Each flavour's session cluster in turn; put back with :meth:`RealCluster.reset` after
    the test."""
    cluster = request.getfixturevalue(f"real_{request.param}")
    yield cluster
    cluster.reset()


def pytest_terminal_summary(terminalreporter) -> None:
    for flavour, cluster in _started.items():
        steps = ", ".join(f"{step} {seconds:.2f}s" for step, seconds in cluster.timings.items())
        closed = f"; closed in {cluster.close_seconds:.2f}s" if cluster.close_seconds is not None else ""
        terminalreporter.write_line(f"real {flavour} cluster: started in {cluster.startup_seconds:.2f}s "
                                    f"({steps}){closed}")
