"""HTTP transport: one :class:`requests.Session`, LXD's envelope, websockets.

This is the only module that opens connections: requests, and the sockets of event
websockets. It knows nothing about clusters or models; managers build paths and bodies,
this module sends them and turns the reply into a :class:`Result` or a typed exception.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import logging
import os
import random
import re
import socket
import ssl
import time
from typing import Any, Mapping, TypeVar
from urllib.parse import quote, urlsplit

import requests
import requests_unixsocket
import urllib3
import websocket
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pylxd_cluster.exceptions import ClientConnectionError, ClusterError, error_class_for_status
from pylxd_cluster.protocol import (  # the timeouts and operation_id are public here too
    CONSISTENCIES,
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
    TimeoutValue,
    check_timeout,
    connect_timeout,
    describe_timeout,
    encode_body,
    extend_read_timeout,
    loggable_path,
    network_failure,
    operation_id,
    parse_reply,
    read_timeout,
    request_headers,
    run_plan,
    shown_path,
)
from pylxd_cluster.sockets import LXD_SOCKET_PATHS, find_socket

__all__ = [
    "Transport",
    "Settings",
    "Result",
    "parse_response",
    "resolve_endpoint",
    "DEFAULT_SOCKET_PATHS",
    "FingerprintAdapter",
    "normalize_fingerprint",
    "IdempotentRetry",
    "make_retry",
    "DEFAULT_RETRIES",
    "TimeoutValue",
    "check_timeout",
    "connect_timeout",
    "read_timeout",
    "extend_read_timeout",
    "operation_id",
]

#: Requests are logged here at DEBUG level: method, path, status, elapsed ms (never bodies).
log = logging.getLogger(__name__)

#: How many times an idempotent request is retried by default (see :func:`make_retry`).
DEFAULT_RETRIES = 3
#: Seconds of the exponential backoff: 0.2, 0.4, 0.8 ... between attempts.
RETRY_BACKOFF = 0.2
#: No single pause between two attempts is longer than this many seconds.
RETRY_BACKOFF_MAX = 2.0
#: A server's ``Retry-After`` is honoured up to this many seconds.
RETRY_AFTER_MAX = 10
#: The only methods retried after the server may have seen them: safe ones (RFC 9110 9.2.1).
RETRIED_METHODS = frozenset({"GET", "HEAD"})

#: Where LXD puts its unix socket, snap first, then the Debian/Ubuntu package path (kept for
#: callers of earlier versions; :mod:`pylxd_cluster.sockets` has LXD's and Incus's).
DEFAULT_SOCKET_PATHS: tuple[str, ...] = LXD_SOCKET_PATHS

_HEX64 = re.compile(r"^[0-9a-f]{64}$")

CertPair = tuple[str, str]
T = TypeVar("T")


def normalize_fingerprint(value: str) -> str | None:
    """Return ``value`` as 64 lowercase hex digits if it is a SHA-256 fingerprint, else None.

    Colons (``AB:CD:...``) and an ``sha256:`` prefix are accepted.
    """
    text = value.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:"):]
    text = text.replace(":", "")
    return text if _HEX64.match(text) else None


class FingerprintAdapter(HTTPAdapter):
    """An HTTPS adapter that accepts exactly one server certificate, by SHA-256 fingerprint.

    LXD servers use self-signed certificates, so pinning the fingerprint (what
    ``lxc remote add`` asks you to confirm) replaces the CA check. urllib3 compares
    the peer certificate with ``assert_fingerprint`` after the handshake; requests
    must be sent with ``verify=False`` so that no CA check runs before it.
    """

    def __init__(self, fingerprint: str, **kwargs: Any) -> None:
        self.fingerprint = fingerprint
        super().__init__(**kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs["assert_fingerprint"] = self.fingerprint
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)

    def __getstate__(self):
        state = super().__getstate__()
        state["fingerprint"] = self.fingerprint
        return state

    def __setstate__(self, state):
        self.fingerprint = state["fingerprint"]
        super().__setstate__(state)


def resolve_endpoint(endpoint: None | str | os.PathLike, server: str | None = None) -> tuple[str, str]:
    """Work out what kind of endpoint this is.

    Returns ``("unix", socket_path)`` or ``("http"|"https", base_url)``. For ``endpoint``
    None, the local socket of ``server`` (``"lxd"``, ``"incus"``, None: either), found as
    :func:`pylxd_cluster.sockets.find_socket` says.

    Raises:
        ClientConnectionError: ``endpoint`` is None and no socket was found (the message
            names every place looked at).
        ValueError: ``server`` given with an endpoint, or not None, ``"lxd"`` or ``"incus"``.
    """
    if endpoint is None:
        return "unix", find_socket(server)
    if server is not None:
        raise ValueError(f"server={server!r} says which local socket to look for, so it goes without an endpoint "
                         f"(given: {os.fspath(endpoint)!r})")
    text = os.fspath(endpoint)
    if text.startswith("unix://"):
        return "unix", text[len("unix://"):]
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        return scheme, text.rstrip("/")
    return "unix", text


def _sent(exc: BaseException) -> bool:
    """Whether a requests failure happened after the request was sent (the connection was
    aborted or went silent), rather than when connecting."""
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, urllib3.exceptions.MaxRetryError):   # retries used up: the last failure
        cause = cause.reason
    return isinstance(cause, urllib3.exceptions.ProtocolError)


# ---- retries ------------------------------------------------------------------------

class IdempotentRetry(Retry):
    """urllib3's :class:`~urllib3.util.retry.Retry`, made to retry only what is safe to send
    twice, and to leave timeouts to the caller.

    * A connection that could not be made (refused, no route, DNS) is retried for every
      method: the server never saw the request.
    * A reset or a dropped connection after sending, and a 503 reply, are retried for GET and
      HEAD only (``allowed_methods``): a write may have taken effect, so it is never sent
      again blindly (a write cut off is :class:`~pylxd_cluster.exceptions.OutcomeUnknown`).
    * A timeout (connect or read) is not retried: the timeout is the caller's limit, which
      retries would multiply.
    * The pause before a retry is the server's ``Retry-After`` when it sends one (up to
      ``retry_after_max``), else an exponential backoff from the first retry on:
      ``backoff_factor * 2 ** (n - 1)`` (plus up to ``backoff_jitter``), at most
      ``backoff_max``.
    """

    def get_backoff_time(self) -> float:
        errors = 0
        for entry in reversed(self.history):
            if entry.redirect_location is not None:
                break
            errors += 1
        if errors == 0:
            return 0.0
        value = self.backoff_factor * (2 ** (errors - 1))
        if self.backoff_jitter:
            value += random.random() * self.backoff_jitter
        return float(max(0.0, min(self.backoff_max, value)))

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> Retry:
        timed_out = isinstance(error, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError))
        if timed_out and not isinstance(error, urllib3.exceptions.NewConnectionError):
            raise error.with_traceback(_stacktrace)
        return super().increment(method, url, response=response, error=error, _pool=_pool,
                                 _stacktrace=_stacktrace)


def make_retry(retries: int | Retry | None) -> Retry:
    """The retry policy of a :class:`Transport`.

    ``retries``: how many times to retry (0: never; None: :data:`DEFAULT_RETRIES`), as
    :class:`IdempotentRetry` says: connection failures before sending for any method, 503
    replies and connections reset after sending for GET and HEAD only, with backoff (0.2 s,
    0.4 s, 0.8 s ... at most 2 s) or the server's ``Retry-After`` (at most 10 s). When retries
    run out, the last 503 reply is what the caller gets (as an :class:`APIError`). A
    :class:`urllib3.util.retry.Retry` is used as given: that policy is then yours.

    Raises:
        ValueError: a negative number, or neither an int nor a Retry.
    """
    if isinstance(retries, Retry):
        return retries
    if retries is None:
        retries = DEFAULT_RETRIES
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a number of retries (>= 0) or a urllib3 Retry, not {retries!r}")
    return IdempotentRetry(
        total=retries, connect=retries, read=retries, status=retries, other=0, redirect=False,
        allowed_methods=RETRIED_METHODS, status_forcelist=frozenset({503}),
        backoff_factor=RETRY_BACKOFF, backoff_max=RETRY_BACKOFF_MAX, backoff_jitter=0.05,
        respect_retry_after_header=True, retry_after_max=RETRY_AFTER_MAX, raise_on_status=False,
        raise_on_redirect=False,
    )


def parse_response(
    response: requests.Response,
    *,
    method: str,
    path: str,
    endpoint: str,
) -> Result:
    """Turn a :class:`requests.Response` into a :class:`Result`, or raise the matching
    exception: :func:`pylxd_cluster.protocol.parse_reply` on its status, headers and body.

    Raises:
        OutcomeUnknown, NotFound, Forbidden, Conflict, PreconditionFailed,
        NotImplementedByServer, APIError: as :func:`~pylxd_cluster.protocol.parse_reply` says.
    """
    return parse_reply(response.status_code, response.reason, response.headers, response.content,
                       method=method, path=path, endpoint=endpoint, response=response)


class Settings:
    """What both transports (this module's and :class:`~pylxd_cluster.aio.AsyncTransport`)
    are told, checked once: where, how to trust it, how long to wait, what to retry.

    Attributes:
        kind: ``"unix"``, ``"http"`` or ``"https"``.
        endpoint: ``unix://<path>`` or the URL, as messages show it.
        socket_path: the unix socket, or None.
        cert, verify, fingerprint: the client certificate pair, ``verify`` as given, and the
            pinned SHA-256 fingerprint it names (or None).
        timeout, retry, consistency, project: as the transports take them.
    """

    def _configure(self, endpoint: None | str | os.PathLike, cert: CertPair | None, verify: bool | str,
                   timeout: TimeoutValue, consistency: str | None, server: str | None, project: str | None,
                   retries: int | Retry | None) -> str:
        """Check and keep the settings; return the endpoint's target (socket path or URL).

        Raises:
            ClientConnectionError: ``endpoint`` is None and no local socket exists.
            ValueError: as the transports say.
        """
        if consistency not in CONSISTENCIES:
            raise ValueError(f"consistency must be one of {CONSISTENCIES}, not {consistency!r}")
        self.consistency = consistency
        self.timeout: TimeoutValue = check_timeout(timeout)
        self.retry: Retry = make_retry(retries)
        self.project = project
        self.kind, target = resolve_endpoint(endpoint, server)
        self.cert = tuple(cert) if cert else None
        self.verify: bool | str = verify
        self.fingerprint: str | None = normalize_fingerprint(verify) if isinstance(verify, str) else None
        self.socket_path: str | None = target if self.kind == "unix" else None
        self.endpoint = "unix://" + target if self.kind == "unix" else target
        return target


class Transport(Settings):
    """Sends requests to one LXD endpoint through one :class:`requests.Session`.

    Args:
        endpoint: None (find the local unix socket, see :func:`pylxd_cluster.sockets.find_socket`),
            a unix socket path (optionally ``unix://``-prefixed), or an ``http://``/``https://`` URL.
        cert: ``(certfile, keyfile)`` client certificate for HTTPS.
        verify: True (CA check), False (no check), a CA bundle path, or the server
            certificate's SHA-256 fingerprint (64 hex digits, colons allowed) to pin.
        timeout: seconds to wait for each reply, or a ``(connect, read)`` pair of them as
            requests takes it (None: wait forever).
        session: a :class:`requests.Session` to use instead of a new one. Its adapter for
            this endpoint is replaced by one with the retry policy (and the pinning).
        consistency: None, or ``"linearizable"``: every read asks a pack daemon to answer
            through its leader, once a majority confirmed it still leads (LXD and the mock
            ignore it).
        server: with ``endpoint`` None, whose local socket to look for: ``"lxd"``,
            ``"incus"``, or None (either).
        project: the LXD project, sent as ``?project=`` where LXD scopes by project (the
            operation and event endpoints); None: the server's default.
        retries: the retry policy, see :func:`make_retry`: a number of retries (0: none;
            None: :data:`DEFAULT_RETRIES`) or a :class:`urllib3.util.retry.Retry`.

    Raises:
        ClientConnectionError: ``endpoint`` is None and no local socket exists.
        ValueError: an unknown ``consistency`` or ``server``, ``server`` with an endpoint,
            a ``timeout`` or ``retries`` requests cannot use.
    """

    def __init__(
        self,
        endpoint: None | str | os.PathLike = None,
        cert: CertPair | None = None,
        verify: bool | str = True,
        timeout: TimeoutValue = None,
        session: requests.Session | None = None,
        consistency: str | None = None,
        server: str | None = None,
        project: str | None = None,
        retries: int | Retry | None = None,
    ) -> None:
        target = self._configure(endpoint, cert, verify, timeout, consistency, server, project, retries)
        self.session = session if session is not None else requests.Session()
        if self.kind == "unix":
            self.base_url = "http+unix://" + quote(target, safe="")
            self.session.mount("http+unix://", requests_unixsocket.UnixAdapter(max_retries=self.retry))
            if session is None:
                # No proxy or CA bundle applies to a unix socket: skip requests' reading of
                # the environment on every request (a third of a call's time on 100 members).
                self.session.trust_env = False
        else:
            self.base_url = target
            if self.fingerprint is not None:
                self.session.mount(self.base_url + "/", FingerprintAdapter(self.fingerprint,
                                                                           max_retries=self.retry))
            else:
                self.session.mount(self.base_url + "/", HTTPAdapter(max_retries=self.retry))

    # The value passed as ``verify=`` on every request. It is passed each time
    # because requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override
    # Session.verify, which would silently undo verify=False and pinning.
    @property
    def request_verify(self) -> bool | str:
        if self.fingerprint is not None:
            return False
        return self.verify

    def __repr__(self) -> str:
        return f"Transport({self.endpoint!r})"

    def url(self, path: str) -> str:
        return self.base_url + path

    def close(self) -> None:
        self.session.close()

    def open_websocket(self, path: str, timeout: float | None = None) -> websocket.WebSocket:
        """A websocket to ``path`` on this endpoint, with this transport's TLS settings
        (a pinned fingerprint is checked before anything is sent).

        Raises:
            ClientConnectionError: cannot connect, TLS failure, fingerprint mismatch.
            APIError: the server refused the upgrade (e.g. 400 for an unknown event type).
        """
        return _connect_websocket(self, path, timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutValue | str = "default",
    ) -> Result:
        """Send one request and return the unwrapped :class:`Result`.

        ``timeout`` overrides the transport's timeout for this request (seconds, a
        ``(connect, read)`` pair, or None). GET and HEAD are retried on 503 and on a dropped
        connection, any request on a connection that could not be made, as the transport's
        retry policy says (:func:`make_retry`). Each request is logged at DEBUG level on the
        ``pylxd_cluster.transport`` logger: method, path, status, elapsed milliseconds, and
        the retries; never a body or a header (secrets travel there).

        Raises:
            ClientConnectionError: the endpoint could not be reached (socket missing or
                refused, TLS handshake or fingerprint mismatch).
            Timeout: no reply within the timeout (to a read).
            OutcomeUnknown: a write was sent but its answer was lost (the connection broke
                or timed out), or a pack daemon said its outcome is unknown.
            APIError: the server answered with an error (a typed subclass for 403,
                404, 409, 412, 501) or with something that is not LXD's envelope.
        """
        return self.send(Request(method, path, params=params, json=json, headers=headers, timeout=timeout))

    def send(self, request: Request) -> Result:
        """:meth:`request`, given a :class:`~pylxd_cluster.protocol.Request`.

        Raises:
            ClientConnectionError, Timeout, OutcomeUnknown, APIError: as for :meth:`request`.
        """
        method, path, params = request.method, request.path, request.params
        limit = self.timeout if request.timeout == DEFAULT_TIMEOUT else check_timeout(request.timeout)
        started = time.perf_counter()
        try:
            response = self.session.request(
                method,
                self.url(path),
                params=params,
                data=encode_body(request.json),
                headers=request_headers(request, self.consistency),
                verify=self.request_verify,
                cert=self.cert,
                timeout=limit,
            )
        except Exception as exc:
            failure = self._failure(exc, method, shown_path(path, params), limit)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s -> %s after %.1f ms", method, loggable_path(path, params), type(exc).__name__,
                          (time.perf_counter() - started) * 1000)
            if failure is None:
                raise
            raise failure from exc
        if log.isEnabledFor(logging.DEBUG):
            retried = len(getattr(getattr(response.raw, "retries", None), "history", ()) or ())
            log.debug("%s %s -> %s in %.1f ms%s", method, loggable_path(path, params), response.status_code,
                      (time.perf_counter() - started) * 1000, f" ({retried} retried)" if retried else "")
        return parse_reply(response.status_code, response.reason, response.headers, response.content,
                           method=method, path=shown_path(path, params), endpoint=self.endpoint, response=response)

    def run(self, plan: Plan[T]) -> T:
        """Run a manager method's plan (see :mod:`pylxd_cluster.protocol`) and return its value.

        Raises:
            whatever the plan raises: the exceptions of :meth:`request`, and its own.
        """
        return run_plan(plan, self.perform)

    def perform(self, effect: Effect) -> Any:
        """Do what one effect of a plan asks, blocking; return what the plan is sent back."""
        if isinstance(effect, Request):
            return self.send(effect)
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return None
        if isinstance(effect, OpenEvents):
            from pylxd_cluster.events import EventStream  # events imports this module

            return EventStream(self, types=effect.types)
        if isinstance(effect, AwaitEvent):
            return effect.stream.wait_for(source=effect.source, timeout=effect.timeout)
        if isinstance(effect, CloseEvents):
            effect.stream.close()
            return None
        raise TypeError(f"not an effect a transport performs: {effect!r}")

    def _failure(self, exc: Exception, method: str, shown: str, limit: TimeoutValue) -> ClusterError | None:
        """The SDK's exception for a request that got no reply (None: not a network failure)."""
        if isinstance(exc, requests.exceptions.SSLError):
            kind = Failure.TLS
        elif isinstance(exc, requests.exceptions.Timeout):
            kind = Failure.TIMEOUT
        elif isinstance(exc, (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError)):
            kind = Failure.CONNECT
        else:
            return None
        sent = isinstance(exc, (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError)) and _sent(exc)
        return network_failure(kind, exc, method=method, path=shown, endpoint=self.endpoint,
                               limit_text=describe_timeout(limit), sent=sent)


# ---- websockets: the socket is opened here, then handed to websocket-client ----------

def _handshake_error(transport: Transport, path: str, exc: Any) -> ClusterError:
    """The server refused the websocket upgrade: raise what a plain request would have."""
    text = exc.status_message or "websocket handshake refused"
    try:
        text = jsonlib.loads(exc.resp_body or b"").get("error") or text
    except (ValueError, AttributeError):
        pass
    cls = error_class_for_status(exc.status_code)
    return cls(text, status_code=exc.status_code, method="GET", path=path,
               endpoint=transport.endpoint)


def _tls_socket(transport: Transport, host: str, port: int,
                timeout: float | None) -> ssl.SSLSocket:
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


def _connected_socket(transport: Transport, timeout: float | None) -> socket.socket:
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


def _connect_websocket(transport: Transport, path: str, timeout: float | None = None) -> websocket.WebSocket:
    """Open a websocket to ``path`` on the transport's endpoint, with its TLS settings.

    Raises:
        ClientConnectionError: cannot connect, TLS failure, fingerprint mismatch.
        APIError: the server refused the upgrade (e.g. 400 for an unknown event type).
    """
    # The handshake is bounded like a request: the connect part of a (connect, read) pair
    # for the socket, the read part for the server's answer to the upgrade.
    limit = check_timeout(timeout) if timeout is not None else transport.timeout
    ws = websocket.WebSocket()
    try:
        sock = _connected_socket(transport, connect_timeout(limit))
        # websocket-client uses a given socket as is (no second TLS layer); the URL
        # only supplies the Host header and the resource.
        host = "lxd" if transport.kind == "unix" else urlsplit(transport.base_url).netloc
        ws.connect(f"ws://{host}{path}", socket=sock, timeout=read_timeout(limit))
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
