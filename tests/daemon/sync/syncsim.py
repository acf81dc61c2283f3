"""Packs whose members run the sync core on the in-memory network, in simulated time.

Each member is a real PackNode (membership, elections, sealed datagrams) and a real
SyncCore; this module plays the daemon's driver: it carries the core's effects out, with
disk writes and pulls that complete later on the simulated clock, and records what each
member shows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.daemon.protocol.node import DocumentHeard, LeaderChange, MemberChange, Status
from mockserver.daemon.sync.core import (
    AnnounceHeld,
    Committed,
    Configure,
    Emit,
    FailWaiters,
    ImportShared,
    NotPublished,
    Persist,
    PersistCommitted,
    Pull,
    Removed,
    SaveLocal,
    SendDocument,
    Shown,
    SyncCore,
    SyncSettings,
    Wake,
)
from mockserver.daemon.sync.membership import NodeMembership
from tests.daemon.protocol.sim import KEEPALIVE, Pack

PERSIST_DELAY = 0.002   # seconds a disk write takes
PULL_DELAY = 0.01       # seconds a pull over HTTP takes


@dataclass
class Member:
    name: str
    core: SyncCore
    cluster: dict = field(default_factory=dict)             # what its cluster state holds
    configuration: object = None
    shown: list = field(default_factory=list)               # (term, version, digest), in order
    events: list = field(default_factory=list)              # lifecycle events emitted
    committed_files: list = field(default_factory=list)     # what reached committed.json
    tick_at: float | None = None


class SyncPack(Pack):
    """A pack of ``names`` with ``expected`` members; leaders are elected by the protocol."""

    def __init__(self, names=("node1", "node2", "node3"), **options):
        self.members: dict[str, Member] = {}
        self.stalled_disks: set = set()       # members whose disk writes wait (see release)
        self._stalled: dict[str, list] = {}
        self.drop = lambda sender, send: False   # drop a SendDocument before it is sent
        self.unreachable_pulls: set = set()      # pulls by these members fail
        options.setdefault("expected", len(names))
        super().__init__(names, **options)

    # ---- members ------------------------------------------------------------------------

    def settings_for(self, name, **overrides):
        # Every member serves an API: where its pulls go (the simulation answers them).
        overrides.setdefault("api", f"http://{name}.sim:8443")
        overrides.setdefault("documents", True)
        return super().settings_for(name, **overrides)

    def start(self, name, **kwargs):
        node = super().start(name, **kwargs)
        core = SyncCore(SyncSettings(name, KEEPALIVE, interval=1.0, expected_members=self.expected),
                        NodeMembership(lambda: self.node(name)))
        self.members[name] = Member(name, core)
        self.apply(name, core.start(None, None, self.net.now))
        return node

    def core(self, name: str) -> SyncCore:
        return self.members[name].core

    def leader(self) -> str | None:
        leaders = {self.node(name).leader for name in self.alive()}
        return leaders.pop() if len(leaders) == 1 and "" not in leaders else None

    def write(self, name: str, key: str, value) -> int:
        """A write through ``name``'s API: a module ``Settings`` with ``key``, and a
        lifecycle event. Returns the version that holds it."""
        member = self.members[name]
        modules = dict(member.core.tip.modules)
        settings = dict(modules.get("Settings", {}))
        settings[key] = value
        modules["Settings"] = settings
        event = ("cluster-group-updated", "/1.0/cluster/groups/default", None, {"username": "test"})
        try:
            self.apply(name, member.core.write(tuple(modules.items()), member.cluster, [event]))
        except NotPublished as exc:
            self.apply(name, exc.effects)
            raise
        return member.core.tip.version

    def release(self, name: str) -> None:
        """A stalled disk catches up: its writes complete now."""
        self.stalled_disks.discard(name)
        for document in self._stalled.pop(name, []):
            self._persisted(name, document)

    # ---- the driver's part ----------------------------------------------------------------

    def _effect(self, when, name, effect):
        super()._effect(when, name, effect)
        if name not in self.members:
            return
        core = self.members[name].core
        if isinstance(effect, DocumentHeard):
            self.apply(name, core.heard(effect))
        elif isinstance(effect, LeaderChange):
            self.apply(name, core.leader_changed(effect.leader, effect.term, effect.previous,
                                                 self.members[name].cluster))
        elif isinstance(effect, MemberChange) and effect.member.status == Status.ALIVE \
                and (effect.previous != Status.ALIVE or effect.restarted):
            self.apply(name, core.tell_durable([effect.member.name]))

    def apply(self, name: str, effects: list) -> None:
        member = self.members[name]
        now = self.net.now
        for effect in effects:
            if isinstance(effect, SendDocument):
                if not self.drop(name, effect) and self.net.slot(name).alive:
                    self.net.carry(name, self.node(name).send_document(list(effect.names), effect.flags, now,
                                                                       effect.payload, document=effect.document))
            elif isinstance(effect, AnnounceHeld):
                self.node(name).set_document(*effect.document)
            elif isinstance(effect, Persist):
                if name in self.stalled_disks:
                    self._stalled.setdefault(name, []).append(effect.document)
                else:
                    document = effect.document
                    self.net.schedule(now + PERSIST_DELAY, lambda d=document: self._persisted(name, d))
            elif isinstance(effect, PersistCommitted):
                member.committed_files.append(effect.document)
            elif isinstance(effect, Pull):
                self.net.schedule(now + PULL_DELAY, lambda pull=effect: self._serve_pull(name, pull))
            elif isinstance(effect, ImportShared):
                member.cluster = effect.cluster
            elif isinstance(effect, Configure):
                member.configuration = effect.document
            elif isinstance(effect, Emit):
                member.events.extend(effect.events)
            elif isinstance(effect, Shown):
                member.shown.append((effect.term, effect.version, member.core.document.digest))
            elif isinstance(effect, (Committed, FailWaiters, Wake, SaveLocal, Removed)):
                pass
            else:
                raise AssertionError(f"unknown effect {effect!r}")
        self._schedule_tick(name)

    def _persisted(self, name: str, document) -> None:
        if self.net.slot(name).alive:
            self.apply(name, self.members[name].core.persisted(document))

    def _serve_pull(self, name: str, pull: Pull) -> None:
        """The pull reaches the member it names if the network lets it, and gets its tip."""
        if not self.net.slot(name).alive:
            return
        core = self.members[name].core
        source = self.net.slot(pull.leader)
        if name in self.unreachable_pulls or not source.alive or source.group != self.net.slot(name).group:
            self.apply(name, core.pull_failed(pull.leader, "unreachable"))
            return
        self.apply(name, core.pulled(self.members[pull.leader].core.tip, pull.leader, pull.term))

    def _schedule_tick(self, name: str) -> None:
        member = self.members[name]
        deadline = member.core.next_deadline()
        if member.tick_at is not None and member.tick_at <= deadline:
            return
        member.tick_at = max(deadline, self.net.now)
        self.net.schedule(member.tick_at, lambda at=member.tick_at: self._tick(name, at))

    def _tick(self, name: str, at: float) -> None:
        member = self.members[name]
        if member.tick_at != at:
            return
        member.tick_at = None
        if self.net.slot(name).alive:
            self.apply(name, member.core.tick(self.net.now))

    # ---- what the tests check ---------------------------------------------------------------

    def shown(self, name: str) -> tuple:
        document = self.core(name).document
        return (document.term, document.version, document.digest)

    def all_show(self, names, triple) -> bool:
        return all(self.shown(name) == triple for name in names)

    def every_shown(self) -> dict:
        """(term, version) -> the digests any member ever showed for it."""
        seen: dict = {}
        for member in self.members.values():
            for term, version, digest in member.shown:
                seen.setdefault((term, version), set()).add(digest)
        return seen
