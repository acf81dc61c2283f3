"""A member of a pack on etcd: its lease, its record and candidacy, and the watch that keeps
its :class:`~mockserver.daemon.etcd.view.PackView` current.

* **Lease.** Granted with a TTL of the pack's dead-interval (whole seconds, at least 1, as
  etcd counts), renewed every keepalive-interval. The member's record (``members/<name>``)
  and its candidacy (``election/<lease>``) live under it: if the member stops renewing, etcd
  removes both after the TTL and every other member sees it fail.
* **Cut off.** When no renewal has succeeded for ``TTL - keepalive`` seconds, the member
  counts itself cut off (``on_cut_off``): it must release what it holds (service groups) before
  etcd gives it away. When etcd answers again, the member renews its lease if etcd kept it
  (etcd extends every lease when it elects a leader, so a lease outlives a loss of quorum), or
  registers anew under a new lease (a new record and a new candidacy) if etcd says it expired,
  without a restart.
* **Leaving.** ``leave()`` writes ``left/<name>`` and then revokes the lease: the others see a
  departure, not a failure.
* **Watching.** One watch on the pack's directory from the snapshot's revision on; a watch
  that breaks is opened again from the last revision seen, and after a compaction the view is
  reloaded from a new snapshot.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Callable

import aetcd

from mockserver.daemon.etcd.client import EtcdClient, cancelled
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.etcd.view import LeaderChange, MemberChange, MemberRecord, PackView
from mockserver.daemon.etcd.watching import follow

__all__ = ["EtcdMembership", "lease_ttl"]

log = logging.getLogger(__name__)


def lease_ttl(dead_interval: float) -> int:
    """The lease's TTL in whole seconds for a dead-interval in seconds (etcd counts seconds)."""
    return max(1, math.ceil(dead_interval))


