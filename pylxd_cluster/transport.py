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
from typing import Any, Mapping
from urllib.parse import quote, urlencode, urlsplit

import attrs
import requests
import requests_unixsocket
import urllib3
import websocket
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pylxd_cluster import exceptions
from pylxd_cluster.exceptions import (
    APIError,
    ClientConnectionError,
    ClusterError,
    OutcomeUnknown,
    Timeout,
    error_class_for_status,
)
from pylxd_cluster.sockets import LXD_SOCKET_PATHS, find_socket

__all__ = [
    "Transport",
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

#: A timeout as requests takes it: seconds, ``(connect, read)`` seconds, or None (forever).
TimeoutValue = float | tuple[float | None, float | None] | None

#: Where LXD puts its unix socket, snap first, then the Debian/Ubuntu package path (kept for
#: callers of earlier versions; :mod:`pylxd_cluster.sockets` has LXD's and Incus's).
DEFAULT_SOCKET_PATHS: tuple[str, ...] = LXD_SOCKET_PATHS

_HEX64 = re.compile(r"^[0-9a-f]{64}$")

CertPair = tuple[str, str]


@attrs.frozen
class Result:
    """A successful reply, unwrapped from LXD's envelope.

    Attributes:
        metadata: the envelope's metadata (for an async reply: the operation dict).
        etag: the ETag header without quotes, or None (list replies have none).
        status_code: the HTTP status code.
        location: the Location header, or None.
        operation: the operation path of an async reply (``/1.0/operations/<id>``), or "".
        response: the :class:`requests.Response`.
    """

    metadata: Any
    etag: str | None = None
    status_code: int = 200
    location: str | None = None
    operation: str = ""
    response: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def is_async(self) -> bool:
        return bool(self.operation)


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


def _envelope_error_text(body: Any) -> str:
    if isinstance(body, Mapping):
        return str(body.get("error") or "")
    return ""


# A pack daemon's answer to a write that may or may not have taken effect.
OUTCOME_HEADER = "X-Pack-Outcome"
# Asks a pack daemon for a linearizable read (LXD and the mock ignore it).
CONSISTENCY_HEADER = "X-Pack-Consistency"
CONSISTENCIES = (None, "linearizable")
# Methods whose effect is unknown when the answer is lost after the request went out.
WRITES = ("PUT", "PATCH", "POST", "DELETE")


def _sent(exc: BaseException) -> bool:
    """Whether a requests failure happened after the request was sent (the connection was
    aborted or went silent), rather than when connecting."""
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, urllib3.exceptions.MaxRetryError):   # retries used up: the last failure
        cause = cause.reason
    return isinstance(cause, urllib3.exceptions.ProtocolError)


# ---- timeouts: seconds, or requests' (connect, read) tuple ---------------------------

def check_timeout(timeout: Any) -> TimeoutValue:
    """``timeout`` if requests takes it: None, seconds, or a ``(connect, read)`` pair (each
    seconds or None); a list pair becomes a tuple.

    Raises:
        ValueError: anything else (a negative number, a pair of another length, a string).
    """
    if isinstance(timeout, list):
        timeout = tuple(timeout)
    parts = timeout if isinstance(timeout, tuple) else (timeout,)
    if isinstance(timeout, tuple) and len(timeout) != 2:
        raise ValueError(f"timeout must be seconds or a (connect, read) pair, not {timeout!r}")
    for part in parts:
        if part is None and isinstance(timeout, tuple):
            continue
        if part is None:
            return None
        if isinstance(part, bool) or not isinstance(part, (int, float)) or part < 0:
            raise ValueError(f"timeout must be seconds (>= 0), None, or a (connect, read) pair of them, "
                             f"not {timeout!r}")
    return timeout


def connect_timeout(timeout: TimeoutValue) -> float | None:
    """Seconds to connect: the first of a ``(connect, read)`` pair, else ``timeout``."""
    return timeout[0] if isinstance(timeout, tuple) else timeout


