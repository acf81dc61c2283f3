"""Replicating the pack document from the leader to every member.

How a change travels:

1. The leader makes a new version (a write through the API, or its own file edited),
   applies it, and sends a DOCUMENT datagram flagged PUSH to every live member, then
   writes it to disk.
2. A small version rides inside the push (compressed, flag INLINE). A member that hears
   of a version it cannot take that way, from the leader it follows, pulls the whole
   document over the leader's HTTP API (``GET /internal/pack/document``): a reliable
   channel, any size. Request and reply are sealed with a key derived from the pack secret,
   so only members read it and only the authenticated leader of the current term is taken.
3. The member applies it live (cluster state, configuration, lifecycle events), writes it
   to disk atomically, and only then confirms it to the leader (APPLIED); the other members
   learn which version it has at most once per half keepalive.
4. The leader answers the client's write once a majority of the pack (of
   ``expected_members``, else of the live members) has it on disk: what was acknowledged
   survives the leader, because elections prefer the members with the newest document.

Datagrams can be lost: the leader pushes again every keepalive to members that have not
applied, and every PackConfiguration ``interval`` all members compare versions
(anti-entropy), so a member that was away catches up.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
import zlib

from ...config import ConfigError, load
from ...state import ClusterState
from ...state.configuration import NEVER_SHARED, ConfigDocument, modules_to_wire
from ..crypto import OpenError, Sealer
from ..messages import DocumentFlag
from .document import (HISTORY, PackDocument, SyncError, accept, effective_modules, module_from_wire,
                       shareable_modules)
from .store import SyncStore
from .writer import DocumentWriter

log = logging.getLogger("pylxd_cluster.sync")

PROOF_HEADER = "X-Pack-Proof"
PROOF_WINDOW = 30.0          # seconds: how old a pull request's proof may be
FILE_POLL = 0.5              # seconds between checks of the configuration file
CONFIG_ACTION = "cluster-configuration-updated"


def _digest_of(modules) -> str:
    return ConfigDocument(tuple(modules)).digest


class NotPublished(Exception):
    """A write the leader could not turn into a document; it was undone."""


class NotCommitted(Exception):
    """A write the leader applied but a majority did not confirm in time (or leadership
    was lost meanwhile): it may or may not survive."""


class SyncEngine:
    """One member's side of the replication. The daemon feeds it the protocol's events
    (leader changes, DOCUMENT datagrams) and calls :meth:`publish` after each write."""

    def __init__(self, daemon, store: SyncStore, secret: str, pack_name: str):
        self.daemon = daemon
        self.state: ClusterState = daemon.state
        self.store = store
        self.sealer = Sealer.for_pack(secret, pack_name, purpose="document")
        self.config = daemon.config
        sync = self.config.pack_configuration
        self.ignore = tuple(sync.ignore_modules) if sync else ()
        self.interval = float(sync.interval) if sync else 60.0
        self.document = PackDocument()
        self.acks: dict[str, tuple] = {}            # member -> (term, version) it applied
        self.counters = {"write_failures": 0, "inline": 0, "pulls": 0, "pull_failures": 0, "pulls_refused": 0, "applied": 0, "published": 0,
                         "pushes": 0, "file_reloads": 0, "file_errors": 0}
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._catching_up: list[tuple[tuple, asyncio.Future]] = []   # (term, version) awaited here
        self._pull_task: asyncio.Task | None = None
        self._pull_again = False
        self._pending_events: list = []
        self._writer = DocumentWriter(self.store.save_document)
        self.durable: tuple = (0, 0)   # (term, version) of the document on disk
        self._replaying = False
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
        # What was derived from the current document (kept while it stays current).
        self._wire_cache: tuple = (self.document, None)
        self._payload_cache: tuple = (self.document, None)

    # ---- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start from the persisted document (until the leader answers) and watch the file."""
        persisted = self.store.load_document()
        if persisted is not None:
            log.info("starting from the persisted pack document: version %d (term %d)", persisted.version,
                     persisted.term)
            self._apply(persisted, replay=False)
            self.durable = (persisted.term, persisted.version)
        else:
            self._refresh_configuration()
        self._remember_file(shareable_modules(self._file_modules, self.ignore))
        self.state.events.subscribe(self._record_write)
        self._tasks = [asyncio.ensure_future(self._every(FILE_POLL, self._check_file)),
                       asyncio.ensure_future(self._every(self.daemon.settings.keepalive, self._repush)),
                       asyncio.ensure_future(self._every(self.interval, self._anti_entropy))]

    async def stop(self) -> None:
        self.state.events.unsubscribe(self._record_write)
        for task in self._tasks + ([self._pull_task] if self._pull_task else []):
            task.cancel()
        for _, _, future in self._waiters:
            if not future.done():
                future.set_exception(NotCommitted("the member is stopping"))
        if self._session is not None:
            await self._session.close()
        self._writer.close()  # what was taken reaches the disk before we go

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

    # ---- the leader: new versions ---------------------------------------------------------

    def _record_write(self, event: dict) -> None:
        """Lifecycle events of API writes (they carry a requestor) go with the next version."""
        metadata = event.get("metadata", {})
        if event.get("type") == "lifecycle" and "requestor" in metadata and not self._replaying:
            self._pending_events.append((metadata["action"], metadata["source"], metadata.get("context"),
                                         metadata["requestor"]))

    def publish(self, modules=None) -> int:
        """On the leader, after a write: make, persist, apply and push the next version if
        anything shared changed. Returns the version that holds the change.

        Raises:
            NotPublished: the change cannot be made a document (every member must be able
            to store and send it); the state is put back as the current version has it.
        """
        events, self._pending_events = self._pending_events, []
        if modules is None:
            modules = self.state.configuration.modules
        try:
            document = self.document.changed(modules, self.state.export_shared(), events)
            if document is not self.document:
                self._wire_cache = (document, document.to_wire())
        except (ValueError, TypeError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
            log.error("a write cannot be published (%s: %s); putting the state back to version %d",
                      type(exc).__name__, exc, self.document.version)
            self._revert()
            raise NotPublished(f"{type(exc).__name__}: {exc}") from None
        if document is not self.document:
            self.counters["published"] += 1
            # A configuration write already announced itself (with its requestor).
            announced = any(event[0] == CONFIG_ACTION for event in events)
            self._apply(document, replay=False, announce=not announced)
            # Pushed before our own write to disk, so that both happen at once; our own
            # confirmation counts only once it is on disk.
            self._push(self._live_members())
            self._write_behind(document, then=self._check_waiters)
        return self.document.version

    def _revert(self) -> None:
        """Put what API writes changed back to the current version (nothing of a write that
        could not be published may stay, here or anywhere)."""
        if self.document.cluster is not None:
            self.state.import_shared(self.document.cluster)
        self._refresh_configuration(announce=False)

    def on_leader_change(self, leader: str, term: int) -> None:
        if leader != self.name:
            self._fail_waiters("leadership moved to " + (leader or "nobody"))
            return
        document = self.document
        if term > document.term:  # we continue from the newest version we have
            document = document.restamped(term)
        file_modules = shareable_modules(self._file_modules, self.ignore)
        if document.version == 0 or self._edited_while_down:
            self._edited_while_down = False
            document = document.changed(file_modules, self.state.export_shared())
        elif document.cluster is None:
            document = document.changed(None, self.state.export_shared())
        if document is not self.document:
            self._apply(document, replay=False)
            self._write_behind(document, then=self._check_waiters)
        log.info("leading the pack document from version %d (term %d)", self.document.version, self.document.term)
        self._push(self._live_members())

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
            self.daemon.apply_effects(self.node.send_document(names, flags, self._now(), payload))

    def _inline_payload(self) -> bytes:
        """A small version travels inside the push itself (compressed): no pull round trip.
        Large ones are pulled over HTTP."""
        if self._payload_cache[0] is self.document and self._payload_cache[1] is not None:
            return self._payload_cache[1]
        document = self.document
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
        """The leader pushes again to live members that have not applied the current version."""
        if not self.is_leader():
            return
        mine = (self.document.term, self.document.version)
        behind = [name for name in self._live_members() if self.acks.get(name) != mine]
        self._push(behind)

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
        digest = self.document.digest if (self.document.term, self.document.version) == self.durable else "00" * 32
        self.daemon.apply_effects(self.node.send_document(list(names), 0, self._now(),
                                                          document=(term, version, digest)))

    # ---- commit ---------------------------------------------------------------------------

    def quorum(self) -> int:
        expected = self.daemon.settings.expected_members
        return (expected if expected else self.node.alive_count()) // 2 + 1

    def confirmed(self, version: int) -> int:
        """How many members (this one included) have applied ``version`` of this term."""
        term = self.document.term
        live = set(self.node.alive_names())
        mine = 1 if self.durable >= (term, version) else 0
        return mine + sum(1 for name, (t, v) in self.acks.items() if name in live and t == term and v >= version)

    async def wait_committed(self, version: int, timeout: float) -> None:
        """Raises: NotCommitted when no majority confirmed ``version`` within ``timeout``."""
        if not self.is_leader():
            raise NotCommitted("this member is no longer the leader")
        if self.confirmed(version) >= self.quorum():
            return
        future = asyncio.get_running_loop().create_future()
        entry = (self.document.term, version, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise NotCommitted(f"{self.confirmed(version)} of the {self.quorum()} members needed confirmed it "
                               f"within {timeout:g} s") from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _check_waiters(self) -> None:
        if not self._waiters:
            return
        quorum = self.quorum()
        for term, version, future in list(self._waiters):
            if not future.done() and term == self.document.term and self.confirmed(version) >= quorum:
                future.set_result(None)

    async def wait_applied(self, term: int, version: int, timeout: float) -> bool:
        """Until this member has applied (``term``, ``version``) or newer; False after
        ``timeout`` seconds (then it has not, yet)."""
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

    # ---- followers: hearing of versions, pulling ----------------------------------------

    def on_document_heard(self, heard) -> None:
        """A DOCUMENT datagram: what ``heard.sender`` has applied (and, from the leader,
        a prompt to pull when we lack it)."""
        self.acks[heard.sender] = (heard.term, heard.version)
        if self.is_leader():
            self._check_waiters()
            return
        node = self.node
        if heard.sender != node.leader or heard.term != node.term:
            return  # only the leader we follow, in its current term, is a source
        mine = (self.document.term, self.document.version, self.document.digest)
        if (heard.term, heard.version, heard.digest) == mine:
            return
        if heard.payload and heard.version == self.document.version + 1 and heard.term >= self.document.term:
            document = self._from_payload(heard)
            if document is not None:
                self._take(document)
                return
        self._request_pull()

    def _from_payload(self, heard) -> PackDocument | None:
        try:
            raw = json.loads(zlib.decompress(heard.payload))
            modules = tuple(module_from_wire(item) for item in raw["modules"])
            events = tuple(tuple(event) for event in raw["events"])
        except (zlib.error, ValueError, KeyError, TypeError) as exc:
            log.warning("unreadable inline document from %s (%s); pulling it instead", heard.sender, exc)
            return None
        changes = (self.document.changes + ((heard.version, events),))[-HISTORY:]
        document = PackDocument(modules, heard.version, heard.term, raw.get("cluster"), changes)
        if document.digest != heard.digest:
            log.warning("inline document %d from %s does not match its digest; pulling it instead", heard.version,
                        heard.sender)
            return None
        self.counters["inline"] += 1
        return document

    def _acknowledge(self, document: PackDocument) -> None:
        """Tell the leader, at once, that ``document`` is on disk (it is waiting to confirm
        the write). Only the leader hears it: the other members need each other's versions
        only to elect a new leader, and they ask each other then (PackNode._drop_leader),
        which saves N x N datagrams per change."""
        self.daemon.apply_effects(self.node.send_document(
            [self.node.leader], DocumentFlag.APPLIED, self._now(),
            document=(document.term, document.version, document.digest)))

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
        why = accept(self.document, document)
        if why is not None:
            if document.digest != self.document.digest:
                self.counters["pulls_refused"] += 1
                log.warning("refused the pack document from %s: %s", leader, why)
            return
        self._take(document)

    def _take(self, document: PackDocument) -> None:
        """A follower takes a version: applies it (clients see it at once), writes it to
        disk, and only then confirms it to the leader."""
        self._apply(document)
        self._write_behind(document, then=lambda: self._acknowledge(document))

    def _write_behind(self, document: PackDocument, then) -> None:
        """Write ``document`` to disk after applying it (see DocumentWriter: in order, after
        the event streams sent), then call ``then`` on the loop."""
        # Encoded here, so that a writer thread only writes (and seldom needs the GIL).
        wire = self._wire() if document is self.document else document.to_wire()

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
        if self._wire_cache[0] is not self.document or self._wire_cache[1] is None:
            self._wire_cache = (self.document, self.document.to_wire())
        return self._wire_cache[1]

    # ---- applying ---------------------------------------------------------------------------

    def _apply(self, document: PackDocument, *, replay: bool = True, announce: bool = True) -> None:
        """Make ``document`` what this member shows and runs with (in memory; see
        _write_behind for the disk)."""
        previous = self.document
        self.document = document
        self.counters["applied"] += 1
        if document.cluster is not None and not self.is_leader():
            self.state.import_shared(document.cluster)
        if self.node is not None:
            self.node.set_document(document.term, document.version, document.digest)
        self._refresh_configuration(announce)
        for target, future in self._catching_up:
            if target <= (document.term, document.version) and not future.done():
                future.set_result(None)
        if replay:
            self._replaying = True
            try:
                for action, source, context, requestor in document.events_after(previous.version):
                    if action != CONFIG_ACTION:  # emitted above, by the configuration itself
                        self.state.emit(action, source, context, requestor)
            finally:
                self._replaying = False
        if document.version != previous.version:
            # Debug: a busy pack applies many versions a second, and the events say it already.
            log.debug("applied pack document version %d (term %d, %s...)", document.version, document.term,
                      document.digest[:12])
        removed = (document.cluster or {}).get("removed", ())
        if self.name in removed:
            self.daemon.removed_from_pack()

    def _refresh_configuration(self, announce: bool = True) -> None:
        """Merge the shared modules with this member's own file (its modules win) and show it."""
        local = tuple((n, o) for n, o in self._file_modules)
        if self.is_leader():
            # The leader's shareable file modules are the pack's (exported when edited);
            # the ones it ignores stay its own.
            shared = dict(self.document.modules)
            local = tuple((n, o) for n, o in local if n not in shared or n in self.ignore)
        effective = effective_modules(local, self.document, self.ignore)
        own = [n for n, _ in local if n in dict(self.document.modules)]
        user = tuple((n, o) for n, o in effective if n not in NEVER_SHARED)
        self.state.set_configuration(ConfigDocument(self.document.modules, self.document.version, self.document.term),
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
        document = self.document
        view = {"version": document.version, "term": document.term, "digest": document.digest,
                "modules_digest": document.configuration.digest, "counters": dict(self.counters)}
        if self.is_leader():
            view["applied_by"] = {name: {"term": t, "version": v} for name, (t, v) in sorted(self.acks.items())}
            view["quorum"] = self.quorum()
        return view

    def _now(self) -> float:
        return asyncio.get_running_loop().time()