class EtcdMembership:
    """Run with ``await membership.start()``; ``await membership.leave()`` or ``stop()``.

    Args:
        client: the etcd client.
        keys: the pack's keys.
        record: what this member publishes (its name, API address, start time).
        dead_interval, keepalive: the pack's intervals, in seconds.
        candidate: whether it stands for leadership (``pack: follower`` does not).
        on_members: called with the :class:`MemberChange` list of each update.
        on_leader: called with each :class:`LeaderChange`.
        on_cut_off: called with True when the member has been cut off from etcd for
            ``TTL - keepalive`` (it must release what it holds), False when it is back.
        on_group_freed: called with a service group whose key was let go.
        on_reach: called with (member, {monitor address: reachable}) when a member's report
            changes (this member's own included, as etcd shows it).
    """

    def __init__(self, client: EtcdClient, keys: PackKeys, record: MemberRecord, *, dead_interval: float,
                 keepalive: float, candidate: bool = True,
                 on_members: Callable[[list[MemberChange]], None] = lambda changes: None,
                 on_leader: Callable[[LeaderChange], None] = lambda change: None,
                 on_cut_off: Callable[[bool], None] = lambda cut: None,
                 on_group_freed: Callable[[str], None] = lambda group: None,
                 on_reach: Callable[[str, dict[str, bool]], None] = lambda member, report: None) -> None:
        self.client, self.keys, self.record = client, keys, record
        self.ttl = lease_ttl(dead_interval)
        self.keepalive = keepalive
        self.candidate = candidate
        self.view = PackView()
        self._on_members, self._on_leader, self._on_cut_off = on_members, on_leader, on_cut_off
        self._on_group_freed, self._on_reach = on_group_freed, on_reach
        self._reach: dict[str, bool] | None = None   # what this member reaches, to publish
        self._reach_published: tuple[int, dict[str, bool]] | None = None   # (lease, report) written
        self._reach_lock = asyncio.Lock()   # one write at a time: an older report never lands last
        self.lease_id: int | None = None
        self.candidacy: bytes | None = None
        self.cut_off = False
        self.counters = {"renewals": 0, "renewal_failures": 0, "registrations": 0, "incarnations_replaced": 0,
                         "watch_restarts": 0, "snapshots": 0}
        self._last_renewal = 0.0
        self._failure_told = ""   # the last reason renewals failed that was logged
        self._watchdog: asyncio.TimerHandle | None = None
        self._revision = 0
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def leader(self) -> str:
        return self.view.leader

    @property
    def term(self) -> int:
        return self.view.term

    def is_leader(self) -> bool:
        """Whether this member's own candidacy (not an older one of its, still in the view
        after it registered anew) leads, and it reaches etcd."""
        return not self.cut_off and bool(self.candidacy) and self.view.leader_key == self.candidacy

    # ---- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Register, load the view, and start renewing and watching.

        Raises:
            aetcd.exceptions.ClientError: etcd refused, or stayed unavailable for the
                client's timeout.
        """
        await self._register()
        await self._snapshot()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._renew_forever(), name="etcd-lease"),
                       loop.create_task(self._watch_forever(), name="etcd-watch")]
        for task in self._tasks:
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        """A renewing or watching task must run until :meth:`stop`: say so loudly if not."""
        if self._stopping:
            return
        error = None if task.cancelled() else task.exception()
        log.error("etcd: %s: %s ended before the member stopped (%s)", self.name, task.get_name(),
                  repr(error) if error else "cancelled" if task.cancelled() else "returned")

    async def leave(self) -> None:
        """Leave on purpose: the others see a departure (and a new election at once)."""
        self._stopping = True
        try:
            await self.client.call(lambda: self.client.put(self.keys.left(self.name), b"1"), timeout=2)
            if self.lease_id is not None:
                await self.client.call(lambda: self.client.revoke_lease(self.lease_id), timeout=2)
        except aetcd.exceptions.ClientError as exc:
            log.warning("could not tell etcd that %s leaves (%s): the others see it fail after %d s",
                        self.name, exc, self.ttl)
        await self.stop()

    async def stop(self) -> None:
        """Stop renewing and watching (the lease then expires on its own)."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a task stuck inside the etcd library (a watch being cancelled on a
            # channel that is going) must not hold up the member's stop; closing the client
            # ends it.
            await asyncio.wait(self._tasks, timeout=2.0)
        self._tasks = []

    # ---- registration and lease -----------------------------------------------------------------

    async def _register(self) -> None:
        asked = time.monotonic()   # the lease runs from when etcd granted it: no earlier than this
        lease = await self.client.call(lambda: self.client.lease(self.ttl))
        self.lease_id = lease.id
        await self.client.call(lambda: self.client.delete(self.keys.left(self.name)))
        replaced = await self.client.call(lambda: self.client.put(self.keys.member(self.name), self.record.to_bytes(),
                                                                  lease=lease.id, prev_kv=True))
        if self.candidate:
            key = self.keys.candidacy(lease.id)
            await self.client.call(lambda: self.client.put(key, self.name.encode(), lease=lease.id))
            self.candidacy = key
        self._renewed(asked)
        self.counters["registrations"] += 1
        log.info("etcd: %s registered (lease %x, TTL %d s)", self.name, lease.id, self.ttl)
        try:
            await self._publish_reach()   # the last report went with the lease it was under
        except aetcd.exceptions.ClientError as exc:
            log.info("etcd: %s could not publish what it reaches yet (%s)", self.name, exc)
        previous = replaced.prev_kv.lease if replaced.prev_kv is not None else 0
        if previous and previous != lease.id:
            await self._retire(previous)

    async def _retire(self, lease_id: int) -> None:
        """Revoke the lease of this member's previous incarnation (a process that died without
        leaving, then started again): its candidacy and its groups go now, not a TTL later,
        so a restarted leader does not leave the pack leaderless until its old lease expires."""
        try:
            await self.client.call(lambda: self.client.revoke_lease(lease_id))
        except aetcd.exceptions.ClientError as exc:   # expired meanwhile, or etcd out of reach: etcd ends it
            log.info("etcd: the lease %x of %s's previous incarnation was not revoked (%s)", lease_id, self.name, exc)
            return
        self.counters["incarnations_replaced"] += 1
        log.info("etcd: %s replaced its previous incarnation (lease %x revoked)", self.name, lease_id)

    async def _renew_forever(self) -> None:
        """Renew every keepalive until stopped. Nothing but :meth:`stop` ends it: a member
        whose renewals stopped for good would stay cut off, and never register again."""
        while not self._stopping:
            await asyncio.sleep(self.keepalive)
            try:
                await self._renew_once()
            except asyncio.CancelledError:
                if self._stopping or cancelled():
                    raise   # stop() cancelled this task
                # gRPC cancels a call whose channel closed under it (another task moved to
                # another endpoint): one failed renewal, not the end of renewing.
                self.counters["renewal_failures"] += 1
                self._tell_failure(ConnectionResetError("the call was cancelled under it"))
            except Exception:   # noqa: BLE001 - logged; the next keepalive tries again
                self.counters["renewal_failures"] += 1
                log.exception("etcd: %s: a renewal failed unexpectedly", self.name)

    async def _renew_once(self) -> None:
        asked = time.monotonic()
        generation = self.client.generation
        try:
            # Bounded here as well: a renewal that hangs (a channel still connecting) must
            # not keep the member from finding itself cut off.
            reply = await asyncio.wait_for(
                self.client.call(lambda: self.client.refresh_lease(self.lease_id), timeout=self.keepalive),
                2 * self.keepalive)
            ttl = _ttl_of(reply)
            if ttl <= 0:
                raise _LeaseGone()
        except (_LeaseGone, aetcd.exceptions.ClientError, asyncio.TimeoutError) as exc:
            self.counters["renewal_failures"] += 1
            self._tell_failure(exc)   # (the watchdog armed by _renewed finds it cut off)
            if isinstance(exc, asyncio.TimeoutError) and time.monotonic() - self._last_renewal >= self.ttl:
                # Silent for a whole TTL without a refusal: the channel may be stuck
                # (connecting for ever); a new one, to the next endpoint, costs little.
                await self.client.rotate(generation)
            # Only etcd's word that the lease is gone calls for a new one: etcd extends
            # every lease when it elects a leader, so one can outlive a long silence (a
            # loss of quorum), and a second lease would leave a second candidacy behind.
            if isinstance(exc, _LeaseGone):
                await self._register_again()
            return
        self.counters["renewals"] += 1
        self._failure_told = ""
        self._renewed(asked)
        if self.cut_off:
            self._set_cut_off(False)

    def _tell_failure(self, exc: BaseException) -> None:
        """Log why renewals fail, once per reason (they fail every keepalive while etcd is away)."""
        reason = "etcd says the lease expired" if isinstance(exc, _LeaseGone) else \
            f"{type(exc).__name__}: {exc}" if str(exc) else f"no answer within {2 * self.keepalive:g} s"
        if reason != self._failure_told:
            self._failure_told = reason
            log.info("etcd: %s cannot renew its lease (%s)", self.name, reason)

    async def _register_again(self) -> None:
        """etcd says the lease is gone (it expired while etcd was out of reach): register anew."""
        try:
            await asyncio.wait_for(self._register(), max(1.0, self.ttl))
        except (aetcd.exceptions.ClientError, asyncio.TimeoutError) as exc:
            log.info("etcd: %s cannot register again yet: %s", self.name, exc or type(exc).__name__)
            return
        self._set_cut_off(False)

    def _renewed(self, asked: float) -> None:
        """A renewal (or a registration) asked at ``asked`` succeeded: etcd renewed the lease
        no earlier than that, so it lasts at least until ``asked + TTL``. The member counts
        itself cut off at ``asked + TTL - keepalive`` unless another renewal succeeded by then,
        whatever the renewing task is doing (one that hangs must not hide the lease's end)."""
        self._last_renewal = asked
        if self._watchdog is not None:
            self._watchdog.cancel()
        delay = max(0.0, asked + self.ttl - self.keepalive - time.monotonic())
        self._watchdog = asyncio.get_running_loop().call_later(delay, self._silent_too_long)

    def _silent_too_long(self) -> None:
        self._watchdog = None
        if not self.cut_off and not self._stopping:
            self._set_cut_off(True)

    def _set_cut_off(self, cut: bool) -> None:
        self.cut_off = cut
        if cut:
            log.warning("etcd: %s has renewed no lease for %.1f s: cut off from etcd", self.name,
                        time.monotonic() - self._last_renewal)
        self._on_cut_off(cut)

    # ---- what this member reaches ----------------------------------------------------------------

    async def report_reach(self, report: dict[str, bool]) -> None:
        """Publish which monitor addresses this member reaches (``reach/<name>``, under its
        lease), if it changed; written again under each new lease.

        Raises:
            aetcd.exceptions.ClientError: etcd did not take it (it is written with the next
                report, or at the next registration).
        """
        self._reach = dict(report)
        await self._publish_reach()

    async def _publish_reach(self) -> None:
        async with self._reach_lock:
            lease, report = self.lease_id, self._reach
            if report is None or lease is None or self._reach_published == (lease, report):
                return
            value = json.dumps(report, sort_keys=True).encode()
            await self.client.call(lambda: self.client.put(self.keys.reach(self.name), value, lease=lease),
                                   timeout=max(self.keepalive, 1.0))
            self._reach_published = (lease, report)

    # ---- the view ------------------------------------------------------------------------------------

    async def _snapshot(self) -> None:
        root = self.keys.root
        reply = await self.client.call(lambda: self.client.get_prefix(root))
        members, departures, candidacies, holders, reaches = [], [], [], [], []
        for kv in reply:
            key = kv.key
            if key.startswith(self.keys.members):
                members.append((self.keys.name_of(key, self.keys.members), kv.value, kv.mod_revision))
            elif key.startswith(self.keys.departures):
                departures.append((self.keys.name_of(key, self.keys.departures), kv.mod_revision))
            elif key.startswith(self.keys.election):
                candidacies.append((key, kv.value.decode(errors="replace"), kv.create_revision))
            elif key.startswith(self.keys.groups):
                holders.append((self.keys.name_of(key, self.keys.groups), kv.value.decode(errors="replace")))
            elif key.startswith(self.keys.reaches):
                reaches.append((self.keys.name_of(key, self.keys.reaches), kv.value))
        self._revision = _revision_of(reply)
        self.counters["snapshots"] += 1
        freed = set(self.view.holders) - {group for group, _ in holders}
        reported = dict(self.view.reach)
        self._deliver(self.view.load(members, departures, candidacies, holders, reaches))
        for group in sorted(freed):
            self._on_group_freed(group)
        for member, report in sorted(self.view.reach.items()):
            if reported.get(member) != report:
                self._on_reach(member, report)

    async def _watch_forever(self) -> None:
        await follow(self.client, lambda: self.client.watch_prefix(self.keys.root, start_revision=self._revision + 1),
                     self._on_event, resync=self._resnapshot, stopping=lambda: self._stopping, counters=self.counters,
                     pause=min(self.keepalive, 0.5))

    def _on_event(self, event) -> None:
        self._revision = max(self._revision, event.kv.mod_revision)
        self._deliver(self._event(event))

    async def _resnapshot(self) -> None:
        try:
            await self._snapshot()
        except aetcd.exceptions.ClientError:
            await asyncio.sleep(min(self.keepalive, 0.5))

    def _event(self, event) -> list:
        key, keys = event.kv.key, self.keys
        deleted = event.kind == aetcd.rtypes.EventKind.DELETE
        if key.startswith(keys.members):
            name = keys.name_of(key, keys.members)
            return self.view.member_deleted(name, event.kv.mod_revision) if deleted else \
                self.view.member_put(name, event.kv.value, event.kv.mod_revision)
        if key.startswith(keys.departures):
            name = keys.name_of(key, keys.departures)
            if deleted:
                self.view.left_deleted(name)
            else:
                self.view.left_put(name, event.kv.mod_revision)
            return []
        if key.startswith(keys.election):
            return self.view.candidacy_deleted(key) if deleted else \
                self.view.candidacy_put(key, event.kv.value.decode(errors="replace"), event.kv.create_revision)
        if key.startswith(keys.groups):
            group = keys.name_of(key, keys.groups)
            if not deleted:
                self.view.group_put(group, event.kv.value.decode(errors="replace"))
            elif self.view.group_deleted(group):
                self._on_group_freed(group)
        elif key.startswith(keys.reaches):
            member = keys.name_of(key, keys.reaches)
            if deleted:   # its lease ended: placement counts a member only while it is alive
                self.view.reach_deleted(member)
            else:
                report = self.view.reach_put(member, event.kv.value)
                if report is not None:
                    self._on_reach(member, report)
        return []

    def _deliver(self, changes: list) -> None:
        members = [change for change in changes if isinstance(change, MemberChange)]
        if members:
            self._on_members(members)
        for change in changes:
            if isinstance(change, LeaderChange):
                self._on_leader(change)


class _LeaseGone(Exception):
    """etcd answered the renewal with a TTL of 0: the lease expired."""


def _ttl_of(reply) -> int:
    """The TTL a LeaseKeepAlive reply gives (aetcd returns the gRPC reply, or a stream of them)."""
    ttl = getattr(reply, "TTL", None)
    if ttl is None:
        for item in reply or ():
            ttl = getattr(item, "TTL", ttl)
    return int(ttl or 0)


def _revision_of(reply) -> int:
    header = getattr(reply, "header", None)
    return int(getattr(header, "revision", 0) or 0)