def read_timeout(timeout: TimeoutValue) -> float | None:
    """Seconds to wait for a reply: the second of a ``(connect, read)`` pair, else ``timeout``."""
    return timeout[1] if isinstance(timeout, tuple) else timeout


def extend_read_timeout(timeout: TimeoutValue, seconds: float, minimum: float = 0) -> TimeoutValue:
    """``timeout`` with ``seconds`` more to wait for a reply (for a request the server holds,
    as a ``/wait``): the read part becomes ``seconds + max(read, minimum)``, the connect part
    stays. None (forever) stays None only in the connect part."""
    extended = seconds + max(read_timeout(timeout) or 0, minimum)
    return (timeout[0], extended) if isinstance(timeout, tuple) else extended


def describe_timeout(timeout: TimeoutValue) -> str:
    """``5`` -> ``"5 s"``; ``(3, 5)`` -> ``"5 s (connect 3 s)"``."""
    if isinstance(timeout, tuple):
        return f"{timeout[1]} s (connect {timeout[0]} s)"
    return f"{timeout} s"


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


_SECRET_QUERY_KEYS = ("secret", "password", "token", "trust_token")


def _loggable(path: str, params: Mapping[str, Any] | None) -> str:
    """The request's path and query for a log line, with secret-looking values hidden."""
    if not params:
        return path
    shown = {key: ("***" if any(word in str(key).lower() for word in _SECRET_QUERY_KEYS) else value)
             for key, value in params.items()}
    return path + "?" + urlencode(shown)


def parse_response(
    response: requests.Response,
    *,
    method: str,
    path: str,
    endpoint: str,
) -> Result:
    """Turn an HTTP reply into a :class:`Result`, or raise the matching exception.

    Raises:
        OutcomeUnknown: a pack daemon says a write may or may not have taken effect.
        NotFound, Forbidden, Conflict, PreconditionFailed, NotImplementedByServer:
            for an error envelope with that ``error_code`` (404, 403, 409, 412, 501).
        APIError: any other error envelope, or a body that is not LXD's envelope.
    """

    def fail(status_code: int, text: str, cls: type = APIError) -> APIError:
        return cls(
            text,
            status_code=status_code,
            method=method,
            path=path,
            endpoint=endpoint,
            response=response,
        )

    try:
        body = response.json()
    except ValueError:
        snippet = response.text[:200].strip() or "<empty body>"
        content_type = response.headers.get("Content-Type", "no Content-Type")
        raise fail(
            response.status_code,
            f"reply is not JSON ({content_type}), so this is probably not an LXD "
            f"server: {snippet!r}",
        ) from None

    kind = body.get("type") if isinstance(body, Mapping) else None
    if response.headers.get(OUTCOME_HEADER, "").lower() == "unknown":
        raise OutcomeUnknown(_envelope_error_text(body) or response.reason or "error", method=method, path=path,
                             endpoint=endpoint, status_code=response.status_code, response=response)
    if kind == "error" or (response.status_code >= 400 and kind is not None):
        status = body.get("error_code") or response.status_code
        text = _envelope_error_text(body) or response.reason or "error"
        raise fail(int(status), text, exceptions.error_class_for_status(int(status)))
    if response.status_code >= 400:
        raise fail(
            response.status_code,
            f"{response.reason or 'error'} (reply is not an LXD envelope: {str(body)[:200]!r})",
            exceptions.error_class_for_status(response.status_code),
        )
    if kind not in ("sync", "async"):
        raise fail(
            response.status_code,
            f"unexpected reply, not an LXD envelope (type={kind!r}): {str(body)[:200]!r}",
        )

    etag = response.headers.get("ETag")
    return Result(
        metadata=body.get("metadata"),
        etag=etag.strip('"') if etag else None,
        status_code=response.status_code,
        location=response.headers.get("Location"),
        operation=(body.get("operation") or "") if kind == "async" else "",
        response=response,
    )


