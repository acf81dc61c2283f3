"""Who may hold a service group, and when: leases renewed with a majority (sans-IO).

The leader decides where each group runs (``placement``) and commits the decision in the
pack document as an *assignment*: (group, owner, epoch), the epoch growing with every change.
An assignment says who may hold a group. Holding is this module's decision, made by the
owner alone, from messages:

- **Renewal.** Every keepalive the owner asks every live member to renew its claim to
  (group, epoch). A member says yes only if its committed assignment for the group is that
  owner and that epoch, and notes when it said yes. The owner holds the group until ``lease``
  after it *sent* a renewal that a majority (itself included) said yes to. It holds
  nothing past that, whatever happens to the network.
- **Takeover.** A new owner (a higher epoch) does not take the group as soon as it is
  assigned. First it asks every member when it last renewed an older claim to the group.
  A member answers only once it has committed the new assignment, and from then on it refuses
  the older claim. Once a majority answered, the newest such renewal is known: the new owner
  waits until ``lease`` has passed since then, and takes the group.

Why there are never two holders. Take any older claim that was held at some time. It was
held on a renewal a majority said yes to. The takeover heard from a majority too, and any
two majorities share a member. That member said yes to the renewal *before* it committed
the new assignment, since after committing it refuses. And it answered the takeover *after*
committing. So its answer covers that yes, and the new owner waits out the lease of that
renewal. That lease started when the renewal was sent, before the yes. Clocks only need
to run at nearly the same rate (``drift``, 1 % by default, is added to every wait). Message
delays need no bound: a late renewal answer only shortens the owner's hold, and a late
takeover answer only makes the new owner wait longer.

When the owner dies, its last renewal is about a dead-interval old by the time the leader
notices and reassigns. With ``lease`` below the dead-interval, the takeover does not wait.
A leader change does not disturb the owners: they renew with the members, not with the
leader.

No I/O, no clock: inputs take the time, and every method returns the effects to carry out.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

# ---- effects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendRenew:
    """Ask ``to`` to renew our ``claims`` ((group, epoch), ...) under number ``seq``."""
    to: tuple
    seq: int
    claims: tuple


@dataclass(frozen=True)
class SendRenewed:
    """Answer renewal ``seq``: ``answers`` ((group, epoch, yes), ...)."""
    to: str
    seq: int
    answers: tuple


@dataclass(frozen=True)
class SendTakeover:
    """Ask ``to`` when it last renewed a claim to ``group`` older than ``epoch``."""
    to: tuple
    group: str
    epoch: int


@dataclass(frozen=True)
class SendTakeoverReply:
    """``age``: seconds since this member last renewed an older claim to the group (None:
    never)."""
    to: str
    group: str
    epoch: int
    age: float | None


@dataclass(frozen=True)
class Acquire:
    """Bring the group up here (addresses first, then services)."""
    group: str
    epoch: int


@dataclass(frozen=True)
class Release:
    """Take the group down here (services first, then addresses). ``until``: when the lease
    ends (the core's clock): nothing of the group may stay up past it."""
    group: str
    epoch: int
    reason: str
    until: float = float("-inf")


@dataclass(frozen=True)
class Assignment:
    owner: str | None
    epoch: int


@dataclass
class _Claim:
    """A group assigned to this member."""
    epoch: int
    takeover_heard: dict = field(default_factory=dict)   # member -> when its newest older renewal was, our clock
    takeover_done: bool = False
    safe_from: float | None = None    # when the older claims' leases have surely ended
    lease_until: float = float("-inf")
    held: bool = False


@dataclass
class _Round:
    sent_at: float
    claims: tuple
    yes: dict = field(default_factory=dict)   # (group, epoch) -> members that said yes


class OwnershipCore:
    """One member's side. ``lease``: seconds a renewal holds; ``keepalive``: how often the
    owner renews (and asks again for a takeover); ``drift``: the clocks' rate difference
    allowed for."""

    def __init__(self, name: str, *, lease: float, keepalive: float, drift: float = 0.01):
        if lease <= keepalive:
            raise ValueError("the lease must outlast a keepalive, or no renewal could keep it")
        self.name = name
        self.lease, self.keepalive, self.drift = lease, keepalive, drift
        self.table: dict[str, Assignment] = {}          # committed assignments
        self.live: tuple = ()                           # the other members believed alive
        self.size = 1                                   # the pack's size, for the majority
        self._claims: dict[str, _Claim] = {}
        self._rounds: dict[int, _Round] = {}
        self._seq = itertools.count(1)
        # group -> {epoch: when we last said yes to a claim of that epoch}: a takeover of epoch E
        # must hear of the newest yes to ANY older epoch, even after we said yes to E itself.
        self._renewed_at: dict[str, dict[int, float]] = {}
        self._forgotten: dict[str, float] = {}
        # The same, our yes to our own claims left out: they do not hold up our own takeover
        # (one member is never two holders; see _takeover_self).
        self._others_renewed_at: dict[str, dict[int, float]] = {}
        # Questions about an assignment not committed here yet, answered once it is (rather
        # than at the asker's next keepalive, which would add a keepalive to every failover):
        # (group, epoch) -> {member: when asked} for takeovers, and renewals refused only
        # because of that, (sender, seq) -> (when, ((group, epoch), ...)).
        self._early_takeovers: dict[tuple, dict[str, float]] = {}
        self._early_renewals: dict[tuple, tuple] = {}
        self._next_renewal = float("-inf")
        self._now = float("-inf")   # the latest time an input gave
        self._version = -1          # the document version of ``table``
        self.counters = {"renewals": 0, "refused": 0, "acquired": 0, "released": 0, "lease_lost": 0}

    # ---- queries ---------------------------------------------------------------------------

    @property
    def majority(self) -> int:
        return self.size // 2 + 1

    def holds(self, group: str) -> bool:
        claim = self._claims.get(group)
        return claim is not None and claim.held

    def held(self) -> dict[str, int]:
        return {group: claim.epoch for group, claim in self._claims.items() if claim.held}

    def next_deadline(self) -> float:
        deadlines = [self._next_renewal] if self._claims else []
        for claim in self._claims.values():
            if claim.held:
                deadlines.append(claim.lease_until)
            elif claim.safe_from is not None and claim.safe_from > self._now:
                deadlines.append(claim.safe_from)   # (one in the past waits for a renewal instead)
        return min(deadlines, default=float("inf"))

    # ---- inputs ----------------------------------------------------------------------------

    def membership(self, live, size: int, now: float) -> list:
        """The other members believed alive, and the pack's size (a majority of it decides)."""
        self._now = max(self._now, now)
        self.live, self.size = tuple(sorted(set(live) - {self.name})), max(1, size)
        return self.tick(now)

    def assignments(self, table: dict[str, Assignment], now: float, version: int | None = None) -> list:
        """The committed assignments of document ``version`` (a newer document was shown).
        An older version than one already taken is ignored: a member's answers never go
        back to an assignment it has moved past."""
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
                if claim.held:
                    effects.append(self._release(group, claim, "assigned elsewhere"))
        for group, assignment in self.table.items():
            if assignment.owner == self.name and group not in self._claims:
                self._claims[group] = _Claim(assignment.epoch)
                self._next_renewal = now   # at once: a takeover waits on the answers
        return effects + self._answer_early_questions(now) + self.tick(now)

    def tick(self, now: float) -> list:
        self._now = max(self._now, now)
        effects: list = []
        for group, claim in self._claims.items():
            if claim.held and now >= claim.lease_until:
                self.counters["lease_lost"] += 1
                effects.append(self._release(group, claim, "lease expired: no majority renewed it"))
        if self._claims and now >= self._next_renewal:
            self._next_renewal = now + self.keepalive
            effects += self._renew(now)
        effects += self._acquire_ready(now)
        return effects

    def heard_renew(self, sender: str, seq: int, claims, now: float) -> list:
        """A member asks us to renew its claims."""
        self._now = max(self._now, now)
        answers, early = [], []
        for group, epoch in claims:
            yes = self._says_yes(sender, group, epoch)
            if yes:
                self._said_yes(group, epoch, now)
            else:
                self.counters["refused"] += 1
                if self._ahead(group, epoch):
                    early.append((group, epoch))
            answers.append((group, epoch, yes))
        if early:
            self._early_renewals[(sender, seq)] = (now, tuple(early))
        return [SendRenewed(sender, seq, tuple(answers))]

    def heard_renewed(self, sender: str, seq: int, answers, now: float) -> list:
        self._now = max(self._now, now)
        round_ = self._rounds.get(seq)
        if round_ is None:
            return []
        for group, epoch, yes in answers:
            if yes and (group, epoch) in round_.yes:
                round_.yes[(group, epoch)].add(sender)
        return self._extend(round_, now)

    def heard_takeover(self, sender: str, group: str, epoch: int, now: float) -> list:
        """A new owner asks when we last renewed an older claim. We answer once we have
        committed its assignment (and refuse the older claims from then on)."""
        self._now = max(self._now, now)
        if self._ahead(group, epoch):
            # Not committed here yet: answered once it is (or when it asks again).
            self._early_takeovers.setdefault((group, epoch), {})[sender] = now
            return []
        return [self._takeover_reply(sender, group, epoch, now)]

    def _takeover_reply(self, sender: str, group: str, epoch: int, now: float) -> SendTakeoverReply:
        newest = self._newest_yes_before(group, epoch)
        return SendTakeoverReply(sender, group, epoch, None if newest is None else now - newest)

    def _ahead(self, group: str, epoch: int) -> bool:
        """Whether (group, epoch) is newer than what is committed here."""
        assignment = self.table.get(group)
        return assignment is None or assignment.epoch < epoch

    def _answer_early_questions(self, now: float) -> list:
        """After a commit: the takeovers and renewals that came before it, answered now
        (questions older than a lease are dropped: the asker has asked again since)."""
        effects: list = []
        for key in list(self._early_takeovers):
            group, epoch = key
            askers = {m: t for m, t in self._early_takeovers[key].items() if now - t < self.lease}
            if not askers:
                del self._early_takeovers[key]
            elif not self._ahead(group, epoch):
                del self._early_takeovers[key]
                effects += [self._takeover_reply(member, group, epoch, now) for member in sorted(askers)]
            else:
                self._early_takeovers[key] = askers
        for (sender, seq), (asked, claims) in list(self._early_renewals.items()):
            if now - asked >= self.lease:
                del self._early_renewals[(sender, seq)]
                continue
            ready = [(g, e) for g, e in claims if not self._ahead(g, e)]
            if not ready:
                continue
            del self._early_renewals[(sender, seq)]
            answers = []
            for group, epoch in ready:
                yes = self._says_yes(sender, group, epoch)
                if yes:
                    self._said_yes(group, epoch, now)
                answers.append((group, epoch, yes))
            if any(yes for _, _, yes in answers):
                effects.append(SendRenewed(sender, seq, tuple(answers)))
        return effects

    def heard_takeover_reply(self, sender: str, group: str, epoch: int, age: float | None, now: float) -> list:
        self._now = max(self._now, now)
        claim = self._claims.get(group)
        if claim is None or claim.epoch != epoch or claim.takeover_done:
            return []
        # The renewal it reports happened at most ``age`` before now, on its clock.
        claim.takeover_heard[sender] = float("-inf") if age is None else now - age * (1 - self.drift)
        return self._acquire_ready(now)

    def stop(self, now: float) -> list:
        """This member stops: it lets go of everything and claims nothing more."""
        self._now = max(self._now, now)
        effects = []
        for group, claim in self._claims.items():
            if claim.held:
                claim.lease_until = min(claim.lease_until, now)   # given up now: all goes down at once
                effects.append(self._release(group, claim, "the member is stopping"))
        self._claims.clear()
        self.table = {}
        return effects

    # ---- the owner's side ------------------------------------------------------------------

    def _says_yes(self, sender: str, group: str, epoch: int) -> bool:
        assignment = self.table.get(group)
        return assignment is not None and assignment.owner == sender and assignment.epoch == epoch

    def _renew(self, now: float) -> list:
        claims = tuple((group, claim.epoch) for group, claim in sorted(self._claims.items()))
        seq = next(self._seq)
        round_ = _Round(now, claims, {claim: set() for claim in claims})
        for group, epoch in claims:   # our own yes, if our committed table agrees
            if self._says_yes(self.name, group, epoch):
                round_.yes[(group, epoch)].add(self.name)
                self._said_yes(group, epoch, now, own=True)
        self._rounds[seq] = round_
        for old in [s for s, r in self._rounds.items() if r.sent_at < now - self.lease]:
            del self._rounds[old]
        self.counters["renewals"] += 1
        effects: list = []
        if self.live:
            effects.append(SendRenew(self.live, seq, claims))
        for group, claim in self._claims.items():
            if not claim.takeover_done and self.live:
                effects.append(SendTakeover(self.live, group, claim.epoch))
        self._takeover_self()
        return effects + self._extend(round_, now)

    def _takeover_self(self) -> None:
        """Our own answer to our takeover question (we are a member of the majority too).
        It leaves out our yes to our own older claims: whatever of them we held, we let go
        of here, in order, before the new claim comes up; and a member that restarted with
        an old assignment renews that claim alone (the others refuse), which must not make
        its next takeover wait for a lease nobody had."""
        for group, claim in self._claims.items():
            if not claim.takeover_done and self.name not in claim.takeover_heard:
                newest = self._newest_yes_before(group, claim.epoch, mine=False)
                claim.takeover_heard[self.name] = float("-inf") if newest is None else newest

    # ---- what we said yes to ----------------------------------------------------------------

    KEPT_EPOCHS = 16   # per group: takeovers further behind than this were answered long ago

    def _said_yes(self, group: str, epoch: int, now: float, own: bool = False) -> None:
        for table in (self._renewed_at,) if own else (self._renewed_at, self._others_renewed_at):
            epochs = table.setdefault(group, {})
            epochs[epoch] = now
            if len(epochs) > self.KEPT_EPOCHS:
                # The oldest epoch is forgotten, but its time counts for every takeover from
                # now on: a wait too long at worst, never too short.
                when = epochs.pop(min(epochs))
                self._forgotten[group] = max(self._forgotten.get(group, when), when)

    def _newest_yes_before(self, group: str, epoch: int, mine: bool = True) -> float | None:
        """When we last said yes to a claim to ``group`` older than ``epoch`` (None: never);
        ``mine=False`` leaves out our yes to our own claims."""
        table = self._renewed_at if mine else self._others_renewed_at
        times = [when for seen, when in table.get(group, {}).items() if seen < epoch]
        if group in self._forgotten:
            times.append(self._forgotten[group])
        return max(times, default=None)

    def _extend(self, round_: _Round, now: float) -> list:
        for (group, epoch), members in round_.yes.items():
            claim = self._claims.get(group)
            if claim is None or claim.epoch != epoch or len(members) < self.majority:
                continue
            # Held until the lease after the renewal was SENT (measured on our clock, shortened
            # by the drift so that it ends before anyone else's estimate of it).
            claim.lease_until = max(claim.lease_until, round_.sent_at + self.lease * (1 - self.drift))
        return self._acquire_ready(now)

    def _acquire_ready(self, now: float) -> list:
        effects: list = []
        for group, claim in self._claims.items():
            if not claim.takeover_done and len(claim.takeover_heard) >= self.majority:
                claim.takeover_done = True
                newest = max(claim.takeover_heard.values())
                claim.safe_from = newest + self.lease * (1 + 2 * self.drift) if newest > float("-inf") else now
            if (not claim.held and claim.takeover_done and now >= claim.safe_from and now < claim.lease_until):
                claim.held = True
                self.counters["acquired"] += 1
                effects.append(Acquire(group, claim.epoch))
        return effects

    def _release(self, group: str, claim: _Claim, reason: str) -> Release:
        claim.held = False
        self.counters["released"] += 1
        return Release(group, claim.epoch, reason, until=claim.lease_until)
