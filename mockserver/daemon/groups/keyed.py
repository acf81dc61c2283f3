"""Service-group ownership fenced by a key in an engine of record (etcd), as a sans-IO core.

On the pack's own protocol an owner holds a group by renewing a lease with a majority of
the members (:mod:`ownership`). With etcd, etcd keeps the lease: the member assigned a
group takes the key ``groups/<group>`` under its own etcd lease, and brings the group up
only once it holds that key. The key goes when its owner releases the group or when the
owner's lease expires, so two members never hold one group's key at once:

* a member the document no longer names takes the group down, addresses first, then lets
  the key go (:class:`DropKey`);
* a member cut off from etcd takes its groups down at once, before its lease can expire
  and another member take the key (the membership says so one keepalive before the TTL
  ends);
* a member whose assignment names it asks for the key (:class:`TakeKey`) and asks again
  every keepalive until the previous owner's key is gone.

The same inputs as :class:`~mockserver.daemon.groups.ownership.OwnershipCore`, so that the
runtime drives either; the driver carries out TakeKey and DropKey and feeds the answers back
(:meth:`key_taken`, :meth:`key_failed`).
"""
from __future__ import annotations

from dataclasses import dataclass

from mockserver.daemon.groups.ownership import Acquire, Assignment, Release

__all__ = ["KeyedOwnershipCore", "TakeKey", "DropKey"]


@dataclass(frozen=True)
class TakeKey:
    """Take ``groups/<group>`` under this member's lease if nobody holds it; answer with
    ``key_taken(group, epoch, holder)`` (or ``key_failed``)."""
    group: str
    epoch: int


@dataclass(frozen=True)
class DropKey:
    """Let ``groups/<group>`` go if this member holds it (nothing to answer)."""
    group: str


@dataclass
class _Claim:
    epoch: int
    held: bool = False
    asking: bool = False             # a TakeKey is out
    next_ask: float = float("-inf")


class KeyedOwnershipCore:
    """One member's side. ``keepalive``: how often a claim whose key is taken is asked again."""

    def __init__(self, name: str, *, keepalive: float) -> None:
        self.name = name
        self.keepalive = keepalive
        self.table: dict[str, Assignment] = {}
        self._claims: dict[str, _Claim] = {}
        self._version = -1
        self._cut_off = False
        self._now = float("-inf")
        self.counters = {"acquired": 0, "released": 0, "key_busy": 0, "key_failures": 0, "lease_lost": 0}

    # ---- queries ---------------------------------------------------------------------------

    def holds(self, group: str) -> bool:
        claim = self._claims.get(group)
        return claim is not None and claim.held

    def held(self) -> dict[str, int]:
        return {group: claim.epoch for group, claim in self._claims.items() if claim.held}

    def next_deadline(self) -> float:
        if self._cut_off:
            return float("inf")
        return min((claim.next_ask for claim in self._claims.values() if not claim.held and not claim.asking),
                   default=float("inf"))

    # ---- inputs ----------------------------------------------------------------------------

    def membership(self, live, size: int, now: float) -> list:
        """etcd keeps the liveness: who else is alive changes nothing here."""
        return self.tick(now)

    def assignments(self, table: dict[str, Assignment], now: float, version: int | None = None) -> list:
        """The committed assignments of document ``version`` (older versions are ignored)."""
        self._now = max(self._now, now)
        if version is not None:
            if version < self._version:
                return self.tick(now)
            self._version = version
        self.table = dict(table)
        effects: list = []
        for group, claim in list(self._claims.items()):
            assignment = self.table.get(group)
            if assignment is None or assignment.owner != self.name or assignment.epoch != claim.epoch:
                del self._claims[group]
                effects += self._let_go(group, claim, "assigned elsewhere", now)
        for group, assignment in self.table.items():
            if assignment.owner == self.name and group not in self._claims:
                self._claims[group] = _Claim(assignment.epoch)
        return effects + self.tick(now)

    def tick(self, now: float) -> list:
        self._now = max(self._now, now)
        if self._cut_off:
            return []
        effects: list = []
        for group, claim in self._claims.items():
            if not claim.held and not claim.asking and now >= claim.next_ask:
                claim.asking = True
                effects.append(TakeKey(group, claim.epoch))
        return effects

    def key_taken(self, group: str, epoch: int, holder: str, now: float) -> list:
        """The answer to TakeKey: ``holder`` holds the key now (this member, if it took it)."""
        self._now = max(self._now, now)
        claim = self._claims.get(group)
        if claim is None or claim.epoch != epoch:
            return [DropKey(group)] if holder == self.name else []   # no longer ours meanwhile
        claim.asking = False
        if self._cut_off:
            return []
        if holder != self.name:
            self.counters["key_busy"] += 1   # the previous owner has not let go yet
            claim.next_ask = now + self.keepalive
            return []
        if claim.held:
            return []
        claim.held = True
        self.counters["acquired"] += 1
        return [Acquire(group, epoch)]

    def key_freed(self, group: str, now: float) -> list:
        """The key of ``group`` is gone (its owner let go, or its lease expired): a claim
        waiting for it asks at once."""
        claim = self._claims.get(group)
        if claim is not None and not claim.held:
            claim.next_ask = now
        return self.tick(now)

    def key_failed(self, group: str, epoch: int, now: float) -> list:
        """TakeKey got no answer (etcd out of reach): asked again at the next keepalive."""
        self.counters["key_failures"] += 1
        claim = self._claims.get(group)
        if claim is not None and claim.epoch == epoch:
            claim.asking = False
            claim.next_ask = now + self.keepalive
        return []

    def cut_off(self, cut: bool, now: float) -> list:
        """Cut off from etcd (True): every group goes down now, before the lease can expire
        and another member take the key. Back (False): the claims are asked for again (the
        keys went with the old lease if it expired)."""
        self._now = max(self._now, now)
        self._cut_off = cut
        if not cut:
            for claim in self._claims.values():
                claim.asking, claim.next_ask = False, now
            return self.tick(now)
        effects: list = []
        for group, claim in self._claims.items():
            if claim.held:
                self.counters["lease_lost"] += 1
                claim.held = False
                effects.append(self._release(group, claim, "cut off from etcd: its lease may end", now))
        return effects

    def stop(self, now: float) -> list:
        """This member stops: everything goes down, and the keys are let go."""
        self._now = max(self._now, now)
        effects: list = []
        for group, claim in self._claims.items():
            effects += self._let_go(group, claim, "the member is stopping", now)
        self._claims.clear()
        self.table = {}
        return effects

    # The pack protocol's messages mean nothing here.
    def heard_renew(self, sender: str, seq: int, claims, now: float) -> list:
        return []

    def heard_renewed(self, sender: str, seq: int, answers, now: float) -> list:
        return []

    def heard_takeover(self, sender: str, group: str, epoch: int, now: float) -> list:
        return []

    def heard_takeover_reply(self, sender: str, group: str, epoch: int, age, now: float) -> list:
        return []

    # ---- helpers --------------------------------------------------------------------------

    def _let_go(self, group: str, claim: _Claim, reason: str, now: float) -> list:
        effects = [self._release(group, claim, reason, now)] if claim.held else []
        claim.held = False
        return effects + [DropKey(group)]

    def _release(self, group: str, claim: _Claim, reason: str, now: float) -> Release:
        self.counters["released"] += 1
        return Release(group, claim.epoch, reason, until=now)
