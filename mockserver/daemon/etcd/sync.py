"""The pack document on etcd: the engine behind the gate of an etcd-backed daemon.

What the gate asks of an engine (``is_leader``, ``settled``, ``publish``, ``undo_write``,
``wait_committed``, ``wait_applied``, ``wait_settled``, ``confirm_leadership``, ``document``)
is answered here from etcd:

* **Writes.** The leader applies an API write to its state, makes the next
  :class:`PackDocument` (the write's lifecycle events ride in it) and writes it to etcd in one
  transaction that checks its candidacy at its term (fencing) and the document's revision
  (compare-and-swap): only the leader writes, and only on top of what it has shown. Writes
  made while one is in flight are written together next (the newest document holds them all).
  The write is answered once etcd has committed it, i.e. once a majority of etcd's members
  hold it.
* **Refused writes** (another writer came first, or the candidacy is gone): nothing was
  written; the state goes back to the last committed document and the client is told to
  retry (:class:`NotApplied`).
* **Unanswered writes** (etcd without quorum, or out of reach, for the write timeout): the
  write may still be committed later, so the client is told the outcome is unknown
  (:class:`NotCommitted`); the state goes back to the last committed document, and the watch
  shows the write if it did land.
* **Reading.** Every member, the leader too, shows what it saw through its watch on the
  document key, in revision order: a member never shows a write etcd has not committed. A
  linearizable read confirms, in one etcd transaction, that the candidacy still stands, and
  waits until this member shows the document's revision read there.

Versions: a write's reply names the version that holds it before etcd has assigned a
revision, so the version shown (in the API, the events and ``pylxd-cluster status``) is the
document's count of committed changes, one more with every write the leader makes on top of
the last one; the document's etcd ``mod_revision`` is shown beside it (``revision``), and is
what writes compare and swap on.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

import aetcd

from mockserver.daemon.config import DaemonConfig
from mockserver.daemon.etcd.client import UNAVAILABLE, EtcdClient
from mockserver.daemon.etcd.document import EtcdDocument, NotLeading, StaleWrite
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.sync.core import CONFIG_ACTION, Emit, ImportShared, NotApplied, NotCommitted, NotPublished
from mockserver.daemon.sync.core import configure as configure_effect
from mockserver.daemon.sync.document import PackDocument, SyncError, shareable_modules
from mockserver.daemon.sync.driver import show
from mockserver.daemon.sync.filewatch import ConfigFileWatcher
from mockserver.state import ClusterState

__all__ = ["EtcdSync", "NotApplied", "NotCommitted", "NotPublished"]

log = logging.getLogger(__name__)


class EtcdSync:
    """One member's side of the shared document on etcd.

    Args:
        name: this member's name.
        state: its cluster state.
        config: its configuration (the file's modules are merged with the document's).
        client, keys: the pack's etcd.
        leadership: the membership (``leader``, ``term``, ``candidacy``, ``is_leader()``).
        write_timeout: seconds a write may wait for etcd before its outcome is unknown.
        removed: called when the document removes this member.
        extras: the daemon's own shared data beside the cluster state's (service-group
            assignments), written with every document.
        shown: told of every document shown.
    """

    def __init__(self, name: str, *, state: ClusterState, config: DaemonConfig, client: EtcdClient,
                 keys: PackKeys, leadership, write_timeout: float, removed: Callable[[], None],
                 extras: Callable[[], dict] = dict, shown: Callable[[PackDocument], None] | None = None) -> None:
        self.name = name
        self.state = state
        self.config = config
        self.client = client
        self.leadership = leadership
        self.write_timeout = write_timeout
        self._removed = removed
        self._extras, self._on_shown = extras, shown
        sync = config.pack_configuration
        self.file_modules = tuple(config.modules)
        self.ignore = tuple(sync.ignore_modules) if sync else ()
        self.etcd = EtcdDocument(client, keys, on_document=self._on_document)
        self.stored = PackDocument()     # the last committed document: what is shown
        self.revision = 0                # its mod_revision (what the next write is based on)
        self.tip = self.stored           # on the leader: the newest document made, maybe not written yet
        self._leading = False            # this member leads and has caught up with etcd
        self._lead_term = 0              # the term it leads in
        self._started = False
        self._wire: tuple = (None, b"")  # (document being written, its encoding)
        self._writer: asyncio.Task | None = None
        self._pending_events: list = []
        self._waiters: list[tuple[int, asyncio.Future]] = []   # (change count, future): wait_committed
        self._changed = asyncio.Event()    # set and replaced whenever what waiters look at moves
        self._tasks: set[asyncio.Task] = set()
        self.counters = {"committed": 0, "published": 0, "writes_refused": 0, "writes_unknown": 0,
                         "bad_documents": 0, "reverted": 0, "late_commits": 0, "file_reloads": 0, "file_errors": 0}
        self._file = ConfigFileWatcher(config, leading=self.is_leader, refused=self._file_refused,
                                       problem=lambda modules: state.backend.configuration_problem(
                                           modules, state.member_names()),
                                       changed=self._file_changed)

    # ---- what the gate and the daemon read ------------------------------------------------

    @property
    def document(self) -> PackDocument:
        """What this member shows: the last document etcd committed that it saw."""
        return self.stored

    def is_leader(self) -> bool:
        return self._leading and self.leadership.is_leader()

    def settled(self) -> bool:
        """Whether everything this member applied is committed (the leader's reads wait for it)."""
        return self.tip is self.stored

    def describe(self) -> dict:
        """The member state's ``pack.document``."""
        document, tip = self.document, self.tip
        view = {"backend": "etcd", "version": document.version, "term": document.term, "digest": document.digest,
                "modules_digest": document.configuration.digest, "revision": self.revision,
                # What the leader made (a version not written yet is no version: None).
                "held": {"version": tip.version if self.settled() else None, "making": tip.version,
                         "term": tip.term, "digest": tip.digest},
                "counters": {**self.counters, **{f"etcd_{key}": value for key, value in self.etcd.counters.items()}}}
        if self.is_leader():
            view["writing"] = self._writer is not None and not self._writer.done()
        return view

    # ---- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the document and follow it; watch the configuration file.

        Raises:
            aetcd.exceptions.ClientError: etcd stayed unavailable for the client's timeout.
        """
        self.state.events.hold_writes(self._pending_events.append)
        self._carry(self._configure(announce=False))
        await self.etcd.start()
        self._started = True
        self._spawn(self._file.run())

    async def stop(self) -> None:
        self.state.events.hold_writes(None)
        self._fail_waiters(NotCommitted("the member is stopping"))
        for task in list(self._tasks) + ([self._writer] if self._writer else []):
            task.cancel()
        await self.etcd.stop()

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- leadership ----------------------------------------------------------------------------

    def on_leader_change(self, leader: str, term: int, previous: str = "") -> None:
        """The membership saw ``leader`` take over in ``term``."""
        if leader == self.name:
            if self._leading and term != self._lead_term:   # registered anew: a new term, caught up anew
                self._step_down(f"leading again in term {term}")
            self._spawn(self._take_lead(term))
            return
        if self._leading:
            self._step_down(f"leadership moved to {leader or 'nobody'}")
        self._moved()

    def on_cut_off(self, cut: bool) -> None:
        """Cut off from etcd: no longer lead (the lease may be gone: another member may lead)."""
        if cut and self._leading:
            self._step_down("cut off from etcd")
        elif not cut and self.leadership.is_leader() and not self._leading:
            self._spawn(self._take_lead(self.leadership.term))
        self._moved()

    def _step_down(self, why: str) -> None:
        self._leading = False
        self._pending_events.clear()
        self._fail_waiters(NotCommitted(why))
        if not self.settled():
            log.info("no longer leading (%s) with changes not committed: showing version %d again", why,
                     self.revision)
            self._revert()

    async def _take_lead(self, term: int) -> None:
        """Lead once caught up with etcd: read the document (a write of the last leader may
        not have reached the watch yet), then continue from it."""
        try:
            await self.etcd.catch_up()
        except aetcd.exceptions.ClientError as exc:
            log.warning("cannot read the document to take the lead (%s); waiting for the watch", exc)
        if not self.leadership.is_leader() or self.leadership.term != term or self._leading:
            return
        self._leading, self._lead_term = True, term
        self.tip = self.stored
        self._carry(self._configure(announce=False))
        log.info("leading the pack document from version %d (term %d)", self.revision, term)
        if self.revision == 0 or self.stored.cluster is None:   # an empty pack: start it from our file
            self._write(self.stored.restamped(term).changed(shareable_modules(self.file_modules, self.ignore),
                                                            self._shared()))
        self._moved()

    # ---- writes on the leader -----------------------------------------------------------------

    def publish(self, modules=None) -> int:
        """On the leader, after a write: the next document, written to etcd in the background.
        Returns its change count (what :meth:`wait_committed` takes).

        Raises:
            NotPublished: the change cannot be made a document; the state was put back.
        """
        events, self._pending_events[:] = list(self._pending_events), []
        if modules is None:
            modules = self.state.configuration.modules
        term = self.leadership.term
        base = self.tip if self.tip.term == term else self.tip.restamped(term)   # our documents carry our term
        try:
            document = base.changed(modules, self._shared(), events)
            wire = document.to_wire() if document is not base else b""
        except (ValueError, TypeError, RecursionError) as exc:
            log.error("a write cannot be published (%s: %s); putting the state back", type(exc).__name__, exc)
            self._revert(self.tip)
            raise NotPublished(f"{type(exc).__name__}: {exc}") from None
        if document is base:
            if events:   # the same values again: LXD emits the events all the same
                self._carry([Emit(tuple(events))])
            return self.tip.version
        self._write(document, wire)
        return document.version

    def undo_write(self) -> None:
        """A write applied here that will not be published (we no longer lead)."""
        self._pending_events.clear()
        self._revert()

    def _write(self, document: PackDocument, wire: bytes | None = None) -> None:
        self.counters["published"] += 1
        self.tip = document
        self._wire = (document, wire if wire else document.to_wire())
        self._carry(self._configure(announce=False))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_loop())

    async def _write_loop(self) -> None:
        """Write the tip until etcd holds it (what was made meanwhile goes in the next one)."""
        while self._leading and self.tip is not self.stored:
            document, wire = self._wire
            try:
                await self.etcd.write(wire, base=self.revision, candidacy=self.leadership.candidacy,
                                      term=self.leadership.term, timeout=self.write_timeout)
            except (StaleWrite, NotLeading) as exc:
                self.counters["writes_refused"] += 1
                log.warning("etcd refused the pack document (%s): nothing was written", exc)
                self._abandon(NotApplied(str(exc)))
                return
            except (*UNAVAILABLE, aetcd.exceptions.ClientError) as exc:
                self.counters["writes_unknown"] += 1
                log.warning("etcd did not confirm the pack document within %g s (%s): it may or may not be "
                            "committed", self.write_timeout, exc)
                self._abandon(NotCommitted(f"etcd did not confirm it within {self.write_timeout:g} s "
                                           f"({type(exc).__name__}: {exc or 'no quorum?'})"))
                return
            except Exception as exc:   # noqa: BLE001 - a writer that dies would hold every read back
                self.counters["writes_unknown"] += 1
                log.exception("writing the pack document failed unexpectedly; it may or may not be committed")
                self._abandon(NotCommitted(f"the write failed: {type(exc).__name__}: {exc}"))
                return

    def _abandon(self, error: NotCommitted) -> None:
        """A write that did not land (or may not have): its waiters are told, and the state
        shows the last committed document (the watch brings the write if it landed)."""
        self._pending_events.clear()
        self._fail_waiters(error)
        self._revert()

    async def wait_committed(self, version: int, timeout: float) -> None:
        """Until etcd holds change ``version`` (a count :meth:`publish` returned).

        Raises:
            NotApplied: etcd refused it (nothing was written).
            NotCommitted: not confirmed within ``timeout``, or leadership moved.
        """
        if self.stored.version >= version and self.stored.term == self._lead_term:
            return   # (only this member writes documents of the term it leads)
        if not self.is_leader():
            raise NotCommitted("this member is no longer the leader")
        future = asyncio.get_running_loop().create_future()
        entry = (version, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise NotCommitted(f"etcd did not confirm it within {timeout:g} s") from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _fail_waiters(self, error: NotCommitted) -> None:
        waiting, self._waiters = self._waiters, []
        for _, future in waiting:
            if not future.done():
                future.set_exception(error)
        self._moved()

    # ---- reads ---------------------------------------------------------------------------------

    async def _until(self, condition: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return condition()
        return True

    def _moved(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_settled(self, timeout: float) -> bool:
        await self._until(lambda: not self.is_leader() or self.settled(), timeout)
        return self.is_leader() and self.settled()

    async def wait_applied(self, term: int, version: int, timeout: float) -> bool:
        """Until this member shows ``version`` or newer (versions grow across terms on etcd:
        ``term`` is the writer's, and says nothing more)."""
        return await self._until(lambda: self.stored.version >= version, timeout)

    async def confirm_leadership(self, timeout: float) -> bool:
        """Whether the candidacy still stands at its term, asked of etcd now; then until this
        member shows the document's revision read in the same transaction."""
        if not self.is_leader():
            return False
        try:
            revision = await self.etcd.confirm(self.leadership.candidacy, self.leadership.term, timeout)
        except (*UNAVAILABLE, aetcd.exceptions.ClientError) as exc:
            log.info("cannot confirm the leadership with etcd: %s", exc)
            return False
        if revision is None:
            return False
        return await self._until(lambda: self.revision >= revision, timeout) and self.is_leader()

    # ---- showing what etcd holds --------------------------------------------------------------

    def _on_document(self, value: bytes | None, revision: int) -> None:
        if value is None:
            return
        ours = self._wire[0] if self._wire[1] == value else None
        if ours is not None:
            document = ours
        else:
            try:
                document = PackDocument.from_wire(value)
            except SyncError as exc:
                self.counters["bad_documents"] += 1
                log.error("the pack document at revision %d cannot be used (%s); keeping version %d", revision,
                          exc, self.revision)
                self.revision = revision   # the next write goes on top of it
                return
        self._show(document, revision, replay=self._started)

    def _show(self, document: PackDocument, revision: int, *, replay: bool) -> None:
        previous = self.stored
        # Only the leader of a term writes documents of that term (fenced by its candidacy).
        mine = self.is_leader() and document.term == self.leadership.term
        if self.is_leader() and not mine:
            # Somebody else wrote: we do not lead (any more); what we made is not shown.
            self._step_down(f"revision {revision} was written by another leader")
        self.stored, self.revision = document, revision
        self.counters["committed"] += 1
        if not self._leading:
            self.tip = document
        elif self.tip is not document and (self._writer is None or self._writer.done()):
            # Ours, yet not what we build on, with nothing of ours in flight: a write given up
            # as "outcome unknown" that etcd committed after all (its quorum came back). It is
            # the pack's state now: build on it, or the leader would wait for it forever.
            self.counters["late_commits"] += 1
            log.info("etcd committed version %d (revision %d) after this member gave it up: building on it",
                     document.version, revision)
            self.tip = document
        effects: list = []
        if not mine and document.cluster is not None:
            effects.append(ImportShared(document.cluster))
        events = document.events_after(previous.version) if replay else []
        leading = self._leading
        if leading:
            written = any(event[0] == CONFIG_ACTION for event in events)
            if replay and not written and document.configuration.digest != previous.configuration.digest:
                effects.append(Emit(((CONFIG_ACTION, "/1.0/cluster/config",
                                      {"version": document.version, "term": document.term,
                                       "digest": document.configuration.digest}, None),)))
            effects += self._configure(announce=False)
        else:
            effects += self._configure(announce=replay)
        shown = tuple(tuple(event) for event in events if event[0] != CONFIG_ACTION or leading)
        if shown:
            effects.append(Emit(shown))
        self._carry(effects)
        for entry in [entry for entry in self._waiters if entry[0] <= document.version]:
            self._waiters.remove(entry)
            if not entry[1].done():
                entry[1].set_result(None)
        self._moved()
        if self._on_shown is not None:
            self._on_shown(document)
        log.debug("showing pack document revision %d (term %d, %s...)", revision, document.term, document.digest[:12])
        if self.name in (document.cluster or {}).get("removed", ()):
            self._removed()

    def _revert(self, document: PackDocument | None = None) -> None:
        """The state goes back to ``document`` (the last committed one by default)."""
        document = document or self.stored
        if self.tip is not document:
            self.counters["reverted"] += 1
        self.tip = document
        effects: list = [ImportShared(document.cluster)] if document.cluster is not None else []
        self._carry(effects + self._configure(announce=False))
        self._moved()

    def _configure(self, announce: bool) -> list:
        leading = self._leading
        document = self.tip if leading else self.stored
        return [configure_effect(document, self.file_modules, self.ignore, leading=leading, announce=announce)]

    def _carry(self, effects: list) -> None:
        for effect in effects:
            show(self.state, effect)

    def _shared(self) -> dict:
        return {**self.state.export_shared(), **self._extras()}

    # ---- the configuration file ------------------------------------------------------------

    def _file_refused(self) -> None:
        self.counters["file_errors"] += 1

    def _file_changed(self, modules, ignore) -> None:
        self.counters["file_reloads"] += 1
        self.file_modules, self.ignore = tuple(modules), tuple(ignore)
        if self.is_leader():
            log.info("the configuration file was edited: exporting its modules to the pack")
            try:
                self.publish(shareable_modules(self.file_modules, self.ignore))
            except NotPublished as exc:
                log.error("the edited configuration cannot be published: %s", exc)
            return
        self._carry(self._configure(announce=True))
