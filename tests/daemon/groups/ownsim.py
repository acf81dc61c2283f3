"""Ownership cores on a simulated network with a fake clock: per-direction link cuts,
crashes, delays and reordering, and a recorder that fails the moment two members hold one
group."""
from __future__ import annotations

import heapq
import itertools
import random

from mockserver.daemon.groups.ownership import (
    Acquire,
    Assignment,
    OwnershipCore,
    Release,
    SendRenew,
    SendRenewed,
    SendTakeover,
    SendTakeoverReply,
)

KEEPALIVE = 0.05
DEAD = 0.3
LEASE = DEAD - KEEPALIVE   # below the dead-interval: a crashed owner's lease is over when it is noticed


class TwoHolders(AssertionError):
    pass


class OwnNet:
    def __init__(self, names=("node1", "node2", "node3"), *, seed: int = 1, delay=(0.0005, 0.004),
                 drift: float = 0.01, rates: dict | None = None):
        self.names = tuple(names)
        self.rng = random.Random(seed)
        self.delay = delay
        self.now = 0.0
        # Each member's clock runs at its own rate (within the drift the cores allow for).
        self.rates = rates or {name: 1.0 + self.rng.uniform(-drift / 3, drift / 3) for name in names}
        self.cores = {name: OwnershipCore(name, lease=LEASE, keepalive=KEEPALIVE, drift=drift) for name in names}
        self.cut: set = set()          # (source, destination) links that drop everything
        self.down: set = set()         # crashed members
        self.holders: dict[str, set] = {}
        self.history: list = []        # (time, member, "acquire"/"release", group)
        self._queue: list = []
        self._order = itertools.count()
        self._tick_at: dict[str, float] = {}
        self._version = 0
        self._applied_at: dict[str, float] = {}
        for name in names:
            self.call(name, lambda core: core.membership(self.names, len(self.names), self.local(name)))

    # ---- clocks and delivery ----------------------------------------------------------------

    def local(self, name: str) -> float:
        """``name``'s clock now (a monotonic clock with its own rate)."""
        return self.now * self.rates[name]

    def call(self, name: str, method) -> None:
        if name in self.down:
            return
        self.apply(name, method(self.cores[name]))

    def apply(self, name: str, effects: list) -> None:
        for effect in effects:
            if isinstance(effect, Acquire):
                holders = self.holders.setdefault(effect.group, set())
                holders.add(name)
                self.history.append((self.now, name, "acquire", effect.group))
                if len(holders) > 1:
                    raise TwoHolders(f"t={self.now:.4f}: {sorted(holders)} hold {effect.group}\n" +
                                     "\n".join(map(str, self.history[-12:])))
            elif isinstance(effect, Release):
                self.holders.get(effect.group, set()).discard(name)
                self.history.append((self.now, name, "release", effect.group))
            elif isinstance(effect, SendRenew):
                for to in effect.to:
                    self.send(name, to, lambda core, e=effect, s=name, t=to: core.heard_renew(
                        s, e.seq, e.claims, self.local(t)))
            elif isinstance(effect, SendRenewed):
                self.send(name, effect.to, lambda core, e=effect, s=name: core.heard_renewed(
                    s, e.seq, e.answers, self.local(e.to)))
            elif isinstance(effect, SendTakeover):
                for to in effect.to:
                    self.send(name, to, lambda core, e=effect, s=name, t=to: core.heard_takeover(
                        s, e.group, e.epoch, self.local(t)))
            elif isinstance(effect, SendTakeoverReply):
                self.send(name, effect.to, lambda core, e=effect, s=name: core.heard_takeover_reply(
                    s, e.group, e.epoch, e.age, self.local(e.to)))
            else:
                raise AssertionError(f"unknown effect {effect!r}")
        self._schedule_tick(name)

    def send(self, source: str, destination: str, handler) -> None:
        if (source, destination) in self.cut or source in self.down:
            return
        at = self.now + self.rng.uniform(*self.delay)
        heapq.heappush(self._queue, (at, next(self._order), destination, handler))

    def _schedule_tick(self, name: str) -> None:
        deadline_local = self.cores[name].next_deadline()
        if deadline_local == float("inf"):
            return
        # A hair after the deadline: the member's clock (now x rate) must reach it, despite rounding.
        at = max(self.now, deadline_local / self.rates[name]) + 1e-9
        if self._tick_at.get(name, float("inf")) <= at and self._tick_at.get(name, -1) >= self.now:
            return
        self._tick_at[name] = at
        heapq.heappush(self._queue, (at, next(self._order), name, "tick"))

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self._queue and self._queue[0][0] <= end:
            at, _, name, handler = heapq.heappop(self._queue)
            self.now = at
            if name in self.down:
                continue
            if handler == "tick":
                if self._tick_at.get(name) != at:
                    continue
                self._tick_at.pop(name, None)
                self.call(name, lambda core: core.tick(self.local(name)))
            else:
                self.call(name, handler)
        self.now = end

    # ---- what a test does -----------------------------------------------------------------

    def commit(self, table: dict, order=None, gap: float = 0.002) -> None:
        """The leader's assignments ``{group: (owner, epoch)}`` reach the members in ``order``
        (default: every live one), ``gap`` seconds apart, as a committed document does."""
        assignments = {group: Assignment(owner, epoch) for group, (owner, epoch) in table.items()}
        self._version += 1
        for index, name in enumerate(order or [n for n in self.names if n not in self.down]):
            # A member takes documents in version order (as the sync does): never before the
            # version it was given earlier.
            at = max(self.now + index * gap, self._applied_at.get(name, 0.0) + 1e-6)
            self._applied_at[name] = at
            heapq.heappush(self._queue, (at, next(self._order), name,
                                         lambda core, a=assignments, n=name, v=self._version:
                                         core.assignments(a, self.local(n), v)))

    def crash(self, name: str) -> None:
        self.down.add(name)
        for group in self.holders:
            self.holders[group].discard(name)   # a crashed member holds nothing

    def isolate(self, name: str, *, outgoing: bool = True, incoming: bool = True) -> None:
        for other in self.names:
            if other != name:
                if outgoing:
                    self.cut.add((name, other))
                if incoming:
                    self.cut.add((other, name))

    def heal(self) -> None:
        self.cut.clear()

    def holder(self, group: str) -> str | None:
        holders = self.holders.get(group, set())
        assert len(holders) <= 1
        return next(iter(holders), None)

    def first(self, kind: str, group: str, member: str | None = None, since: float = 0.0) -> float | None:
        for when, name, what, which in self.history:
            if when >= since and what == kind and which == group and (member is None or name == member):
                return when
        return None
