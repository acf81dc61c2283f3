"""Service groups in a running daemon: the leader places groups and publishes assignments,
and every member runs the ownership core and carries out what it decides.

``placement`` and ``ownership`` decide; this module only feeds them and carries their
effects out. Inputs come from the daemon: the pack (who is alive, who leads), CLAIM messages,
and the shown document (its ServiceGroups module and its assignments). Outputs are CLAIM
messages (through the membership core), documents to publish (on the leader), and the
``GroupActions`` that bring a group up or down on this host.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, replace
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

    def reannounce(self, group: GroupSpec, epoch: int) -> None:
        """Members came back while the group is held here: announce it again."""

    def prepare(self, groups) -> None:
        """The groups were (re)defined: load now whatever acting on them needs, so that a
        takeover does not wait for it."""

    def counters_now(self) -> dict:
        """What acting counted (addresses, services, hooks)."""


class LoggedActions:
    """Holding a group changes nothing on the host: it is logged (and shown in the member
    state). The default until addresses and services are moved."""

    def acquire(self, group: GroupSpec, epoch: int) -> None:
        log.info("group %s: active here (epoch %d)", group.name, epoch)

    def release(self, group: GroupSpec, epoch: int, reason: str, until: float) -> None:
        log.info("group %s: released here (epoch %d): %s", group.name, epoch, reason)

    def clean(self, groups) -> None:
        pass

    def reannounce(self, group: GroupSpec, epoch: int) -> None:
        log.info("group %s: still active here (epoch %d); members came back", group.name, epoch)

    def prepare(self, groups) -> None:
        pass

    def counters_now(self) -> dict:
        return {}


@dataclass(frozen=True)
class PackView:
    """What the runtime reads of the pack at each step."""

    leader: str
    alive: tuple                 # members believed alive, this one included
    size: int                    # the pack's size (expected_members, else the members known)
    evacuated: frozenset = frozenset()
    holding: str = ""            # why no group may be placed yet (the start-up barrier), "" if they may


@dataclass(frozen=True)
class Entry:
    """One group's line in the document: who owns it (epoch: the ownership's term), the
    member an operator moved it to (kept while that member can own it), and why it moved
    last."""

    owner: str | None
    epoch: int
    requested: str | None = None
    reason: str = ""

    @property
    def assignment(self) -> Assignment:
        return Assignment(self.owner, self.epoch)

    def to_document(self) -> dict:
        entry = {"owner": self.owner, "epoch": self.epoch, "reason": self.reason}
        if self.requested:
            entry["requested"] = self.requested
        return entry

    @classmethod
    def from_document(cls, raw: dict) -> Entry:
        return cls(raw.get("owner"), int(raw.get("epoch", 0)), raw.get("requested") or None,
                   str(raw.get("reason") or ""))


NOBODY = Entry(None, 0)


class MoveRefused(Exception):
    """A move by hand that cannot be done: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status, self.text = status, text


#: Called on every member when the shown document moves a group: (group, previous owner,
#: new owner, epoch, reason).
MovedCallback = Callable[[str, "str | None", "str | None", int, str], None]


