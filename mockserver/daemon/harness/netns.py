"""Network namespaces for tests: made fresh, always deleted (Linux, root, iproute2).

Nothing here touches the host's network: every interface (bridge, veths) lives inside
namespaces made here, and deleting those namespaces deletes them. The only trace in the
root namespace is the name under ``/run/netns`` while a namespace exists.

Usage::

    from mockserver.daemon.harness.netns import netns, bridged_namespaces

    with netns("pk") as ns:                     # lo is up inside
        ns.run(["ip", "addr"])                  # subprocess.run via ``ip netns exec``
        proc = ns.popen([sys.executable, "child.py"], stdout=subprocess.PIPE)

    with bridged_namespaces(3) as nodes:        # 198.51.100.1, .2, .3 on one switch
        nodes[0].address, nodes[0].broadcast    # "198.51.100.1", "198.51.100.255"
        nodes[2].link_down()                    # unplug its cable; link_up() plugs it back

    with routed_namespaces((2, 2)) as (router, (a, b)):   # two subnets joined by a router
        a[0].address, b[0].address, b[0].gateway  # "198.51.100.1", "203.0.113.1", "203.0.113.254"

Pytest: use the context managers inside a fixture (``with ... as x: yield x``), or the
fixtures ``netns_factory`` / ``bridged_factory`` / ``routed_factory`` below (import them
into a conftest).
Names are ``<prefix>-<pid>-<counter>``, so parallel runs and leftovers of crashed runs
never collide; :func:`reap_stale` deletes leftovers whose process is gone.

Processes started with :meth:`Namespace.popen` are killed (TERM, then KILL) before the
namespace is deleted, and so is any other process still inside a namespace made here
(``ip netns pids``): a namespace lives on, invisible, while a process holds it.
"""
from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import time
from typing import Iterator, Sequence

__all__ = ["Namespace", "NetnsUnavailable", "netns", "bridged_namespaces", "routed_namespaces",
           "require_netns", "prerequisite_problem", "reap_stale", "list_namespaces", "netns_factory",
           "bridged_factory", "routed_factory"]

DEFAULT_SUBNET = "198.51.100.0/24"
ROUTED_SUBNETS = ("198.51.100.0/24", "203.0.113.0/24")
_ALLOWED_SUBNETS = (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("203.0.113.0/24"))
_counter = itertools.count(1)
_TIMEOUT = 20


class NetnsUnavailable(RuntimeError):
    """The tests need root and iproute2; raised (a loud failure, not a skip) otherwise."""


