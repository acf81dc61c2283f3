"""Replicating the pack document, as a sans-IO core: events in, effects out.

How a change travels:

1. The leader makes a new version (a write through the API, or its own file edited) and
   sends a DOCUMENT datagram flagged PUSH to every live member, then writes it to disk.
   Its own state holds the change at once, but nothing shows it yet: reads on the leader
   wait until a majority holds what it has (see PackGate), and the write's lifecycle
   events are held back.
2. A small version rides inside the push (compressed, flag INLINE). A member that hears
   of a version it cannot take that way, from the leader it follows, pulls the whole
   document over the leader's HTTP API (``GET /internal/pack/document``): a reliable
   channel, any size. Request and reply are sealed with a key derived from the pack secret,
   so only members read it and only the authenticated leader of the current term is taken.
3. The member writes it to disk atomically and confirms it to the leader (APPLIED, naming
   its term, number and digest). It does not show it yet.
4. Once a majority holds a version of its term, the leader commits it: it shows it,
   publishes its events, answers the client, and tells every member (COMMITTED). Each
   member then shows it (cluster state, configuration, lifecycle events) and writes it to
   ``committed.json``, what it shows after a restart.

So every read shows a version a majority holds: a write that may still be lost (its leader
cut off before a majority had it) is never seen, anywhere. A member may show an older
version than the leader (a read there may be stale), never a newer one. Elections prefer,
and votes require, the newest document a majority holds (see PackNode), so what was
committed survives the leader.

Datagrams can be lost: the leader pushes again every keepalive to members that have not
confirmed, repeats COMMITTED for a few keepalives, and every PackConfiguration
``interval`` all members compare versions (anti-entropy), so a member that was away
catches up.

This module decides all of that and does no I/O: the driver (``driver``) feeds it what
happened (a datagram heard, a leader elected, a write, a file edited, a disk write done, a
pull answered, the time) and carries out the effects it returns, in order.
"""
from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass
from typing import Protocol

from mockserver.daemon.protocol.messages import DocumentFlag
from mockserver.daemon.protocol.node import DocumentHeard
from mockserver.daemon.sync.commit import CommitTracker
from mockserver.daemon.sync.document import (
    HISTORY,
    PackDocument,
    accept,
    effective_modules,
    module_from_wire,
    shareable_modules,
)
from mockserver.state.configuration import NEVER_SHARED, ConfigDocument, modules_to_wire

log = logging.getLogger(__name__)

CONFIG_ACTION = "cluster-configuration-updated"
COMMIT_REPEATS = 3           # keepalives during which the leader repeats a commit
COMMITTED_SAVE_DELAY = 1.0   # seconds: committed.json is written at most this often
NO_DIGEST = "00" * 32


def _digest_of(modules) -> str:
    return ConfigDocument(tuple(modules)).digest


def _triple(document: PackDocument) -> tuple:
    return (document.term, document.version, document.digest)


class NotPublished(Exception):
    """A write the leader could not turn into a document; it was undone (``effects`` put
    the state back)."""

    def __init__(self, message: str, effects: list | None = None):
        super().__init__(message)
        self.effects = effects or []


class NotCommitted(Exception):
    """A write the leader applied but a majority did not confirm in time (or leadership
    was lost meanwhile): it may or may not survive."""


class NotApplied(NotCommitted):
    """A write the engine of record refused outright (another writer came first, or this
    member no longer leads): it certainly did not take effect, and was undone here."""


class Membership(Protocol):
    """What the core needs to know of the pack (the membership core answers)."""

    @property
    def leader(self) -> str: ...

    @property
    def term(self) -> int: ...

    @property
    def max_payload(self) -> int: ...

    def live_members(self) -> list[str]:
        """The other members believed alive, sorted."""

    def alive_count(self) -> int:
        """The members believed alive, this one included."""

    def api_of(self, name: str) -> str:
        """The member's API address (``http(s)://host:port``), or "" if it serves none."""


