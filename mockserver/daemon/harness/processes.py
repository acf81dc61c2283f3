"""Daemon processes: one Node, and PackProcs, a pack of them."""
from __future__ import annotations

import contextlib
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote

import pylxd_cluster
from mockserver.daemon.harness.addresses import LO_BROADCAST, free_tcp_port, free_udp_port, random_block
from mockserver.daemon.harness.configfile import DEFAULTS, render_yaml
from mockserver.daemon.harness.unixhttp import raw_request
from mockserver.daemon.harness.waiting import wait_until

# Where the mockserver package is imported from: the daemons import the same code.
IMPORT_ROOT = Path(__file__).resolve().parents[3]

READY = "running;"

STOPPED = "left the pack, stopped"

LEADER_ROLES = ("database-leader", "database")


def daemon_command() -> list[str]:
    """The ``pylxd-cluster-daemon`` console script next to this interpreter (so that
    ``pgrep -f pylxd-cluster-daemon`` finds it), else ``python -m mockserver.daemon.cli``."""
    script = Path(sys.executable).with_name("pylxd-cluster-daemon")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mockserver.daemon.cli"]


def die_with_parent(args: list[str]) -> list[str]:
    """``args`` prefixed so that the child gets SIGKILL when this process dies, whatever the
    cause (``setpriv --pdeathsig KILL``, which sets PR_SET_PDEATHSIG and then execs the
    command: the pid stays the child's, ``pgrep -f`` still finds the command line). Without
    util-linux's ``setpriv``, ``args`` unchanged.

    The kernel sends the signal when the *thread* that started the child ends: start such
    children from a thread that lives as long as they should (the main thread)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *args] if setpriv else list(args)


def stop_process(proc, grace: float = 10.0) -> None:
    """SIGTERM ``proc``, then SIGKILL it if it outstays ``grace`` seconds; reaped, never raises."""
    with contextlib.suppress(Exception):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


class DaemonError(AssertionError):
    pass


class Node:
    """One daemon: its configuration, its process and its output."""

    def __init__(self, owner: PackProcs, name: str, interface: str, pack_options: dict, netns=None):
        self.owner = owner
        self.name = name
        self.interface = interface
        self.pack_options = pack_options
        self.netns = netns
        self.env: dict[str, str] = {}          # added to the daemon's environment (PYTHONPATH: in front)
        self.dir = owner.dir
        self.config_path = self.dir / f"{name}.yaml"
        self.socket_path = str(self.dir / f"{name}.socket")
        self.log_path = self.dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.running_at: float | None = None   # monotonic time the "running;" line was read
        # Wall clock (time.time(), comparable with the daemons' own timestamps): just before
        # the spawn, and (time, line) of every stdout line as the reader thread read it.
        self.spawned_wall: float | None = None
        self.line_times: list[tuple[float, str]] = []
        self.starts = 0
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._client: pylxd_cluster.Client | None = None
        # With ``PackProcs(listen=True)`` each node also serves its API over TCP (members
        # pull the pack document from the leader over HTTP).
        self.listen = None
        if owner.listen:  # a namespace has ports of its own: any will do there
            port = owner.rng.randrange(20000, 32000) if netns is not None else free_tcp_port(interface)
            self.listen = f"{interface}:{port}"
        self.extra_modules: list[tuple] = [("PackConfiguration", {})] if owner.listen else []
        self.write_config()

    # ---- configuration ------------------------------------------------------------------

    def modules(self) -> list[tuple]:
        api = {"unix": self.socket_path}
        if self.listen:
            api["listen"] = self.listen
        return [("Pack", self.pack_options), ("Api", api), *self.extra_modules]

    def set_modules(self, modules: list[tuple]) -> None:
        """Replace the modules after Pack and Api (user modules, PackConfiguration) and
        rewrite the file (a running daemon notices the edit)."""
        self.extra_modules = list(modules)
        self.write_config()

    def write_config(self) -> None:
        self.config_path.write_text(render_yaml(self.modules()))

    # ---- life -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait: bool = True, timeout: float = 20.0) -> Node:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running")
        self.close_client()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)  # a kill -9 leaves the socket file behind
        cmd = [*daemon_command(), "--config", str(self.config_path)]
        if self.netns is not None:
            cmd = self.netns.command(cmd)
        if self.owner.pdeathsig:
            cmd = die_with_parent(cmd)
        extra = dict(self.env)
        path = (str(IMPORT_ROOT), extra.pop("PYTHONPATH", ""), os.environ.get("PYTHONPATH", ""))
        env = dict(os.environ, **extra, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(p for p in path if p))
        self.lines, self.running_at, self.line_times = [], None, []
        self._queue = queue.Queue()
        log = open(self.log_path, "a")
        log.write(f"---- start {self.starts + 1}: {' '.join(cmd)}\n")
        log.flush()
        try:
            self.spawned_wall = time.time()
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                         text=True, bufsize=1, env=env, cwd=str(self.dir))
        finally:
            log.close()
        self.starts += 1
        threading.Thread(target=self._read, args=(self.proc, self._queue, self.line_times), daemon=True,
                         name=f"stdout-{self.name}").start()
        if wait:
            self.wait_running(timeout)
        return self

    def _read(self, proc: subprocess.Popen, lines: queue.Queue,
              stamps: list[tuple[float, str]] | None = None) -> None:
        for line in proc.stdout:  # always drained: the daemon never blocks on a full pipe
            line = line.rstrip("\n")
            if stamps is not None:
                stamps.append((time.time(), line))
            lines.put(line)
        lines.put(None)

    def line_time(self, text: str) -> float | None:
        """Wall-clock time (``time.time()``) at which the reader thread read the first line
        of the current run containing ``text`` (None while there is none). Unlike
        :attr:`running_at`, it does not depend on when anyone waited for the line."""
        for when, line in list(self.line_times):
            if text in line:
                return when
        return None

    def socket_ctime(self) -> float | None:
        """Wall-clock time the daemon created its API socket (the inode's ctime, a kernel
        timestamp; the daemon binds it right before its first announcement), or None if
        the socket is not there."""
        try:
            return os.stat(self.socket_path).st_ctime
        except OSError:
            return None

    def _take_lines(self, timeout: float) -> str | None:
        """Move one line (or the end marker None) from the reader into ``lines``."""
        line = self._queue.get(timeout=timeout)
        if line is not None:
            self.lines.append(line)
        return line

    def wait_for_line(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if text in line:
                return line
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DaemonError(f"{self.name} did not print {text!r} within {timeout}s; "
                                  f"{self.describe()}")
            try:
                line = self._take_lines(remaining)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)
                self.proc.wait(timeout=5)
                raise DaemonError(f"{self.name} exited ({self.proc.returncode}) before printing "
                                  f"{text!r}; {self.describe()}")
            if text in line:
                return line

    def wait_running(self, timeout: float = 20.0) -> float:
        self.wait_for_line(READY, timeout)
        self.running_at = time.monotonic()
        return self.running_at

    def output(self) -> list[str]:
        """Every stdout line read so far (drains what the reader thread has)."""
        while True:
            try:
                if self._take_lines(0) is None:
                    self._queue.put(None)
                    break
            except queue.Empty:
                break
        return list(self.lines)

    def log(self, tail: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-tail:])
        except FileNotFoundError:
            return ""

    def describe(self) -> str:
        code = self.proc.poll() if self.proc is not None else None
        return (f"[{self.name} {self.interface} pid={self.pid} exit={code}] stdout={self.output()!r}\n"
                f"stderr (tail):\n{self.log()}")

    def kill9(self) -> float:
        """SIGKILL; returns the monotonic time just before the signal."""
        assert self.alive(), f"{self.name} is not running: {self.describe()}"
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.close_client()
        return t0

    def sigterm(self) -> float:
        """Send SIGTERM (a graceful leave) and return at once, with the monotonic time just
        before the signal; :meth:`wait_stopped` checks how it ended."""
        assert self.alive(), f"{self.name} is not running: {self.describe()}"
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        return t0

    def terminate(self, timeout: float = 10.0, expect_exit: int | None = 0) -> float:
        """SIGTERM (a graceful leave); asserts the exit code and the farewell line.
        Returns the monotonic time just before the signal."""
        t0 = self.sigterm()
        self.wait_stopped(timeout, expect_exit)
        return t0

    def wait_stopped(self, timeout: float = 10.0, expect_exit: int | None = 0) -> int:
        """Wait for the process to end after :meth:`sigterm`; asserts the exit code and the
        farewell line (unless ``expect_exit`` is None). Returns the exit code."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise DaemonError(f"{self.name} did not stop within {timeout}s of SIGTERM; {self.describe()}")
        self.close_client()
        if expect_exit is not None:
            assert code == expect_exit, f"{self.name} exited {code} after SIGTERM, expected {expect_exit}; " \
                                        f"{self.describe()}"
            self.wait_for_line(STOPPED, 5)
        return code

    def stop(self, timeout: float = 10.0, *, signal_first: bool = True) -> int | None:
        """A graceful stop that checks nothing and never raises: SIGTERM (the daemon leaves
        the pack), SIGKILL if it has not exited within ``timeout`` s. Returns the exit code
        (also of a process that had already ended), None if the node never started.
        ``signal_first=False``: the SIGTERM was already sent, only wait (a second one could
        kill a daemon that has already put its handlers away on its way out)."""
        self.close_client()
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            if signal_first:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=max(0.0, timeout))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        return proc.returncode

    def restart(self, wait: bool = True, timeout: float = 20.0) -> Node:
        if self.alive():
            self.kill9()
        return self.start(wait=wait, timeout=timeout)

    def stop_quietly(self) -> None:
        """Teardown: SIGKILL whatever still runs (never raises)."""
        self.close_client()
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
        with contextlib.suppress(Exception):
            proc.stdout.close()

    # ---- the API --------------------------------------------------------------------------

    @property
    def client(self) -> pylxd_cluster.Client:
        if self._client is None:
            self._client = pylxd_cluster.Client(self.socket_path, timeout=5)
        return self._client

    def new_client(self) -> pylxd_cluster.Client:
        """A client of its own (for another thread)."""
        return pylxd_cluster.Client(self.socket_path, timeout=5)

    def close_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def members(self) -> dict[str, pylxd_cluster.models.member.ClusterMember]:
        return {m.server_name: m for m in self.client.cluster.members.all()}

    def statuses(self) -> dict[str, str]:
        return {name: m.status for name, m in self.members().items()}

    def leaders(self) -> list[str]:
        """The members this node's API shows with the leader roles (and database true)."""
        return sorted(name for name, m in self.members().items()
                      if tuple(m.roles) == LEADER_ROLES and m.database)

    def pack_state(self, timeout: float = 5.0) -> dict:
        """``metadata.pack`` of this node's own member state: incarnation, leader, term,
        counters, document (under the name the pack now gives it: a member may be renamed)."""
        status, info = raw_request(self.socket_path, "GET", "/1.0", timeout=timeout)
        if status != 200:
            raise DaemonError(f"{self.name}: /1.0 answered {status}: {info}")
        name = info["metadata"]["environment"]["server_name"]
        status, state = raw_request(self.socket_path, "GET", f"/1.0/cluster/members/{quote(name, safe='')}/state",
                                    timeout=timeout)
        if status != 200:
            raise DaemonError(f"{self.name}: member state answered {status}: {state}")
        return dict(state["metadata"]["pack"])

    def counters(self) -> dict[str, int]:
        return dict(self.pack_state()["counters"])

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.interface}:{self.owner.port} pid={self.pid}>"


