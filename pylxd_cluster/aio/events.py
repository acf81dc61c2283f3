"""The event stream over asyncio: ``GET /1.0/events`` as an async iterator, with reconnect.

A reader task reads the websocket for as long as the stream is open, as the sync
:class:`~pylxd_cluster.events.EventStream`'s thread does: that is what answers the server's
pings while the program is busy elsewhere, and what reconnects when the connection drops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from pylxd_cluster.events import EventPredicate, describe_match, event_matches, events_path, parse_event
from pylxd_cluster.exceptions import ClientConnectionError, ClusterError, Timeout
from pylxd_cluster.models.event import Event

__all__ = ["AsyncEventStream", "RECONNECT_DELAY", "RECONNECT_DELAY_MAX"]

log = logging.getLogger("pylxd_cluster.events")

#: Seconds before the first attempt to reconnect, doubled after each failed one ...
RECONNECT_DELAY = 0.1
#: ... up to this many.
RECONNECT_DELAY_MAX = 5.0


class _StreamEnd:
    """Queued by the reader task when the stream ends for good; ``error`` says why."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class AsyncEventStream:
    """An async iterator of :class:`~pylxd_cluster.models.Event`, and an async context manager.

    ``async with client.events() as stream: async for event in stream: ...``

    Args:
        transport: an :class:`~pylxd_cluster.aio.AsyncTransport`.
        types: event types (``lifecycle``, ``operation``, ``logging``).
        timeout: seconds ``__anext__`` waits for an event before raising Timeout (None: forever).
        reconnect: when the connection drops (the server restarts, a member goes away), open
            it again, waiting :data:`RECONNECT_DELAY` seconds, doubled after each failure up to
            :data:`RECONNECT_DELAY_MAX`, for as long as ``reconnect_timeout`` allows. LXD keeps
            no backlog: events sent while the stream was down are lost, and
            :attr:`reconnects` counts the gaps. False: a dropped connection ends the stream
            with ``ClientConnectionError``.
        reconnect_timeout: seconds to keep trying to reconnect after a drop (None: forever).

    Attributes:
        reconnects: how many times the stream was opened again after a drop.
    """

    def __init__(self, transport: Any, types: tuple[str, ...] | list[str] = ("lifecycle",),
                 timeout: float | None = None, *, reconnect: bool = True,
                 reconnect_timeout: float | None = 60.0) -> None:
        self.types = tuple(types)
        self.timeout = timeout
        self.reconnect = reconnect
        self.reconnect_timeout = reconnect_timeout
        self.reconnects = 0
        self.endpoint = transport.endpoint
        self.path = events_path(self.types, getattr(transport, "project", None))
        self._transport = transport
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._reader is not None else "not opened")
        return f"<AsyncEventStream {self.path} on {self.endpoint} ({state})>"

    async def open(self) -> AsyncEventStream:
        """Connect (once); return the stream.

        Raises:
            ClientConnectionError, APIError: as :meth:`AsyncTransport.open_websocket`.
        """
        if self._reader is None:
            self._ws = await self._transport.open_websocket(self.path)
            self._reader = asyncio.get_running_loop().create_task(self._read_loop(), name="lxd-events")
        return self

    async def _read_loop(self) -> None:
        error: BaseException | None = None
        try:
            while not self._closed:
                await self._read_until_dropped()
                if self._closed:
                    break
                if not self.reconnect:
                    error = ConnectionError("the server closed the connection")
                    break
                await self._reopen()
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            error = exc
        self._queue.put_nowait(_StreamEnd(error))

    async def _read_until_dropped(self) -> None:
        assert self._ws is not None
        async for message in self._ws:  # answers pings (autoping)
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                event = parse_event(message.data)
                if event is not None:
                    self._queue.put_nowait(event)

    async def _reopen(self) -> None:
        """Open the websocket again after a drop, with backoff, until ``reconnect_timeout``.

        Raises:
            ClientConnectionError: still no connection when the time is up (or the server
                now refuses the stream).
        """
        deadline = None if self.reconnect_timeout is None else time.monotonic() + self.reconnect_timeout
        delay = RECONNECT_DELAY
        while True:
            await asyncio.sleep(delay)
            try:
                self._ws = await self._transport.open_websocket(self.path)
            except ClusterError as exc:
                if deadline is not None and time.monotonic() + delay >= deadline:
                    raise ClientConnectionError(
                        f"event stream {self.path} on {self.endpoint} dropped, and could not be opened again "
                        f"within {self.reconnect_timeout} s: {exc}", endpoint=self.endpoint) from exc
                delay = min(delay * 2, RECONNECT_DELAY_MAX)
                continue
            self.reconnects += 1
            log.info("event stream %s on %s reconnected (%d gaps so far; events in a gap are lost)",
                     self.path, self.endpoint, self.reconnects)
            return

    async def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event, or None if none arrives within ``timeout`` seconds.

        Raises:
            ClientConnectionError: the stream ended (the connection dropped and was not, or
                could not be, opened again).
            StopAsyncIteration: the stream was closed by :meth:`close`.
        """
        await self.open()
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None
        if isinstance(item, _StreamEnd):
            self._queue.put_nowait(item)  # later calls see the end too
            if self._closed:
                raise StopAsyncIteration
            reason = f": {item.error}" if item.error else ""
            raise ClientConnectionError(f"event stream {self.path} on {self.endpoint} ended{reason}",
                                        endpoint=self.endpoint)
        return item

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Event:
        event = await self.next_event(self.timeout)
        if event is None:
            raise Timeout(f"no event on {self.path} at {self.endpoint} within {self.timeout} s")
        return event

    async def wait_for(self, predicate: EventPredicate | None = None, *, action: str | None = None,
                       source: str | None = None, name: str | None = None,
                       timeout: float | None = 10) -> Event:
        """Return the first event that matches every criterion given (as the sync stream's
        :meth:`~pylxd_cluster.events.EventStream.wait_for`).

        Raises:
            Timeout: nothing matched in time (the message says what was awaited).
            ClientConnectionError: the stream ended.
            ClusterError: the stream was closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise Timeout(f"no event matching {describe_match(predicate, action, source, name)} "
                              f"on {self.path} at {self.endpoint} within {timeout} s")
            try:
                event = await self.next_event(remaining)
            except StopAsyncIteration:
                raise ClusterError(f"event stream {self.path} on {self.endpoint} is closed") from None
            if event is not None and event_matches(event, predicate, action, source, name):
                return event

    async def close(self) -> None:
        """Close the websocket and stop the reader task (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        else:
            self._queue.put_nowait(_StreamEnd(None))

    async def __aenter__(self) -> AsyncEventStream:
        return await self.open()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

