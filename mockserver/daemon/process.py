"""One pack node as a process: its UDP sockets, the protocol core, the cluster state and
LXD's REST API, on one asyncio loop.

The core (``node``) decides; this module only carries datagrams in and out, runs the
core's timers, and turns its events into cluster state, so that every read through the
API (``/1.0/cluster/members``, events, member state) shows the live pack.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time

from mockserver import profiles
from mockserver.api import ApiServer
from mockserver.api.context import MOCK_EXTENSIONS
from mockserver.api.router import Route
from mockserver.daemon.backend import PackBackend
from mockserver.daemon.barrier import WAITING, StartupBarrier
from mockserver.daemon.config import DaemonConfig
from mockserver.daemon.discovery.runner import DiscoveryRunner
from mockserver.daemon.discovery.runner import build as build_strategies
from mockserver.daemon.gate import PackGate
from mockserver.daemon.groups.api import EXTENSION as GROUPS_EXTENSION
from mockserver.daemon.groups.api import ServiceGroupsApi
from mockserver.daemon.groups.hooks import Notifier
from mockserver.daemon.groups.host import HostActions
from mockserver.daemon.groups.monitor import MonitorCore
from mockserver.daemon.groups.monitoring import Monitoring
from mockserver.daemon.groups.runtime import GroupsRuntime, PackView
from mockserver.daemon.join import JOIN_PATH, join
from mockserver.daemon.member import LEADER_CHANGED, LEADER_ROLES, MemberDaemon  # noqa: F401 - re-exported
from mockserver.daemon.membership_hooks import FAILED, JOIN, LEAVE, MembershipHooks
from mockserver.daemon.protocol.crypto import Sealer
from mockserver.daemon.protocol.effects import ClaimHeard
from mockserver.daemon.protocol.messages import ClaimKind, MemberRecord, Role, Status
from mockserver.daemon.protocol.node import (
    BROADCAST,
    LIVE,
    MULTICAST,
    DocumentHeard,
    LeaderChange,
    LeaderConflict,
    MemberChange,
    MemberForgotten,
    NodeSettings,
    PackNode,
    PersistTerm,
    Send,
)
from mockserver.daemon.sync.core import SendDocument, SyncCore, SyncSettings
from mockserver.daemon.sync.driver import PROOF_HEADER, SyncDriver
from mockserver.daemon.sync.membership import NodeMembership
from mockserver.daemon.sync.store import SyncStore
from mockserver.daemon.timer import DeadlineTimer
from mockserver.daemon.udp import UdpEndpoint
from mockserver.http import HttpTransport
from mockserver.state import ClusterState, LoopScheduler
from mockserver.tls import TlsSettings
from mockserver.wire import Reply, error_reply, now_utc

log = logging.getLogger(__name__)

ROLES = {"leader": Role.LEADER, "follower": Role.FOLLOWER, "auto": Role.AUTO}
# Lifecycle actions of our own (LXD has none for these); see docs/daemon.rst.
LEADER_CONFLICT = "cluster-leader-conflict"
# What a pack daemon implements of LXD's API: its profile's extensions but joining and re-keying
# through PUT /1.0/cluster (a member joins with a join token at start), and its own.
DAEMON_EXTENSIONS = MOCK_EXTENSIONS + ("pack_membership", GROUPS_EXTENSION)
DAEMON_WITHHELD = ("clustering_join", "clustering_update_cert")
# The one server a pack daemon answers as (mockserver/profiles.py): the current LXD LTS.
DAEMON_PROFILE = "lxd-5.21"
# Configurations of a few MB travel through PUT /1.0/cluster/config (LXD's own limit does not apply).
DOCUMENT_BODY_LIMIT = 4 * 1024 * 1024


def state_directory(config: DaemonConfig) -> str:
    """Where a member keeps its synced document: PackConfiguration's state_dir, else next
    to its configuration file (``node.yaml`` -> ``node.state/``)."""
    sync = config.pack_configuration
    if sync is not None and sync.state_dir:
        return sync.state_dir
    source = config.source if not config.source.startswith("<") else os.path.join(os.getcwd(), "pack")
    return os.path.splitext(os.path.abspath(source))[0] + ".state"


def node_settings(config: DaemonConfig) -> NodeSettings:
    pack, api = config.pack, config.api
    api_address = ""
    if api is not None and api.listen is not None:
        host, port = api.listen
        scheme = "https" if api.tls_cert else "http"
        api_address = f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
    return NodeSettings(
        pack.server_name, pack.interface, pack.port, role=ROLES[pack.pack],
        keepalive=pack.keepalive_interval_ms / 1000, dead_interval=pack.dead_interval_ms / 1000,
        announce_interval=float(pack.interval), broadcast=pack.broadcast is not None,
        multicast=pack.mcast_group is not None, peers=tuple(_resolve(peer) for peer in pack.peers),
        expected_members=pack.expected_members, api=api_address, documents=True)


def tls_settings(config: DaemonConfig) -> TlsSettings | None:
    """The Api module's certificate and key, read now (None: the API is plain HTTP)."""
    api = config.api
    if api is None or not api.tls_cert:
        return None
    with open(api.tls_cert) as cert, open(api.tls_key) as key:
        return TlsSettings(cert.read(), key.read())


