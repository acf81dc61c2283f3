"""The asyncio transport: one :class:`aiohttp.ClientSession`, the same envelope and retries.

aiohttp, not httpx: the server side of this project (the mock server and the pack daemons)
already runs on aiohttp, so the SDK brings in no second HTTP and TLS stack; aiohttp speaks
websockets itself (the event stream), which httpx does not; and it connects over a unix
socket with a connector of its own. What a call sends and what a reply means comes from
:mod:`pylxd_cluster.protocol`, shared with the sync :class:`~pylxd_cluster.transport.Transport`;
retries follow the same :class:`urllib3.util.retry.Retry` policy object, driven here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from typing import Any, Awaitable, Callable, Mapping, TypeVar
from urllib.parse import urlencode

import aiohttp
import urllib3
from urllib3.util.retry import Retry
from yarl import URL

from pylxd_cluster.exceptions import ClientConnectionError, ClusterError, error_class_for_status
from pylxd_cluster.protocol import (
    DEFAULT_TIMEOUT,
    AwaitEvent,
    CloseEvents,
    Effect,
    Failure,
    OpenEvents,
    Plan,
    Request,
    Result,
    Sleep,
    encode_body,
    loggable_path,
    network_failure,
    parse_reply,
    request_headers,
    run_plan_async,
    shown_path,
)
from pylxd_cluster.transport import (
    CertPair,
    Settings,
    TimeoutValue,
    check_timeout,
    connect_timeout,
    describe_timeout,
    read_timeout,
)

__all__ = ["AsyncTransport"]

#: Requests are logged here at DEBUG level, as the sync transport logs them.
log = logging.getLogger("pylxd_cluster.transport")

T = TypeVar("T")

# The Host of requests over a unix socket (LXD and Incus ignore it).
_UNIX_HOST = "http://lxd"


class _PinnedConnector(aiohttp.TCPConnector):
    """A TCP connector that checks the server certificate's SHA-256 fingerprint (after the
    handshake, before any request is sent) AND presents a client certificate.

    aiohttp checks a :class:`aiohttp.Fingerprint` only with its own unverified TLS context,
    which carries no client certificate; LXD's remotes need both, so the context is ours.
    """

    def __init__(self, fingerprint: str, context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(ssl=aiohttp.Fingerprint(bytes.fromhex(fingerprint)), **kwargs)
        self._client_context = context

    def _get_ssl_context(self, req: Any) -> ssl.SSLContext | None:
        return self._client_context if req.is_ssl() else None


class _RetryView:
    """What urllib3's :class:`Retry` reads of a reply: its status and headers."""

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        self.status = status
        self.headers = headers

    def get_redirect_location(self) -> bool:
        return False