@dataclass(frozen=True)
class SyncSettings:
    name: str
    keepalive: float                 # seconds between repushes
    interval: float = 60.0           # seconds between anti-entropy rounds
    expected_members: int | None = None


# ---- effects ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SendDocument:
    """A DOCUMENT datagram to ``names``, naming ``document`` (term, version, digest)."""
    names: tuple
    flags: int
    document: tuple
    payload: bytes = b""


@dataclass(frozen=True)
class AnnounceHeld:
    """The membership core counts this document (term, version, digest) in elections."""
    document: tuple


@dataclass(frozen=True)
class Persist:
    """Write ``document`` (``wire``: its encoding) to ``document.json``, in order; then
    give ``persisted(document)`` (or ``persist_failed``) back to the core."""
    document: PackDocument
    wire: bytes


@dataclass(frozen=True)
class PersistCommitted:
    """Write ``document`` to ``committed.json`` (what is shown after a restart)."""
    document: PackDocument
    wire: bytes


@dataclass(frozen=True)
class SaveLocal:
    """Write this member's own facts (``local.json``)."""
    data: dict


@dataclass(frozen=True)
class Pull:
    """Fetch the leader's document over its API; give ``pulled`` or ``pull_failed`` back."""
    leader: str
    api: str
    term: int


@dataclass(frozen=True)
class ImportShared:
    """The cluster state takes what API writes changed (``ClusterState.import_shared``)."""
    cluster: dict


@dataclass(frozen=True)
class Configure:
    """The cluster state's configuration (``ClusterState.set_configuration``)."""
    document: ConfigDocument
    local_modules: tuple
    effective: tuple
    announce: bool


@dataclass(frozen=True)
class Emit:
    """Lifecycle events to publish now (action, source, context, requestor), as replayed."""
    events: tuple


@dataclass(frozen=True)
class Shown:
    """What the member shows moved to (term, version): waiters on it may go on."""
    term: int
    version: int


@dataclass(frozen=True)
class Committed:
    """On the leader: (term, version) is committed; writes waiting on it are answered."""
    term: int
    version: int


@dataclass(frozen=True)
class FailWaiters:
    """Writes waiting for a commit will not get it here: answer them ``reason``."""
    reason: str


@dataclass(frozen=True)
class Wake:
    """Something a waiter may be waiting on changed (a leader, a confirmation)."""


@dataclass(frozen=True)
class Removed:
    """The pack removed this member."""