def prerequisite_problem() -> str | None:
    """None if namespaces can be made here, else what is missing."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return ("network-namespace tests must run as root (they create namespaces, veths and "
                f"a bridge); running as uid {os.geteuid() if hasattr(os, 'geteuid') else '?'}")
    if shutil.which("ip") is None:
        return "network-namespace tests need the `ip` command (Debian package iproute2)"
    return None


def require_netns() -> None:
    """Raise :class:`NetnsUnavailable` with a clear message if not root or no ``ip``."""
    problem = prerequisite_problem()
    if problem:
        raise NetnsUnavailable(problem)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=_TIMEOUT)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed ({proc.returncode}): "
                           f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def list_namespaces(prefix: str = "") -> list[str]:
    """Names of the network namespaces (``ip netns list``) starting with ``prefix``."""
    out = _ip("netns", "list").stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix)]


def _check_prefix(prefix: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", prefix):
        raise ValueError(f"namespace prefix must be 1-16 lowercase letters/digits: {prefix!r}")
    return prefix


def _unique_name(prefix: str) -> str:
    return f"{_check_prefix(prefix)}-{os.getpid()}-{next(_counter)}"


def reap_stale(prefix: str) -> list[str]:
    """Delete namespaces named ``<prefix>-<pid>-<n>`` (made by this module) whose process
    ``pid`` is gone; returns their names."""
    reaped = []
    pattern = re.compile(rf"{re.escape(_check_prefix(prefix))}-(\d+)-\d+")
    for name in list_namespaces(prefix):
        m = pattern.fullmatch(name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # still running: maybe a parallel run
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _delete_namespace(name)
        reaped.append(name)
    return reaped


def _kill_pids(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _delete_namespace(name: str) -> None:
    """Kill what runs inside ``name`` (it is ours), then delete it."""
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    own = os.getpid()
    _kill_pids([int(p) for p in pids if p.isdigit() and int(p) != own])
    _ip("netns", "delete", name, check=False)


class Namespace:
    """A network namespace made by :func:`netns` (or :func:`bridged_namespaces`)."""

    def __init__(self, name: str):
        self.name = name
        #: set for members of :func:`bridged_namespaces`
        self.address: str | None = None
        self.broadcast: str | None = None
        self.prefixlen: int | None = None
        self.ifname: str | None = None
        #: set for members of :func:`routed_namespaces`: the router's address, their default route
        self.gateway: str | None = None
        self._switch: str | None = None
        self._port: str | None = None
        self._procs: list[subprocess.Popen] = []

    def command(self, cmd: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *map(str, cmd)]

    def run(self, cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
        """``subprocess.run`` inside the namespace. Defaults: ``check=True``,
        ``capture_output=True``, ``text=True``, ``timeout=20``."""
        kw.setdefault("check", True)
        kw.setdefault("timeout", _TIMEOUT)
        if "stdout" not in kw and "stderr" not in kw:
            kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.command(cmd), **kw)

    def popen(self, cmd: Sequence[str], **kw) -> subprocess.Popen:
        """``subprocess.Popen`` inside the namespace; killed when the namespace goes."""
        proc = subprocess.Popen(self.command(cmd), **kw)
        self._procs.append(proc)
        return proc

    def ip(self, *args: str) -> str:
        """Run ``ip -n <ns> ARGS`` and return its output (raises on failure)."""
        return _ip("-n", self.name, *args).stdout

    def link_down(self) -> None:
        """Unplug this member from the switch (its switch-side veth goes down; its own
        side loses carrier, its addresses and routes stay)."""
        self._set_port("down")

    def link_up(self) -> None:
        """Plug it back."""
        self._set_port("up")

    def _set_port(self, state: str) -> None:
        if self._switch is None:
            raise RuntimeError(f"namespace {self.name} is not on a switch")
        _ip("-n", self._switch, "link", "set", "dev", self._port, state)

    def _stop_processes(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self._procs.clear()

    def delete(self) -> None:
        try:
            self._stop_processes()
        finally:
            _delete_namespace(self.name)

    def __repr__(self) -> str:
        extra = f" {self.address}/{self.prefixlen}" if self.address else ""
        return f"<Namespace {self.name}{extra}>"


def _create(prefix: str) -> Namespace:
    ns = Namespace(_unique_name(prefix))
    _ip("netns", "add", ns.name)
    try:
        _ip("-n", ns.name, "link", "set", "dev", "lo", "up")
    except BaseException:
        ns.delete()
        raise
    return ns


@contextlib.contextmanager
def netns(name_prefix: str = "pk") -> Iterator[Namespace]:
    """A fresh network namespace with ``lo`` up; deleted (with everything running in it)
    on exit, also on errors."""
    require_netns()
    ns = _create(name_prefix)
    try:
        yield ns
    finally:
        ns.delete()


@contextlib.contextmanager
def bridged_namespaces(count: int, subnet: str = DEFAULT_SUBNET,
                       name_prefix: str = "pk") -> Iterator[list[Namespace]]:
    """``count`` namespaces plugged into one bridge, as if into one switch.

    The bridge ``br0`` lives in its own "switch" namespace, so the host's network is
    untouched. Member ``i`` (from 0) has ``eth0`` with the address ``subnet[i + 1]`` and
    the subnet's broadcast (``.address``, ``.broadcast``, ``.prefixlen``), plugged into
    switch port ``p<i+1>``. The bridge has STP off (ports forward at once) and IGMP
    snooping off (multicast floods to every port, also after a link goes down and up).
    The subnet must be inside 198.51.100.0/24 or 203.0.113.0/24 (documentation ranges).
    """
    require_netns()
    net = ipaddress.ip_network(subnet)
    if not any(net.subnet_of(allowed) for allowed in _ALLOWED_SUBNETS):
        raise ValueError(f"subnet {subnet} is outside the documentation ranges "
                         "198.51.100.0/24 and 203.0.113.0/24")
    hosts = list(itertools.islice(net.hosts(), count))
    if count < 1 or len(hosts) < count:
        raise ValueError(f"subnet {subnet} cannot hold {count} members")
    made: list[Namespace] = []
    try:
        switch = _create(name_prefix)
        made.append(switch)
        switch.ip("link", "add", "name", "br0", "type", "bridge", "stp_state", "0",
                  "mcast_snooping", "0")
        switch.ip("link", "set", "dev", "br0", "up")
        members: list[Namespace] = []
        for i, host in enumerate(hosts, start=1):
            ns = _create(name_prefix)
            made.append(ns)
            port = f"p{i}"
            # Both ends are created directly in their namespaces: never in the host's.
            switch.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
            switch.ip("link", "set", "dev", port, "master", "br0")
            switch.ip("link", "set", "dev", port, "up")
            ns.ip("addr", "add", f"{host}/{net.prefixlen}", "broadcast", str(net.broadcast_address),
                  "dev", "eth0")
            ns.ip("link", "set", "dev", "eth0", "up")
            ns.address, ns.broadcast, ns.prefixlen = str(host), str(net.broadcast_address), net.prefixlen
            ns.ifname, ns._switch, ns._port = "eth0", switch.name, port
            members.append(ns)
        yield members
    finally:
        errors = []
        for ns in reversed(made):
            try:
                ns.delete()
            except Exception as exc:  # keep deleting the others
                errors.append(exc)
        if errors:
            raise errors[0]


@contextlib.contextmanager
def routed_namespaces(counts: Sequence[int], subnets: Sequence[str] = ROUTED_SUBNETS,
                      name_prefix: str = "pk") -> Iterator[tuple[Namespace, list[list[Namespace]]]]:
    """Subnets joined by a router: yields ``(router, [members of subnet 0, of subnet 1, ...])``.

    Subnet ``i`` is a :func:`bridged_namespaces` switch with ``counts[i]`` members (the same
    addresses, ``link_down`` and ``split``). The router is a namespace of its own with
    ``ip_forward=1``; its ``eth<i>`` is plugged into switch ``i`` (port ``router``) with the
    subnet's last host address (``.254`` of a /24), which every member of the subnet has as
    its default route (``.gateway``). The router forwards unicast between the subnets but no
    broadcast (the kernel never forwards a subnet's broadcast; directed-broadcast forwarding,
    ``bc_forwarding``, is off by default). Every namespace is deleted on exit, also on errors.
    """
    if len(counts) != len(subnets):
        raise ValueError(f"{len(counts)} counts for {len(subnets)} subnets")
    nets = [ipaddress.ip_network(subnet) for subnet in subnets]
    for net, count in zip(nets, counts):
        if net.num_addresses < count + 3:  # network, members, router, broadcast
            raise ValueError(f"subnet {net} cannot hold {count} members and the router")
    with contextlib.ExitStack() as stack:
        groups = [stack.enter_context(bridged_namespaces(count, str(net), name_prefix))
                  for count, net in zip(counts, nets)]
        router = _create(name_prefix)
        stack.callback(router.delete)
        router.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        for i, (net, members) in enumerate(zip(nets, groups)):
            switch, leg, gateway = members[0]._switch, f"eth{i}", str(net.broadcast_address - 1)
            _ip("-n", switch, "link", "add", "router", "type", "veth", "peer", "name", leg, "netns", router.name)
            _ip("-n", switch, "link", "set", "dev", "router", "master", "br0")
            _ip("-n", switch, "link", "set", "dev", "router", "up")
            router.ip("addr", "add", f"{gateway}/{net.prefixlen}", "broadcast", str(net.broadcast_address),
                      "dev", leg)
            router.ip("link", "set", "dev", leg, "up")
            for ns in members:
                ns.ip("route", "add", "default", "via", gateway, "dev", ns.ifname)
                ns.gateway = gateway
        yield router, groups


def split(*groups: Sequence[Namespace]) -> None:
    """Cut the switch of :func:`bridged_namespaces` into one bridge per group: members of a
    group reach each other and nobody else (broadcasts included). Members left out keep the
    first group's bridge. :func:`rejoin` heals."""
    switch = groups[0][0]._switch
    for index, group in enumerate(groups):
        bridge = f"br{index}"
        if index and bridge not in _ip("-n", switch, "-o", "link", "show").stdout:
            _ip("-n", switch, "link", "add", "name", bridge, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
            _ip("-n", switch, "link", "set", "dev", bridge, "up")
        for ns in group:
            _ip("-n", switch, "link", "set", "dev", ns._port, "master", bridge)


def rejoin(members: Sequence[Namespace]) -> None:
    """Every member back on one switch (undoes :func:`split`)."""
    for ns in members:
        _ip("-n", ns._switch, "link", "set", "dev", ns._port, "master", "br0")


# -- pytest fixtures (import them into a conftest.py to use them) ------------------------

try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    def _fail_if_unavailable() -> None:
        problem = prerequisite_problem()
        if problem:
            pytest.fail(problem, pytrace=False)

    @pytest.fixture
    def netns_factory():
        """``make(prefix="pk") -> Namespace``; all deleted at teardown."""
        _fail_if_unavailable()
        with contextlib.ExitStack() as stack:
            yield lambda prefix="pk": stack.enter_context(netns(prefix))

    @pytest.fixture
    def bridged_factory():
        """``make(count, subnet=..., prefix="pk") -> [Namespace]``; deleted at teardown."""
        _fail_if_unavailable()
        with contextlib.ExitStack() as stack:
            yield lambda count, subnet=DEFAULT_SUBNET, prefix="pk": stack.enter_context(
                bridged_namespaces(count, subnet, prefix))

    @pytest.fixture
    def routed_factory():
        """``make(counts, subnets=ROUTED_SUBNETS, prefix="pk") -> (router, [[Namespace]])``;
        deleted at teardown."""
        _fail_if_unavailable()
        with contextlib.ExitStack() as stack:
            yield lambda counts, subnets=ROUTED_SUBNETS, prefix="pk": stack.enter_context(
                routed_namespaces(counts, subnets, prefix))