class AsyncTransport(Settings):
    """Sends requests to one LXD endpoint through one :class:`aiohttp.ClientSession`.

    Every method that talks to the server is a coroutine, and so is what :meth:`run` returns.

    The arguments are :class:`~pylxd_cluster.transport.Transport`'s but ``session``: the
    session is made on first use, in the running event loop, and closed by :meth:`close`.

    Raises:
        ClientConnectionError: ``endpoint`` is None and no local socket exists.
        ValueError: an unknown ``consistency`` or ``server``, ``server`` with an endpoint,
            a ``timeout`` or ``retries`` that cannot be used.
    """

    #: Calls through this transport are awaited (see :class:`~pylxd_cluster.server.ServerInfo`).
    is_async = True

    def __init__(
        self,
        endpoint: None | str | os.PathLike = None,
        cert: CertPair | None = None,
        verify: bool | str = True,
        timeout: TimeoutValue = None,
        consistency: str | None = None,
        server: str | None = None,
        project: str | None = None,
        retries: int | Retry | None = None,
    ) -> None:
        target = self._configure(endpoint, cert, verify, timeout, consistency, server, project, retries)
        self.base_url = _UNIX_HOST if self.kind == "unix" else target
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: How the transport pauses between two attempts and for a plan's Sleep (a seam:
        #: tests record the pauses instead of waiting them out).
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __repr__(self) -> str:
        return f"AsyncTransport({self.endpoint!r})"

    # ---- the session ----------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        """The client's TLS context: the CA check ``verify`` asks for (none when pinning, whose
        check the connector makes), and the client certificate."""
        if self.fingerprint is not None or self.verify is False:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=self.verify if isinstance(self.verify, str) else None)
        if self.cert:
            context.load_cert_chain(self.cert[0], self.cert[1])
        return context

    def _connector(self) -> aiohttp.BaseConnector:
        if self.kind == "unix":
            return aiohttp.UnixConnector(path=self.socket_path)
        if self.kind == "http":
            return aiohttp.TCPConnector()
        if self.fingerprint is not None:
            return _PinnedConnector(self.fingerprint, self._tls_context())
        return aiohttp.TCPConnector(ssl=self._tls_context())

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session, made on first use (aiohttp wants a running loop for that).

        Raises:
            ClusterError: called from another event loop than the one the session was made in
                (a second ``asyncio.run``): its connections belong to the first loop.
        """
        if self._session is not None and not self._session.closed and self._loop is not asyncio.get_running_loop():
            raise ClusterError(f"this AsyncClient of {self.endpoint} was opened in another event loop, which its "
                               "connections belong to: make one client per loop (or close it there first)")
        if self._session is None or self._session.closed:
            self._loop = asyncio.get_running_loop()
            # No proxy or netrc from the environment: as the sync client over a unix socket,
            # and LXD remotes are reached directly, as lxc does.
            self._session = aiohttp.ClientSession(connector=self._connector(), trust_env=False,
                                                  auto_decompress=True, raise_for_status=False)
        return self._session

    async def close(self) -> None:
        """Close the session and its connections (idempotent)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # ---- requests ---------------------------------------------------------------------

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> URL:
        """The request's URL, its query encoded as requests encodes it (the same bytes)."""
        query = "?" + urlencode(params) if params else ""
        return URL(self.base_url + path + query, encoded=True)

    @staticmethod
    def client_timeout(limit: TimeoutValue) -> aiohttp.ClientTimeout:
        """``seconds`` or ``(connect, read)`` as aiohttp's timeout: the connect part bounds
        making the connection, the read part each wait for data."""
        return aiohttp.ClientTimeout(total=None, connect=connect_timeout(limit), sock_read=read_timeout(limit))

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutValue | str = DEFAULT_TIMEOUT,
    ) -> Result:
        """Send one request and return the unwrapped :class:`Result`, as
        :meth:`pylxd_cluster.transport.Transport.request` does (same retries, same logging).

        Raises:
            ClientConnectionError, Timeout, OutcomeUnknown, APIError: as the sync transport.
        """
        return await self.send(Request(method, path, params=params, json=json, headers=headers, timeout=timeout))

    async def send(self, request: Request) -> Result:
        """:meth:`request`, given a :class:`~pylxd_cluster.protocol.Request`.

        Raises:
            ClientConnectionError, Timeout, OutcomeUnknown, APIError: as for :meth:`request`.
        """
        method, path, params = request.method, request.path, request.params
        limit = self.timeout if request.timeout == DEFAULT_TIMEOUT else check_timeout(request.timeout)
        url = self.url(path, params)
        body = encode_body(request.json)
        headers = request_headers(request, self.consistency)
        retry = self.retry
        started = time.perf_counter()
        while True:
            try:
                async with self.session.request(method, url, data=body, headers=headers,
                                                timeout=self.client_timeout(limit)) as response:
                    content = await response.read()
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                kind, sent = _classify(exc)
                failure = network_failure(kind, exc, method=method, path=shown_path(path, params),
                                          endpoint=self.endpoint, limit_text=describe_timeout(limit), sent=sent)
                retry = _next_retry(retry, method, str(url), kind, sent, exc)
                if retry is None:
                    self._log(method, path, params, type(exc).__name__, started)
                    raise failure from exc
                await self.sleep(retry.get_backoff_time())
                continue
            if retry.is_retry(method, response.status, has_retry_after="Retry-After" in response.headers):
                view = _RetryView(response.status, response.headers)
                try:
                    retry = retry.increment(method, str(url), response=view)
                except urllib3.exceptions.MaxRetryError:
                    pass  # retries used up: the last reply is the answer
                else:
                    await self.sleep(retry.get_retry_after(view) or retry.get_backoff_time())
                    continue
            self._log(method, path, params, response.status, started, len(retry.history))
            return parse_reply(response.status, response.reason, response.headers, content, method=method,
                               path=shown_path(path, params), endpoint=self.endpoint, response=response)

    @staticmethod
    def _log(method: str, path: str, params: Mapping[str, Any] | None, outcome: Any, started: float,
             retried: int = 0) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %s in %.1f ms%s (async)", method, loggable_path(path, params), outcome,
                      (time.perf_counter() - started) * 1000, f" ({retried} retried)" if retried else "")

    # ---- plans --------------------------------------------------------------------

    def run(self, plan: Plan[T]) -> Any:
        """A coroutine that runs a manager method's plan (see :mod:`pylxd_cluster.protocol`)
        and returns its value.

        Raises:
            whatever the plan raises: the exceptions of :meth:`request`, and its own.
        """
        return run_plan_async(plan, self.perform)

    async def perform(self, effect: Effect) -> Any:
        """Do what one effect of a plan asks; return what the plan is sent back."""
        if isinstance(effect, Request):
            return await self.send(effect)
        if isinstance(effect, Sleep):
            await self.sleep(effect.seconds)
            return None
        if isinstance(effect, OpenEvents):
            from pylxd_cluster.aio.events import AsyncEventStream  # the stream module imports this one

            return await AsyncEventStream(self, types=effect.types).open()
        if isinstance(effect, AwaitEvent):
            return await effect.stream.wait_for(source=effect.source, timeout=effect.timeout)
        if isinstance(effect, CloseEvents):
            await effect.stream.close()
            return None
        raise TypeError(f"not an effect a transport performs: {effect!r}")

    # ---- websockets ---------------------------------------------------------------

    async def open_websocket(self, path: str, timeout: TimeoutValue = None) -> aiohttp.ClientWebSocketResponse:
        """A websocket to ``path`` on this endpoint, with this transport's TLS settings (a
        pinned fingerprint is checked before anything is sent). Pings from the server are
        answered while the socket is being read.

        Raises:
            ClientConnectionError: cannot connect, TLS failure, fingerprint mismatch.
            APIError: the server refused the upgrade (e.g. 400 for an unknown event type).
        """
        limit = check_timeout(timeout) if timeout is not None else self.timeout
        # The handshake is bounded like a request: connecting, then the answer to the upgrade.
        parts = (connect_timeout(limit), read_timeout(limit))
        bound = None if None in parts else sum(parts)
        connecting = self.session.ws_connect(URL(self.base_url + path, encoded=True), autoping=True,
                                             max_msg_size=0)
        try:
            return await asyncio.wait_for(connecting, bound)
        except aiohttp.WSServerHandshakeError as exc:
            cls = error_class_for_status(exc.status)
            raise cls(exc.message or "websocket handshake refused", status_code=exc.status, method="GET", path=path,
                      endpoint=self.endpoint) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            kind, _ = _classify(exc)
            if kind == Failure.TLS:
                raise network_failure(kind, exc, method="GET", path=path + " (websocket)", endpoint=self.endpoint,
                                      limit_text=describe_timeout(limit), sent=False) from exc
            raise ClientConnectionError(
                f"GET {path} (websocket) on {self.endpoint}: cannot connect: {exc or type(exc).__name__}; "
                "is the server running? check endpoint=, verify= and cert=", endpoint=self.endpoint) from exc


