"""The asyncio driver of the sync core: timers, disk, pulls over HTTP, the configuration
file, the cluster state and the waiters of API requests.

``core.SyncCore`` decides; this module carries its effects out and feeds it what happened.
It holds no replication logic of its own.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Callable

from mockserver.daemon.config import DaemonConfig
from mockserver.daemon.protocol.crypto import OpenError, Sealer
from mockserver.daemon.protocol.node import DocumentHeard
from mockserver.daemon.sync.core import (
    AnnounceHeld,
    Committed,
    Configure,
    Emit,
    FailWaiters,
    ImportShared,
    NotCommitted,
    NotPublished,
    Persist,
    PersistCommitted,
    Pull,
    Removed,
    SaveLocal,
    SendDocument,
    Shown,
    SyncCore,
    Wake,
)
from mockserver.daemon.sync.document import PackDocument, SyncError
from mockserver.daemon.sync.filewatch import ConfigFileWatcher
from mockserver.daemon.sync.store import SyncStore
from mockserver.daemon.sync.writer import DocumentWriter
from mockserver.daemon.timer import DeadlineTimer
from mockserver.state import ClusterState

log = logging.getLogger(__name__)

PROOF_HEADER = "X-Pack-Proof"
PROOF_WINDOW = 30.0          # seconds: how old a pull request's proof may be

__all__ = ["SyncDriver", "NotCommitted", "NotPublished", "PROOF_HEADER"]


class SyncDriver:
    """Runs a :class:`SyncCore` on the running loop.

    ``send`` carries a SendDocument through the membership core (it seals and addresses
    the datagram); ``announce`` tells the membership core which document is held (it counts
    in elections); ``removed`` is called when the pack removed this member.
    """

    def __init__(self, core: SyncCore, *, state: ClusterState, store: SyncStore, sealer: Sealer,
                 config: DaemonConfig, send: Callable[[SendDocument], None],
                 announce: Callable[[tuple], None], removed: Callable[[], None],
                 extras: Callable[[], dict] = dict, shown: Callable[[PackDocument], None] | None = None):
        self.core = core
        self.state = state
        self.store = store
        self.sealer = sealer
        self.config = config
        self._send, self._announce, self._removed = send, announce, removed
        # The daemon's own shared data beside the cluster state's (service-group
        # assignments), and who hears of each document shown.
        self._extras, self._on_shown = extras, shown
        self._writer = DocumentWriter(store.save_document)
        self._committed_writer = DocumentWriter(store.save_committed)
        self._pending_events: list = []
        self._waiters: list[tuple[int, int, asyncio.Future]] = []        # wait_committed
        self._catching_up: list[tuple[tuple, asyncio.Future]] = []      # wait_applied
        self._visible_waiters: list[asyncio.Future] = []                # woken when anything moves
        self._timer = DeadlineTimer(lambda: self.core.next_deadline(), lambda now: self.apply(self.core.tick(now)),
                                    what="pack document's", retry=core.settings.keepalive)
        self._tasks: set[asyncio.Task] = set()
        self._session = None
        self._file = ConfigFileWatcher(config, leading=self.core.is_leader, refused=self.core.file_refused,
                                       problem=lambda modules: state.backend.configuration_problem(
                                           modules, state.member_names()),
                                       changed=self._file_changed)
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- what the rest of the daemon reads ------------------------------------------------

    @property
    def document(self) -> PackDocument:
        return self.core.document

    @property
    def tip(self) -> PackDocument:
        return self.core.tip

    @property
    def counters(self) -> dict:
        return self.core.counters

    def is_leader(self) -> bool:
        return self.core.is_leader()

    def settled(self) -> bool:
        return self.core.settled()

    def describe(self) -> dict:
        return self.core.describe()

    # ---- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start from what is on disk, and watch the configuration file."""
        self._loop = asyncio.get_running_loop()
        self._timer.start(self._loop)
        self.state.events.hold_writes(self._pending_events.append)
        self.apply(self.core.start(self.store.load_document(), self.store.load_committed(), self._loop.time()))
        self._spawn(self._file.run())

    async def stop(self) -> None:
        self.state.events.hold_writes(None)
        self._timer.stop()
        for task in list(self._tasks):
            task.cancel()
        self._fail_waiters("the member is stopping")
        if self._session is not None:
            await self._session.close()
        self.apply(self.core.flush_committed())
        self._writer.close()  # what was taken reaches the disk before we go
        self._committed_writer.close()

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- inputs ---------------------------------------------------------------------------

    def publish(self, modules=None) -> int:
        """On the leader, after a write: the write's shared configuration, what it changed
        and its lifecycle events go to the core. Returns the version that holds the change.

        Raises:
            NotPublished: the change cannot be replicated; the state was put back.
        """
        events, self._pending_events[:] = list(self._pending_events), []
        if modules is None:
            modules = self.state.configuration.modules
        try:
            effects = self.core.write(modules, self._shared(), events)
        except NotPublished as exc:
            self.apply(exc.effects)
            raise
        self.apply(effects)
        return self.core.tip.version

    def undo_write(self) -> None:
        """A write applied here that will not be published (we no longer lead)."""
        self._pending_events.clear()
        self.apply(self.core.undo_write())

    def on_leader_change(self, leader: str, term: int, previous: str = "") -> None:
        if previous == self.core.name and leader != self.core.name:
            self._pending_events.clear()
        self.apply(self.core.leader_changed(leader, term, previous, self._shared()))

    def on_document_heard(self, heard: DocumentHeard) -> None:
        self.apply(self.core.heard(heard))

    def tell_durable(self, names) -> None:
        self.apply(self.core.tell_durable(names))

    def _file_changed(self, modules, ignore) -> None:
        self.apply(self.core.file_changed(modules, ignore, self._shared()))

    def _shared(self) -> dict:
        return {**self.state.export_shared(), **self._extras()}

    # ---- effects --------------------------------------------------------------------------

    def apply(self, effects: list) -> None:
        for effect in effects:
            kind = type(effect)
            if kind is SendDocument:
                self._send(effect)
            elif kind is AnnounceHeld:
                self._announce(effect.document)
            elif kind is Persist:
                self._persist(effect)
            elif kind is PersistCommitted:
                self._committed_writer.write(effect.document, effect.wire, lambda: None, self._write_failed)
            elif kind is SaveLocal:
                self.store.save_local(effect.data)
            elif kind is Pull:
                self._spawn(self._pull(effect))
            elif kind in (ImportShared, Configure, Emit):
                show(self.state, effect)
            elif kind is Shown:
                self._shown((effect.term, effect.version))
                if self._on_shown is not None:
                    self._on_shown(self.core.document)
            elif kind is Committed:
                self._committed(effect.term, effect.version)
            elif kind is FailWaiters:
                self._fail_waiters(effect.reason)
            elif kind is Wake:
                self._wake_visible()
            elif kind is Removed:
                self._removed()
            else:
                raise TypeError(f"unknown sync effect {effect!r}")
        self._timer.arm()

    def _persist(self, effect: Persist) -> None:
        document = effect.document
        self._writer.write(document, effect.wire, lambda: self.apply(self.core.persisted(document)),
                           self._write_failed)

    def _write_failed(self, error: Exception) -> None:
        self.core.persist_failed(self.store.document_path, error)

    async def _pull(self, pull: Pull) -> None:
        from aiohttp import ClientError, ClientSession, ClientTimeout

        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=30, connect=3))
        try:
            async with self._session.get(f"{pull.api}/internal/pack/document", ssl=False,
                                         headers={PROOF_HEADER: self.proof()}) as reply:
                body = await reply.read()
                if reply.status != 200:
                    raise SyncError(f"HTTP {reply.status}: {body[:200]!r}")
            document = PackDocument.from_wire(self.sealer.open(body))
        except (ClientError, asyncio.TimeoutError, OSError, OpenError, SyncError) as exc:
            self.apply(self.core.pull_failed(pull.leader, str(exc) or type(exc).__name__))
            return
        self.apply(self.core.pulled(document, pull.leader, pull.term))

    # ---- waiters --------------------------------------------------------------------------

    def _shown(self, shown: tuple) -> None:
        for target, future in self._catching_up:
            if target <= shown and not future.done():
                future.set_result(None)
        self._wake_visible()

    def _committed(self, term: int, version: int) -> None:
        for waiting_term, wanted, future in list(self._waiters):
            if not future.done() and waiting_term == term and wanted <= version:
                future.set_result(None)

    def _fail_waiters(self, why: str) -> None:
        for _, _, future in self._waiters:
            if not future.done():
                future.set_exception(NotCommitted(why))
        self._wake_visible()

    def _wake_visible(self) -> None:
        waiters, self._visible_waiters = self._visible_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def wait_committed(self, version: int, timeout: float) -> None:
        """Until a majority holds ``version`` of the current term (it is then shown).

        Raises: NotCommitted when that did not happen within ``timeout``, or leadership moved.
        """
        core = self.core
        if not core.is_leader():
            raise NotCommitted("this member is no longer the leader")
        term = core.commits.term
        if core.shows(term, version):
            return
        future = asyncio.get_running_loop().create_future()
        entry = (term, version, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise NotCommitted(f"{core.confirmed(version)} of the {core.quorum()} members needed confirmed it "
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
        core = self.core
        deadline = asyncio.get_running_loop().time() + timeout
        await self._until(lambda: not core.is_leader() or core.settled(), deadline)
        return core.is_leader() and core.settled()

    async def confirm_leadership(self, timeout: float) -> bool:
        """On the leader: whether a majority still follows it, asked now."""
        core = self.core
        round_, effects = core.confirm_round()
        self.apply(effects)
        await self._until(lambda: not core.is_leader() or core.round_confirmed(round_),
                          asyncio.get_running_loop().time() + timeout)
        return core.is_leader() and core.round_confirmed(round_)

    async def wait_applied(self, term: int, version: int, timeout: float) -> bool:
        """Until this member shows (``term``, ``version``) or newer; False after ``timeout``
        seconds (then it does not, yet)."""
        if self.core.shows(term, version):
            return True
        entry = ((term, version), asyncio.get_running_loop().create_future())
        self._catching_up.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(entry[1]), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._catching_up.remove(entry)

    # ---- the leader's side of a pull -------------------------------------------------------

    def proof(self) -> str:
        plain = json.dumps({"member": self.core.name, "at": time.time()}).encode()
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
        return self.sealer.seal(self.core.wire())


def show(state: ClusterState, effect) -> None:
    """Carry out what the cluster state takes of a shown document (ImportShared, Configure,
    Emit); both engines (the pack's and etcd's) show documents through it."""
    kind = type(effect)
    if kind is ImportShared:
        state.import_shared(effect.cluster)
    elif kind is Configure:
        state.set_configuration(effect.document, local_modules=effect.local_modules,
                                effective=effect.effective, announce=effect.announce)
    elif kind is Emit:
        with state.events.replaying():
            for action, source, context, requestor in effect.events:
                state.emit(action, source, context, requestor)
    else:
        raise TypeError(f"not a showing effect: {effect!r}")
