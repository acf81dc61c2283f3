"""The SDK's sans-IO core: what a call sends, and what a reply means. No sockets here.

:class:`~pylxd_cluster.Client` (requests, threads) and :class:`~pylxd_cluster.AsyncClient`
(aiohttp, asyncio) share everything but the bytes on the wire:

* **Plans.** Every manager method is written once, as a generator (a *plan*) that yields
  *effects* (:class:`Request`, :class:`Sleep`, the event effects) and is sent back what
  each effect produced, or has the effect's exception thrown into it. A transport runs a plan
  with :func:`run_plan` (sync) or :func:`run_plan_async` (asyncio); that loop, ten lines, is
  the only thing written twice. So a sync call returns its value, and the same call on an
  async client returns a coroutine of that value.
* **Encoding** (:func:`encode_body`, :func:`request_headers`, :func:`shown_path`) and
  **decoding** (:func:`parse_reply`): LXD's envelope into a :class:`Result`, or the typed
  exception, from a status, headers and body bytes, whatever library read them.
* **Failures without a reply** (:func:`network_failure`): the same exception and the same
  words for both clients, from a neutral :class:`Failure` kind each transport maps its
  library's exceptions to.
"""

from __future__ import annotations

import json as jsonlib
from typing import Any, Awaitable, Callable, Generator, Mapping, TypeVar
from urllib.parse import urlencode

import attrs

try:  # a decoder in C, twice as fast as the standard library's on a list of 100 members
    from orjson import JSONDecodeError as _FastDecodeError
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - a platform without orjson's wheels
    _fast_loads = None

from pylxd_cluster.exceptions import (
    APIError,
    ClientConnectionError,
    ClusterError,
    OutcomeUnknown,
    Timeout,
    error_class_for_status,
)

__all__ = [
    "Request", "Sleep", "OpenEvents", "AwaitEvent", "CloseEvents", "Effect", "Plan", "run_plan", "run_plan_async",
    "Result", "parse_reply", "decode_json", "encode_body", "request_headers", "shown_path", "loggable_path", "Failure",
    "network_failure", "TimeoutValue", "check_timeout", "connect_timeout", "read_timeout", "extend_read_timeout",
    "describe_timeout", "operation_id", "DEFAULT_TIMEOUT", "OUTCOME_HEADER", "CONSISTENCY_HEADER", "CONSISTENCIES",
    "WRITES",
]

T = TypeVar("T")

#: ``timeout=`` of a :class:`Request` that uses the transport's own timeout.
DEFAULT_TIMEOUT = "default"
#: A pack daemon's answer to a write that may or may not have taken effect.
OUTCOME_HEADER = "X-Pack-Outcome"
#: Asks a pack daemon for a linearizable read (LXD and the mock ignore it).
CONSISTENCY_HEADER = "X-Pack-Consistency"
CONSISTENCIES = (None, "linearizable")
#: Methods whose effect is unknown when the answer is lost after the request went out.
WRITES = ("PUT", "PATCH", "POST", "DELETE")
#: A timeout as requests takes it: seconds, ``(connect, read)`` seconds, or None (forever).
TimeoutValue = float | tuple[float | None, float | None] | None


# ---- effects: what a plan asks its transport to do -----------------------------------

@attrs.frozen
class Request:
    """Send one request; the plan is sent the :class:`Result`, or the exception is thrown in.

    ``timeout``: :data:`DEFAULT_TIMEOUT` (the transport's), seconds, a ``(connect, read)``
    pair, or None (forever).
    """

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None
    timeout: Any = DEFAULT_TIMEOUT


@attrs.frozen
class Sleep:
    """Pause ``seconds`` (``time.sleep`` or ``asyncio.sleep``); the plan is sent None."""

    seconds: float


@attrs.frozen
class OpenEvents:
    """Open the event stream of ``types``; the plan is sent the stream (an
    :class:`~pylxd_cluster.events.EventStream` or :class:`~pylxd_cluster.aio.AsyncEventStream`)."""

    types: tuple[str, ...]


@attrs.frozen
class AwaitEvent:
    """Wait up to ``timeout`` seconds for an event about ``source`` on ``stream``; the plan is
    sent the event, or :class:`~pylxd_cluster.exceptions.Timeout` is thrown in."""

    stream: Any
    source: str | None
    timeout: float | None


