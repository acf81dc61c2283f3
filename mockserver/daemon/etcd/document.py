"""The pack's shared document in etcd: written by the leader with a compare-and-swap, followed
by every member through a watch.

A write succeeds only if, in one etcd transaction,

* the writer's candidacy still stands with the revision it was elected at (its term): a
  leader whose lease expired, or that was replaced, cannot write any more (fencing); and
* the document is still at the revision the writer last saw (an ETag that maps onto
  etcd's ``mod_revision``): nothing was written in between.

etcd commits the transaction on a majority of its members before it answers, so a write
that was answered survives any minority of etcd's members. The document's ``mod_revision``
is its version: it only grows, and every member that shows a version shows the same bytes.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

import aetcd

from mockserver.daemon.etcd.client import EtcdClient
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.etcd.watching import follow

__all__ = ["EtcdDocument", "StaleWrite", "NotLeading"]

log = logging.getLogger(__name__)


class StaleWrite(Exception):
    """The document changed since the revision the write was based on (nothing was written)."""


class NotLeading(Exception):
    """The writer's candidacy no longer stands at its term (nothing was written)."""


class EtcdDocument:
    """The document key of one pack.

    Args:
        client, keys: where it lives.
        on_document: called with ``(value, revision)`` for each version seen, in order (the
            first one from :meth:`start`'s read; ``value`` None when there is no document yet).
    """

    def __init__(self, client: EtcdClient, keys: PackKeys,
                 on_document: Callable[[bytes | None, int], None] = lambda value, revision: None) -> None:
        self.client, self.keys = client, keys
        self._on_document = on_document
        self.revision = 0            # the newest version seen (0: none yet)
        self.value: bytes | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.counters = {"writes": 0, "stale_writes": 0, "fenced_writes": 0, "versions_seen": 0,
                         "watch_restarts": 0}

    async def start(self) -> None:
        """Read the document, then follow it.

        Raises:
            aetcd.exceptions.ClientError: etcd unavailable for the client's timeout.
        """
        await self._read()
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="etcd-document")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=2.0)   # (see EtcdMembership.stop)

    async def write(self, value: bytes, *, base: int, candidacy: bytes, term: int, timeout: float | None = None) -> int:
        """Write ``value`` if the document is still at revision ``base`` (0: no document yet)
        and ``candidacy`` still stands at ``term``; return the new revision.

        Raises:
            StaleWrite: the document is no longer at ``base``.
            NotLeading: the candidacy is gone or was made anew.
            aetcd.exceptions.ConnectionFailedError, ConnectionTimeoutError: etcd unavailable
                (no quorum, or out of reach) for ``timeout``: the write may or may not have
                been committed.
        """
        key, tx = self.keys.document, self.client.transactions
        compare = [tx.create(candidacy) == term, tx.mod(key) == base]

        async def attempt():
            return await self.client.transaction(compare=compare, success=[tx.put(key, value)],
                                                 failure=[tx.get(candidacy), tx.get(key)])

        succeeded, replies = await self.client.call(attempt, timeout=timeout)
        if succeeded:
            revision = int(replies[0].response_put.header.revision)
            self.counters["writes"] += 1
            self._seen(value, revision)
            return revision
        candidacies, documents = replies
        if not candidacies or candidacies[0][1].create_revision != term:
            self.counters["fenced_writes"] += 1
            raise NotLeading(f"the candidacy {candidacy.decode()} no longer stands at term {term}")
        self.counters["stale_writes"] += 1
        current = documents[0][1].mod_revision if documents else 0
        raise StaleWrite(f"the document is at version {current}, not {base}")

    async def catch_up(self) -> None:
        """Read the document now (a linearizable read): show what the watch has not brought yet.

        Raises:
            aetcd.exceptions.ClientError: etcd unavailable for the client's timeout.
        """
        await self._read(force=False)

    async def confirm(self, candidacy: bytes, term: int, timeout: float) -> int | None:
        """The document's revision now if ``candidacy`` still stands at ``term`` (asked in one
        transaction: a leader that was replaced cannot answer a linearizable read), else None.

        Raises:
            aetcd.exceptions.ClientError: etcd unavailable for ``timeout``.
        """
        key, tx = self.keys.document, self.client.transactions

        async def attempt():
            return await self.client.transaction(compare=[tx.create(candidacy) == term], success=[tx.get(key)],
                                                 failure=[])

        succeeded, replies = await self.client.call(attempt, timeout=timeout)
        if not succeeded:
            return None
        documents = replies[0] if replies else []
        return documents[0][1].mod_revision if documents else 0

    # ---- following ---------------------------------------------------------------------

    async def _read(self, force: bool = True) -> None:
        reply = await self.client.call(lambda: self.client.get(self.keys.document))
        if reply is None:
            if force:
                self._seen(None, 0, force=True)
        else:
            self._seen(reply.value, reply.mod_revision)

    async def _follow(self) -> None:
        def on_event(event) -> None:
            if event.kind == aetcd.rtypes.EventKind.PUT:
                self._seen(event.kv.value, event.kv.mod_revision)

        await follow(self.client, lambda: self.client.watch(self.keys.document, start_revision=self.revision + 1),
                     on_event, resync=self._reread, stopping=lambda: self._stopping, counters=self.counters,
                     pause=0.2)

    async def _reread(self) -> None:
        try:
            await self._read()
        except aetcd.exceptions.ClientError:
            await asyncio.sleep(0.2)

    def _seen(self, value: bytes | None, revision: int, force: bool = False) -> None:
        if revision <= self.revision and not force:
            return   # already seen (our own write, then its watch event)
        self.revision, self.value = revision, value
        self.counters["versions_seen"] += 1
        self._on_document(value, revision)
