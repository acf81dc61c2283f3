"""The event stream: ``GET /1.0/events`` over a websocket.

A background thread reads the websocket for as long as the stream is open.
That thread is what answers the server's pings: LXD drops an event websocket
about 30 s after a ping goes unanswered, and a program that is busy between two
``next()`` calls would otherwise lose its stream.
"""

from __future__ import annotations

import hashlib
import json
import queue
import socket
import ssl
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import urlsplit

import websocket

from .exceptions import ClientConnectionError, ClusterError, Timeout, error_class_for_status
from .models.event import Event
from .transport import Transport

__all__ = ["EventStream", "connect_websocket", "events_path"]

EventPredicate = Callable[[Event], bool]


def events_path(types: Iterable[str]) -> str:
    """``/1.0/events?type=lifecycle,operation``; LXD answers 400 for an unknown type."""
    return "/1.0/events?type=" + ",".join(types)


def _handshake_error(transport: Transport, path: str, exc: Any) -> ClusterError:
    """The server refused the websocket upgrade: raise what a plain request would have."""
    text = exc.status_message or "websocket handshake refused"
    try:
        text = json.loads(exc.resp_body or b"").get("error") or text
    except (ValueError, AttributeError):
        pass
    cls = error_class_for_status(exc.status_code)
    return cls(text, status_code=exc.status_code, method="GET", path=path,
               endpoint=transport.endpoint)


def _tls_socket(transport: Transport, host: str, port: int,
                timeout: Optional[float]) -> ssl.SSLSocket:
    """A TLS connection checked BEFORE anything is sent over it.

    The fingerprint has to be checked before the websocket handshake, which
    would otherwise already carry the request (and the client certificate) to
    an impostor; so the TLS socket is built here and handed to websocket-client.
    """
    context = ssl.create_default_context(
        cafile=transport.verify if isinstance(transport.verify, str)
        and transport.fingerprint is None else None
    )
    if transport.fingerprint is not None or transport.verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if transport.cert:
        context.load_cert_chain(transport.cert[0], transport.cert[1])
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        tls = context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise
    if transport.fingerprint is not None:
        seen = hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()
        if seen != transport.fingerprint:
            tls.close()
            raise ClientConnectionError(
                f"websocket to {transport.endpoint}: the server certificate's fingerprint is "
                f"{seen}, not the pinned {transport.fingerprint}; nothing was sent",
                endpoint=transport.endpoint,
            )
    return tls


def _connected_socket(transport: Transport, timeout: Optional[float]) -> socket.socket:
    if transport.kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(transport.socket_path)
        except OSError:
            sock.close()
            raise
        return sock
    parts = urlsplit(transport.base_url)
    default_port = 443 if transport.kind == "https" else 80
    if transport.kind == "https":
        return _tls_socket(transport, parts.hostname, parts.port or default_port, timeout)
    return socket.create_connection((parts.hostname, parts.port or default_port), timeout=timeout)


def connect_websocket(transport: Transport, path: str,
                      timeout: Optional[float] = None) -> websocket.WebSocket:
    """Open a websocket to ``path`` on the transport's endpoint, with its TLS settings.

    Raises:
        ClientConnectionError: cannot connect, TLS failure, fingerprint mismatch.
        APIError: the server refused the upgrade (e.g. 400 for an unknown event type).
    """
    connect_timeout = timeout if timeout is not None else transport.timeout
    ws = websocket.WebSocket()
    try:
        sock = _connected_socket(transport, connect_timeout)
        # websocket-client uses a given socket as is (no second TLS layer); the URL
        # only supplies the Host header and the resource.
        host = "lxd" if transport.kind == "unix" else urlsplit(transport.base_url).netloc
        ws.connect(f"ws://{host}{path}", socket=sock, timeout=connect_timeout)
    except websocket.WebSocketBadStatusException as exc:
        raise _handshake_error(transport, path, exc) from exc
    except ClientConnectionError:
        raise
    except (OSError, websocket.WebSocketException) as exc:
        raise ClientConnectionError(
            f"GET {path} (websocket) on {transport.endpoint}: cannot connect: {exc}; "
            "is the server running? check endpoint=, verify= and cert=",
            endpoint=transport.endpoint,
        ) from exc
    ws.settimeout(None)
    return ws


class _StreamEnd:
    """Queued by the reader thread when the websocket ends; ``error`` says why."""

    def __init__(self, error: Optional[BaseException]) -> None:
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
        ClientConnectionError, APIError: as for :func:`connect_websocket`.
    """

    def __init__(self, transport: Transport, types: Iterable[str] = ("lifecycle",),
                 timeout: Optional[float] = None, connection: Any = None) -> None:
        self.types = tuple(types)
        self.timeout = timeout
        self.endpoint = transport.endpoint
        self.path = events_path(self.types)
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._closed = threading.Event()
        self._ws = connection if connection is not None else connect_websocket(transport, self.path)
        self._reader = threading.Thread(target=self._read_loop, name="lxd-events", daemon=True)
        self._reader.start()

    def __repr__(self) -> str:
        state = "closed" if self._closed.is_set() else "open"
        return f"<EventStream {self.path} on {self.endpoint} ({state})>"

    def _read_loop(self) -> None:
        error: Optional[BaseException] = None
        try:
            while not self._closed.is_set():
                # recv_data answers pings itself (websocket-client sends the pong).
                opcode, data = self._ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                event = self._parse(data)
                if event is not None:
                    self._queue.put(event)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            error = exc
        self._queue.put(_StreamEnd(error))

    @staticmethod
    def _parse(data: Any) -> Optional[Event]:
        try:
            payload = json.loads(data)
            return Event.from_api(payload)
        except (ValueError, ClusterError):
            # A frame that is not an event (a future format, a keep-alive) is not
            # a reason to end the stream.
            return None

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
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

    def wait_for(self, predicate: Optional[EventPredicate] = None, *, action: Optional[str] = None,
                 source: Optional[str] = None, name: Optional[str] = None,
                 timeout: Optional[float] = 10) -> Event:
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
        try:
            self._ws.send_close()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass
        sock = getattr(self._ws, "sock", None)
        if sock is not None:
            try:
                # Wakes the reader thread out of its blocking recv (close() alone doesn't).
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._ws.shutdown()
        self._reader.join(timeout=5)

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def event_matches(event: Event, predicate: Optional[EventPredicate], action: Optional[str],
                  source: Optional[str], name: Optional[str]) -> bool:
    return (
        (action is None or event.action == action)
        and (source is None or event.source == source)
        and (name is None or event.name == name)
        and (predicate is None or bool(predicate(event)))
    )


def describe_match(predicate: Optional[EventPredicate], action: Optional[str],
                   source: Optional[str], name: Optional[str]) -> str:
    parts = [f"{label}={value!r}" for label, value in
             (("action", action), ("source", source), ("name", name)) if value is not None]
    if predicate is not None:
        parts.append(f"predicate={getattr(predicate, '__name__', repr(predicate))}")
    return ", ".join(parts) or "anything"