def host_port(api: str) -> str:
    """"http://127.0.0.11:8443" -> "127.0.0.11:8443" (LXD shows members' addresses as https://host:port)."""
    return api.partition("://")[2] if "://" in api else api


def _resolve(peer: tuple) -> tuple:
    """Peers given by name are resolved once, so that they match the addresses members
    report (a name that does not resolve is kept: it may resolve later)."""
    host, port = peer
    try:
        return (socket.gethostbyname(host), port)
    except OSError:
        return (host, port)


class PackDaemon(MemberDaemon):
    """Run with ``await daemon.start()`` then ``await daemon.wait_closed()``; ``stop()`` leaves
    the pack gracefully (the others mark it Offline at once)."""

    def __init__(self, config: DaemonConfig):
        self.config = config
        self.settings = node_settings(config)
        pack = config.pack
        self.scheduler = LoopScheduler()
        self.state = ClusterState.member_view(
            self.settings.name, host_port(self.settings.api) or f"{pack.interface}:{pack.port}",
            backend=PackBackend(self), scheduler=self.scheduler, token_expiry=float(pack.join_token_expiry),
            profile=profiles.profile(DAEMON_PROFILE))
        self.node: PackNode | None = None
        self.udp: UdpEndpoint | None = None
        self.http: HttpTransport | None = None
        self._closed = asyncio.Event()
        # The protocol core's timers; armed after each datagram only when it brought the
        # deadline forward (see DeadlineTimer).
        self._tick_timer = DeadlineTimer(lambda: self.node.next_deadline(), self._tick, what="protocol",
                                         retry=self.settings.keepalive)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall_offset = 0.0
        self.sync: SyncDriver | None = None
        self.gate: PackGate | None = None
        self.api: ApiServer | None = None
        self.removed = asyncio.Event()   # set when the pack removed this member (it then leaves)
        self.groups = GroupsRuntime(self.settings.name, lease=self.settings.dead_interval - self.settings.keepalive,
                                    keepalive=self.settings.keepalive, view=self._pack_view,
                                    send_claim=self._send_claim, publish=self._publish_groups,
                                    actions=HostActions(notifier=Notifier(self.settings.name)),
                                    moved=self._group_moved)
        # The service groups' timers, and at least every keepalive: the leader places groups
        # anew (a member healthy long enough for auto-failback).
        self._groups_timer = DeadlineTimer(
            lambda: min(self.groups.next_deadline(), self._loop.time() + self.settings.keepalive),
            self.groups.tick, what="service groups", retry=self.settings.keepalive)
        # Monitor addresses: pinged every keepalive at the most, a few times per
        # monitor-dead-interval at the least (as heartbeat pinged its ping nodes).
        echo_interval = max(self.settings.keepalive, min(1.0, pack.monitor_dead_interval / 4))
        self.monitoring = Monitoring(MonitorCore(interval=echo_interval, dead_interval=pack.monitor_dead_interval),
                                     report=self._monitors_report, refresh=max(1.0, echo_interval))
        self.hooks = MembershipHooks(pack, self.settings.name)
        self.barrier = StartupBarrier(pack.wait_for_members, pack.wait_timeout_ms / 1000)
        # Discovery strategies (hosts file, ...) beside broadcast, multicast and static peers.
        self.discovery = DiscoveryRunner(build_strategies(pack.discovery, pack.port), self._proposed)

    # ---- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Raises: UdpError or OSError when a socket cannot be bound."""
        self._loop = asyncio.get_running_loop()
        self._wall_offset = time.time() - self._loop.time()
        pack = self.config.pack
        self.barrier.start(self._loop.time())
        if self.barrier.status == WAITING:   # at the timeout the groups are placed among those present
            self._loop.call_later(self.barrier.timeout, lambda: self._groups_step(self.groups.pack_changed))
        store = SyncStore(state_directory(self.config))
        store.prepare()
        pack_name, secret = await self._credentials(store)
        self.udp = UdpEndpoint(interface=pack.interface, port=pack.port, broadcast=pack.broadcast,
                               multicast_group=pack.mcast_group, on_datagram=self._on_datagram)
        # Bound now (a port in use fails before anything else starts), but what arrives waits
        # in the queue until the protocol node exists.
        await self.udp.start(deliver=False)
        self.scheduler.attach(self._loop)
        self.sync = self._sync_driver(store, secret, pack_name)
        self.gate = PackGate(self, commit_timeout=max(2.0, 2 * self.settings.dead_interval))
        api = ApiServer(self.state, gate=self.gate, max_body=DOCUMENT_BODY_LIMIT, extensions=DAEMON_EXTENSIONS,
                        withheld_extensions=DAEMON_WITHHELD,
                        extra_routes=[
                            # Members' own traffic, never forwarded nor held for a commit, and
                            # reachable without a trusted certificate: the sealed proof (of
                            # membership, or of a join token) is the authentication.
                            Route("/internal/pack/document", {"GET": self._serve_document}, untrusted=True,
                                  gated=False),
                            Route(JOIN_PATH, {"POST": self._serve_join}, untrusted=True, gated=False),
                            *ServiceGroupsApi(self.groups, written=self.gate.written, now=self.now,
                                                              unavailable=self.gate.unavailable).routes()])
        self.api = api
        self._pack_secret, self._pack_name = secret, pack_name
        boot = int(time.time() * 1000)
        term, voted_for = store.load_term()
        self.node = PackNode(self.settings, Sealer.for_pack(secret, pack_name), boot=boot,
                             now=self._loop.time(), wall_offset=self._wall_offset, term=term, voted_for=voted_for)
        self._store = store
        # The document on disk first: a restarted member never answers from an empty state
        # (a reader would see values older than what it had itself applied).
        self.sync.start()
        # Terms only grow, across restarts too: a document of term T was issued by a leader
        # of term T, so the next election must be above it (or members would refuse the
        # new leader's documents as stale).
        self.node.term = max(self.node.term, self.sync.tip.term)
        if self.config.api is not None:   # before the pack hears of us: members may forward to it
            self.http = HttpTransport(api, listen=[self.config.api.listen] if self.config.api.listen else [],
                                      unix=self.config.api.unix, tls=tls_settings(self.config))
            await self.http.start()
        self._apply(self.node.start(self._loop.time()))
        self._tick_timer.start(self._loop)
        self.discovery.start()
        self._groups_timer.start(self._loop)
        self.monitoring.start(self._loop)
        self._groups_step(self.groups.pack_changed)
        self.udp.deliver()

    def _proposed(self, addresses: set) -> None:
        if self.node is not None:
            self._apply(self.node.discovered(sorted(addresses), self._loop.time()))
            self._tick_timer.arm()

    def _sync_driver(self, store: SyncStore, secret: str, pack_name: str) -> SyncDriver:
        sync = self.config.pack_configuration
        core = SyncCore(SyncSettings(self.settings.name, self.settings.keepalive,
                                     float(sync.interval) if sync else 60.0, self.settings.expected_members),
                        NodeMembership(lambda: self.node), file_modules=self.config.modules,
                        ignore=tuple(sync.ignore_modules) if sync else (), local=store.load_local())
        return SyncDriver(core, state=self.state, store=store, config=self.config,
                          sealer=Sealer.for_pack(secret, pack_name, purpose="document"),
                          send=self._send_document, announce=self._announce_document, removed=self.removed_from_pack,
                          extras=self.groups.shared, shown=self._document_shown)

    # ---- service groups ---------------------------------------------------------------------

    def _pack_view(self) -> PackView:
        node = self.node
        if node is None:
            return PackView("", (self.settings.name,), 1)
        known = [r for r in node.members().values() if r.status != Status.LEFT]
        evacuated = frozenset(m.ident for m in self.state.members.values() if m.evacuated)
        alive = tuple(node.alive_names())
        return PackView(node.leader, alive, self.settings.expected_members or len(known), evacuated,
                        holding=self.barrier.holding(len(alive), self._loop.time()))

    def _send_claim(self, names, kind: int, seq: int, items) -> None:
        if self.node is not None:
            self._apply(self.node.send_claim(list(names), kind, seq, items, self._loop.time()))

    def _monitors_report(self, results: dict[str, bool]) -> None:
        """What this member reaches: to its own placement view, and to every live member."""
        self._groups_step(lambda now: self.groups.monitors_heard(self.settings.name, results, now))
        if self.node is not None and results:
            others = [name for name in self.node.alive_names() if name != self.settings.name]
            self._send_claim(others, ClaimKind.REACH, 0, [(address, 0, yes, 0) for address, yes in results.items()])

    def _document_shown(self, document) -> None:
        now = self._loop.time()
        self.groups.document_shown(document.modules, document.cluster, document.version, now)
        if self.node is not None:
            self.node.watch(self.groups.owners(), now)
            self._tick_timer.arm()
        self._groups_timer.arm()
        self.monitoring.watch(self.groups.monitored())

    def _send_document(self, send: SendDocument) -> None:
        if self.node is not None:
            self._apply(self.node.send_document(list(send.names), send.flags, self._loop.time(), send.payload,
                                                document=send.document))

    def _announce_document(self, document: tuple) -> None:
        if self.node is not None:
            self.node.set_document(*document)

    async def _credentials(self, store: SyncStore) -> tuple:
        """The pack's name and secret: from the file, or from an earlier join (kept in the
        state directory), or by joining now with the file's join_token.

        Raises: JoinError when the token is refused or no member answers."""
        pack = self.config.pack
        if pack.secret is not None:
            return pack.name, pack.secret
        local = store.load_local()
        joined = local.get("joined")
        if joined is None:
            log.info("joining a pack with the join token")
            joined = await join(pack.join_token, pack.server_name)
            local["joined"] = joined
            store.save_local(local)
            log.info("joined pack %s; its key is kept in %s", joined["pack"], store.local_path)
        peers = tuple(_resolve((host, int(port))) for host, _, port in
                      (item.rpartition(":") for item in joined.get("peers", ())))
        self.settings = dataclasses.replace(self.settings, peers=tuple(dict.fromkeys(self.settings.peers + peers)))
        return joined["pack"], joined["secret"]

    async def stop(self, graceful: bool = True) -> None:
        if self._loop is not None:
            self.groups.stop(self._loop.time())   # addresses down before the others may take them
        if self.node is not None and graceful and not self.node.left:
            self._apply(self.node.leave(self._loop.time()))
            await asyncio.sleep(0.05)  # let the LEAVE datagrams go out before the socket closes
        self._tick_timer.stop()
        self._groups_timer.stop()
        self.monitoring.stop()
        await self.discovery.stop()
        if self.sync is not None:
            await self.sync.stop()
        if self.udp is not None:
            await self.udp.close()
        if self.http is not None:
            await self.http.stop()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # ---- what the gate asks of a back end ----------------------------------------------------

    def running(self) -> bool:
        """Whether the member has started (the gate answers 503 until then)."""
        return self.node is not None

    def leader_name(self) -> str:
        """Who leads the pack, as this member knows ("" for nobody)."""
        return self.node.leader if self.node is not None else ""

    def has_quorum(self) -> bool:
        """Whether this member reaches a majority of the pack."""
        return self.node is not None and self.node.has_quorum()

    def stale(self) -> str:
        """Why this member's answers may show an old view ("" when they do not): a pack member
        answers from what a majority committed, so it never says so."""
        return ""

    def no_leader_reason(self) -> str:
        """Why there is no leader, for the 503 that says so."""
        return "no majority of its members is reachable" if not self.has_quorum() else "an election is running"

    def member_api(self, name: str) -> str:
        """The LXD API address a member announced (http(s)://host:port), or ""."""
        peer = self.node.peers.get(name) if self.node is not None and name else None
        return peer.record.api if peer is not None else ""

    # ---- carrying datagrams and timers ----------------------------------------------------

    def _on_datagram(self, data: bytes, source: tuple) -> None:
        self._apply(self.node.receive(data, source, self._loop.time()))
        self._tick_timer.arm()

    def _tick(self, now: float) -> None:
        self._apply(self.node.tick(now))

    def _apply(self, effects: list) -> None:
        for index, effect in enumerate(effects):
            if isinstance(effect, Send):
                self._send(effect)
            elif isinstance(effect, PersistTerm):
                try:
                    self._store.save_term(effect.term, effect.voted_for)
                except OSError as exc:   # a vote that is not on disk must not go out
                    log.error("cannot write %s (%s): not sending the vote or candidacy that follows",
                              self._store.term_path, exc)
                    effects = [e for e in effects[index + 1:] if not isinstance(e, Send)]
                    self._apply(effects)
                    return
            elif isinstance(effect, MemberChange):
                self._member_changed(effect)
            elif isinstance(effect, MemberForgotten):
                self._member_forgotten(effect)
            elif isinstance(effect, LeaderChange):
                self._leader_changed(effect)
            elif isinstance(effect, LeaderConflict):
                self._leader_conflict(effect)
            elif isinstance(effect, DocumentHeard):
                self.sync.on_document_heard(effect)
            elif isinstance(effect, ClaimHeard):
                self._groups_step(lambda now, heard=effect: self.groups.heard(heard, now))


    def _send(self, send: Send) -> None:
        if send.to == BROADCAST:
            self.udp.send_broadcast(send.datagram)
        elif send.to == MULTICAST:
            self.udp.send_multicast(send.datagram)
        else:
            self.udp.send_unicast(send.datagram, tuple(send.to))

    # ---- events into cluster state --------------------------------------------------------

    def _member_changed(self, change: MemberChange) -> None:
        record: MemberRecord = change.member
        peer = self.node.peers.get(record.name)
        heard = self.wall(peer.last_heard) if peer is not None else now_utc()
        offline_message = None
        if record.status == Status.LEFT:
            offline_message = f"Left the pack at {heard:%Y-%m-%d %H:%M:%S} UTC"
        self.state.observe_member(record.name, address=host_port(record.api) or f"{record.host}:{record.port}",
                                  online=record.status in LIVE, heartbeat=heard, offline_message=offline_message)
        if record.status == Status.ALIVE and (change.previous != Status.ALIVE or change.restarted):
            self.sync.tell_durable([record.name])
        self._membership_hook(change)
        what = "restarted" if change.restarted else record.status.name.lower()
        log.info("member %s %s (%sincarnation %d)", record.name, what, f"{change.why}; " if change.why else "",
                 record.incarnation)
        self._groups_step(self.groups.pack_changed)

    def _member_forgotten(self, forgotten: MemberForgotten) -> None:
        self.state.forget_member(forgotten.member.name)
        log.info("member %s forgotten (%s)", forgotten.member.name, forgotten.why)
        self._groups_step(self.groups.pack_changed)

    def _membership_hook(self, change: MemberChange) -> None:
        record, previous = change.member, change.previous
        address = f"{record.host}:{record.port}"
        if record.status == Status.ALIVE and (previous not in (Status.ALIVE, Status.SUSPECT) or change.restarted):
            self.hooks.event(JOIN, record.name, address)
        elif record.status == Status.LEFT and previous in LIVE:
            self.hooks.event(LEAVE, record.name, address)
        elif record.status == Status.DEAD and previous in LIVE:
            self.hooks.event(FAILED, record.name, address)

    def _leader_changed(self, change: LeaderChange) -> None:
        self._show_leader(change.leader, change.term, change.previous, note=self._note)

    def _note(self, name: str) -> str | None:
        if name in self.node.conflict:
            return f"Conflicting static leaders: {', '.join(self.node.conflict)}"
        return None

    def _leader_conflict(self, conflict: LeaderConflict) -> None:
        for name in self.state.member_names():
            member = self.state.members[name]
            self.state.set_roles(name, member.roles, member.database, note=self._note(name))
        if conflict.leaders:
            self.state.emit(LEADER_CONFLICT, "/1.0/cluster", {"leaders": list(conflict.leaders)})
            log.warning("conflicting static leaders in the pack: %s (each is configured with pack: leader)",
                        ", ".join(conflict.leaders))
        else:
            log.info("leader conflict resolved")

    # ---- the pack document ----------------------------------------------------------------

    def _serve_document(self, ctx, req):
        """GET /internal/pack/document: the sealed pack document, for members only."""
        try:
            member = self.sync.check_proof(req.header(PROOF_HEADER))
        except PermissionError as exc:
            log.warning("refused a document pull from %s: %s", req.remote, exc)
            return error_reply(403, f"Not a member of this pack: {exc}")
        log.debug("%s pulls document version %d", member, self.sync.document.version)
        return Reply(200, self.sync.sealed_document(), {"Content-Type": "application/octet-stream"})

    def _join_answer(self) -> dict:
        peers = sorted(f"{r.host}:{r.port}" for r in self.node.members().values() if r.status in LIVE)
        return {"pack": self._pack_name, "secret": self._pack_secret, "peers": peers}

    def removed_from_pack(self) -> None:
        """The pack removed this member (a DELETE of it): leave, and stop."""
        if not self.removed.is_set():
            log.warning("this member was removed from the pack; leaving it. To join again: stop it, delete its "
                        "state directory %s, and start it with a new join_token", self.sync.store.directory)
            self.removed.set()
