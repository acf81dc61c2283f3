"""One member of a pack on etcd (``backend: etcd``), as a process: the same LXD API, gate,
cluster state, hooks and CLI as a pack member, with etcd as the engine of record.

* membership and leadership: :class:`EtcdMembership` (a lease, a record, a candidacy, a watch);
* the shared document and cluster-wide writes: :class:`EtcdSync` (compare-and-swap writes
  fenced by the candidacy, followed through a watch);
* join tokens: made and consumed through the API as on a pack; they live in the document,
  so in etcd, and a token is used once because its use is a fenced compare-and-swap write;
* service groups: placed by the leader as on a pack; an owner holds a group only while it
  holds the group's key under its own lease (:class:`KeyedOwnershipCore`).

When etcd is out of reach the member keeps serving its last view, marks its answers stale
(``X-Pack-Stale``) and refuses writes with a 503; when etcd answers again it renews its
lease, or registers anew if the lease expired.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time

import aetcd

from mockserver import profiles
from mockserver.api import ApiServer
from mockserver.api.router import Route
from mockserver.daemon.backend import PackBackend
from mockserver.daemon.barrier import WAITING, StartupBarrier
from mockserver.daemon.config import DaemonConfig
from mockserver.daemon.etcd.client import EtcdClient, EtcdSettings
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.etcd.membership import EtcdMembership
from mockserver.daemon.etcd.ownership import EtcdOwnership
from mockserver.daemon.etcd.sync import EtcdSync
from mockserver.daemon.etcd.view import ALIVE, FAILED, LEFT, LeaderChange, MemberChange, MemberRecord
from mockserver.daemon.gate import PackGate
from mockserver.daemon.groups.api import ServiceGroupsApi
from mockserver.daemon.groups.hooks import Notifier
from mockserver.daemon.groups.host import HostActions
from mockserver.daemon.groups.keyed import DropKey, KeyedOwnershipCore, TakeKey
from mockserver.daemon.groups.monitor import MonitorCore
from mockserver.daemon.groups.monitoring import Monitoring
from mockserver.daemon.groups.runtime import GroupsRuntime, PackView
from mockserver.daemon.join import JOIN_PATH, join
from mockserver.daemon.member import MemberDaemon
from mockserver.daemon.membership_hooks import FAILED as FAILED_HOOK
from mockserver.daemon.membership_hooks import JOIN, LEAVE, MembershipHooks
from mockserver.daemon.process import (
    DAEMON_EXTENSIONS,
    DAEMON_PROFILE,
    DAEMON_WITHHELD,
    DOCUMENT_BODY_LIMIT,
    host_port,
    node_settings,
    state_directory,
    tls_settings,
)
from mockserver.daemon.sync.store import SyncStore
from mockserver.daemon.timer import DeadlineTimer
from mockserver.http import HttpTransport
from mockserver.state import ClusterState, LoopScheduler
from mockserver.wire import go_timestamp

log = logging.getLogger(__name__)

class EtcdBackend(PackBackend):
    """The cluster state's back end on an etcd-backed member: the member state shows the
    etcd view."""

    def member_state(self, ident: str) -> dict | None:
        daemon = self._daemon
        if ident != daemon.settings.name or daemon.membership is None:
            return None
        return daemon.describe()


class EtcdDaemon(MemberDaemon):
    """Run with ``await daemon.start()`` then ``await daemon.wait_closed()``; ``stop()`` leaves
    the pack (the others see a departure at once)."""

    def __init__(self, config: DaemonConfig):
        self.config = config
        self.settings = node_settings(config)
        pack = config.pack
        self.scheduler = LoopScheduler()
        self.address = host_port(self.settings.api) or self.settings.name
        self.state = ClusterState.member_view(
            self.settings.name, self.address, backend=EtcdBackend(self), scheduler=self.scheduler,
            token_expiry=float(pack.join_token_expiry), profile=profiles.profile(DAEMON_PROFILE))
        self.etcd_settings = EtcdSettings(tuple(pack.etcd_endpoints), cert=pack.etcd_cert, key=pack.etcd_key,
                                          ca=pack.etcd_ca, prefix=pack.etcd_prefix,
                                          timeout=max(1.0, self.settings.keepalive * 2))
        self.client: EtcdClient | None = None
        self.membership: EtcdMembership | None = None
        self.sync: EtcdSync | None = None
        self.gate: PackGate | None = None
        self.http: HttpTransport | None = None
        self.hooks = MembershipHooks(pack, self.settings.name)
        self.removed = asyncio.Event()
        self._closed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall_offset = 0.0
        self._pack_name = pack.name or ""
        self._changed_at: dict[str, float] = {}   # member -> loop time of its last change
        self._cut_off_at: float | None = None
        self.ownership: EtcdOwnership | None = None
        self.groups = GroupsRuntime(self.settings.name, lease=self.settings.dead_interval,
                                    keepalive=self.settings.keepalive, view=self._pack_view,
                                    send_claim=lambda *claim: None, publish=self._publish_groups,
                                    actions=HostActions(notifier=Notifier(self.settings.name)),
                                    moved=self._group_moved,
                                    core=KeyedOwnershipCore(self.settings.name, keepalive=self.settings.keepalive),
                                    other_effect=self._key_effect, holder=self._holder)
        self._groups_timer = DeadlineTimer(
            lambda: min(self.groups.next_deadline(), self._loop.time() + self.settings.keepalive),
            self.groups.tick, what="service groups", retry=self.settings.keepalive)
        echo_interval = max(self.settings.keepalive, min(1.0, pack.monitor_dead_interval / 4))
        self.monitoring = Monitoring(MonitorCore(interval=echo_interval, dead_interval=pack.monitor_dead_interval),
                                     report=self._monitors_report, refresh=max(1.0, echo_interval))
        self.barrier = StartupBarrier(pack.wait_for_members, pack.wait_timeout_ms / 1000)
        self._tasks: set[asyncio.Task] = set()

    # ---- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Raises: JoinError (a refused join token), aetcd.exceptions.ClientError (etcd out of
        reach), OSError (the API cannot listen)."""
        self._loop = asyncio.get_running_loop()
        self._wall_offset = time.time() - self._loop.time()
        store = SyncStore(state_directory(self.config))
        store.prepare()
        self._pack_name = await self._joined_name(store)
        self.scheduler.attach(self._loop)
        self.barrier.start(self._loop.time())
        if self.barrier.status == WAITING:   # at the timeout the groups are placed among those present
            self._loop.call_later(self.barrier.timeout, lambda: self._groups_step(self.groups.pack_changed))
        keys = PackKeys(self.etcd_settings.prefix, self._pack_name)
        self.client = EtcdClient(self.etcd_settings)
        self.ownership = EtcdOwnership(self.client, keys)
        record = MemberRecord(self.settings.name, api=self.settings.api, address=self.address,
                              started=int(time.time() * 1000))
        self.membership = EtcdMembership(self.client, keys, record, dead_interval=self.settings.dead_interval,
                                         keepalive=self.settings.keepalive,
                                         candidate=self.config.pack.pack != "follower",
                                         on_members=self._members_changed, on_leader=self._leader_changed,
                                         on_cut_off=self._cut_off, on_group_freed=self._group_freed,
                                         on_reach=self._reach_heard)
        commit_timeout = max(2.0, 2 * self.settings.dead_interval)
        self.sync = EtcdSync(self.settings.name, state=self.state, config=self.config, client=self.client,
                             keys=keys, leadership=self.membership, write_timeout=commit_timeout * 0.8,
                             removed=self.removed_from_pack, extras=self.groups.shared, shown=self._document_shown)
        self.gate = PackGate(self, commit_timeout=commit_timeout)
        api = ApiServer(self.state, gate=self.gate, max_body=DOCUMENT_BODY_LIMIT, extensions=DAEMON_EXTENSIONS,
                        withheld_extensions=DAEMON_WITHHELD,
                        extra_routes=[Route(JOIN_PATH, {"POST": self._serve_join}, untrusted=True, gated=False),
                                      *ServiceGroupsApi(self.groups, written=self.gate.written, now=self.now,
                                                        unavailable=self.gate.unavailable).routes()])
        # The document first: a member never answers from an empty state.
        await self.sync.start()
        if self.config.api is not None:   # before the others hear of us: they may forward to it
            self.http = HttpTransport(api, listen=[self.config.api.listen] if self.config.api.listen else [],
                                      unix=self.config.api.unix, tls=tls_settings(self.config))
            await self.http.start()
        await self.membership.start()
        self._groups_timer.start(self._loop)
        self.monitoring.start(self._loop)
        self._groups_step(self.groups.pack_changed)

    async def _joined_name(self, store: SyncStore) -> str:
        """The pack's name: from the file, or from an earlier join, or by joining now."""
        pack = self.config.pack
        if pack.name:
            return pack.name
        local = store.load_local()
        joined = local.get("joined")
        if joined is None:
            log.info("joining a pack with the join token")
            joined = await join(pack.join_token, pack.server_name)
            local["joined"] = joined
            store.save_local(local)
        return joined["pack"]

    async def stop(self, graceful: bool = True) -> None:
        if self._loop is not None:
            self.groups.stop(self._loop.time())   # addresses down before the others may take them
        self._groups_timer.stop()
        self.monitoring.stop()
        for task in list(self._tasks):
            task.cancel()
        if self.membership is not None:
            if graceful:
                await self.membership.leave()
            else:
                await self.membership.stop()
        if self.sync is not None:
            await self.sync.stop()
        if self.http is not None:
            await self.http.stop()
        if self.client is not None:
            await self.client.close()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def removed_from_pack(self) -> None:
        if not self.removed.is_set():
            log.warning("this member was removed from the pack; leaving it. To join again: stop it and start it "
                        "(with a new join_token if it joined with one)")
            self.removed.set()

    # ---- what the gate asks of a back end -----------------------------------------------------

    def running(self) -> bool:
        return self.membership is not None and self.membership.lease_id is not None

    def leader_name(self) -> str:
        """The leader as etcd says, while this member reaches etcd ("" when cut off, or while
        it takes the lead and catches up)."""
        membership = self.membership
        if membership is None or membership.cut_off:
            return ""
        leader = membership.leader
        if leader == self.settings.name and not self.sync.is_leader():
            return ""
        return leader

    def has_quorum(self) -> bool:
        return self.membership is not None and not self.membership.cut_off

    def no_leader_reason(self) -> str:
        if not self.has_quorum():
            return f"this member is cut off from etcd ({self.client.endpoint if self.client else 'no endpoint'})"
        return "an election is running"

    def stale(self) -> str:
        if self.membership is None or not self.membership.cut_off:
            return ""
        since = self.wall(self._cut_off_at) if self._cut_off_at is not None else None
        return "cut off from etcd" + (f" since {go_timestamp(since)}" if since else "")

    def member_api(self, name: str) -> str:
        record = self.membership.view.records.get(name) if self.membership is not None and name else None
        return record.api if record is not None else ""

    # ---- etcd's view into the cluster state -----------------------------------------------------

    def _members_changed(self, changes: list[MemberChange]) -> None:
        now = self._loop.time()
        for change in changes:
            record, status = change.record, change.status
            self._changed_at[change.name] = now
            offline_message = None
            heard = self.wall(now)
            if status == LEFT:
                offline_message = f"Left the pack at {heard:%Y-%m-%d %H:%M:%S} UTC"
            elif status == FAILED:   # its lease expired: it last renewed about a TTL ago
                heard = self.wall(now - self.membership.ttl)
            self.state.observe_member(change.name, address=record.address or record.name, online=status == ALIVE,
                                      heartbeat=heard, offline_message=offline_message)
            if status == ALIVE:
                self.hooks.event(JOIN, change.name, record.address)
            elif status == LEFT:
                self.hooks.event(LEAVE, change.name, record.address)
            else:
                self.hooks.event(FAILED_HOOK, change.name, record.address)
            log.info("member %s %s", change.name, "restarted" if change.restarted else status)
        self._groups_step(self.groups.pack_changed)

    def _leader_changed(self, change: LeaderChange) -> None:
        self._show_leader(change.leader, change.term, change.previous)

    def _cut_off(self, cut: bool) -> None:
        self._cut_off_at = self._loop.time() if cut else None
        self.groups.carry(self.groups.core.cut_off(cut, self._loop.time()))
        self._groups_timer.arm()
        self.sync.on_cut_off(cut)
        self.gate.leader_changed()
        if not cut:
            log.info("etcd answers again: %s renews its lease", self.settings.name)

    # ---- service groups, fenced by keys under the owners' leases --------------------------------

    def _pack_view(self) -> PackView:
        membership = self.membership
        if membership is None:
            return PackView("", (self.settings.name,), 1)
        alive = tuple(membership.view.alive())
        evacuated = frozenset(m.ident for m in self.state.members.values() if m.evacuated)
        leader = self.settings.name if self.sync is not None and self.sync.is_leader() else \
            (membership.leader if membership.leader != self.settings.name else "")
        # The size counts only for the pack protocol's ownership (a majority renews a lease).
        return PackView(leader, alive, len(alive), evacuated,
                        holding=self.barrier.holding(len(alive), self._loop.time()))

    def _holder(self, group: str) -> str | None:
        return self.membership.view.holders.get(group) if self.membership is not None else None

    def _monitors_report(self, results: dict[str, bool]) -> None:
        """What this member reaches: to its own placement view, and to etcd for the others."""
        self._groups_step(lambda now: self.groups.monitors_heard(self.settings.name, results, now))
        self._spawn(self._publish_reach(results))

    async def _publish_reach(self, results: dict[str, bool]) -> None:
        try:
            await self.membership.report_reach(results)
        except aetcd.exceptions.ClientError as exc:   # written with the next report or registration
            log.info("etcd: cannot publish what this member reaches now (%s)", exc)

    def _reach_heard(self, member: str, report: dict[str, bool]) -> None:
        if member != self.settings.name:   # its own pinger tells this member first
            self._groups_step(lambda now: self.groups.monitors_heard(member, report, now))

    def _document_shown(self, document) -> None:
        now = self._loop.time()
        self.groups.document_shown(document.modules, document.cluster, document.version, now)
        self._groups_timer.arm()
        self.monitoring.watch(self.groups.monitored())

    def _group_freed(self, group: str) -> None:
        self.groups.carry(self.groups.core.key_freed(group, self._loop.time()))
        self._groups_timer.arm()

    def _key_effect(self, effect) -> None:
        if isinstance(effect, TakeKey):
            self._spawn(self._take_key(effect))
        elif isinstance(effect, DropKey):
            self._spawn(self._drop_key(effect.group))
        else:
            raise TypeError(f"unknown ownership effect {effect!r}")

    async def _take_key(self, take: TakeKey) -> None:
        lease = self.membership.lease_id
        try:
            holder = await self.ownership.claim(take.group, self.settings.name, lease)
        except aetcd.exceptions.ClientError as exc:
            log.info("group %s: cannot take its key yet (%s)", take.group, exc)
            effects = self.groups.core.key_failed(take.group, take.epoch, self._loop.time())
        else:
            effects = self.groups.core.key_taken(take.group, take.epoch, holder, self._loop.time())
        self.groups.carry(effects)
        self._groups_timer.arm()

    async def _drop_key(self, group: str) -> None:
        try:
            await self.ownership.release(group, self.settings.name)
        except aetcd.exceptions.ClientError as exc:   # the key goes with the lease anyway
            log.info("group %s: cannot let its key go now (%s); it goes with this member's lease", group, exc)

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- joining ------------------------------------------------------------------------------

    def _join_answer(self) -> dict:
        """No key to hand over: etcd's client certificates admit members to etcd."""
        return {"pack": self._pack_name, "backend": "etcd"}

    # ---- the member state -----------------------------------------------------------------------

    def describe(self) -> dict:
        """The member state's ``pack`` part: etcd's view of the pack from this member."""
        membership, now = self.membership, self._loop.time()

        def shown(name: str) -> str:
            member = self.state.member_by_ident(name)
            return member.server_name if member is not None else name

        members = {}
        for name, record in sorted(membership.view.records.items()):
            changed = self._changed_at.get(name, now)
            # etcd keeps the renewals to itself: what a member knows is that the lease holds.
            members[shown(name)] = {"status": "alive", "incarnation": record.started, "api": record.api,
                                    "since_seconds": round(now - changed, 3)}
        counters = {**membership.counters, **self.hooks.counters, **self.groups.counters(),
                    "bad_records": membership.view.bad_records}
        return {"backend": "etcd", "incarnation": membership.record.started, "leader": membership.leader,
                "term": membership.term, "conflict": [], "members": members,
                "counters": dict(sorted(counters.items())), "pid": os.getpid(), "document": self.sync.describe(),
                "groups": self.groups.describe(), "monitors": self.monitoring.describe(now),
                "barrier": self.barrier.describe(),
                "etcd": {"endpoint": self.client.endpoint, "prefix": self.etcd_settings.prefix,
                         "pack": self._pack_name, "lease": f"{membership.lease_id or 0:x}", "ttl": membership.ttl,
                         "cut_off": membership.cut_off, "stale": self.stale(),
                         "candidates": [{"name": name, "revision": revision}
                                        for name, revision in membership.view.candidates()]}}
