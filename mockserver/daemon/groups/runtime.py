"""Service groups in a running daemon: the leader places groups and publishes assignments,
and every member runs the ownership core and carries out what it decides.

``placement`` and ``ownership`` decide; this module only feeds them and carries their
effects out. Inputs come from the daemon: the pack (who is alive, who leads), CLAIM messages,
and the shown document (its ServiceGroups module and its assignments). Outputs are CLAIM
messages (through the membership core), documents to publish (on the leader), and the
``GroupActions`` that bring a group up or down on this host.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Protocol

from mockserver.daemon.groups.config import MODULE, GroupError, GroupSpec, parse_groups
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
from mockserver.daemon.groups.placement import Candidate, place
from mockserver.daemon.protocol.effects import ClaimHeard
from mockserver.daemon.protocol.messages import NO_AGE, ClaimKind

log = logging.getLogger(__name__)

#: The key of the assignments in the pack document's shared cluster data.
DOCUMENT_KEY = "service_groups"


class GroupActions(Protocol):
    """What holding a group does on this host (addresses, services, hooks)."""

    def acquire(self, group: GroupSpec, epoch: int) -> None: ...

    def release(self, group: GroupSpec, epoch: int, reason: str, until: float) -> None:
        """Take it down; its addresses by ``until`` at the latest (the loop's clock: when the
        lease ends, another member may take them)."""

    def clean(self, groups) -> None:
        """At start: undo what an earlier run left (addresses a kill -9 left up)."""


class LoggedActions:
    """Holding a group changes nothing on the host: it is logged (and shown in the member
    state). The default until addresses and services are moved."""

    def acquire(self, group: GroupSpec, epoch: int) -> None:
        log.info("group %s: active here (epoch %d)", group.name, epoch)

    def release(self, group: GroupSpec, epoch: int, reason: str, until: float) -> None:
        log.info("group %s: released here (epoch %d): %s", group.name, epoch, reason)

    def clean(self, groups) -> None:
        pass


@dataclass(frozen=True)
class PackView:
    """What the runtime reads of the pack at each step."""

    leader: str
    alive: tuple                 # members believed alive, this one included
    size: int                    # the pack's size (expected_members, else the members known)
    evacuated: frozenset = frozenset()


class GroupsRuntime:
    """``send_claim(names, kind, seq, items)`` sends a CLAIM message; ``publish()`` asks the
    sync driver to publish a new version (on the leader); ``view()`` reads the pack."""

    def __init__(self, name: str, *, lease: float, keepalive: float, view: Callable[[], PackView],
                 send_claim: Callable, publish: Callable[[], None], actions: GroupActions | None = None):
        self.name = name
        self.core = OwnershipCore(name, lease=lease, keepalive=keepalive)
        self._view, self._send_claim, self._publish = view, send_claim, publish
        self.actions: GroupActions = actions or LoggedActions()
        self.specs: dict[str, GroupSpec] = {}
        self.table: dict[str, Assignment] = {}          # committed: what the shown document says
        self.proposed: dict[str, Assignment] | None = None   # the leader's, until it is shown
        self._healthy_since: dict[str, float] = {}
        self.problem: str | None = None                 # why the shown ServiceGroups cannot be used
        self._cleaned = False
        # Every group's newest definition, removed ones included: a group taken out of the
        # configuration is released with what it was (its addresses, its services).
        self._released_as: dict[str, GroupSpec] = {}

    # ---- what the document holds -----------------------------------------------------------

    def shared(self) -> dict:
        """The assignments to publish with the next version (the leader's newest)."""
        table = self.proposed if self.proposed is not None else self.table
        return {DOCUMENT_KEY: {group: {"owner": a.owner, "epoch": a.epoch} for group, a in sorted(table.items())}}

    def document_shown(self, modules, cluster: dict | None, version: int, now: float) -> None:
        """A committed document is shown: its groups and its assignments."""
        options = dict(modules).get(MODULE)
        try:
            previous, self.specs = self.specs, {spec.name: spec for spec in parse_groups(options)}
            self._released_as.update(self.specs)
            self.problem = None
            for group, epoch in self.core.held().items():
                old, new = previous.get(group), self.specs.get(group)
                if old is not None and new is not None and old.services != new.services:
                    # Held here, redefined: what it was goes down, what it is comes up.
                    # Still held here, by this member alone: no hurry for the addresses.
                    self.actions.release(old, epoch, "its definition changed", float("inf"))
                    self.actions.acquire(new, epoch)
            if not self._cleaned:   # the first groups this run knows: nothing may be up yet
                self._cleaned = True
                self.actions.clean(self.specs.values())
        except GroupError as exc:   # refused before it replicates: only a bug gets here
            self.problem = str(exc)
            log.error("the shown %s cannot be used, the groups stay as they were: %s", MODULE, exc)
        raw = (cluster or {}).get(DOCUMENT_KEY) or {}
        self.table = {group: Assignment(entry.get("owner"), int(entry.get("epoch", 0)))
                      for group, entry in raw.items() if isinstance(entry, dict)}
        if self.proposed is not None and all(self.table.get(g) == a for g, a in self.proposed.items()):
            self.proposed = None
        self._carry(self.core.assignments(self.table, now, version))
        self.place(now)

    # ---- the pack --------------------------------------------------------------------------

    def pack_changed(self, now: float) -> None:
        """A member came, went or changed, or the leader did."""
        view = self._view()
        self._carry(self.core.membership(view.alive, view.size, now))
        self.place(now)

    def heard(self, heard: ClaimHeard, now: float) -> None:
        core, sender = self.core, heard.sender
        if heard.kind == ClaimKind.RENEW:
            effects = core.heard_renew(sender, heard.seq, [(g, e) for g, e, _, _ in heard.items], now)
        elif heard.kind == ClaimKind.RENEWED:
            effects = core.heard_renewed(sender, heard.seq, [(g, e, yes) for g, e, yes, _ in heard.items], now)
        elif heard.kind == ClaimKind.TAKEOVER and heard.items:
            group, epoch, _, _ = heard.items[0]
            effects = core.heard_takeover(sender, group, epoch, now)
        elif heard.kind == ClaimKind.TAKEOVER_REPLY and heard.items:
            group, epoch, _, age_ms = heard.items[0]
            effects = core.heard_takeover_reply(sender, group, epoch, None if age_ms == NO_AGE else age_ms / 1000,
                                                now)
        else:
            return
        self._carry(effects)

    def tick(self, now: float) -> None:
        self._carry(self.core.tick(now))
        self.place(now)

    def next_deadline(self) -> float:
        return self.core.next_deadline()

    def stop(self, now: float) -> None:
        """The member stops: whatever it holds goes down now, addresses first (the others
        take over once its lease is over)."""
        self._carry(self.core.stop(now))

    # ---- the leader: placing groups ----------------------------------------------------------

    def place(self, now: float) -> None:
        view = self._view()
        if view.leader != self.name or self.problem is not None:
            self.proposed = None
            return
        current = self.proposed if self.proposed is not None else self.table
        names = {name for spec in self.specs.values() for name in spec.members}
        for name in names:
            # Healthy since it was first seen alive and available (an evacuation ends it).
            if name in view.alive and name not in view.evacuated:
                self._healthy_since.setdefault(name, now)
            else:
                self._healthy_since.pop(name, None)
        # Monitors are not pinged yet: every member counts as reaching all of them.
        reaches = frozenset(ip for spec in self.specs.values() for ip in spec.monitors)
        candidates = {name: Candidate(name, alive=name in view.alive, evacuated=name in view.evacuated,
                                      reaches=reaches, healthy_since=self._healthy_since.get(name, now))
                      for name in names}
        table: dict[str, Assignment] = {}
        for group, spec in self.specs.items():
            assigned = current.get(group, Assignment(None, 0))
            placement = place(spec, assigned.owner, candidates, now)
            if placement.owner != assigned.owner:
                log.info("group %s: %s -> %s (%s)", group, assigned.owner or "nobody", placement.owner or "nobody",
                         placement.reason)
                table[group] = Assignment(placement.owner, assigned.epoch + 1)
            else:
                table[group] = assigned
        if table != current:
            self.proposed = table
            self._publish()

    # ---- effects ----------------------------------------------------------------------------

    def _carry(self, effects: list) -> None:
        for effect in effects:
            if isinstance(effect, SendRenew):
                self._send_claim(effect.to, ClaimKind.RENEW, effect.seq,
                                 [(g, e, False, 0) for g, e in effect.claims])
            elif isinstance(effect, SendRenewed):
                self._send_claim([effect.to], ClaimKind.RENEWED, effect.seq,
                                 [(g, e, yes, 0) for g, e, yes in effect.answers])
            elif isinstance(effect, SendTakeover):
                self._send_claim(effect.to, ClaimKind.TAKEOVER, 0, [(effect.group, effect.epoch, False, 0)])
            elif isinstance(effect, SendTakeoverReply):
                # Rounded down: a shorter age makes the new owner wait longer, never less.
                age_ms = NO_AGE if effect.age is None else min(int(effect.age * 1000), NO_AGE - 1)
                self._send_claim([effect.to], ClaimKind.TAKEOVER_REPLY, 0,
                                 [(effect.group, effect.epoch, False, age_ms)])
            elif isinstance(effect, Acquire):
                spec = self.specs.get(effect.group)
                if spec is not None:
                    self.actions.acquire(spec, effect.epoch)
            elif isinstance(effect, Release):
                spec = self.specs.get(effect.group) or self._released_as.get(effect.group)
                if spec is not None:
                    self.actions.release(spec, effect.epoch, effect.reason, effect.until)

    def describe(self) -> dict:
        """The member state's ``pack.groups``: each group's assignment, and whether it is
        held here."""
        held = self.core.held()
        return {group: {"owner": self.table.get(group, Assignment(None, 0)).owner,
                        "epoch": self.table.get(group, Assignment(None, 0)).epoch,
                        "held_here": group in held}
                for group in sorted(set(self.specs) | set(self.table))}
