"""Where each service group should run: the leader's decision, as a pure function.

Given a group's definition, the member that owns it now, and what the leader knows of each
member (alive, evacuated, which monitor addresses it reaches, since when it is healthy), it
names the member that should own the group and says why. It moves a group only for a reason
a user of VyOS or keepalived would expect:

- the owner is gone (dead, left, evacuated, or no longer listed in the group);
- the owner lost a monitor address that another candidate reaches;
- auto-failback is on, and the primary has been healthy for ``failback-delay``;
- an operator moved it (VyOS's ``force cluster active|standby``; LXD's evacuate/restore).

A group never moves merely because a better member appeared (auto-failback off: the
returning primary waits as standby, as heartbeat's ``auto_failback off`` and keepalived's
``nopreempt``). No I/O, no clock: the time is given.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from mockserver.daemon.groups.config import GroupSpec


@dataclass(frozen=True)
class Candidate:
    """What the leader knows of one member, for placing groups."""

    name: str
    alive: bool = True
    evacuated: bool = False
    reaches: frozenset = frozenset()        # monitor addresses it reported reachable
    healthy_since: float = 0.0              # when it last became alive and reaching its monitors


@dataclass(frozen=True)
class Placement:
    owner: str | None                       # None: nowhere to run (VyOS: Down)
    reason: str
    moved: bool = False                     # True when ``owner`` differs from the current one
    notes: tuple = field(default=())        # what the status shows besides (a monitor nobody reaches)


def place(group: GroupSpec, current: str | None, members: Mapping[str, Candidate], now: float, *,
          requested: str | None = None) -> Placement:
    """The member that should own ``group`` now (``current`` owns it; ``requested``: an
    operator's move, kept while that member can own it)."""
    usable = [name for name in group.members if _usable(members.get(name))]
    unreached = tuple(str(ip) for ip in group.monitors
                      if not any(ip in members[name].reaches for name in usable))
    notes = tuple(f"monitor {ip}: no member reaches it" for ip in unreached)

    def reaching(name: str) -> bool:
        """Reaches every monitor that some usable member reaches (a monitor nobody reaches
        does not count against anyone: the group stays where it is)."""
        candidate = members[name]
        return all(ip in candidate.reaches for ip in group.monitors if str(ip) not in unreached)

    def outcome(owner: str | None, reason: str) -> Placement:
        return Placement(owner, reason, owner != current, notes)

    eligible = [name for name in usable if reaching(name)]
    if requested is not None and requested in group.members:
        if requested in eligible:
            return outcome(requested, f"moved to {requested} by an operator")
        # An operator's choice that cannot own it now falls back to the rules below.
    if current in eligible:
        primary = group.primary
        if (group.auto_failback and current != primary and primary in eligible
                and now - members[primary].healthy_since >= group.failback_delay_ms / 1000):
            return outcome(primary, f"auto-failback: primary {primary} healthy for "
                                    f"{group.failback_delay_ms / 1000:g} s")
        return outcome(current, "the owner is healthy")
    if eligible:
        owner = eligible[0]
        return outcome(owner, _why_moved(group, current, members, unreached))
    if usable:
        # Each usable member misses a monitor another one reaches (A reaches only m1, B
        # only m2): no choice is better, so the group stays, or goes to the first.
        owner = current if current in usable else usable[0]
        return outcome(owner, "no member reaches every monitor address")
    return outcome(None, "no member of the group is alive and available")


def _usable(candidate: Candidate | None) -> bool:
    return candidate is not None and candidate.alive and not candidate.evacuated


def _why_moved(group: GroupSpec, current: str | None, members: Mapping[str, Candidate], unreached) -> str:
    if current is None:
        return "placed when the group was defined"
    candidate = members.get(current)
    if current not in group.members:
        return f"{current} is no longer a member of the group"
    if candidate is None or not candidate.alive:
        return f"{current} is down"
    if candidate.evacuated:
        return f"{current} is evacuated"
    lost = [str(ip) for ip in group.monitors if ip not in candidate.reaches and str(ip) not in unreached]
    return f"{current} cannot reach monitor {', '.join(lost)}"
