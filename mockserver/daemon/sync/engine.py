"""Replicating the pack document from the leader to every member.

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
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
import zlib

from mockserver.daemon.config import ConfigError, load
from mockserver.daemon.protocol.crypto import OpenError, Sealer
from mockserver.daemon.protocol.messages import DocumentFlag
from mockserver.daemon.sync.commit import CommitTracker
from mockserver.daemon.sync.document import (
    HISTORY,
    PackDocument,
    SyncError,
    accept,
    effective_modules,
    module_from_wire,
    shareable_modules,
)
from mockserver.daemon.sync.store import SyncStore
from mockserver.daemon.sync.writer import DocumentWriter
from mockserver.state import ClusterState
from mockserver.state.configuration import NEVER_SHARED, ConfigDocument, modules_to_wire

log = logging.getLogger(__name__)

PROOF_HEADER = "X-Pack-Proof"
PROOF_WINDOW = 30.0          # seconds: how old a pull request's proof may be
FILE_POLL = 0.5              # seconds between checks of the configuration file
CONFIG_ACTION = "cluster-configuration-updated"
COMMIT_REPEATS = 3           # keepalives during which the leader repeats a commit
COMMITTED_SAVE_DELAY = 1.0   # seconds: committed.json is written at most this often


def _digest_of(modules) -> str:
    return ConfigDocument(tuple(modules)).digest


class NotPublished(Exception):
    """A write the leader could not turn into a document; it was undone."""


class NotCommitted(Exception):
    """A write the leader applied but a majority did not confirm in time (or leadership
    was lost meanwhile): it may or may not survive."""


class SyncEngine:
    """One member's side of the replication. The daemon feeds it the protocol's events
    (leader changes, DOCUMENT datagrams) and calls :meth:`publish` after each write.

    Two documents matter: ``tip``, the newest version this member holds (on disk, counted
    in elections), and ``document``, the newest it knows a majority holds, which is what it
    shows. They differ while a version travels.
    """

    def __init__(self, daemon, store: SyncStore, secret: str, pack_name: str):
        self.daemon = daemon
        self.state: ClusterState = daemon.state
        self.store = store
        self.sealer = Sealer.for_pack(secret, pack_name, purpose="document")
        self.config = daemon.config
        sync = self.config.pack_configuration
        self.ignore = tuple(sync.ignore_modules) if sync else ()
        self.interval = float(sync.interval) if sync else 60.0
        self.document = PackDocument()     # shown: committed
        self.tip = PackDocument()          # held: the newest version, committed or not
        self._chain: dict = {}             # (term, version) -> a version held, not yet shown
        self._commit_heard: tuple | None = None   # (term, version, digest) the leader said is committed
        self.commits = CommitTracker()
        self._round = 0                    # leadership rounds asked (linearizable reads)
        self.counters = {"write_failures": 0, "inline": 0, "pulls": 0, "pull_failures": 0, "pulls_refused": 0,
                         "applied": 0, "committed": 0, "published": 0, "pushes": 0, "rolled_back": 0,
                         "file_reloads": 0, "file_errors": 0}
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._catching_up: list[tuple[tuple, asyncio.Future]] = []   # (term, version) awaited here
        self._visible_waiters: list[asyncio.Future] = []            # woken when what is shown moves
        self._pull_task: asyncio.Task | None = None
        self._pull_again = False
        self._pending_events: list = []
        self._writer = DocumentWriter(self.store.save_document)
        self._committed_writer = DocumentWriter(self.store.save_committed)
        self._committed_unsaved: PackDocument | None = None   # shown, not yet in committed.json
        self._committed_timer: asyncio.TimerHandle | None = None
        self.durable: tuple = (0, 0)   # (term, version) of the document on disk
        self._commit_repeats = 0
        self._local = store.load_local()
        self._file_stamp = self._stat()
        self._file_modules = tuple(self.config.modules)
        # A member exports its file's modules when it leads and the file was edited (while
        # it ran, or while it was down), or to bootstrap an empty pack; never merely because
        # it became the leader (the pack continues from its newest version).
        seen = _digest_of(shareable_modules(self._file_modules, self.ignore))
        self._edited_while_down = self._local.get("seen") not in (None, seen)
        self._session = None
        self._tasks: list[asyncio.Task] = []
        # What was derived from the tip (kept while it stays the tip).
        self._wire_cache: tuple = (self.tip, None)
        self._payload_cache: tuple = (self.tip, None)

    # ---- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start from what is on disk: show the last committed version, hold the newest
        (until the leader answers), and watch the file."""
        held, committed = self.store.load_document(), self.store.load_committed()
        if held is not None:
            log.info("starting from the persisted pack document: version %d (term %d)", held.version, held.term)
            self.tip = held
            self.durable = (held.term, held.version)
            self._chain[(held.term, held.version)] = held
        if committed is not None and (committed.term, committed.version) <= self.durable:
            self._make_visible(committed, replay=False, persist=False)
        else:
            self._refresh_configuration()
        if self.node is not None:
            self.node.set_document(self.tip.term, self.tip.version, self.tip.digest)
        self._remember_file(shareable_modules(self._file_modules, self.ignore))
        self.state.events.hold_writes(self._hold_write)
        self._tasks = [asyncio.ensure_future(self._every(FILE_POLL, self._check_file)),
                       asyncio.ensure_future(self._every(self.daemon.settings.keepalive, self._repush)),
                       asyncio.ensure_future(self._every(self.interval, self._anti_entropy))]

    async def stop(self) -> None:
        self.state.events.hold_writes(None)
        for task in self._tasks + ([self._pull_task] if self._pull_task else []):
            task.cancel()
        self._fail_waiters("the member is stopping")
        if self._session is not None:
            await self._session.close()
        if self._committed_timer is not None:
            self._committed_timer.cancel()
        self._save_committed()
        self._writer.close()  # what was taken reaches the disk before we go
        self._committed_writer.close()

    async def _every(self, period: float, step) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                step()
            except Exception:  # a bug must not stop replication: say so and go on
                log.exception("error in the pack document's %s; continuing", step.__name__)

    @property
    def node(self):
        return self.daemon.node

    @property
    def name(self) -> str:
        return self.daemon.settings.name

    def is_leader(self) -> bool:
        return self.node is not None and self.node.leader == self.name

    def settled(self) -> bool:
        """Whether what this member holds is all committed (the leader's reads wait for it)."""
        return (self.tip.term, self.tip.version) == (self.document.term, self.document.version)

    # ---- the leader: new versions ---------------------------------------------------------

    def _hold_write(self, event: tuple) -> None:
        """Lifecycle events of API writes go with the next version, and are published when
        it is committed (the event bus holds them for us)."""
        self._pending_events.append(event)

    def publish(self, modules=None) -> int:
        """On the leader, after a write: make, persist and push the next version if anything
        shared changed. Returns the version that holds the change (wait_committed tells when
        a majority has it).

        Raises:
            NotPublished: the change cannot be made a document (every member must be able
            to store and send it); the state is put back as the tip has it.
        """
        events, self._pending_events = self._pending_events, []
        if modules is None:
            modules = self.state.configuration.modules
        try:
            document = self.tip.changed(modules, self.state.export_shared(), events)
            if document is not self.tip:
                self._wire_cache = (document, document.to_wire())
        except (ValueError, TypeError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
            log.error("a write cannot be published (%s: %s); putting the state back to version %d",
                      type(exc).__name__, exc, self.tip.version)
            self._revert_to(self.tip)
            raise NotPublished(f"{type(exc).__name__}: {exc}") from None
        if document is not self.tip:
            self.counters["published"] += 1
            self._hold(document)
            self._push(self._live_members())
            self._write_behind(document, then=self._check_commit)
        elif events:
            # A write that changed nothing shared (the same values again): LXD emits its
            # events all the same, and there is nothing to wait for.
            with self.state.events.replaying():
                for action, source, context, requestor in events:
                    self.state.emit(action, source, context, requestor)
        return self.tip.version

    def _hold(self, document: PackDocument) -> None:
        """``document`` is our newest version (not shown until committed)."""
        self.tip = document
        self._chain[(document.term, document.version)] = document
        if self.is_leader():
            self.commits.issue(document.version, document.digest)
            self._refresh_configuration(announce=False)
        if self.node is not None:
            self.node.set_document(document.term, document.version, document.digest)
        self.counters["applied"] += 1

    def undo_write(self) -> None:
        """A write applied here that will not be published (we no longer lead): the state
        goes back to what we show, and its held events are dropped."""
        self._pending_events = []
        self._revert_to(self.document)

    def _revert_to(self, document: PackDocument) -> None:
        """Put what API writes changed back as ``document`` has it (nothing of a write that
        could not be published, or was never committed, may stay shown)."""
        if document.cluster is not None:
            self.state.import_shared(document.cluster)
        self._refresh_configuration(announce=False)

    def on_leader_change(self, leader: str, term: int, previous: str = "") -> None:
        self._wake_visible()
        if leader != self.name:
            self._fail_waiters("leadership moved to " + (leader or "nobody"))
            if previous == self.name:
                self._pending_events = []
                if not self.settled():
                    # We led with versions no majority confirmed: they are not shown (the
                    # new leader decides whether they survive), nor their held events.
                    self.counters["rolled_back"] += 1
                    log.info("no longer leading with versions %d..%d not committed: showing version %d (term %d)",
                             self.document.version + 1, self.tip.version, self.document.version, self.document.term)
                    self._revert_to(self.document)
            return
        # We lead from the newest version we hold: our state takes it (it may hold versions
        # of the last term that were never committed: committing ours commits them).
        if not self.settled() and self.tip.cluster is not None:
            self.state.import_shared(self.tip.cluster)
        self._refresh_configuration(announce=False)
        self.commits.lead(term)
        document = self.tip
        if term > document.term:   # a version of our own term, so that a majority can confirm it
            document = document.restamped(term)
        file_modules = shareable_modules(self._file_modules, self.ignore)
        if document.version == 0 or self._edited_while_down:
            self._edited_while_down = False
            document = document.changed(file_modules, self.state.export_shared())
        elif document.cluster is None:
            document = document.changed(None, self.state.export_shared())
        if document is not self.tip:
            self._hold(document)
            self._write_behind(document, then=self._check_commit)
        else:
            self.commits.issue(document.version, document.digest)
        log.info("leading the pack document from version %d (term %d)", self.tip.version, self.tip.term)
        self._push(self._live_members())
        self._check_commit()

    def _remember_file(self, modules) -> bool:
        """Record the file's shareable modules as seen; True if they differ from before."""
        digest = _digest_of(modules)
        if self._local.get("seen") == digest:
            return False
        self._local["seen"] = digest
        self.store.save_local(self._local)
        return True

    def _live_members(self) -> list:
        return [name for name in self.node.alive_names() if name != self.name] if self.node else []

    def _push(self, names) -> None:
        if names:
            self.counters["pushes"] += 1
            payload = self._inline_payload()
            flags = DocumentFlag.PUSH | (DocumentFlag.INLINE if payload else 0)
            self.daemon.apply_effects(self.node.send_document(names, flags, self._now(), payload,
                                                              document=self._triple(self.tip)))

    @staticmethod
    def _triple(document: PackDocument) -> tuple:
        return (document.term, document.version, document.digest)

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
        if len(payload) > self.node.max_document_payload:
            payload = b""
        self._payload_cache = (document, payload)
        return payload

    def _repush(self) -> None:
        """Every keepalive, the leader pushes again to live members that have not confirmed
        its tip, and repeats its last commit for a few rounds (a lost COMMITTED would leave
        a member showing an older version until the next write)."""
        if not self.is_leader():
            return
        live = self._live_members()
        self._push([name for name in live if not self.commits.holds(name, self.tip.version)])
        if self._commit_repeats > 0:
            self._commit_repeats -= 1
            self._tell_committed(live)

    def _tell_committed(self, names) -> None:
        if names and self.document.term == self.tip.term:
            self.daemon.apply_effects(self.node.send_document(list(names), DocumentFlag.COMMITTED, self._now(),
                                                              document=self._triple(self.document)))

    def _anti_entropy(self) -> None:
        """Every member tells every live member what it has on disk: the leader's copy
        catches up members that missed a push, and everyone keeps knowing who is newest."""
        if self.node is None:
            return
        self.tell_durable(self._live_members())

    def tell_durable(self, names) -> None:
        """Tell ``names`` which document we have on disk (a member we just met must know
        it before it may have to elect a leader)."""
        term, version = self.durable
        held = self._chain.get(self.durable)
        digest = held.digest if held is not None else "00" * 32
        self.daemon.apply_effects(self.node.send_document(list(names), 0, self._now(),
                                                          document=(term, version, digest)))
        if self.is_leader():   # and what it may show (a member back from a restart or a partition)
            self._tell_committed(names)

    # ---- commit ---------------------------------------------------------------------------

    def quorum(self) -> int:
        expected = self.daemon.settings.expected_members
        return (expected if expected else self.node.alive_count()) // 2 + 1

    def confirmed(self, version: int) -> int:
        """How many members (this one included) hold ``version`` of this term, or newer."""
        mine = 1 if self.durable >= (self.commits.term, version) else 0
        return mine + len(self.commits.holders(version, self._live_members()))

    def _check_commit(self) -> None:
        """On the leader: commit the newest version of its term that a majority holds."""
        if not self.is_leader() or self.tip.term != self.commits.term:
            return
        own = self.durable[1] if self.durable[0] == self.commits.term else -1
        version = self.commits.committable(self._live_members(), self.quorum(), own)
        if version is None or (self.commits.term, version) <= (self.document.term, self.document.version):
            return
        document = self._chain.get((self.commits.term, version))
        if document is None:
            return
        self._make_visible(document)
        self.commits.forget_below(version)
        self._commit_repeats = COMMIT_REPEATS
        self._tell_committed(self._live_members())
        for term, wanted, future in list(self._waiters):
            if not future.done() and term == self.commits.term and wanted <= version:
                future.set_result(None)

    async def wait_committed(self, version: int, timeout: float) -> None:
        """Until a majority holds ``version`` of the current term (it is then shown).

        Raises: NotCommitted when that did not happen within ``timeout``, or leadership moved.
        """
        if not self.is_leader():
            raise NotCommitted("this member is no longer the leader")
        term = self.commits.term
        if (self.document.term, self.document.version) >= (term, version):
            return
        future = asyncio.get_running_loop().create_future()
        entry = (term, version, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise NotCommitted(f"{self.confirmed(version)} of the {self.quorum()} members needed confirmed it "
                               f"within {timeout:g} s") from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def _until(self, condition, deadline: float) -> bool:
        """Until ``condition()`` holds (True) or the loop time passes ``deadline`` (False);
        checked again whenever something that could change it happens (_wake_visible)."""
        loop = asyncio.get_running_loop()
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            future = loop.create_future()
            self._visible_waiters.append(future)
            try:
                await asyncio.wait_for(future, remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                if future in self._visible_waiters:
                    self._visible_waiters.remove(future)
        return True

    async def wait_settled(self, timeout: float) -> bool:
        """On the leader: until everything it holds is committed (so that a read shows no
        write that may be lost). False after ``timeout``, or when leadership moved."""
        deadline = asyncio.get_running_loop().time() + timeout
        await self._until(lambda: not self.is_leader() or self.settled(), deadline)
        return self.is_leader() and self.settled()

    async def confirm_leadership(self, timeout: float) -> bool:
        """On the leader: whether a majority still follows it, asked now (a linearizable read
        must not be answered by a leader that was deposed without knowing it)."""
        self._round += 1
        round_ = self._round
        self.daemon.apply_effects(self.node.send_document(
            self._live_members(), DocumentFlag.PUSH | DocumentFlag.CONFIRM, self._now(),
            round_.to_bytes(8, "big"), document=self._triple(self.tip)))

        def confirmed() -> bool:
            return self.commits.followers_since(round_, self._live_members()) + 1 >= self.quorum()

        await self._until(lambda: not self.is_leader() or confirmed(), asyncio.get_running_loop().time() + timeout)
        return self.is_leader() and confirmed()

    def _wake_visible(self) -> None:
        waiters, self._visible_waiters = self._visible_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def wait_applied(self, term: int, version: int, timeout: float) -> bool:
        """Until this member shows (``term``, ``version``) or newer; False after ``timeout``
        seconds (then it does not, yet)."""
        target = (term, version)
        if (self.document.term, self.document.version) >= target:
            return True
        entry = (target, asyncio.get_running_loop().create_future())
        self._catching_up.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(entry[1]), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._catching_up.remove(entry)

    def _fail_waiters(self, why: str) -> None:
        for _, _, future in self._waiters:
            if not future.done():
                future.set_exception(NotCommitted(why))
        self._wake_visible()

    # ---- followers: hearing of versions, pulling ----------------------------------------

    def on_document_heard(self, heard) -> None:
        """A DOCUMENT datagram: what ``heard.sender`` holds, a leader's push, or its commit."""
        if self.is_leader():
            before = self.commits.acks.get(heard.sender)
            self.commits.confirm(heard.sender, heard.term, heard.version, heard.digest)
            if heard.flags & DocumentFlag.CONFIRM and len(heard.payload) == 8:
                self.commits.answered(heard.sender, int.from_bytes(heard.payload, "big"))
            self._check_commit()
            self._wake_visible()   # a confirmation may be what confirm_leadership awaits
            if heard.flags & DocumentFlag.APPLIED and before != self.commits.acks[heard.sender] \
                    and (heard.term, heard.version) <= (self.document.term, self.document.version):
                # A member catching up (back from a partition or a restart) took a version
                # committed already: it learns so now, not at the next write.
                self._tell_committed([heard.sender])
            return
        node = self.node
        if heard.sender != node.leader or heard.term != node.term:
            return  # only the leader we follow, in its current term, is a source
        if heard.flags & DocumentFlag.CONFIRM:   # we follow it: say so (and what we hold)
            self.daemon.apply_effects(self.node.send_document(
                [node.leader], DocumentFlag.APPLIED | DocumentFlag.CONFIRM, self._now(), heard.payload,
                document=(*self.durable, self._chain[self.durable].digest if self.durable in self._chain
                          else "00" * 32)))
        if heard.flags & DocumentFlag.COMMITTED:
            self._on_committed((heard.term, heard.version, heard.digest))
            return
        if (heard.term, heard.version, heard.digest) == self._triple(self.tip):
            if heard.flags & DocumentFlag.PUSH and self.durable == (self.tip.term, self.tip.version):
                self._acknowledge(self.tip)   # our confirmation was lost, or the leader asks again
            return
        if (heard.term, heard.version) <= (self.tip.term, self.tip.version):
            return
        if heard.payload and heard.flags & DocumentFlag.INLINE:
            document = self._from_payload(heard)
            if document is not None:
                self._take(document)
                return
        self._request_pull()

    def _on_committed(self, committed: tuple) -> None:
        """The leader says a majority holds (term, version, digest): show it, if we hold it."""
        term, version, digest = committed
        if (term, version) <= (self.document.term, self.document.version):
            return
        self._commit_heard = committed
        document = self._chain.get((term, version))
        if document is not None and document.digest == digest:
            self._make_visible(document)
        else:
            self._request_pull()   # we missed it: the leader's tip is it, or newer

    def _from_payload(self, heard) -> PackDocument | None:
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

    def _acknowledge(self, document: PackDocument) -> None:
        """Tell the leader, at once, that ``document`` is on disk (it is waiting to commit
        the write). Only the leader hears it: the other members need each other's versions
        only to elect a new leader, and they ask each other then (PackNode._drop_leader),
        which saves N x N datagrams per change."""
        if self.node is None or not self.node.leader or self.node.leader == self.name:
            return
        self.daemon.apply_effects(self.node.send_document(
            [self.node.leader], DocumentFlag.APPLIED, self._now(), document=self._triple(document)))

    def _request_pull(self) -> None:
        if self._pull_task is not None and not self._pull_task.done():
            self._pull_again = True
            return
        self._pull_task = asyncio.ensure_future(self._pull_loop())

    async def _pull_loop(self) -> None:
        while True:
            self._pull_again = False
            await self._pull()
            if not self._pull_again:
                return

    async def _pull(self) -> None:
        from aiohttp import ClientError, ClientSession, ClientTimeout

        node = self.node
        leader, term = node.leader, node.term
        peer = node.peers.get(leader)
        if peer is None or not peer.record.api.startswith("http"):
            log.warning("cannot pull the pack document: leader %s serves no TCP API (give it Api: listen)", leader)
            self.counters["pull_failures"] += 1
            return
        self.counters["pulls"] += 1
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=30, connect=3))
        try:
            async with self._session.get(f"{peer.record.api}/internal/pack/document", ssl=False,
                                         headers={PROOF_HEADER: self.proof()}) as reply:
                body = await reply.read()
                if reply.status != 200:
                    raise SyncError(f"HTTP {reply.status}: {body[:200]!r}")
            document = PackDocument.from_wire(self.sealer.open(body))
        except (ClientError, asyncio.TimeoutError, OSError, OpenError, SyncError) as exc:
            self.counters["pull_failures"] += 1
            log.warning("pulling the pack document from %s failed: %s", leader, exc or type(exc).__name__)
            return
        if node.leader != leader or node.term != term or document.term != term:
            self.counters["pulls_refused"] += 1
            log.info("dropped a document from %s: leadership moved meanwhile (term %d, document term %d)", leader,
                     node.term, document.term)
            return
        if self._triple(document) == self._triple(self.tip):
            if self._commit_heard is not None:
                self._on_committed(self._commit_heard)
            return
        why = accept(self.tip, document)
        if why is not None:
            if document.digest != self.tip.digest:
                self.counters["pulls_refused"] += 1
                log.warning("refused the pack document from %s: %s", leader, why)
            return
        self._take(document)

    def _take(self, document: PackDocument) -> None:
        """A follower takes a version: holds it, writes it to disk, and only then confirms
        it to the leader. It shows it once the leader says a majority holds it (that may
        already have been said, if the version was pulled after its commit)."""
        self._hold(document)
        self._write_behind(document, then=lambda: self._acknowledge(document))
        heard = self._commit_heard
        if heard is not None and heard[:2] <= (document.term, document.version):
            committed = self._chain.get(heard[:2])
            if committed is not None and committed.digest == heard[2]:
                self._make_visible(committed)

    def _write_behind(self, document: PackDocument, then) -> None:
        """Write ``document`` to disk (see DocumentWriter: in order, after the event
        streams sent), then call ``then`` on the loop."""
        # Encoded here, so that a writer thread only writes (and seldom needs the GIL).
        wire = self._wire() if document is self.tip else document.to_wire()

        def written() -> None:
            self.durable = max(self.durable, (document.term, document.version))
            then()

        self._writer.write(document, wire, written, self._write_failed)

    def _write_failed(self, error: Exception) -> None:
        log.error("cannot write the pack document to %s: %s; it is not confirmed", self.store.document_path, error)
        self.counters["write_failures"] += 1

    # ---- the leader's side of a pull -------------------------------------------------------

    def proof(self) -> str:
        plain = json.dumps({"member": self.name, "at": time.time()}).encode()
        return base64.b64encode(self.sealer.seal(plain)).decode()

    def check_proof(self, header: str | None) -> str:
        """The member that sealed ``header``. Raises: PermissionError (not a member, or stale)."""
        try:
            raw = json.loads(self.sealer.open(base64.b64decode(header or "", validate=True)))
            member, at = str(raw["member"]), float(raw["at"])
        except (OpenError, ValueError, KeyError, TypeError):
            raise PermissionError("not sealed with this pack's key") from None
        if abs(time.time() - at) > PROOF_WINDOW:
            raise PermissionError(f"proof is {time.time() - at:.0f} s old (clocks more than {PROOF_WINDOW:g} s apart?)")
        return member

    def sealed_document(self) -> bytes:
        return self.sealer.seal(self._wire())

    def _wire(self) -> bytes:
        if self._wire_cache[0] is not self.tip or self._wire_cache[1] is None:
            self._wire_cache = (self.tip, self.tip.to_wire())
        return self._wire_cache[1]

    # ---- showing a committed version ------------------------------------------------------

    def _make_visible(self, document: PackDocument, *, replay: bool = True, persist: bool = True) -> None:
        """Show ``document``, which a majority holds: cluster state, configuration, and the
        lifecycle events of the versions it adds (each member emits them)."""
        previous = self.document
        self.document = document
        self.counters["committed"] += 1
        if document.cluster is not None and not self.is_leader():
            self.state.import_shared(document.cluster)   # the leader's state holds it already
        for key in [key for key in self._chain if key < (document.term, document.version)]:
            del self._chain[key]
        self._chain[(document.term, document.version)] = document
        events = document.events_after(previous.version) if replay else []
        leading = self.is_leader()
        with self.state.events.replaying():
            if leading:
                # The leader's state runs with its newest version already (the next write
                # builds on it): what becomes visible now is announced here, once. A
                # change written through the API carries its requestor; one from the
                # leader's file is announced without.
                written = any(event[0] == CONFIG_ACTION for event in events)
                if replay and not written and document.configuration.digest != previous.configuration.digest:
                    configuration = document.configuration
                    self.state.emit(CONFIG_ACTION, "/1.0/cluster/config", {
                        "version": configuration.version, "term": configuration.term,
                        "digest": configuration.digest})
            else:
                # A follower's one event per change comes from the configuration it now runs with.
                self._refresh_configuration(announce=replay)
            for action, source, context, requestor in events:
                if action != CONFIG_ACTION or leading:
                    self.state.emit(action, source, context, requestor)
        for target, future in self._catching_up:
            if target <= (document.term, document.version) and not future.done():
                future.set_result(None)
        self._wake_visible()
        if persist:
            # Written once a second at most: a busy pack commits many versions a second,
            # and what a member shows after a restart may lag (see SyncStore).
            self._committed_unsaved = document
            if self._committed_timer is None:
                self._committed_timer = asyncio.get_running_loop().call_later(COMMITTED_SAVE_DELAY,
                                                                              self._save_committed)
        if document.version != previous.version:
            # Debug: a busy pack commits many versions a second, and the events say it already.
            log.debug("showing pack document version %d (term %d, %s...)", document.version, document.term,
                      document.digest[:12])
        removed = (document.cluster or {}).get("removed", ())
        if self.name in removed:
            self.daemon.removed_from_pack()

    def _save_committed(self) -> None:
        self._committed_timer = None
        document, self._committed_unsaved = self._committed_unsaved, None
        if document is not None:
            wire = self._wire() if document is self.tip else document.to_wire()
            self._committed_writer.write(document, wire, lambda: None, self._write_failed)

    def _refresh_configuration(self, announce: bool = True) -> None:
        """Merge the shared modules with this member's own file (its modules win) and put it
        in the state: a follower's is the version it shows, the leader's its newest (the
        next write builds on it; the leader's reads wait until it is committed)."""
        document = self.tip if self.is_leader() else self.document
        local = tuple((n, o) for n, o in self._file_modules)
        if self.is_leader():
            # The leader's shareable file modules are the pack's (exported when edited);
            # the ones it ignores stay its own.
            shared = dict(document.modules)
            local = tuple((n, o) for n, o in local if n not in shared or n in self.ignore)
        effective = effective_modules(local, document, self.ignore)
        own = [n for n, _ in local if n in dict(document.modules)]
        user = tuple((n, o) for n, o in effective if n not in NEVER_SHARED)
        self.state.set_configuration(ConfigDocument(document.modules, document.version, document.term),
                                     local_modules=own, effective=user, announce=announce)

    # ---- the configuration file ----------------------------------------------------------

    def _stat(self):
        try:
            info = os.stat(self.config.source)
            return (info.st_mtime_ns, info.st_size, info.st_ino)
        except OSError:
            return None

    def _check_file(self) -> None:
        stamp = self._stat()
        if stamp == self._file_stamp or stamp is None:
            return
        self._file_stamp = stamp
        try:
            config = load(self.config.source)
        except ConfigError as exc:
            self.counters["file_errors"] += 1
            log.error("the edited configuration file is refused, the running configuration stays: %s", exc)
            return
        self.counters["file_reloads"] += 1
        if config.pack != self.config.pack or config.api != self.config.api:
            log.warning("%s: Pack and Api changes take effect at the next restart", self.config.source)
        self._file_modules = tuple(config.modules)
        sync = config.pack_configuration
        self.ignore = tuple(sync.ignore_modules) if sync else ()
        shared = shareable_modules(self._file_modules, self.ignore)
        if self._remember_file(shared) and self.is_leader():
            log.info("%s edited: exporting its modules to the pack", self.config.source)
            self.publish(shared)
        else:
            self._refresh_configuration()

    # ---- views ----------------------------------------------------------------------------

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

    def _now(self) -> float:
        return asyncio.get_running_loop().time()