@attrs.frozen
class CloseEvents:
    """Close ``stream``; the plan is sent None."""

    stream: Any


Effect = Request | Sleep | OpenEvents | AwaitEvent | CloseEvents
#: A manager method's body: yields effects, returns the call's value.
Plan = Generator[Effect, Any, T]


def run_plan(plan: Plan[T], perform: Callable[[Effect], Any]) -> T:
    """Run ``plan`` to its end, performing each effect with ``perform``; return its value.

    An exception from ``perform`` is thrown into the plan (a plan may catch a ``NotFound``);
    what the plan does not catch propagates.
    """
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = plan.send(reply) if error is None else plan.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            error = None  # drop the reference: a kept traceback pins frames
        try:
            reply = perform(effect)
        except BaseException as exc:  # noqa: BLE001 - thrown into the plan, which decides
            reply, error = None, exc


async def run_plan_async(plan: Plan[T], perform: Callable[[Effect], Awaitable[Any]]) -> T:
    """:func:`run_plan`, awaiting each effect (a cancellation is thrown into the plan too,
    so its ``finally`` closes what it opened)."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = plan.send(reply) if error is None else plan.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            error = None
        try:
            reply = await perform(effect)
        except BaseException as exc:  # noqa: BLE001 - thrown into the plan, which decides
            reply, error = None, exc


# ---- encoding ---------------------------------------------------------------------

def encode_body(json: Any) -> bytes | None:
    """The request body: compact JSON like Go's, the same bytes every time (None: no body)."""
    if json is None:
        return None
    return jsonlib.dumps(json, separators=(",", ":")).encode()


def request_headers(request: Request, consistency: str | None) -> dict[str, str]:
    """The headers of ``request``: its own, a pack consistency on reads, a JSON content type."""
    headers = dict(request.headers or {})
    if consistency and request.method == "GET":
        headers.setdefault(CONSISTENCY_HEADER, consistency)
    if request.json is not None:
        headers.setdefault("Content-Type", "application/json")
    return headers


def shown_path(path: str, params: Mapping[str, Any] | None) -> str:
    """``path?query`` as error messages show it."""
    return path + ("?" + urlencode(params) if params else "")


_SECRET_QUERY_KEYS = ("secret", "password", "token", "trust_token")


def loggable_path(path: str, params: Mapping[str, Any] | None) -> str:
    """The request's path and query for a log line, with secret-looking values hidden."""
    if not params:
        return path
    shown = {key: ("***" if any(word in str(key).lower() for word in _SECRET_QUERY_KEYS) else value)
             for key, value in params.items()}
    return path + "?" + urlencode(shown)


# ---- decoding ---------------------------------------------------------------------

