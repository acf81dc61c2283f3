"""One pack node as a process: its UDP sockets, the protocol core, the cluster state and
LXD's REST API, on one asyncio loop.

The core (``node``) decides; this module only carries datagrams in and out, runs the
core's timers, and turns its events into cluster state, so that every read through the
API (``/1.0/cluster/members``, events, member state) shows the live pack.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as _dt
import logging
import os
import socket
import time

from ..api import ApiServer
from ..api.context import API_EXTENSIONS
from ..api.router import guard
from ..config import DaemonConfig
from ..http import HttpTransport
from ..state import ClusterState, LoopScheduler
from ..tls import TlsSettings
from ..wire import Reply, error_reply, go_timestamp, now_utc
from .crypto import Sealer
from .messages import MemberRecord, Role, Status
from ..api import ForwardTo
from ..errors import ApiError
from ..http import FORWARDED_HEADER
from .gate import PackGate
from .join import JOIN_PATH, check_join, join, join_reply
from .node import (BROADCAST, LIVE, MULTICAST, DocumentHeard, LeaderChange, LeaderConflict, MemberChange, NodeSettings,
                   PackNode, PersistTerm, Send)
from .sync.engine import PROOF_HEADER, SyncEngine
from .sync.store import SyncStore
from .udp import UdpEndpoint

log = logging.getLogger("pylxd_cluster.daemon")

ROLES = {"leader": Role.LEADER, "follower": Role.FOLLOWER, "auto": Role.AUTO}
# The pack's leader shows as LXD shows its database leader; followers hold no role.
LEADER_ROLES = ["database-leader", "database"]
# Lifecycle actions of our own (LXD has none for these); see docs/daemon.rst.
LEADER_CHANGED = "cluster-leader-changed"
LEADER_CONFLICT = "cluster-leader-conflict"
# What a pack daemon implements of LXD's API: the mock's extensions but joining and re-keying
# through PUT /1.0/cluster (a member joins with a join token at start), and its own.
DAEMON_EXTENSIONS = tuple(e for e in API_EXTENSIONS if e not in ("clustering_join", "clustering_update_cert")) + (
    "pack_membership",)
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


def _host_port(api: str) -> str:
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


class PackDaemon:
    """Run with ``await daemon.start()`` then ``await daemon.wait_closed()``; ``stop()`` leaves
    the pack gracefully (the others mark it Offline at once)."""

    def __init__(self, config: DaemonConfig):
        self.config = config
        self.settings = node_settings(config)
        self.state = ClusterState(0)
        self.node: PackNode | None = None
        self.udp: UdpEndpoint | None = None
        self.http: HttpTransport | None = None
        self._closed = asyncio.Event()
        self._tick_timer: asyncio.TimerHandle | None = None
        self._ticking = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall_offset = 0.0
        self.sync: SyncEngine | None = None
        self.removed = asyncio.Event()   # set when the pack removed this member (it then leaves)

    # ---- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Raises: UdpError or OSError when a socket cannot be bound."""
        self._loop = asyncio.get_running_loop()
        self._wall_offset = time.time() - self._loop.time()
        pack = self.config.pack
        store = SyncStore(state_directory(self.config))
        store.prepare()
        pack_name, secret = await self._credentials(store)
        self.udp = UdpEndpoint(interface=pack.interface, port=pack.port, broadcast=pack.broadcast,
                               multicast_group=pack.mcast_group, on_datagram=self._on_datagram)
        # Bound now (a port in use fails before anything else starts), but what arrives waits
        # in the queue until the protocol node exists.
        await self.udp.start(deliver=False)
        self.state.scheduler = LoopScheduler(self._loop)
        self.state.adopt_pack(self.settings.name, _host_port(self.settings.api) or f"{pack.interface}:{pack.port}")
        self.state.member_state_extra = self._member_state_extra
        self.state.member_api = self._member_api
        self.state.token_expiry = float(pack.join_token_expiry)
        self.sync = SyncEngine(self, store, secret, pack_name)
        api = ApiServer(self.state, scripting=False, max_body=DOCUMENT_BODY_LIMIT)
        api.context.extensions = DAEMON_EXTENSIONS
        api.gate = PackGate(self, commit_timeout=max(2.0, 2 * self.settings.dead_interval))
        self.state.after_write = api.gate.after_write
        api.router.add("/internal/pack/document", get=self._serve_document)
        api.router.add(JOIN_PATH, post=self._serve_join)
        self.api = api
        self._pack_secret, self._pack_name = secret, pack_name
        if self.config.api is not None:
            self.http = HttpTransport(api, listen=[self.config.api.listen] if self.config.api.listen else [],
                                      unix=self.config.api.unix, tls=self._tls())
            await self.http.start()
        boot = int(time.time() * 1000)
        term, voted_for = store.load_term()
        self.node = PackNode(self.settings, Sealer.for_pack(secret, pack_name), boot=boot,
                             now=self._loop.time(), wall_offset=self._wall_offset, term=term, voted_for=voted_for)
        self._store = store
        self.sync.start()
        # Terms only grow, across restarts too: a document of term T was issued by a leader
        # of term T, so the next election must be above it (or members would refuse the
        # new leader's documents as stale).
        self.node.term = max(self.node.term, self.sync.tip.term)
        self._apply(self.node.start(self._loop.time()))
        self._ticking = True
        self._schedule_tick()
        self.udp.deliver()

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

    def _tls(self) -> TlsSettings | None:
        api = self.config.api
        if not api.tls_cert:
            return None
        with open(api.tls_cert) as cert, open(api.tls_key) as key:
            return TlsSettings(cert.read(), key.read())

    async def stop(self, graceful: bool = True) -> None:
        if self.node is not None and graceful and not self.node.left:
            self._apply(self.node.leave(self._loop.time()))
            await asyncio.sleep(0.05)  # let the LEAVE datagrams go out before the socket closes
        self._ticking = False
        if self._tick_timer is not None:
            self._tick_timer.cancel()
            self._tick_timer = None
        if self.sync is not None:
            await self.sync.stop()
        if self.udp is not None:
            await self.udp.close()
        if self.http is not None:
            await self.http.stop()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # ---- carrying datagrams and timers ----------------------------------------------------

    def _on_datagram(self, data: bytes, source: tuple) -> None:
        self._apply(self.node.receive(data, source, self._loop.time()))
        self._schedule_tick()

    def _schedule_tick(self) -> None:
        """Arm one loop timer for the node's next deadline. Re-armed only when a datagram
        brought the deadline forward: most datagrams do not, and waking the timers for each
        one cost more CPU than handling it."""
        if not self._ticking:
            return
        deadline = self.node.next_deadline()
        timer = self._tick_timer
        if timer is not None:
            if timer.when() <= deadline:
                return
            timer.cancel()
        self._tick_timer = self._loop.call_at(deadline, self._on_tick)

    def _on_tick(self) -> None:
        self._tick_timer = None
        if not self._ticking:
            return
        try:
            self._apply(self.node.tick(self._loop.time()))
        except Exception:  # a bug must not stop the node's timers: say so and go on
            log.exception("error in the protocol timers; continuing")
            self._tick_timer = self._loop.call_later(self.settings.keepalive, self._on_tick)
            return
        self._schedule_tick()

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
            elif isinstance(effect, LeaderChange):
                self._leader_changed(effect)
            elif isinstance(effect, LeaderConflict):
                self._leader_conflict(effect)
            elif isinstance(effect, DocumentHeard):
                self.sync.on_document_heard(effect)

    apply_effects = _apply

    def _send(self, send: Send) -> None:
        if send.to == BROADCAST:
            self.udp.send_broadcast(send.datagram)
        elif send.to == MULTICAST:
            self.udp.send_multicast(send.datagram)
        else:
            self.udp.send_unicast(send.datagram, tuple(send.to))

    # ---- events into cluster state --------------------------------------------------------

    def _wall(self, monotonic: float) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(monotonic + self._wall_offset, _dt.timezone.utc)

    def _member_changed(self, change: MemberChange) -> None:
        record: MemberRecord = change.member
        peer = self.node.peers.get(record.name)
        heard = self._wall(peer.last_heard) if peer is not None else now_utc()
        offline_message = None
        if record.status == Status.LEFT:
            offline_message = f"Left the pack at {heard:%Y-%m-%d %H:%M:%S} UTC"
        self.state.observe_member(record.name, address=_host_port(record.api) or f"{record.host}:{record.port}",
                                  online=record.status in LIVE, heartbeat=heard, offline_message=offline_message)
        if record.status == Status.ALIVE and (change.previous != Status.ALIVE or change.restarted):
            self.sync.tell_durable([record.name])
        what = "restarted" if change.restarted else record.status.name.lower()
        log.info("member %s %s (incarnation %d)", record.name, what, record.incarnation)

    def _leader_changed(self, change: LeaderChange) -> None:
        if change.previous:
            self.state.set_roles(change.previous, [], False, note=self._note(change.previous))
        if change.leader:
            self.state.set_roles(change.leader, LEADER_ROLES, True, note=self._note(change.leader))
        self.sync.on_leader_change(change.leader, change.term, change.previous)
        self.api.gate.leader_changed()
        source = f"/1.0/cluster/members/{change.leader}" if change.leader else "/1.0/cluster"
        self.state.emit(LEADER_CHANGED, source, {"leader": change.leader, "previous": change.previous,
                                                 "term": change.term})
        log.info("leader: %s (term %d; was %s)", change.leader or "none", change.term, change.previous or "none")

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

    def _member_api(self, name: str) -> str | None:
        peer = self.node.peers.get(name) if self.node is not None else None
        return peer.record.api if peer is not None else None

    def _member_state_extra(self, name: str) -> dict | None:
        """This node's pack counters in its member state; other members are asked for theirs."""
        if name != self.settings.name or self.node is None:
            return None
        counters = dict(self.node.counters)
        if self.udp is not None:
            counters.update({f"udp_{key}": value for key, value in self.udp.counters.items()})
        now = self._loop.time()
        def shown(ident: str) -> str:  # the name the API shows (a member may have been renamed)
            member = self.state.member_by_ident(ident)
            return member.server_name if member is not None else ident

        members = {shown(peer_name): {"status": peer.record.status.name.lower(),
                                      "incarnation": peer.record.incarnation,
                                      "last_heard": go_timestamp(self._wall(peer.last_heard)),
                                      "last_heard_seconds": round(now - peer.last_heard, 3)}
                   for peer_name, peer in sorted(self.node.peers.items())}
        return {"incarnation": self.node.incarnation, "leader": self.node.leader, "term": self.node.term,
                "conflict": list(self.node.conflict), "members": members,
                "counters": dict(sorted(counters.items())), "pid": os.getpid(), "document": self.sync.describe()}

    # ---- the pack document ----------------------------------------------------------------

    @guard  # reachable without a trusted certificate: the sealed proof is the authentication
    def _serve_document(self, ctx, req):
        """GET /internal/pack/document: the sealed pack document, for members only."""
        try:
            member = self.sync.check_proof(req.header(PROOF_HEADER))
        except PermissionError as exc:
            log.warning("refused a document pull from %s: %s", req.remote, exc)
            return error_reply(403, f"Not a member of this pack: {exc}")
        log.debug("%s pulls document version %d", member, self.sync.document.version)
        return Reply(200, self.sync.sealed_document(), {"Content-Type": "application/octet-stream"})

    _serve_document.ungated = True  # members' own traffic: never forwarded nor held for a commit

    @guard  # likewise: the proof of the token is the authentication
    def _serve_join(self, ctx, req):
        """POST /internal/pack/join: a new member proves a join token (see pack/join.py)."""
        if not self.sync.is_leader():
            leader = self.node.leader if self.node else ""
            peer = self.node.peers.get(leader) if leader else None
            if req.header(FORWARDED_HEADER) or peer is None or not peer.record.api.startswith("http"):
                return error_reply(503, "The pack has no leader reachable over TCP right now; retry shortly")
            return ForwardTo(peer.record.api, leader)
        try:
            op, name = check_join(self.state, req.body)
        except ApiError as exc:
            log.warning("refused a join from %s: %s", req.remote, exc.message)
            return error_reply(exc.status, exc.message)
        self.state.consume_join_token(op)
        peers = sorted(f"{r.host}:{r.port}" for r in self.node.members().values() if r.status in LIVE)
        log.info("%s joins the pack with its join token", name)
        answer = {"pack": self._pack_name, "secret": self._pack_secret, "peers": peers}
        return self.api.gate.written(join_reply(op.metadata["secret"], answer))

    _serve_join.ungated = True

    def removed_from_pack(self) -> None:
        """The pack removed this member (a DELETE of it): leave, and stop."""
        if not self.removed.is_set():
            log.warning("this member was removed from the pack; leaving it. To join again: stop it, delete its "
                        "state directory %s, and start it with a new join_token", self.sync.store.directory)
            self.removed.set()
