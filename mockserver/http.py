"""The asyncio transport: aiohttp on TCP (plain or TLS) and unix sockets, around the API core."""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import threading
from dataclasses import dataclass

from aiohttp import web

from mockserver.api import ApiRequest, ApiServer, AwaitCommit, ForwardTo, Later, StreamEvents, WaitForOperation
from mockserver.api.handlers.operations import wait_reply
from mockserver.tls import TlsSettings, peer_fingerprint
from mockserver.wire import Reply, error_reply, go_json

log = logging.getLogger(__name__)

EVENT_QUEUE_SIZE = 1024
# After a reply sent before the whole body came (413, 408), what is left of the body is read
# and dropped this long, so that the client reads the reply rather than a reset connection.
LINGERING_TIME = 2.0
@dataclass(frozen=True)
class HttpLimits:
    """How long a client may take, so that slow or idle clients cannot hold connections
    forever (Go's http.Server has ReadHeaderTimeout, ReadTimeout and IdleTimeout).

    ``header_timeout``: from the connection's start, or the end of its last reply, until the
    next request's headers are in; the connection is then closed without a reply (it is
    also how long an idle keep-alive connection is kept). ``max_line``: the longest request
    line or header line, in bytes. ``body_timeout``: until a request
    body is in; then 408 and the connection is closed. ``shutdown_timeout``: how long a stop
    waits for requests still running (long polls are answered at once).
    """

    header_timeout: float = 15.0
    body_timeout: float = 60.0
    shutdown_timeout: float = 1.0
    # The longest request line and header line taken. Go takes 1 MB of headers in all;
    # aiohttp's default (8 KiB) refused paths that name objects LXD serves (a 5,000-character
    # name escaped twice is 50 KB).
    max_line: int = 64 * 1024


def _too_large(limit: int) -> Reply:
    return error_reply(413, f"Request body too large (limit {limit} bytes)")


def parse_hostport(value: str, default_port: int = 8443) -> tuple[str, int]:
    """``127.0.0.1:8443``, ``[::1]:8443`` or ``127.0.0.1`` -> (host, port).

    Raises:
        ValueError: with a message naming the value.
    """
    host, sep, port = value.rpartition(":")
    if not sep or "]" in port or (host.count(":") and not host.startswith("[")):
        host, port = value, str(default_port)
    host = host.strip("[]")
    if not host:
        raise ValueError(f"no host in listen address {value!r} (expected HOST:PORT, e.g. 127.0.0.1:8443)")
    try:
        port_number = int(port)
    except ValueError:
        raise ValueError(f"bad port in listen address {value!r} (expected HOST:PORT, e.g. 127.0.0.1:8443)") from None
    if not 0 <= port_number <= 65535:
        raise ValueError(f"port out of range in listen address {value!r}")
    return host, port_number