@attrs.frozen
class Result:
    """A successful reply, unwrapped from LXD's envelope.

    Attributes:
        metadata: the envelope's metadata (for an async reply: the operation dict).
        etag: the ETag header without quotes, or None (list replies have none).
        status_code: the HTTP status code.
        location: the Location header, or None.
        operation: the operation path of an async reply (``/1.0/operations/<id>``), or "".
        response: the library's reply object (a :class:`requests.Response`, or an
            :class:`aiohttp.ClientResponse` whose body has been read).
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


def _envelope_error_text(body: Any) -> str:
    if isinstance(body, Mapping):
        return str(body.get("error") or "")
    return ""


def decode_json(body: bytes) -> Any:
    """The JSON ``body`` as Python values, as :func:`json.loads` gives them: orjson's decoder
    when it is installed, and the standard library's for what orjson refuses (NaN, Infinity,
    numbers beyond a double, invalid JSON: the error message is then the standard library's).
    One difference remains: an integer outside [-2**63, 2**64 - 1] comes out as a float, where
    json.loads keeps it exact. No LXD or Incus reply has one: their Go types are int64 and
    uint64 at the most.

    Raises:
        ValueError: not JSON.
    """
    if _fast_loads is not None:
        try:
            return _fast_loads(body)
        except _FastDecodeError:
            pass
    return jsonlib.loads(body)


def parse_reply(
    status: int,
    reason: str | None,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    path: str,
    endpoint: str,
    response: Any = None,
) -> Result:
    """Turn an HTTP reply into a :class:`Result`, or raise the matching exception.

    ``headers`` is looked up case-insensitively as requests' and aiohttp's headers are.
    ``response`` is kept on the Result and on the exception (``.response``).

    Raises:
        OutcomeUnknown: a pack daemon says a write may or may not have taken effect.
        NotFound, Forbidden, Conflict, PreconditionFailed, NotImplementedByServer:
            for an error envelope with that ``error_code`` (404, 403, 409, 412, 501).
        APIError: any other error envelope, or a body that is not LXD's envelope.
    """

    def fail(status_code: int, text: str, cls: type[APIError] = APIError) -> APIError:
        return cls(text, status_code=status_code, method=method, path=path, endpoint=endpoint,
                   response=response, http_status=status)

    try:
        decoded = decode_json(body)
    except ValueError:
        snippet = body[:400].decode("utf-8", "replace")[:200].strip() or "<empty body>"
        content_type = headers.get("Content-Type", "no Content-Type")
        raise fail(status, f"reply is not JSON ({content_type}), so this is probably not an LXD "
                           f"server: {snippet!r}") from None

    kind = decoded.get("type") if isinstance(decoded, Mapping) else None
    if headers.get(OUTCOME_HEADER, "").lower() == "unknown":
        raise OutcomeUnknown(_envelope_error_text(decoded) or reason or "error", method=method, path=path,
                             endpoint=endpoint, status_code=status, response=response)
    if kind == "error" or (status >= 400 and kind is not None):
        code = int(decoded.get("error_code") or status)
        text = _envelope_error_text(decoded) or reason or "error"
        raise fail(code, text, error_class_for_status(code))
    if status >= 400:
        raise fail(status, f"{reason or 'error'} (reply is not an LXD envelope: {str(decoded)[:200]!r})",
                   error_class_for_status(status))
    if kind not in ("sync", "async"):
        raise fail(status, f"unexpected reply, not an LXD envelope (type={kind!r}): {str(decoded)[:200]!r}")

    etag = headers.get("ETag")
    return Result(
        metadata=decoded.get("metadata"),
        etag=etag.strip('"') if etag else None,
        status_code=status,
        location=headers.get("Location"),
        operation=(decoded.get("operation") or "") if kind == "async" else "",
        response=response,
    )


# ---- timeouts: seconds, or requests' (connect, read) pair ----------------------------

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


def operation_id(op_path_or_id: str) -> str:
    """``/1.0/operations/<id>`` (or ``<id>``, or a path with a query) -> ``<id>``."""
    return op_path_or_id.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]



# ---- failures without a reply --------------------------------------------------------

class Failure:
    """Why a request got no reply, as a transport tells it from its library's exception."""

    TLS = "tls"            # the handshake failed, or the pinned fingerprint did not match
    CONNECT = "connect"    # no connection was made: the server never saw the request
    SENT = "sent"          # the connection broke, or went silent, after the request was sent
    TIMEOUT = "timeout"    # no connection or no reply within the timeout


def network_failure(kind: str, cause: BaseException, *, method: str, path: str, endpoint: str,
                    limit_text: str, sent: bool) -> ClusterError:
    """The SDK's exception for a request that got no reply.

    ``kind`` is a :class:`Failure`; ``sent``: whether the request may have reached the server
    (then a write's outcome is unknown); ``limit_text`` describes the timeout for the message.
    """
    where = f"{method} {path} on {endpoint}"
    if kind == Failure.TLS:
        return ClientConnectionError(
            f"{where}: TLS failure: {cause}; check verify= (a CA bundle, False, or the server "
            "certificate's SHA-256 fingerprint) and cert=(certfile, keyfile)", endpoint=endpoint)
    if sent and method.upper() in WRITES:
        return OutcomeUnknown(f"the request was sent, but {cause or type(cause).__name__}", method=method,
                              path=path, endpoint=endpoint)
    if kind == Failure.TIMEOUT:
        return Timeout(f"{where}: no reply within {limit_text}")
    return ClientConnectionError(
        f"{where}: cannot connect: {cause or type(cause).__name__}; is the server running? set endpoint=... to "
        "the right unix socket or URL", endpoint=endpoint)
