"""Exceptions raised by the SDK.

Everything the SDK raises on purpose derives from :class:`ClusterError`, so one
``except ClusterError`` is enough to catch any failure that came from talking to
LXD. Each message names what was attempted and where, so that a log line is
enough to understand what happened.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "ClusterError",
    "ClientConnectionError",
    "APIError",
    "NotFound",
    "Forbidden",
    "Conflict",
    "PreconditionFailed",
    "NotImplementedByServer",
    "ExtensionMissing",
    "RemoteConfigError",
    "OperationError",
    "OutcomeUnknown",
    "Timeout",
    "InvalidJoinToken",
    "FrozenModelError",
    "error_class_for_status",
    # pylxd's names (pylxd.exceptions), for code ported from pylxd:
    "LXDAPIException",
    "ClientConnectionFailed",
    "LXDAPIExtensionNotAvailable",
]


#: ``environment.server`` -> how people write it.
SERVER_NAMES = {"lxd": "LXD", "incus": "Incus"}


def server_label(server: str, version: str = "") -> str:
    """``("lxd", "5.0.2")`` -> ``"LXD 5.0.2"``; ``("", "")`` -> ``"the server"``."""
    return " ".join(part for part in (SERVER_NAMES.get(server, server), version) if part) or "the server"


class ClusterError(Exception):
    """Root of every exception raised by ``pylxd_cluster``."""


class ClientConnectionError(ClusterError):
    """The server could not be reached: socket missing or refused, TLS failure.

    ``endpoint`` is the endpoint as the client shows it (``unix:///...`` or a URL).
    """

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class APIError(ClusterError):
    """The server answered with an error (or with something that is not LXD's envelope).

    Attributes:
        status_code: the HTTP status code (or the envelope's ``error_code`` when the
            server put an error envelope in an HTTP 200 reply).
        error: the server's error text, verbatim.
        method, path: the request that failed.
        endpoint: where it was sent.
        response: the reply object (:class:`requests.Response` from :class:`~pylxd_cluster.Client`,
            :class:`aiohttp.ClientResponse` from :class:`~pylxd_cluster.AsyncClient`), or None.
        http_status: the HTTP status of the reply (differs from ``status_code`` when an error
            envelope came in an HTTP 200 reply, as a failed ``/wait`` on Incus), or None.
    """

    def __init__(
        self,
        error: str,
        *,
        status_code: int,
        method: str = "",
        path: str = "",
        endpoint: str = "",
        response: Any = None,
        http_status: int | None = None,
    ) -> None:
        self.status_code = status_code
        self.http_status = http_status
        self.error = error
        self.method = method
        self.path = path
        self.endpoint = endpoint
        self.response = response
        super().__init__(self._compose_message())

    def _compose_message(self) -> str:
        where = " ".join(part for part in (self.method, self.path) if part)
        if self.endpoint:
            where = f"{where} on {self.endpoint}" if where else self.endpoint
        prefix = f"{where}: " if where else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{prefix}{self.status_code} {self.error}{hint}"

    @property
    def hint(self) -> str:
        """What to do about it; subclasses explain their status."""
        return ""


class NotFound(APIError):
    """HTTP 404: the object (or the route) does not exist."""


class Forbidden(APIError):
    """HTTP 403: not authorized, or an action the server refuses (e.g. deleting "default")."""

    @property
    def hint(self) -> str:
        # "not authorized" is LXD's answer to an untrusted client; other 403s are refusals
        # of the action itself (e.g. deleting the "default" group), where this would mislead.
        if self.error == "not authorized":
            return "the server does not trust this client: over HTTPS, use a client certificate it trusts"
        return ""


class Conflict(APIError):
    """HTTP 409: the object already exists or is in a conflicting state."""


class PreconditionFailed(APIError):
    """HTTP 412: the ETag sent in If-Match no longer matches the server's object."""

    @property
    def hint(self) -> str:
        return ("the object changed on the server since it was read; "
                "call refresh() to read it again, re-apply your change and retry")


class NotImplementedByServer(APIError):
    """HTTP 501: this server does not implement the request (older LXD, or a mock).

    The server said so. When the client can tell beforehand, from the API extensions the
    server advertises, it raises the subclass :class:`ExtensionMissing` instead, without
    sending the request; one ``except NotImplementedByServer`` catches both.
    """

    hint = "this server version does not implement it; check Client.api_extensions"


class ExtensionMissing(NotImplementedByServer):
    """The server does not advertise an API extension this call needs, so the client
    refused the call BEFORE sending anything.

    A subclass of :class:`NotImplementedByServer` (the server's own ``501`` answer), since
    it means the same thing found out earlier: code that catches ``NotImplementedByServer``
    behaves the same whether the client knew in advance, from the server's ``api_extensions``,
    or the server refused a call that no extension announces. ``status_code`` is 501 as the
    server would have answered; ``response`` is None; ``method`` and ``path`` are empty.

    Attributes:
        extension: the API extension the server lacks (e.g. ``"cluster_member_state"``).
        call: the SDK call that needs it (e.g. ``"cluster.members.state()"``).
        server: the server's ``environment.server`` (``"lxd"``, ``"incus"``; ``""`` unknown).
        server_version: its ``environment.server_version`` (``""`` unknown).
        what: what the extension provides (e.g. ``"GET /1.0/cluster/members/<name>/state"``).
        available: which servers have it (e.g. ``"LXD 5.11 or later, and Incus"``).
    """

    def __init__(self, extension: str, *, call: str = "", server: str = "", server_version: str = "",
                 endpoint: str = "", what: str = "", available: str = "") -> None:
        self.extension = extension
        self.call = call
        self.server = server
        self.server_version = server_version
        self.what = what
        self.available = available
        super().__init__(f"the server does not advertise the API extension {extension!r}", status_code=501,
                         endpoint=endpoint)

    @property
    def server_label(self) -> str:
        """``"LXD 5.0.2"``, ``"Incus 6.0.4"``, or ``"the server"`` when it did not say."""
        return server_label(self.server, self.server_version)

    def _compose_message(self) -> str:
        needs = f"{self.call} needs" if self.call else "this call needs"
        what = f" ({self.what})" if self.what else ""
        where = f" at {self.endpoint}" if self.endpoint else ""
        available = f"; it is available on {self.available}" if self.available else ""
        return (f"{needs} the API extension {self.extension!r}{what}, but {self.server_label}{where} "
                f"does not advertise the API extension {self.extension!r}, so nothing was sent{available}. "
                f"Use a server that has it, or check client.has_api_extension({self.extension!r}) first")


_ERROR_CLASSES = {
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    501: NotImplementedByServer,
}


def error_class_for_status(status_code: int) -> type:
    """Return the :class:`APIError` subclass that matches an HTTP/LXD status code."""
    return _ERROR_CLASSES.get(status_code, APIError)


class OperationError(ClusterError):
    """A background operation ended in Failure or Cancelled.

    Attributes:
        operation: the final :class:`~pylxd_cluster.models.Operation` (None when the
            server only sent an error text).
        err: the server's error text for the operation.
    """

    def __init__(self, message: str, *, operation: Any = None, err: str = "") -> None:
        super().__init__(message)
        self.operation = operation
        self.err = err


class OutcomeUnknown(ClusterError):
    """A write that may or may not have taken effect: it was sent, but no answer says
    whether it was applied (the connection broke or timed out after sending, or a pack's
    leader could not get it confirmed by a majority, or was lost while forwarding it).

    Do not simply send it again: a write applied twice can undo what others wrote in
    between. Read the object back first, on a pack with
    ``Client(..., consistency="linearizable")``, which reflects every write that took
    effect, then decide. An If-Match write is safe to retry with the ETag you read then.

    Attributes:
        method, path, endpoint: the request.
        error: what the server or the connection said.
        status_code: 503 when a server said so, None when the connection did.
        response: the :class:`requests.Response`, or None.
    """

    def __init__(self, error: str, *, method: str = "", path: str = "", endpoint: str = "",
                 status_code: int | None = None, response: Any = None) -> None:
        self.error, self.method, self.path, self.endpoint = error, method, path, endpoint
        self.status_code, self.response = status_code, response
        where = " ".join(part for part in (method, path) if part)
        if endpoint:
            where = f"{where} on {endpoint}" if where else endpoint
        super().__init__(f"{where}: outcome unknown: {error} (read the object back, with "
                         'consistency="linearizable" on a pack, before sending the write again)')


class RemoteConfigError(ClientConnectionError):
    """A remote of ``lxc``'s or ``incus``'s client configuration cannot be used: no
    configuration file, no such remote, an image server (simplestreams), missing client
    certificates. A :class:`ClientConnectionError`, as the client cannot tell where or how to
    connect; the message names the file and what to do.

    Attributes:
        remote: the remote's name (None: the default remote was asked for).
        path: the configuration file or certificate concerned, or None.
    """

    def __init__(self, message: str, *, remote: str | None = None, path: str | None = None,
                 endpoint: str | None = None) -> None:
        super().__init__(message, endpoint=endpoint)
        self.remote = remote
        self.path = path


class Timeout(ClusterError, TimeoutError):
    """Something did not happen in time (a reply, an operation, an event)."""


class InvalidJoinToken(ClusterError, ValueError):
    """A join token string could not be decoded."""


class FrozenModelError(attrs.exceptions.FrozenInstanceError, ClusterError):
    """An attribute of a model was assigned: models are frozen (immutable).

    An :class:`AttributeError` (and attrs' ``FrozenInstanceError``), as for any read-only
    attribute; the message says what to do instead: ``evolve()`` makes a changed copy, and
    ``save()`` sends it, for models that have it.

    Attributes:
        model: the model's class name.
        name: the attribute assigned.
    """

    def __init__(self, model: str, name: str, *, saved: bool) -> None:
        self.model, self.name = model, name
        then = f" and send it with save(): obj = obj.evolve({name}=...); obj.save()" if saved else (
            f": obj = obj.evolve({name}=...)")
        self.msg = (f"cannot set {model}.{name}: models are frozen (immutable, as pylxd's are not); "
                    f"make a changed copy with evolve(){then}")
        Exception.__init__(self, self.msg)


# ---- pylxd's exception names ---------------------------------------------------------
# Code written for pylxd catches these names; each is the class of this SDK that means
# the same thing, so ``except LXDAPIException`` catches what pylxd's would have.

#: pylxd's ``LXDAPIException`` (an LXD error reply; ``.response`` is the reply): :class:`APIError`.
LXDAPIException = APIError
#: pylxd's ``ClientConnectionFailed`` (the server cannot be reached): :class:`ClientConnectionError`.
ClientConnectionFailed = ClientConnectionError
#: pylxd's ``LXDAPIExtensionNotAvailable`` (the server lacks an API extension): :class:`ExtensionMissing`.
LXDAPIExtensionNotAvailable = ExtensionMissing