class SyncCore:
    """One member's side of the replication, without I/O.

    Two documents matter: ``tip``, the newest version this member holds (on disk, counted
    in elections), and ``document``, the newest it knows a majority holds, which is what it
    shows. They differ while a version travels.

    Every input method returns the effects to carry out, in order.
    """

    def __init__(self, settings: SyncSettings, membership: Membership, *, file_modules=(), ignore=(),
                 local: dict | None = None):
        self.settings = settings
        self.membership = membership
        self.name = settings.name
        self.ignore = tuple(ignore)
        self.file_modules = tuple(file_modules)
        self.local = dict(local or {})
        self.document = PackDocument()     # shown: committed
        self.tip = PackDocument()          # held: the newest version, committed or not
        self.durable: tuple = (0, 0)       # (term, version) of the document on disk
        self._chain: dict = {}             # (term, version) -> a version held, not yet shown
        self._commit_heard: tuple | None = None   # (term, version, digest) the leader said is committed
        self.commits = CommitTracker()
        self._round = 0                    # leadership rounds asked (linearizable reads)
        self.counters = {"write_failures": 0, "inline": 0, "pulls": 0, "pull_failures": 0, "pulls_refused": 0,
                         "applied": 0, "committed": 0, "published": 0, "pushes": 0, "rolled_back": 0,
                         "file_reloads": 0, "file_errors": 0}
        self._pulling = False
        self._pull_again = False
        self._commit_repeats = 0
        self._committed_unsaved: PackDocument | None = None   # shown, not yet in committed.json
        self._committed_due: float | None = None
        self._next_repush = self._next_entropy = float("inf")
        self._now = 0.0
        # A member exports its file's modules when it leads and the file was edited (while
        # it ran, or while it was down), or to bootstrap an empty pack; never merely because
        # it became the leader (the pack continues from its newest version).
        seen = _digest_of(shareable_modules(self.file_modules, self.ignore))
        self._edited_while_down = self.local.get("seen") not in (None, seen)
        # What was derived from the tip (kept while it stays the tip).
        self._wire_cache: tuple = (self.tip, None)
        self._payload_cache: tuple = (self.tip, None)

    # ---- queries --------------------------------------------------------------------------

    def is_leader(self) -> bool:
        return self.membership.leader == self.name

    def settled(self) -> bool:
        """Whether what this member holds is all committed (the leader's reads wait for it)."""
        return (self.tip.term, self.tip.version) == (self.document.term, self.document.version)

    def shows(self, term: int, version: int) -> bool:
        return (self.document.term, self.document.version) >= (term, version)

    def quorum(self) -> int:
        expected = self.settings.expected_members
        return (expected if expected else self.membership.alive_count()) // 2 + 1

    def confirmed(self, version: int) -> int:
        """How many members (this one included) hold ``version`` of this term, or newer."""
        mine = 1 if self.durable >= (self.commits.term, version) else 0
        return mine + len(self.commits.holders(version, self._live()))

    def round_confirmed(self, round_: int) -> bool:
        """A majority answered leadership round ``round_`` (see ``confirm_round``)."""
        return self.commits.followers_since(round_, self._live()) + 1 >= self.quorum()

    def wire(self) -> bytes:
        """The tip's encoding (what a pull is answered with)."""
        if self._wire_cache[0] is not self.tip or self._wire_cache[1] is None:
            self._wire_cache = (self.tip, self.tip.to_wire())
        return self._wire_cache[1]

    def next_deadline(self) -> float:
        due = min(self._next_repush, self._next_entropy)
        return due if self._committed_due is None else min(due, self._committed_due)

    def describe(self) -> dict:
        """The member state's ``pack.document``: the version shown (committed), the newest
        held, counters; on the leader, what each member confirmed and the quorum."""
        document, tip = self.document, self.tip
        view = {"version": document.version, "term": document.term, "digest": document.digest,
                "modules_digest": document.configuration.digest,
                "held": {"version": tip.version, "term": tip.term, "digest": tip.digest},
                "counters": dict(self.counters)}
        if self.is_leader():
            view["applied_by"] = {
                name: {"term": t, "version": v} for name, (t, v, _) in sorted(self.commits.acks.items())
            }
            view["quorum"] = self.quorum()
        return view

    # ---- inputs: life and time -------------------------------------------------------------

    def start(self, held: PackDocument | None, committed: PackDocument | None, now: float) -> list:
        """Start from what is on disk: show the last committed version, hold the newest
        (until the leader answers)."""
        self._now = now
        effects: list = []
        if held is not None:
            log.info("starting from the persisted pack document: version %d (term %d)", held.version, held.term)
            self.tip = held
            self.durable = (held.term, held.version)
            self._chain[(held.term, held.version)] = held
        if committed is not None and (committed.term, committed.version) <= self.durable:
            effects += self._make_visible(committed, replay=False, persist=False)
        else:
            effects += self._configure()
        effects.append(AnnounceHeld(_triple(self.tip)))
        effects += self._remember_file(shareable_modules(self.file_modules, self.ignore))
        self._next_repush = now + self.settings.keepalive
        self._next_entropy = now + self.settings.interval
        return effects

    def tick(self, now: float) -> list:
        """The time is ``now``: repush, anti-entropy, and the delayed committed.json."""
        self._now = now
        effects: list = []
        if now >= self._next_repush:
            self._next_repush = now + self.settings.keepalive
            effects += self._repush()
        if now >= self._next_entropy:
            self._next_entropy = now + self.settings.interval
            effects += self.tell_durable(self._live())
        if self._committed_due is not None and now >= self._committed_due:
            effects += self.flush_committed()
        return effects

    def flush_committed(self) -> list:
        """committed.json now (at a stop, or when its delay ran out)."""
        self._committed_due = None
        document, self._committed_unsaved = self._committed_unsaved, None
        if document is None:
            return []
        return [PersistCommitted(document, self.wire() if document is self.tip else document.to_wire())]

    # ---- inputs: the leader's writes ------------------------------------------------------

    def write(self, modules, cluster: dict, events=()) -> list:
        """On the leader, after a write: make, persist and push the next version if anything
        shared changed (``modules``: the shared configuration, ``cluster``: what API writes
        changed, ``events``: the write's lifecycle events). The version that holds the
        change is then ``tip.version``.

        Raises:
            NotPublished: the change cannot be made a document (every member must be able
            to store and send it); its ``effects`` put the state back as the tip has it.
        """
        events = tuple(events)
        try:
            document = self.tip.changed(modules, cluster, list(events))
            if document is not self.tip:
                self._wire_cache = (document, document.to_wire())
        except (ValueError, TypeError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
            log.error("a write cannot be published (%s: %s); putting the state back to version %d",
                      type(exc).__name__, exc, self.tip.version)
            raise NotPublished(f"{type(exc).__name__}: {exc}", self._revert_to(self.tip)) from None
        if document is self.tip:
            # A write that changed nothing shared (the same values again): LXD emits its
            # events all the same, and there is nothing to wait for.
            return [Emit(events)] if events else []
        self.counters["published"] += 1
        effects = self._hold(document)
        effects += self._push(self._live())
        effects.append(self._persist(document))
        return effects

    def undo_write(self) -> list:
        """A write applied here that will not be published (we no longer lead): the state
        goes back to what we show."""
        return self._revert_to(self.document)

    def file_changed(self, modules, ignore, cluster: dict | None = None) -> list:
        """The configuration file was edited (and is valid): its modules are ``modules``.
        ``cluster``: the cluster state's ``export_shared()`` now."""
        self.counters["file_reloads"] += 1
        self.file_modules, self.ignore = tuple(modules), tuple(ignore)
        shared = shareable_modules(self.file_modules, self.ignore)
        remembered = self._remember_file(shared)
        if remembered and self.is_leader():
            log.info("the configuration file was edited: exporting its modules to the pack")
            try:
                return remembered + self.write(shared, cluster or {})
            except NotPublished as exc:
                return remembered + exc.effects
        return remembered + self._configure()

    def file_refused(self) -> None:
        self.counters["file_errors"] += 1

    # ---- inputs: the protocol ------------------------------------------------------------

    def leader_changed(self, leader: str, term: int, previous: str = "", cluster: dict | None = None) -> list:
        """``leader`` leads in ``term`` (it was ``previous``). ``cluster``: the cluster
        state's ``export_shared()`` now (a first version carries the members met so far)."""
        effects: list = [Wake()]
        if leader != self.name:
            effects.append(FailWaiters("leadership moved to " + (leader or "nobody")))
            if previous == self.name and not self.settled():
                # We led with versions no majority confirmed: they are not shown (the
                # new leader decides whether they survive), nor their held events.
                self.counters["rolled_back"] += 1
                log.info("no longer leading with versions %d..%d not committed: showing version %d (term %d)",
                         self.document.version + 1, self.tip.version, self.document.version, self.document.term)
                effects += self._revert_to(self.document)
            return effects
        # We lead from the newest version we hold: our state takes it (it may hold versions
        # of the last term that were never committed: committing ours commits them).
        if not self.settled() and self.tip.cluster is not None:
            effects.append(ImportShared(self.tip.cluster))
            cluster = self.tip.cluster   # what the state holds once it took it
        effects += self._configure(announce=False)
        self.commits.lead(term)
        document = self.tip
        if term > document.term:   # a version of our own term, so that a majority can confirm it
            document = document.restamped(term)
        file_modules = shareable_modules(self.file_modules, self.ignore)
        if document.version == 0 or self._edited_while_down:
            self._edited_while_down = False
            document = document.changed(file_modules, cluster or {})
        elif document.cluster is None:
            document = document.changed(None, cluster or {})
        if document is not self.tip:
            effects += self._hold(document)
            effects.append(self._persist(document))
        else:
            self.commits.issue(document.version, document.digest)
        log.info("leading the pack document from version %d (term %d)", self.tip.version, self.tip.term)
        effects += self._push(self._live())
        effects += self._check_commit()
        return effects

    def heard(self, heard: DocumentHeard) -> list:
        """A DOCUMENT datagram: what ``heard.sender`` holds, a leader's push, or its commit."""
        if self.is_leader():
            before = self.commits.acks.get(heard.sender)
            self.commits.confirm(heard.sender, heard.term, heard.version, heard.digest)
            if heard.flags & DocumentFlag.CONFIRM and len(heard.payload) == 8:
                self.commits.answered(heard.sender, int.from_bytes(heard.payload, "big"))
            effects = self._check_commit()
            effects.append(Wake())   # a confirmation may be what a linearizable read awaits
            if heard.flags & DocumentFlag.APPLIED and before != self.commits.acks[heard.sender] \
                    and (heard.term, heard.version) <= (self.document.term, self.document.version):
                # A member catching up (back from a partition or a restart) took a version
                # committed already: it learns so now, not at the next write.
                effects += self._tell_committed([heard.sender])
            return effects
        membership = self.membership
        if heard.sender != membership.leader or heard.term != membership.term:
            return []  # only the leader we follow, in its current term, is a source
        effects: list = []
        if heard.flags & DocumentFlag.CONFIRM:   # we follow it: say so (and what we hold)
            effects.append(SendDocument((membership.leader,), DocumentFlag.APPLIED | DocumentFlag.CONFIRM,
                                        self._durable_triple(), heard.payload))
        if heard.flags & DocumentFlag.COMMITTED:
            return effects + self._on_committed((heard.term, heard.version, heard.digest))
        if (heard.term, heard.version, heard.digest) == _triple(self.tip):
            if heard.flags & DocumentFlag.PUSH and self.durable == (self.tip.term, self.tip.version):
                effects += self._acknowledge(self.tip)   # our confirmation was lost, or the leader asks again
            return effects
        if (heard.term, heard.version) <= (self.tip.term, self.tip.version):
            return effects
        if heard.payload and heard.flags & DocumentFlag.INLINE:
            document = self._from_payload(heard)
            if document is not None:
                return effects + self._take(document)
        return effects + self._request_pull()

    def tell_durable(self, names) -> list:
        """Tell ``names`` which document we have on disk (a member we just met must know
        it before it may have to elect a leader)."""
        names = tuple(names)
        if not names:
            return []
        effects: list = [SendDocument(names, 0, self._durable_triple())]
        if self.is_leader():   # and what it may show (a member back from a restart or a partition)
            effects += self._tell_committed(names)
        return effects

    def confirm_round(self) -> tuple[int, list]:
        """On the leader: ask every live member whether it still follows us (a
        linearizable read must not be answered by a leader deposed without knowing it).
        Returns the round's number (see ``round_confirmed``) and the effects."""
        self._round += 1
        return self._round, [SendDocument(tuple(self._live()), DocumentFlag.PUSH | DocumentFlag.CONFIRM,
                                          _triple(self.tip), self._round.to_bytes(8, "big"))]

    # ---- inputs: the driver's I/O, done --------------------------------------------------

    def persisted(self, document: PackDocument) -> list:
        """``document`` is on disk: the leader counts itself, a follower confirms it."""
        self.durable = max(self.durable, (document.term, document.version))
        if self.is_leader():
            return self._check_commit()
        return self._acknowledge(document)

    def persist_failed(self, path: str, error: Exception) -> None:
        log.error("cannot write the pack document to %s: %s; it is not confirmed", path, error)
        self.counters["write_failures"] += 1

    def pulled(self, document: PackDocument, leader: str, term: int) -> list:
        """The pull from ``leader`` in ``term`` answered ``document``."""
        return self._taken_from_pull(document, leader, term) + self._pull_done()

    def _taken_from_pull(self, document: PackDocument, leader: str, term: int) -> list:
        membership = self.membership
        if membership.leader != leader or membership.term != term or document.term != term:
            self.counters["pulls_refused"] += 1
            log.info("dropped a document from %s: leadership moved meanwhile (term %d, document term %d)", leader,
                     membership.term, document.term)
            return []
        if _triple(document) == _triple(self.tip):
            return self._on_committed(self._commit_heard) if self._commit_heard is not None else []
        why = accept(self.tip, document)
        if why is not None:
            if document.digest != self.tip.digest:
                self.counters["pulls_refused"] += 1
                log.warning("refused the pack document from %s: %s", leader, why)
            return []
        return self._take(document)

    def pull_failed(self, leader: str, why: str) -> list:
        self.counters["pull_failures"] += 1
        log.warning("pulling the pack document from %s failed: %s", leader, why)
        return self._pull_done()

    def _pull_done(self) -> list:
        self._pulling = False
        if self._pull_again:
            self._pull_again = False
            return self._request_pull()
        return []

    # ---- the leader: new versions ----------------------------------------------------------

    def _hold(self, document: PackDocument) -> list:
        """``document`` is our newest version (not shown until committed)."""
        self.tip = document
        self._chain[(document.term, document.version)] = document
        effects: list = []
        if self.is_leader():
            self.commits.issue(document.version, document.digest)
            effects += self._configure(announce=False)
        effects.append(AnnounceHeld(_triple(document)))
        self.counters["applied"] += 1
        return effects

    def _persist(self, document: PackDocument) -> Persist:
        return Persist(document, self.wire() if document is self.tip else document.to_wire())

    def _revert_to(self, document: PackDocument) -> list:
        """Put what API writes changed back as ``document`` has it (nothing of a write that
        could not be published, or was never committed, may stay shown)."""
        effects: list = [ImportShared(document.cluster)] if document.cluster is not None else []
        return effects + self._configure(announce=False)

    def _remember_file(self, modules) -> list:
        """Record the file's shareable modules as seen; effects (a SaveLocal) if they
        differ from before."""
        digest = _digest_of(modules)
        if self.local.get("seen") == digest:
            return []
        self.local["seen"] = digest
        return [SaveLocal(dict(self.local))]

    def _live(self) -> list:
        return [name for name in self.membership.live_members() if name != self.name]

    def _durable_triple(self) -> tuple:
        held = self._chain.get(self.durable)
        return (*self.durable, held.digest if held is not None else NO_DIGEST)

    def _push(self, names) -> list:
        if not names:
            return []
        self.counters["pushes"] += 1
        payload = self._inline_payload()
        flags = DocumentFlag.PUSH | (DocumentFlag.INLINE if payload else 0)
        return [SendDocument(tuple(names), flags, _triple(self.tip), payload)]

    def _inline_payload(self) -> bytes:
        """A small version travels inside the push itself (compressed): no pull round trip.
        Large ones are pulled over HTTP."""
        if self._payload_cache[0] is self.tip and self._payload_cache[1] is not None:
            return self._payload_cache[1]
        document = self.tip
        events = [list(event) for number, events in document.changes if number == document.version
                  for event in events]
        raw = json.dumps({"modules": modules_to_wire(document.modules), "cluster": document.cluster,
                          "events": events}, separators=(",", ":")).encode()
        payload = zlib.compress(raw, 6)
        if len(payload) > self.membership.max_payload:
            payload = b""
        self._payload_cache = (document, payload)
        return payload

    def _repush(self) -> list:
        """Every keepalive, the leader pushes again to live members that have not confirmed
        its tip, and repeats its last commit for a few rounds (a lost COMMITTED would leave
        a member showing an older version until the next write)."""
        if not self.is_leader():
            return []
        live = self._live()
        effects = self._push([name for name in live if not self.commits.holds(name, self.tip.version)])
        if self._commit_repeats > 0:
            self._commit_repeats -= 1
            effects += self._tell_committed(live)
        return effects

    def _tell_committed(self, names) -> list:
        if names and self.document.term == self.tip.term:
            return [SendDocument(tuple(names), DocumentFlag.COMMITTED, _triple(self.document))]
        return []

    # ---- commit ---------------------------------------------------------------------------

    def _check_commit(self) -> list:
        """On the leader: commit the newest version of its term that a majority holds."""
        if not self.is_leader() or self.tip.term != self.commits.term:
            return []
        own = self.durable[1] if self.durable[0] == self.commits.term else -1
        version = self.commits.committable(self._live(), self.quorum(), own)
        if version is None or (self.commits.term, version) <= (self.document.term, self.document.version):
            return []
        document = self._chain.get((self.commits.term, version))
        if document is None:
            return []
        effects = self._make_visible(document)
        self.commits.forget_below(version)
        self._commit_repeats = COMMIT_REPEATS
        effects += self._tell_committed(self._live())
        effects.append(Committed(self.commits.term, version))
        return effects

    # ---- followers ------------------------------------------------------------------------

    def _on_committed(self, committed: tuple) -> list:
        """The leader says a majority holds (term, version, digest): show it, if we hold it."""
        term, version, digest = committed
        if (term, version) <= (self.document.term, self.document.version):
            return []
        self._commit_heard = committed
        document = self._chain.get((term, version))
        if document is not None and document.digest == digest:
            return self._make_visible(document)
        return self._request_pull()   # we missed it: the leader's tip is it, or newer

    def _from_payload(self, heard: DocumentHeard) -> PackDocument | None:
        try:
            raw = json.loads(zlib.decompress(heard.payload))
            modules = tuple(module_from_wire(item) for item in raw["modules"])
            events = tuple(tuple(event) for event in raw["events"])
        except (zlib.error, ValueError, KeyError, TypeError, RecursionError) as exc:
            log.warning("unreadable inline document from %s (%s); pulling it instead", heard.sender, exc)
            return None
        changes = tuple(entry for entry in self.tip.changes if entry[0] < heard.version)
        changes = (changes + ((heard.version, events),))[-HISTORY:]
        document = PackDocument(modules, heard.version, heard.term, raw.get("cluster"), changes)
        if document.digest != heard.digest:
            log.warning("inline document %d from %s does not match its digest; pulling it instead", heard.version,
                        heard.sender)
            return None
        self.counters["inline"] += 1
        return document

    def _acknowledge(self, document: PackDocument) -> list:
        """Tell the leader, at once, that ``document`` is on disk (it is waiting to commit
        the write). Only the leader hears it: the other members need each other's versions
        only to elect a new leader, and they ask each other then (PackNode._drop_leader),
        which saves N x N datagrams per change."""
        leader = self.membership.leader
        if not leader or leader == self.name:
            return []
        return [SendDocument((leader,), DocumentFlag.APPLIED, _triple(document))]

    def _request_pull(self) -> list:
        if self._pulling:
            self._pull_again = True
            return []
        leader, term = self.membership.leader, self.membership.term
        api = self.membership.api_of(leader) if leader else ""
        if not api.startswith("http"):
            log.warning("cannot pull the pack document: leader %s serves no TCP API (give it Api: listen)", leader)
            self.counters["pull_failures"] += 1
            return []
        self._pulling = True
        self.counters["pulls"] += 1
        return [Pull(leader, api, term)]

    def _take(self, document: PackDocument) -> list:
        """A follower takes a version: holds it, writes it to disk, and only then confirms
        it to the leader. It shows it once the leader says a majority holds it (that may
        already have been said, if the version was pulled after its commit)."""
        effects = self._hold(document)
        effects.append(self._persist(document))
        heard = self._commit_heard
        if heard is not None and heard[:2] <= (document.term, document.version):
            committed = self._chain.get(heard[:2])
            if committed is not None and committed.digest == heard[2]:
                effects += self._make_visible(committed)
        return effects

    # ---- showing a committed version ------------------------------------------------------

    def _make_visible(self, document: PackDocument, *, replay: bool = True, persist: bool = True) -> list:
        """Show ``document``, which a majority holds: cluster state, configuration, and the
        lifecycle events of the versions it adds (each member emits them)."""
        previous = self.document
        self.document = document
        self.counters["committed"] += 1
        effects: list = []
        leading = self.is_leader()
        if document.cluster is not None and not leading:
            effects.append(ImportShared(document.cluster))   # the leader's state holds it already
        for key in [key for key in self._chain if key < (document.term, document.version)]:
            del self._chain[key]
        self._chain[(document.term, document.version)] = document
        events = document.events_after(previous.version) if replay else []
        if leading:
            # The leader's state runs with its newest version already (the next write
            # builds on it): what becomes visible now is announced here, once. A change
            # written through the API carries its requestor; one from the leader's file is
            # announced without.
            written = any(event[0] == CONFIG_ACTION for event in events)
            if replay and not written and document.configuration.digest != previous.configuration.digest:
                configuration = document.configuration
                effects.append(Emit(((CONFIG_ACTION, "/1.0/cluster/config", {
                    "version": configuration.version, "term": configuration.term,
                    "digest": configuration.digest}, None),)))
        else:
            # A follower's one event per change comes from the configuration it now runs with.
            effects += self._configure(announce=replay)
        shown = tuple(tuple(event) for event in events if event[0] != CONFIG_ACTION or leading)
        if shown:
            effects.append(Emit(shown))
        effects.append(Shown(document.term, document.version))
        if persist:
            # Written once a second at most: a busy pack commits many versions a second,
            # and what a member shows after a restart may lag (see SyncStore).
            self._committed_unsaved = document
            if self._committed_due is None:
                self._committed_due = self._now + COMMITTED_SAVE_DELAY
        if document.version != previous.version:
            # Debug: a busy pack commits many versions a second, and the events say it already.
            log.debug("showing pack document version %d (term %d, %s...)", document.version, document.term,
                      document.digest[:12])
        if self.name in (document.cluster or {}).get("removed", ()):
            effects.append(Removed())
        return effects

    def _configure(self, announce: bool = True) -> list:
        """The configuration this member runs with: a follower's from the version it shows,
        the leader's from its newest (the next write builds on it; the leader's reads wait
        until it is committed)."""
        leading = self.is_leader()
        document = self.tip if leading else self.document
        return [configure(document, self.file_modules, self.ignore, leading=leading, announce=announce)]


def configure(document: PackDocument, file_modules, ignore, *, leading: bool, announce: bool) -> Configure:
    """Merge the shared modules of ``document`` with this member's own file (its modules
    win). On the leader, its shareable file modules are the pack's (exported when edited);
    those it ignores stay its own."""
    local = tuple((n, o) for n, o in file_modules)
    if leading:
        shared = dict(document.modules)
        local = tuple((n, o) for n, o in local if n not in shared or n in ignore)
    effective = effective_modules(local, document, ignore)
    own = tuple(n for n, _ in local if n in dict(document.modules))
    user = tuple((n, o) for n, o in effective if n not in NEVER_SHARED)
    return Configure(ConfigDocument(document.modules, document.version, document.term), own, user, announce)