def operation_id(op_path_or_id: str) -> str:
    """``/1.0/operations/<id>`` (or ``<id>``, or a path with a query) -> ``<id>``."""
    return op_path_or_id.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class Transport:
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
        if consistency not in CONSISTENCIES:
            raise ValueError(f"consistency must be one of {CONSISTENCIES}, not {consistency!r}")
        self.consistency = consistency
        self.timeout: TimeoutValue = check_timeout(timeout)
        self.retry: Retry = make_retry(retries)
        self.project = project
        self.kind, target = resolve_endpoint(endpoint, server)
        self.cert = tuple(cert) if cert else None
        self.session = session if session is not None else requests.Session()
        self.fingerprint: str | None = None
        self.verify: bool | str = verify
        if isinstance(verify, str):
            self.fingerprint = normalize_fingerprint(verify)

        if self.kind == "unix":
            self.socket_path: str | None = target
            self.base_url = "http+unix://" + quote(target, safe="")
            self.endpoint = "unix://" + target
            self.session.mount("http+unix://", requests_unixsocket.UnixAdapter(max_retries=self.retry))
            if session is None:
                # No proxy or CA bundle applies to a unix socket: skip requests' reading of
                # the environment on every request (a third of a call's time on 100 members).
                self.session.trust_env = False
        else:
            self.socket_path = None
            self.base_url = target
            self.endpoint = target
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
        shown_path = path + ("?" + urlencode(params) if params else "")
        data = None
        request_headers = dict(headers or {})
        if self.consistency and method == "GET":
            request_headers.setdefault(CONSISTENCY_HEADER, self.consistency)
        if json is not None:
            # Serialised here (not by requests) so the body is compact like Go's
            # and the same bytes every time.
            data = jsonlib.dumps(json, separators=(",", ":")).encode()
            request_headers.setdefault("Content-Type", "application/json")
        limit = self.timeout if timeout == "default" else check_timeout(timeout)
        started = time.perf_counter()
        try:
            response = self.session.request(
                method,
                self.url(path),
                params=params,
                data=data,
                headers=request_headers,
                verify=self.request_verify,
                cert=self.cert,
                timeout=limit,
            )
        except Exception as exc:
            failure = self._failure(exc, method, shown_path, limit)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s -> %s after %.1f ms", method, _loggable(path, params), type(exc).__name__,
                          (time.perf_counter() - started) * 1000)
            if failure is None:
                raise
            raise failure from exc
        if log.isEnabledFor(logging.DEBUG):
            retried = len(getattr(getattr(response.raw, "retries", None), "history", ()) or ())
            log.debug("%s %s -> %s in %.1f ms%s", method, _loggable(path, params), response.status_code,
                      (time.perf_counter() - started) * 1000, f" ({retried} retried)" if retried else "")
        return parse_response(response, method=method, path=shown_path, endpoint=self.endpoint)

    def _failure(self, exc: Exception, method: str, shown_path: str, limit: TimeoutValue) -> ClusterError | None:
        """The SDK's exception for a request that got no reply (None: not a network failure)."""
        where = f"{method} {shown_path} on {self.endpoint}"
        if isinstance(exc, requests.exceptions.SSLError):
            return ClientConnectionError(
                f"{where}: TLS failure: {exc}; check verify= (a CA bundle, False, or the server "
                "certificate's SHA-256 fingerprint) and cert=(certfile, keyfile)", endpoint=self.endpoint)
        if isinstance(exc, (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError)):
            if method.upper() in WRITES and _sent(exc):
                return OutcomeUnknown(f"the request was sent, but {exc}", method=method, path=shown_path,
                                      endpoint=self.endpoint)
        if isinstance(exc, requests.exceptions.Timeout):
            return Timeout(f"{where}: no reply within {describe_timeout(limit)}")
        if isinstance(exc, (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError)):
            return ClientConnectionError(
                f"{where}: cannot connect: {exc}; is the server running? set endpoint=... to the right unix "
                "socket or URL", endpoint=self.endpoint)
        return None


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