class _EventFeed:
    """The events one stream has still to send. An event emitted on the loop's thread is
    queued at once (no round trip through the loop's self-pipe) and wakes the sender through
    one future: it is on the socket in the next loop iteration. Events from other threads
    (a test scripting the mock) come through call_soon_threadsafe."""

    def __init__(self, loop: asyncio.AbstractEventLoop, types, limit: int):
        self.loop, self.types, self.limit = loop, types, limit
        self.pending: collections.deque = collections.deque()
        self.overflowed = False
        self._thread = threading.get_ident()
        self._waiter: asyncio.Future | None = None

    def deliver(self, event: dict) -> None:
        """The event bus's subscriber (any thread)."""
        if event["type"] not in self.types:
            return
        if threading.get_ident() == self._thread:
            self._push(event)
        else:
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                self.loop.call_soon_threadsafe(self._push, event)

    def _push(self, event: dict) -> None:
        if len(self.pending) >= self.limit:
            self.overflowed = True
        else:
            self.pending.append(event)
        self.wake()

    def wake(self, *_) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> None:
        """Until there is something to send, the stream overflowed, or wake() was called."""
        if self.pending or self.overflowed:
            return
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class HttpTransport:
    """Serves an ApiServer; answers waits and event websockets, which the core cannot."""

    def __init__(self, api: ApiServer, *, listen: list | None = None, unix: str | None = None,
                 tls: TlsSettings | None = None, limits: HttpLimits = HttpLimits()):
        self.api = api
        self.limits = limits
        self.listen = [parse_hostport(item) if isinstance(item, str) else item for item in (listen or [])]
        self.unix = unix
        self.tls = tls
        self.addresses: list[str] = []
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._forwarder = None
        self._relays: set = set()
        self._long_polls: set[asyncio.Future] = set()

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    async def start(self) -> None:
        # aiohttp's low-level server: every request reaches _handle, whatever its path (the
        # API core routes; aiohttp's router would answer text/plain 404s of its own). Bodies
        # are taken as sent, as Go's server takes them: no Content-Encoding decoding.
        server = web.Server(self._handle, access_log=None, auto_decompress=False,
                            keepalive_timeout=self.limits.header_timeout, lingering_time=LINGERING_TIME,
                            max_line_size=self.limits.max_line, max_field_size=self.limits.max_line)
        self._runner = web.ServerRunner(server, handle_signals=False,
                                        shutdown_timeout=self.limits.shutdown_timeout)
        await self._runner.setup()
        ssl_context = self.tls.context() if self.tls else None
        for host, port in self.listen:
            site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context, reuse_address=True)
            await site.start()
            for sock in site._server.sockets:  # port 0 picks a free port: read back the real one
                bound_host, bound_port = sock.getsockname()[:2]
                self.addresses.append(
                    f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}"
                )
        if self.unix:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix)
            site = web.UnixSite(self._runner, self.unix)
            await site.start()
            os.chmod(self.unix, 0o660)
        self.api.context.addresses = list(self.addresses)

    async def stop(self) -> None:
        for poll in list(self._long_polls):  # waits answer now, with the operation as it is
            if not poll.done():
                poll.set_result(None)
        for ws in list(self._sockets):
            await ws.close()
        for task in list(self._relays):
            task.cancel()
        if self._forwarder is not None:
            await self._forwarder.close()
            self._forwarder = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.unix:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix)

    def _request(self, request: web.BaseRequest, body: bytes) -> ApiRequest:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if request.transport is not None and ssl_object is None and isinstance(peer, (tuple, list)):
            protocol, remote, trusted, user = "http", f"{peer[0]}:{peer[1]}", True, "root"
        elif ssl_object is not None:
            fingerprint = peer_fingerprint(ssl_object)
            trusted = self.tls.trust_all or fingerprint is not None
            protocol, remote, user = "tls", f"{peer[0]}:{peer[1]}" if peer else "", fingerprint or ""
        else:
            protocol, remote, trusted, user = "unix", "@", True, "root"
        return ApiRequest(request.method, request.rel_url.raw_path, dict(request.query), dict(request.headers),
                          body, protocol=protocol, remote=remote, trusted=trusted, username=user)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Every reply is an LXD envelope: a bug here is logged and answered with a 500
        envelope, never aiohttp's text/plain page."""
        try:
            return await self._answer(request)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            log.exception("unhandled error for %s %s", request.method, request.rel_url)
            reply = error_reply(500, f"Internal server error: {type(exc).__name__}")
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    async def _read_body(self, request: web.BaseRequest) -> bytes | Reply:
        """The whole body, or the error reply for one too large, too slow or malformed."""
        if not request.can_read_body:   # most requests (GETs): no task, no timer
            return b""
        limit = self.api.max_body
        if request.content_length is not None and request.content_length > limit:
            return _too_large(limit)
        try:
            return await asyncio.wait_for(self._read_chunks(request, limit), self.limits.body_timeout)
        except asyncio.TimeoutError:
            return error_reply(408, f"Request body not received within {self.limits.body_timeout:g} s")
        except web.BaseRequestPayloadError as exc:  # a broken chunked encoding, a body cut short
            return error_reply(400, f"Failed to read the request body: {exc}")

    @staticmethod
    async def _read_chunks(request: web.BaseRequest, limit: int) -> bytes | Reply:
        chunks, size = [], 0
        while True:
            chunk = await request.content.readany()
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                return _too_large(limit)
            chunks.append(chunk)

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await self._read_body(request)
        if isinstance(body, Reply):  # what is left of the body is not read: close
            response = web.Response(status=body.status, body=body.body, headers=body.headers)
            response.force_close()
            return response
        req = self._request(request, body)
        delay = self.api.latency(req)
        if delay:
            await asyncio.sleep(delay)
        result = self.api.handle(req)
        if isinstance(result, Later):
            outcome = await result.awaitable
            if outcome is None:   # handle it now (in this same step: nothing runs in between)
                req.routed = True
                result = self.api.handle(req)
            else:
                result = outcome
        if isinstance(result, WaitForOperation):
            result = await self._wait(result)
        elif isinstance(result, ForwardTo):
            result = await self._forward(request, result, body)
        elif isinstance(result, AwaitCommit):
            result = await self.api.gate.wait(result)
        elif isinstance(result, StreamEvents):
            return await self._stream(request, result)
        headers = result.headers
        if self.api.gate is not None:
            headers = {**headers, **self.api.gate.reply_headers(request.headers)}
        return web.Response(status=result.status, body=result.body, headers=headers)

    async def _forward(self, request: web.BaseRequest, forward: ForwardTo, body: bytes = b""):
        """Relay the request to ``forward.address``. It is given up when ``forward.abandon``
        fires or after ``forward.timeout``: a 503 that says whether a write may have taken
        effect (it was sent) or not (it could not be)."""
        attempt = asyncio.ensure_future(self._forward_once(request, forward, body))
        waiting = {attempt} | ({forward.abandon} if forward.abandon is not None else set())
        done, _ = await asyncio.wait(waiting, timeout=forward.timeout, return_when=asyncio.FIRST_COMPLETED)
        if attempt in done:
            return attempt.result()
        attempt.cancel()
        why = ("another leader was elected meanwhile" if forward.abandon is not None and forward.abandon in done
               else f"no answer within {forward.timeout:g} s")
        text = f'Cluster member "{forward.member}" at {forward.address} did not answer: {why}'
        if request.method == "GET":
            return self._retry_reply(f"{text}; retry")
        return self._unknown_outcome(text)

    async def _forward_once(self, request: web.BaseRequest, forward: ForwardTo, body: bytes):
        from aiohttp import ClientConnectorError, ClientError, ClientSession, ClientTimeout

        base = forward.address if "://" in forward.address else f"http://{forward.address}"
        headers = {"Accept": "application/json", **self._forward_headers()}
        headers.update({k: v for k, v in request.headers.items()
                        if k.lower() in ("if-match", "content-type") or k.lower() in forward.copy_headers})
        timeout = ClientTimeout(total=None, sock_connect=5)
        if self._forwarder is None:  # one pool of kept-alive connections to the other members
            self._forwarder = ClientSession()
            # aiohttp sends a PUT or DELETE again, on a new connection, when a kept-alive one
            # breaks (RFC 9112 allows it for idempotent methods): a PUT with If-Match that
            # the leader applied before dying would be sent twice, and a failure to connect
            # the second time would hide that the first went out. Never.
            if hasattr(self._forwarder, "_retry_connection"):
                self._forwarder._retry_connection = False
        try:
            # Members of one pack trust each other's certificates, as LXD's members do.
            async with self._forwarder.request(request.method, f"{base}{request.rel_url}", ssl=False,
                                               data=body or None, headers=headers, timeout=timeout) as reply:
                body = await reply.read()
                kept = ("content-type", "etag", "location") + \
                    (self.api.gate.kept_reply_headers if self.api.gate is not None else ())
                headers = {k: v for k, v in reply.headers.items() if k.lower() in kept}
                reply_headers = reply.headers
                if reply.status == 202 and forward.relay_operations:
                    self._relay_operation(base, body)
        except ClientConnectorError as exc:
            return self._retry_reply(f'Cannot reach cluster member "{forward.member}" at {forward.address}: '
                                     f"{exc}; nothing was sent, retry")
        except (ClientError, asyncio.TimeoutError, OSError) as exc:
            text = f'Lost cluster member "{forward.member}" at {forward.address}: {exc or type(exc).__name__}'
            if request.method == "GET":
                return self._retry_reply(f"{text}; retry")
            return self._unknown_outcome(text)
        if self.api.gate is not None and reply.status < 400:
            await self.api.gate.caught_up(reply_headers)
        return Reply(reply.status, body, headers)

    def _unknown_outcome(self, text: str) -> Reply:
        """A write was forwarded and its answer lost: it may or may not have taken effect."""
        text = f"{text}. The request was sent: it may or may not have taken effect"
        return self.api.gate.unknown_outcome(text) if self.api.gate is not None else error_reply(503, text)

    def _retry_reply(self, text: str) -> Reply:
        """A forward that could not be made, or a read's that got no answer: a bare 503 as
        LXD answers (the mock, or a gate without retry_reply), or the pack gate's with
        Retry-After (a daemon)."""
        retry_reply = getattr(self.api.gate, "retry_reply", None)
        return retry_reply(text) if retry_reply is not None else error_reply(503, text)

    def _forward_headers(self) -> dict:
        return self.api.gate.forward_headers() if self.api.gate is not None else {}

    def _relay_operation(self, base: str, body: bytes) -> None:
        """An operation another member runs for a request we forwarded: its events reach
        the clients of our /1.0/events too (``lxc`` waits for them), as LXD's event hub
        does across members."""
        try:
            operation = json.loads(body)["metadata"]
            op_id, project = operation["id"], operation.get("project")
        except (ValueError, KeyError, TypeError):
            return
        bus = self.api.state.events

        async def follow():
            bus.publish("operation", operation, project=project)
            try:
                async with self._forwarder.get(f"{base}/1.0/operations/{op_id}/wait?timeout=-1", ssl=False,
                                               headers=self._forward_headers()) as reply:
                    final = (await reply.json())["metadata"]
                    reply_headers = reply.headers
            except Exception as exc:  # noqa: BLE001 - the client still has GET /1.0/operations/<id>
                log.info("stopped relaying operation %s: %s", op_id, exc)
                return
            if self.api.gate is not None:
                await self.api.gate.caught_up(reply_headers)  # what the operation changed shows here when it ends
            if isinstance(final, dict):
                bus.publish("operation", final, project=project)

        task = asyncio.ensure_future(follow())
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)

    async def _wait(self, wait: WaitForOperation):
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def wake(_op):
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

        with self.api.state.lock:
            wait.operation.add_waiter(wake)
        self._long_polls.add(done)
        try:
            await asyncio.wait_for(done, None if wait.timeout < 0 else wait.timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._long_polls.discard(done)
            with self.api.state.lock:
                wait.operation.remove_waiter(wake)
        return wait_reply(self.api.state, wait.operation)

    async def _stream(self, request: web.BaseRequest, stream: StreamEvents) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20.0)
        if not ws.can_prepare(request).ok:
            # As LXD's websocket upgrader answers (Go's http.Error): plain text, no envelope.
            return web.Response(status=400, body=b"Bad Request\n", headers={
                "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"})
        feed = _EventFeed(asyncio.get_running_loop(), stream.types, EVENT_QUEUE_SIZE)
        # Subscribe before the handshake completes: once the client sees the upgrade, every
        # later event must reach it.
        bus = self.api.state.events
        bus.subscribe(feed.deliver)
        try:
            await ws.prepare(request)
        except BaseException:
            bus.unsubscribe(feed.deliver)
            raise
        self._sockets.add(ws)
        reader = asyncio.ensure_future(self._drain(ws))
        reader.add_done_callback(feed.wake)
        try:
            while not ws.closed and not reader.done():
                await feed.wait()
                if feed.overflowed:  # a reader that cannot keep up is cut off, not buffered forever
                    break
                while feed.pending and not ws.closed:
                    await ws.send_str(go_json(feed.pending.popleft()).decode())
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            bus.unsubscribe(feed.deliver)
            self._sockets.discard(ws)
            reader.cancel()
            await ws.close()
        return ws

    @staticmethod
    async def _drain(ws: web.WebSocketResponse) -> None:
        async for _message in ws:  # answers pings and notices the close
            pass