class GroupsRuntime:
    """``send_claim(names, kind, seq, items)`` sends a CLAIM message; ``publish()`` asks the
    sync driver to publish a new version (on the leader); ``view()`` reads the pack;
    ``moved`` is told of every move the shown document makes."""

    def __init__(self, name: str, *, lease: float, keepalive: float, view: Callable[[], PackView],
                 send_claim: Callable, publish: Callable[[], None], actions: GroupActions | None = None,
                 moved: MovedCallback | None = None, core=None, other_effect: Callable | None = None,
                 holder: Callable[[str], str | None] | None = None):
        """``core``: the ownership core (default: the pack protocol's, leases renewed with a
        majority of the members; etcd's is :class:`~mockserver.daemon.groups.keyed.KeyedOwnershipCore`);
        ``other_effect`` carries out the effects of such a core that are not the runtime's;
        ``holder(group)``: who holds the group now, when the engine of record knows it."""
        self.name = name
        self.lease = lease
        self.core = core if core is not None else OwnershipCore(name, lease=lease, keepalive=keepalive)
        self._other_effect, self._holder = other_effect, holder
        self._view, self._send_claim, self._publish = view, send_claim, publish
        self._moved = moved or (lambda *args: None)
        self.actions: GroupActions = actions or LoggedActions()
        self.specs: dict[str, GroupSpec] = {}
        self.table: dict[str, Entry] = {}               # committed: what the shown document says
        self.proposed: dict[str, Entry] | None = None   # the leader's, until it is shown
        self._healthy_since: dict[str, float] = {}
        self.problem: str | None = None                 # why the shown ServiceGroups cannot be used
        self._cleaned = False
        # Every group's newest definition, removed ones included: a group taken out of the
        # configuration is released with what it was (its addresses, its services).
        self._released_as: dict[str, GroupSpec] = {}
        # member -> {monitor address: reachable}, as each member last reported it. A member
        # that has not reported counts as reaching every address (it has not had a
        # monitor-dead-interval to find otherwise).
        self.reach: dict[str, dict[str, bool]] = {}
        # group -> (owner, epoch, when): the last renewal heard in which the owner said it holds
        # the group (for the status; holding is the owner's own decision).
        self._active_heard: dict[str, tuple] = {}
        self._alive: tuple = ()
        self._seen_alive: set = set()   # members seen alive at some time (a first sight is no return)

    # ---- what the document holds -----------------------------------------------------------

    def shared(self) -> dict:
        """The assignments to publish with the next version (the leader's newest)."""
        table = self.proposed if self.proposed is not None else self.table
        return {DOCUMENT_KEY: {group: entry.to_document() for group, entry in sorted(table.items())}}

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
            self.actions.prepare(self.specs.values())
        except GroupError as exc:   # refused before it replicates: only a bug gets here
            self.problem = str(exc)
            log.error("the shown %s cannot be used, the groups stay as they were: %s", MODULE, exc)
        raw = (cluster or {}).get(DOCUMENT_KEY) or {}
        before, self.table = self.table, {group: Entry.from_document(entry) for group, entry in raw.items()
                                          if isinstance(entry, dict)}
        for group, entry in self.table.items():
            old = before.get(group, NOBODY)
            if entry.epoch > old.epoch and entry.owner != old.owner:
                self._moved(group, old.owner, entry.owner, entry.epoch, entry.reason)
        if self.proposed is not None and all(self.table.get(g) == e for g, e in self.proposed.items()):
            self.proposed = None
        self._carry(self.core.assignments({g: e.assignment for g, e in self.table.items()}, now, version))
        self.place(now)

    # ---- the pack --------------------------------------------------------------------------

    def pack_changed(self, now: float) -> None:
        """A member came, went or changed, or the leader did. Members that came back (a
        partition healed, a member restarted) hear the groups held here announced again."""
        view = self._view()
        returned = set(view.alive) - set(self._alive) - {self.name}
        self._alive = tuple(view.alive)
        self._carry(self.core.membership(view.alive, view.size, now))
        if returned & self._seen_alive:
            for group, epoch in self.core.held().items():
                spec = self.specs.get(group)
                if spec is not None:
                    self.actions.reannounce(spec, epoch)
        self._seen_alive |= returned
        self.place(now)

    def owners(self) -> list[str]:
        """The members the committed assignments name: each renews with every member each
        keepalive, so a dead-interval without a word from one means it is gone."""
        return sorted({entry.owner for entry in self.table.values() if entry.owner is not None})

    def monitored(self) -> list[str]:
        """The monitor addresses this member pings: those of the groups it may own."""
        return list(dict.fromkeys(str(ip) for spec in self.specs.values() if self.name in spec.members
                                  for ip in spec.monitors))

    def monitors_heard(self, member: str, results: dict[str, bool], now: float) -> None:
        """``member`` reports which monitor addresses it reaches (this member's own pinger
        reports here too)."""
        if self.reach.get(member) != results:
            self.reach[member] = dict(results)
            self.place(now)

    def heard(self, heard: ClaimHeard, now: float) -> None:
        core, sender = self.core, heard.sender
        if heard.kind == ClaimKind.RENEW:
            for group, epoch, holding, _ in heard.items:
                if holding:
                    self._active_heard[group] = (sender, epoch, now)
            effects = core.heard_renew(sender, heard.seq, [(g, e) for g, e, _, _ in heard.items], now)
        elif heard.kind == ClaimKind.REACH:
            self.monitors_heard(sender, {address: reachable for address, _, reachable, _ in heard.items}, now)
            return
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
        if view.leader != self.name or self.problem is not None or view.holding:
            self.proposed = None
            return
        current = self.proposed if self.proposed is not None else self.table
        table = self._placed(current, view, now)
        if table != current:
            self.proposed = table
            self._publish()

    def request_move(self, group: str, member: str, now: float) -> None:
        """An operator moves ``group`` to ``member`` (VyOS's ``force cluster active`` on that
        member); "" hands the group back to the rules (auto-failback, order). The leader's
        proposal changes; the caller publishes it.

        Raises:
            MoveRefused: 404 for an unknown group; 400 for a member not in the group, or one
                that cannot own it now (down, evacuated, missing a monitor address others
                reach); 503 when this member does not lead the pack.
        """
        spec = self.specs.get(group)
        if spec is None:
            raise MoveRefused(404, "Service group not found")
        view = self._view()
        if view.leader != self.name or self.problem is not None:
            raise MoveRefused(503, "This member does not lead the pack right now; retry in a moment")
        if view.holding:
            raise MoveRefused(503, f"No group is placed yet: {view.holding}; retry in a moment")
        current = dict(self.proposed if self.proposed is not None else self.table)
        entry = current.get(group, NOBODY)
        if member:
            if member not in spec.members:
                raise MoveRefused(400, f"Member {member!r} cannot own service group {group!r}: it is neither its "
                                       f"primary ({spec.primary}) nor one of its secondaries "
                                       f"({', '.join(spec.secondary)})")
            placement = place(spec, entry.owner, self._candidates(view, now), now, requested=member)
            if placement.owner != member:
                raise MoveRefused(400, f"Member {member!r} cannot own service group {group!r} now: "
                                       f"{self._why_not(spec, member, view)}")
        current[group] = replace(entry, requested=member or None)
        self.proposed = self._placed(current, view, now)

    def _why_not(self, spec: GroupSpec, member: str, view: PackView) -> str:
        if member not in view.alive:
            return "it is not alive"
        if member in view.evacuated:
            return "it is evacuated (restore it first)"
        missing = [str(ip) for ip in spec.monitors if not self._reaches(member, str(ip))]
        return f"it cannot reach monitor {', '.join(missing)}" if missing else "it is not available"

    def _reaches(self, member: str, address: str) -> bool:
        return self.reach.get(member, {}).get(address, True)

    def _candidates(self, view: PackView, now: float, *, track: bool = False) -> dict[str, Candidate]:
        """What placement knows of each member. ``track`` (the leader placing groups): note
        since when each member is healthy; a read (the status) changes nothing."""
        names = {name for spec in self.specs.values() for name in spec.members}
        if track:
            for name in names:
                # Healthy since it was first seen alive and available (an evacuation ends it).
                if name in view.alive and name not in view.evacuated:
                    self._healthy_since.setdefault(name, now)
                else:
                    self._healthy_since.pop(name, None)
        monitors = {str(ip) for spec in self.specs.values() for ip in spec.monitors}
        return {name: Candidate(name, alive=name in view.alive, evacuated=name in view.evacuated,
                                reaches=frozenset(ipaddress.ip_address(ip) for ip in monitors
                                                  if self._reaches(name, ip)),
                                healthy_since=self._healthy_since.get(name, now))
                for name in names}

    def _placed(self, current: dict[str, Entry], view: PackView, now: float) -> dict[str, Entry]:
        candidates = self._candidates(view, now, track=True)
        table: dict[str, Entry] = {}
        for group, spec in self.specs.items():
            entry = current.get(group, NOBODY)
            placement = place(spec, entry.owner, candidates, now, requested=entry.requested)
            # An operator's choice lasts while that member owns the group.
            requested = entry.requested if placement.owner == entry.requested else None
            if placement.owner != entry.owner:
                log.info("group %s: %s -> %s (%s)", group, entry.owner or "nobody", placement.owner or "nobody",
                         placement.reason)
                table[group] = Entry(placement.owner, entry.epoch + 1, requested, placement.reason)
            else:
                table[group] = replace(entry, requested=requested)
        return table

    # ---- effects ----------------------------------------------------------------------------

    def carry(self, effects: list) -> None:
        """Carry out what the ownership core decided outside the runtime's own inputs (the
        answer of the engine of record to a claim)."""
        self._carry(effects)

    def _carry(self, effects: list) -> None:
        for effect in effects:
            if isinstance(effect, SendRenew):
                # Each claim says whether it is held here (for the others' status).
                self._send_claim(effect.to, ClaimKind.RENEW, effect.seq,
                                 [(g, e, self.core.holds(g), 0) for g, e in effect.claims])
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
            elif self._other_effect is not None:
                self._other_effect(effect)
            else:
                raise TypeError(f"unknown ownership effect {effect!r}")

    # ---- what is shown ------------------------------------------------------------------------

    def describe(self) -> dict:
        """The member state's ``pack.groups``: each group's assignment, and whether it is
        held here."""
        held = self.core.held()
        return {group: {"owner": self.table.get(group, NOBODY).owner,
                        "epoch": self.table.get(group, NOBODY).epoch,
                        "held_here": group in held}
                for group in sorted(set(self.specs) | set(self.table))}

    def counters(self) -> dict:
        """Ownership counters (``groups_*``), and those of the host actions (addresses,
        services, hooks) when they keep any."""
        counters = {**self.core.counters, **self.actions.counters_now()}
        return {f"groups_{key}": value for key, value in counters.items()}

    def active_on(self, group: str, now: float) -> str | None:
        """The member this one knows to hold ``group`` now: itself, or the committed owner
        whose renewal, saying it holds the group, was heard within a lease."""
        entry = self.table.get(group, NOBODY)
        if self.core.holds(group):
            return self.name
        if self._holder is not None:
            holder = self._holder(group)
            return holder if holder is not None and holder == entry.owner else None
        heard = self._active_heard.get(group)
        if heard is not None and entry.owner == heard[0] and entry.epoch == heard[1] and now - heard[2] < self.lease:
            return entry.owner
        return None

    def status(self, group: str, now: float) -> dict:
        """One group as the API shows it (``/1.0/cluster/service-groups/<name>``).

        Raises:
            KeyError: no such group.
        """
        spec = self.specs[group]
        view = self._view()
        entry = self.table.get(group, NOBODY)
        active = self.active_on(group, now)
        placement = place(spec, entry.owner, self._candidates(view, now), now, requested=entry.requested)
        why = f" ({entry.reason})" if entry.reason else ""
        if active is not None:
            state, message = "Active", f"Active on {active}{why}"
        elif entry.owner is not None and entry.owner in view.alive:
            state, message = "Starting", f"Taking over on {entry.owner}{why}"
        elif view.holding:
            state, message = "Down", f"Not placed yet: {view.holding}"
        elif entry.owner is not None:
            state, message = "Down", f"{entry.owner} is down; the leader places the group anew"
        else:
            state, message = "Down", entry.reason or "No member of the group is alive and available"
        if placement.notes:
            message = "; ".join((message,) + placement.notes)
        message = message[:1].upper() + message[1:]
        members = []
        for member in spec.members:
            if member == active:
                member_state = "Active"
            elif member not in view.alive:
                member_state = "Offline"
            elif member in view.evacuated:
                member_state = "Evacuated"
            else:
                member_state = "Standby"
            members.append({"name": member, "role": "primary" if member == spec.primary else "secondary",
                            "status": member_state, "this_node": member == self.name,
                            "monitors": {str(ip): self._monitor_word(member, str(ip)) for ip in spec.monitors}})
        return {"name": group, "primary": spec.primary, "secondary": list(spec.secondary),
                "services": [str(service) for service in spec.services],
                "monitors": [str(ip) for ip in spec.monitors], "auto_failback": spec.auto_failback,
                "failback_delay": spec.failback_delay_ms, "owner": entry.owner or "", "epoch": entry.epoch,
                "requested": entry.requested or "", "status": state, "message": message, "members": members}

    def _monitor_word(self, member: str, address: str) -> str:
        reported = self.reach.get(member, {}).get(address)
        return "Unknown" if reported is None else "Reachable" if reported else "Unreachable"

    def statuses(self, now: float) -> list[dict]:
        return [self.status(group, now) for group in sorted(self.specs)]