def _classify(exc: BaseException) -> tuple[str, bool]:
    """An aiohttp failure as a :class:`~pylxd_cluster.protocol.Failure` kind, and whether the
    request may have reached the server."""
    if isinstance(exc, (aiohttp.ServerFingerprintMismatch, aiohttp.ClientSSLError, ssl.SSLError)):
        return Failure.TLS, False
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Failure.TIMEOUT, False
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return Failure.TIMEOUT, True
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure.CONNECT, False
    return Failure.CONNECT, True  # disconnected, reset, a broken payload: after sending


def _next_retry(retry: Retry, method: str, url: str, kind: str, sent: bool, exc: BaseException) -> Retry | None:
    """The retry state after a failure without a reply, or None when it is not retried: a
    TLS failure or a timeout never is (the timeout is the caller's limit); a connection never
    made is, for any method; one broken after sending is, for GET and HEAD only (the policy's
    ``allowed_methods``)."""
    if kind in (Failure.TLS, Failure.TIMEOUT):
        return None
    error = (urllib3.exceptions.ProtocolError(str(exc)) if sent
             else urllib3.exceptions.NewConnectionError(None, str(exc)))
    try:
        return retry.increment(method, url, error=error)
    except (urllib3.exceptions.HTTPError, ClusterError):
        return None
