"""The event stream: ``GET /1.0/events`` over a websocket.

A background thread reads the websocket for as long as the stream is open.
That thread is what answers the server's pings: LXD drops an event websocket
about 30 s after a ping goes unanswered, and a program that is busy between two
``next()`` calls would otherwise lose its stream.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlencode

import websocket

from pylxd_cluster.exceptions import ClientConnectionError, ClusterError, Timeout
from pylxd_cluster.models.event import Event
from pylxd_cluster.transport import Transport

__all__ = ["EventStream", "events_path", "parse_event", "event_matches", "describe_match", "close_websocket"]

EventPredicate = Callable[[Event], bool]


def events_path(types: Iterable[str], project: str | None = None) -> str:
    """``/1.0/events?type=lifecycle,operation`` (``&project=<name>`` with a project); LXD
    answers 400 for an unknown type."""
    path = "/1.0/events?type=" + ",".join(types)
    return path if project is None else path + "&" + urlencode({"project": project})


class _StreamEnd:
    """Queued by the reader thread when the websocket ends; ``error`` says why."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class EventStream:
    """An iterator of :class:`~pylxd_cluster.models.Event`, and a context manager.

    ``with client.events() as stream: for event in stream: ...``

    Args:
        transport: where to connect.
        types: event types (``lifecycle``, ``operation``, ``logging``).
        timeout: seconds ``next()`` waits for an event before raising Timeout
            (None: wait forever).
        connection: an already open websocket-like object (``recv_data()``,
            ``send_close()``, ``shutdown()``); used by tests.

    Raises:
        ClientConnectionError, APIError: as for :meth:`Transport.open_websocket`.
    """

    def __init__(self, transport: Transport, types: Iterable[str] = ("lifecycle",),
                 timeout: float | None = None, connection: Any = None) -> None:
        self.types = tuple(types)
        self.timeout = timeout
        self.endpoint = transport.endpoint
        self.path = events_path(self.types, getattr(transport, "project", None))
        self._queue: queue.Queue[Any] = queue.Queue()
        self._closed = threading.Event()
        self._ws = connection if connection is not None else transport.open_websocket(self.path)
        self._reader = threading.Thread(target=self._read_loop, name="lxd-events", daemon=True)
        self._reader.start()

    def __repr__(self) -> str:
        state = "closed" if self._closed.is_set() else "open"
        return f"<EventStream {self.path} on {self.endpoint} ({state})>"

    def _read_loop(self) -> None:
        error: BaseException | None = None
        try:
            while not self._closed.is_set():
                # recv_data answers pings itself (websocket-client sends the pong).
                opcode, data = self._ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                event = parse_event(data)
                if event is not None:
                    self._queue.put(event)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            error = exc
        self._queue.put(_StreamEnd(error))

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event, or None if none arrives within ``timeout`` seconds.

        Raises:
            ClientConnectionError: the server closed the stream or the connection broke.
            StopIteration: the stream was closed by :meth:`close`.
        """
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, _StreamEnd):
            self._queue.put(item)  # later calls see the end too
            if self._closed.is_set():
                raise StopIteration
            reason = f": {item.error}" if item.error else ""
            raise ClientConnectionError(
                f"event stream {self.path} on {self.endpoint} was closed by the server{reason}",
                endpoint=self.endpoint,
            )
        return item

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        event = self.next_event(self.timeout)
        if event is None:
            raise Timeout(f"no event on {self.path} at {self.endpoint} within {self.timeout} s")
        return event

    def wait_for(self, predicate: EventPredicate | None = None, *, action: str | None = None,
                 source: str | None = None, name: str | None = None,
                 timeout: float | None = 10) -> Event:
        """Return the first event that matches every criterion given.

        Args:
            predicate: a function of the Event that returns True for a match.
            action, source, name: compared with :attr:`Event.action`, ``source``, ``name``.
            timeout: seconds to wait (None: forever).

        Raises:
            Timeout: nothing matched in time (the message says what was awaited).
            ClientConnectionError: the stream broke.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise Timeout(
                    f"no event matching {describe_match(predicate, action, source, name)} "
                    f"on {self.path} at {self.endpoint} within {timeout} s"
                )
            try:
                event = self.next_event(remaining)
            except StopIteration:
                raise ClusterError(f"event stream {self.path} on {self.endpoint} is closed") from None
            if event is not None and event_matches(event, predicate, action, source, name):
                return event

    def close(self) -> None:
        """Close the websocket and stop the reader thread (idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        close_websocket(self._ws)
        self._reader.join(timeout=5)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def close_websocket(ws: Any) -> None:
    """Close a websocket-client connection that a thread may be reading: send the close
    frame, then shut the socket down, which wakes a blocking ``recv`` (``close()`` alone does
    not). Never raises."""
    try:
        ws.send_close()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        pass
    sock = getattr(ws, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    ws.shutdown()


def parse_event(data: Any) -> Event | None:
    """The Event a websocket frame carries, or None for a frame that is not one (a future
    format, a keep-alive), which is no reason to end a stream."""
    try:
        return Event.from_api(json.loads(data))
    except (ValueError, ClusterError):
        return None


def event_matches(event: Event, predicate: EventPredicate | None, action: str | None,
                  source: str | None, name: str | None) -> bool:
    return (
        (action is None or event.action == action)
        and (source is None or event.source == source)
        and (name is None or event.name == name)
        and (predicate is None or bool(predicate(event)))
    )


def describe_match(predicate: EventPredicate | None, action: str | None,
                   source: str | None, name: str | None) -> str:
    parts = [f"{label}={value!r}" for label, value in
             (("action", action), ("source", source), ("name", name)) if value is not None]
    if predicate is not None:
        parts.append(f"predicate={getattr(predicate, '__name__', repr(predicate))}")
    return ", ".join(parts) or "anything"
