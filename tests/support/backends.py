"""Two backends for one scenario body: the mock server, and a pack of reference daemons.

A test takes ``backend`` (3 members, shared by the tests of a session and put back as it
was after each test) or ``backend4`` (4 members, fresh, for the destructive member
removal). Both are parametrized ``mock`` / ``pack``:

* ``mock``: ``MockCluster(3)`` on its unix socket; the members' views are that one server.
* ``etcd``: the same daemons with ``backend: etcd``, on a real 3-member etcd (TLS, client
  certificates) started for the backend.
* ``pack``: real ``pylxd-cluster-daemon`` processes (``mockserver.daemon.harness``). The scenario
  writes through a FOLLOWER (so every write is forwarded to the leader), and checks are made
  on EVERY member's own socket, polling until they hold since replication is asynchronous.

The CLI tests take ``cli_backend`` / ``cli_backend4`` instead, parametrized over
:data:`CLI_PAIRS`: ``lxc`` against the mock (its default LXD profile) and the pack, ``incus``
against the mock's ``incus-6.0`` profile (``mock-incus``) and the pack. The pack answers as
LXD 5.21 (``environment.server`` is ``lxd``), and incus 6.0.4 drives it as it drives an
Incus: over a unix socket it checks no server name. ``backend.cli()`` is the pair's client.
The 3-member backends are shared by both kinds of test (one pack per session).

Tests only use the public API (the SDK, ``lxc``, ``incus``), never a backend's internals:
that is what makes one body run against both.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import pytest

import pylxd_cluster
from mockserver import MockCluster
from mockserver.daemon.harness import PackProcs, wait_until
from mockserver.daemon.harness.etcd import EtcdCluster
from tests.support.lxc import Cli

CONVERGENCE = 5.0  # seconds for a write to reach every member's view
NAMES = ("node1", "node2", "node3")


class Backend:
    """One cluster under test, seen through its public API.

    Attributes:
        name: "mock", "pack" or "etcd".
        entry_socket, entry_client: where the scenario writes (on a pack: a follower).
        target: a member that is neither the entry nor the leader, to evacuate, rename...
        leader, leader_socket: the member with the database-leader role (where operations run).
    """

    def __init__(self, name: str, sockets: dict[str, str], entry: str, home: Path,
                 describe: Callable[[], str] = lambda: ""):
        self.name = name
        self.home = home
        self.cli_name = "lxc"  # the client of cli() (see using())
        self._sockets = dict(sockets)  # member name -> its unix socket (one, for the mock)
        self._clients = {member: pylxd_cluster.Client(path, timeout=15) for member, path in self._sockets.items()}
        self._describe = describe
        self._member_of = {client: member for member, client in self._clients.items()}
        self.procs: PackProcs | None = None  # the daemons, on a pack
        self.entry_socket = self._sockets[entry]
        self.entry_client = self._clients[entry]
        members = self.entry_client.cluster.members.all()
        self.leader = next(m.server_name for m in members if "database-leader" in m.roles)
        self.leader_socket = self._sockets[self.leader]
        self.target = [n for n in members.names if n not in (entry, self.leader)][-1]
        self.baseline = snapshot(self.entry_client)

    # ---- the members' views ---------------------------------------------------------------

    def views(self) -> list[pylxd_cluster.Client]:
        """An SDK client per member endpoint (the entry's included)."""
        return list(self._clients.values())

    @property
    def server(self) -> str:
        """What the backend answers as: ``lxd`` or ``incus`` (GET /1.0 environment.server)."""
        return self.entry_client.server

    def using(self, cli_name: str) -> Backend:
        """This backend (the same servers and clients) with ``cli_name`` as :meth:`cli`'s client."""
        view = copy.copy(self)
        view.cli_name = cli_name
        return view

    def cli(self, socket_path: str | None = None) -> Cli:
        """The backend's CLI (``lxc`` or ``incus``) pointed at ``socket_path`` (default: the entry)."""
        socket_path = socket_path or self.entry_socket
        home = self.home / self.cli_name / Path(socket_path).stem
        return Cli(self.cli_name, socket_path, home)

    def cli_views(self) -> list[Cli]:
        """The CLI per member endpoint, in the order of :meth:`views`."""
        return [self.cli(path) for path in self._sockets.values()]

    def forget(self, member: str) -> None:
        """Stop looking at a member that was removed."""
        self._sockets.pop(member, None)
        client = self._clients.pop(member, None)
        if client is not None:
            self._member_of.pop(client)
            client.close()

    def eventually(self, predicate: Callable, what: str, targets: Iterable | None = None,
                   timeout: float = CONVERGENCE) -> None:
        """Poll until ``predicate(view)`` is True for every view (SDK clients, or the given
        ``targets``, e.g. :meth:`cli_views`) at once; fail naming the views that disagree with
        what their predicate last returned (anything but True, e.g. a text saying why, or
        the exception it raised)."""
        targets = list(targets) if targets is not None else self.views()
        outcome: dict[int, object] = {}

        def check() -> bool:
            for index, view in enumerate(targets):
                try:
                    outcome[index] = predicate(view)
                except Exception as exc:  # noqa: BLE001 - reported if it lasts
                    outcome[index] = exc
            return all(value is True for value in outcome.values())

        def describe() -> str:
            lines = [f"  {target_name(view)}: {outcome.get(i)!r}" for i, view in enumerate(targets)]
            return f"[{self.name}] per member:\n" + "\n".join(lines) + f"\n{self._describe()}"

        wait_until(check, timeout, interval=0.05, what=f"[{self.name}] {what}", describe=describe)

    # ---- back to the baseline ---------------------------------------------------------------

    def reset(self) -> None:
        """Undo what a test left (tokens, renames, evacuations, member fields, groups, shared
        configuration) through the API, and wait until every member shows the baseline."""
        client = self.entry_client
        for token in client.cluster.tokens.all():
            client.cluster.tokens.revoke(token)
        now = {m.url: m for m in client.cluster.members.all()}
        for want in self.baseline["members"].values():
            member = now[want["url"]]
            if member.server_name != want["server_name"]:
                client.cluster.members.rename(member.server_name, want["server_name"])
            if member.status == "Evacuated":
                client.cluster.members.restore(want["server_name"])
        self.eventually(lambda c: {m.url: m.server_name for m in c.cluster.members.all()}
                        == {m["url"]: m["server_name"] for m in self.baseline["members"].values()}, "names back")
        for want in self.baseline["members"].values():
            writable = {key: want[key] for key in ("description", "failure_domain", "config", "groups")}
            current = client.cluster.members.get(want["server_name"]).to_api()
            if {key: current[key] for key in writable} != writable:
                client.cluster.members.update(want["server_name"], **writable)
        for group in client.cluster.groups.all():
            if group.name not in self.baseline["groups"]:
                client.cluster.groups.update(group.name, members=[])
                client.cluster.groups.delete(group.name)
        if client.cluster.config.get().modules_to_api() != self.baseline["config"]:
            client.cluster.config.replace(self.baseline["config"])
        self.eventually(lambda c: snapshot(c) == self.baseline, "the baseline again")
        self.eventually(lambda c: own_name(c) == self._member_of[c] or f"GET /1.0 names it {own_name(c)!r}",
                        "every member knows its own name")


def snapshot(client: pylxd_cluster.Client) -> dict:
    """What a member shows of the cluster, in a form that does not depend on list order."""
    return {"members": {m.server_name: m.to_api() for m in client.cluster.members.all()},
            "groups": {g.name: (g.description, sorted(g.members)) for g in client.cluster.groups.all()},
            "config": client.cluster.config.get().modules_to_api()}


def own_name(client: pylxd_cluster.Client) -> str:
    """The member's name as a fresh ``GET /1.0`` gives it (a Client reads it once)."""
    fresh = pylxd_cluster.Client(client.endpoint, timeout=15)
    fresh.close()
    return fresh.server_name


def target_name(view) -> str:
    if isinstance(view, pylxd_cluster.Client):
        return view.server_name
    return getattr(view, "socket_path", repr(view))


# ---- starting the backends --------------------------------------------------------------------

@contextlib.contextmanager
def mock_backend(members: int, server: str | None = None):
    """The mock, answering as its default LXD profile or as ``server`` (a profile name)."""
    home = Path(tempfile.mkdtemp(prefix="parity-"))
    try:
        with MockCluster(members, **({"server": server} if server else {})) as mock:
            yield Backend("mock" if server is None else f"mock-{server}", {"node1": mock.unix_socket}, "node1", home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def one_leader(procs: PackProcs, names: Iterable[str]) -> str:
    names = list(names)
    procs.wait_until(lambda: procs.all_online(names), 15, what="pack formed")
    procs.wait_until(lambda: len({tuple(procs[n].leaders()) for n in names}) == 1 and procs[names[0]].leaders(),
                     15, what="one leader everywhere")
    return procs[names[0]].leaders()[0]


@contextlib.contextmanager
def pack_backend(members: int, etcd: EtcdCluster | None = None):
    """node1..node3 (``pack: auto``), then node4 when asked, once the leader is settled; on
    ``etcd``, with ``backend: etcd``."""
    defaults = {"expected_members": 3} if etcd is None else ETCD_TIMING
    with PackProcs(listen=True, defaults=defaults, etcd=etcd) as procs:
        for name in NAMES:
            procs.add(name, "auto").set_modules([("PackConfiguration", {})])
        procs.start_all()
        leader = one_leader(procs, NAMES)
        names = [f"node{i}" for i in range(1, members + 1)]
        for name in names[len(NAMES):]:
            procs.add(name, "auto").set_modules([("PackConfiguration", {})])
            procs[name].start()
        one_leader(procs, names)
        entry = next(name for name in names if name != leader)
        backend = Backend("pack" if etcd is None else "etcd", {n: procs[n].socket_path for n in names}, entry,
                          procs.dir, procs.describe)
        backend.procs = procs
        try:
            yield backend
        finally:
            for client in backend.views():
                client.close()


#: An etcd-backed pack's intervals: etcd counts lease TTLs in whole seconds, and a member
#: counts itself cut off one keepalive before its TTL ends.
ETCD_TIMING = {"keepalive-interval": 250, "dead-interval": 2000}


#: The engines of record a pack of daemons runs on.
ENGINES = ("pack", "etcd")


@contextlib.contextmanager
def engine_options(engine: str):
    """PackProcs options for the engine of record: the pack's protocol, or a real 3-member
    etcd (TLS) started here."""
    if engine == "pack":
        yield {"defaults": {"expected_members": 3}}
        return
    with EtcdCluster(3, tls=True) as etcd:
        etcd.wait_ready()
        yield {"defaults": ETCD_TIMING, "etcd": etcd}


@contextlib.contextmanager
def etcd_backend(members: int):
    """The pack on a real 3-member etcd (TLS, client certificates), started for it."""
    with EtcdCluster(3, tls=True) as etcd:
        etcd.wait_ready()
        with pack_backend(members, etcd=etcd) as backend:
            yield backend


BACKENDS = {"mock": mock_backend, "mock-incus": functools.partial(mock_backend, server="incus-6.0"),
            "pack": pack_backend, "etcd": etcd_backend}
SDK_BACKENDS = ("mock", "pack", "etcd")  # the SDK parity suite's
#: (backend, client) of the CLI parity suite: each client against the mock of its server's
#: flavour, and both against the pack (an LXD 5.21, which incus drives as well), on either
#: engine (lxc on etcd; incus drives both the same way).
CLI_PAIRS = (("mock", "lxc"), ("pack", "lxc"), ("etcd", "lxc"), ("mock-incus", "incus"), ("pack", "incus"))
CLI_IDS = [f"{cli}-{kind}" for kind, cli in CLI_PAIRS]


def assert_left(backend: Backend, member: str) -> None:
    """A member removed with force: on a pack its daemon leaves the pack and exits 0 (the
    mock has no process of its own for a member)."""
    backend.forget(member)
    if backend.procs is not None:
        node = backend.procs[member]
        node.wait_for_line("removed from the pack", 10)
        assert node.proc.wait(10) == 0, node.describe()


class Shared:
    """A 3-member backend shared by tests, started again after a test that left it in a state
    the API cannot undo (so that one server bug fails one test, not every later one)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.stack: contextlib.ExitStack | None = None
        self.backend: Backend | None = None

    def get(self) -> Backend:
        if self.backend is None:
            self.stack = contextlib.ExitStack()
            self.backend = self.stack.enter_context(BACKENDS[self.kind](3))
        return self.backend

    def discard(self) -> None:
        if self.stack is not None:
            self.stack.close()
        self.stack = self.backend = None


@pytest.fixture(scope="session")
def shared_backends():
    """{kind: :class:`Shared`}: the 3-member backends of the session, started on first use
    (by the SDK and the CLI tests alike) and stopped at its end."""
    shared = {kind: Shared(kind) for kind in BACKENDS}
    yield shared
    for one in shared.values():
        one.discard()


@pytest.fixture(scope="session", params=SDK_BACKENDS)
def cluster3(request, shared_backends):
    return shared_backends[request.param]


def _reset_after(shared: Shared, backend: Backend):
    yield backend
    try:
        backend.reset()
    except BaseException:
        shared.discard()
        raise


@pytest.fixture
def backend(cluster3) -> Backend:
    """The 3-member backend; whatever the test changed is undone after it."""
    yield from _reset_after(cluster3, cluster3.get())


@pytest.fixture(params=SDK_BACKENDS)
def backend4(request) -> Backend:
    """A fresh 4-member backend (node4 neither the entry nor the leader), for removals."""
    with BACKENDS[request.param](4) as backend:
        yield backend


@pytest.fixture(params=CLI_PAIRS, ids=CLI_IDS)
def cli_backend(request, shared_backends) -> Backend:
    """A 3-member backend with its client (:data:`CLI_PAIRS`); put back after the test."""
    kind, cli_name = request.param
    shared = shared_backends[kind]
    yield from _reset_after(shared, shared.get().using(cli_name))


@pytest.fixture(params=CLI_PAIRS, ids=CLI_IDS)
def cli_backend4(request) -> Backend:
    """A fresh 4-member backend with its client, for removals."""
    kind, cli_name = request.param
    with BACKENDS[kind](4) as backend:
        yield backend.using(cli_name)