class PackProcs:
    """A pack of daemon processes on loopback (or in namespaces), in one temporary directory.

    ``defaults``: Pack options for every node (name, secret, port, broadcast... are filled
    in unless given). ``broadcast=False`` leaves the broadcast option out (for multicast or
    peers only packs). ``pdeathsig=True``: the kernel kills every daemon if this process
    dies (see :func:`die_with_parent`; start them from the main thread).
    """

    def __init__(self, *, defaults: dict | None = None, broadcast: bool = True,
                 seed: int | None = None, tmp_prefix: str = "pkd-", listen: bool = False,
                 pdeathsig: bool = False, etcd=None):
        self.etcd = etcd   # an EtcdCluster: the nodes run with backend: etcd on it
        self.listen = listen
        self.pdeathsig = pdeathsig
        self.rng = random.Random(seed)
        self.dir = Path(tempfile.mkdtemp(prefix=tmp_prefix))  # short: unix socket paths <= 107 bytes
        self.block = random_block(self.rng)
        self.port = free_udp_port(self.rng)
        self.mcast_group = f"239.192.{self.rng.randrange(0, 256)}.{self.rng.randrange(1, 255)}"
        self.pack_name = f"lab{self.rng.randrange(1 << 20):x}"
        self.secret = f"s3cret-{self.rng.randrange(1 << 32):x}"
        self.use_broadcast = broadcast
        self.defaults = dict(DEFAULTS, **(defaults or {}))
        self.nodes: dict[str, Node] = {}
        self._next_host = 11

    # ---- building -------------------------------------------------------------------------

    def address(self, host: int) -> str:
        return f"{self.block}{host}"

    def add(self, name: str, pack: str = "follower", *, start: bool = False, interface: str | None = None,
            netns=None, **options) -> Node:
        """Add a node (``pack``: leader, follower or auto). Options use the YAML keys; an
        underscore in a keyword becomes a dash for the VyOS keys (keepalive_interval,
        dead_interval, mcast_group); ``pack_name`` sets the option ``name``; ``None`` removes
        an option."""
        if name in self.nodes:
            raise ValueError(f"node {name} exists")
        if interface is None:
            interface = netns.address if netns is not None else self.address(self._next_host)
            self._next_host += 1
        if self.etcd is not None:
            pack_options = {"name": self.pack_name, "backend": "etcd", "etcd-endpoints": list(self.etcd.endpoints),
                            "etcd-prefix": f"/pylxd-cluster-test-{self.port}"}
            if self.etcd.tls:
                pack_options.update({"etcd-cert": self.etcd.client_cert, "etcd-key": self.etcd.client_key,
                                     "etcd-ca": self.etcd.ca})
        else:
            pack_options = {"name": self.pack_name, "secret": self.secret}
            if self.use_broadcast:
                pack_options["broadcast"] = netns.broadcast if netns is not None else LO_BROADCAST
            pack_options.update({"interface": interface, "port": self.port})
        pack_options.update({"pack": pack, "server_name": name})
        pack_options.update(self.defaults)
        for key, value in options.items():
            if key in ("keepalive_interval", "dead_interval", "mcast_group"):
                key = key.replace("_", "-")
            elif key == "pack_name":  # the Pack option `name` (``name`` is the node's)
                key = "name"
            pack_options[key] = value
        pack_options = {k: v for k, v in pack_options.items() if v is not None}
        node = Node(self, name, interface, pack_options, netns=netns)
        self.nodes[name] = node
        if start:
            node.start()
        return node

    def peers_of(self, name: str) -> list[str]:
        """'host:port' of every other node (for ``peers``)."""
        return [f"{n.interface}:{self.port}" for other, n in self.nodes.items() if other != name]

    def use_static_peers(self) -> None:
        """Give every node the others as ``peers`` (and rewrite the files)."""
        for name, node in self.nodes.items():
            node.pack_options["peers"] = self.peers_of(name)
            node.write_config()

    def sealer(self, secret: str | None = None, pack_name: str | None = None):
        """The pack's datagram sealer (the tests know the secret: to read captures, or to
        seal datagrams of their own)."""
        from mockserver.daemon.protocol.crypto import Sealer

        return Sealer.for_pack(secret or self.secret, pack_name or self.pack_name)

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    # ---- life -----------------------------------------------------------------------------

    def start_all(self, names: Iterable[str] | None = None, timeout: float = 30.0) -> None:
        """Start the nodes (all at once, then wait for each one's "running;" line)."""
        chosen = [self.nodes[n] for n in names] if names is not None else list(self.nodes.values())
        for node in chosen:
            node.start(wait=False)
        deadline = time.monotonic() + timeout
        for node in chosen:
            node.wait_running(max(0.1, deadline - time.monotonic()))

    def kill9(self, name: str) -> float:
        return self.nodes[name].kill9()

    def terminate(self, name: str, **kw) -> float:
        return self.nodes[name].terminate(**kw)

    def restart(self, name: str, **kw) -> Node:
        return self.nodes[name].restart(**kw)

    def running(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.alive()]

    def stop_all(self, timeout: float = 10.0) -> dict[str, int | None]:
        """Stop every node gracefully and at once (they leave the pack in parallel): SIGTERM
        to each running one, then SIGKILL for any still there ``timeout`` s later. Checks
        nothing, never raises; returns ``{name: exit code}`` of every node ever started
        (also of those that had already ended, e.g. after :meth:`kill9`)."""
        for node in self.running():
            with contextlib.suppress(ProcessLookupError):
                node.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        return {name: node.stop(deadline - time.monotonic(), signal_first=False)
                for name, node in self.nodes.items() if node.proc is not None}

    def close(self) -> None:
        for node in self.nodes.values():
            node.stop_quietly()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PackProcs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- views across the pack ------------------------------------------------------------

    def form(self, names: Iterable[str], namespaces=None, timeout: float = 15.0, **pack_options) -> str:
        """Add ``names`` as ``pack: auto`` members (one per namespace, if given), start them
        and wait until every one is Online and one leader shows everywhere; return it."""
        names = list(names)
        for name, ns in zip(names, namespaces or [None] * len(names)):
            self.add(name, "auto", netns=ns, **pack_options)
        self.start_all(timeout=max(30.0, timeout))
        self.wait_until(lambda: self.all_online() and self.leader(), timeout, what="one leader")
        return self.leader()

    def leader(self, names: Iterable[str] | None = None) -> str:
        """The leader every node in ``names`` (default: every running node) shows, or ""
        while they do not agree or show none."""
        views = {tuple(self.nodes[name].leaders()) for name in (names or [n.name for n in self.running()])}
        return views.pop()[0] if len(views) == 1 and () not in views else ""

    def documents(self, names: Iterable[str] | None = None) -> set:
        """The (version, term, digest) each node in ``names`` (default: every running one)
        shows: one element once they agree."""
        shown = set()
        for name in names or [n.name for n in self.running()]:
            document = self.nodes[name].pack_state()["document"]
            shown.add((document["version"], document["term"], document["digest"]))
        return shown

    def views(self, names: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
        """{observer: {member: status}} for the running nodes (or ``names``)."""
        observers = list(names) if names is not None else [n.name for n in self.running()]
        return {name: self.nodes[name].statuses() for name in observers}

    def all_online(self, names: Iterable[str] | None = None, expected: Iterable[str] | None = None) -> bool:
        """True if every observer lists exactly ``expected`` (default: the observers), all Online."""
        observers = list(names) if names is not None else [n.name for n in self.running()]
        want = set(expected) if expected is not None else set(observers)
        for view in self.views(observers).values():
            if set(view) != want or any(status != "Online" for status in view.values()):
                return False
        return True

    def describe(self) -> str:
        parts = []
        for node in self.nodes.values():
            view = "-"
            if node.alive():
                try:
                    view = {name: (m.status, m.message, list(m.roles)) for name, m in node.members().items()}
                except Exception as exc:  # noqa: BLE001 - a description must not fail
                    view = f"(API error: {exc})"
            parts.append(f"{node!r}: {view}")
        return "\n".join(parts)

    def wait_until(self, predicate: Callable[[], bool], timeout: float, interval: float = 0.02,
                   what: str = "") -> float:
        """Poll ``predicate`` every ``interval`` s until true; returns the monotonic time it
        first held. Raises AssertionError (with every node's view) on timeout."""
        return wait_until(predicate, timeout, interval, what=what, describe=self.describe)
