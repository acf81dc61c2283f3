"""What every manager does the same way: build paths, read models, wait on operations, and
check the API extensions a call needs before sending it (:func:`requires`).

A manager method is written once, as a plan (see :mod:`pylxd_cluster.protocol`): a
generator that yields the requests it needs and returns the call's value. :func:`api_call`
makes it a method that the manager's transport runs, so the same manager class serves the
sync :class:`~pylxd_cluster.Client` (the method returns the value) and the
:class:`~pylxd_cluster.AsyncClient` (the method returns a coroutine of it). Inside a plan,
another manager method's plan is reached with :func:`plan_of`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, ClassVar, Iterable, Mapping, TypeVar
from urllib.parse import quote

import attrs

from pylxd_cluster.exceptions import ClusterError, NotFound
from pylxd_cluster.models.base import WireModel
from pylxd_cluster.models.operation import Operation
from pylxd_cluster.protocol import Plan, Request, Result
from pylxd_cluster.server import ServerInfo

__all__ = ["Manager", "Requirement", "api_path", "api_call", "plan_of", "requires", "required_extensions"]

ModelT = TypeVar("ModelT", bound=WireModel)
MethodT = TypeVar("MethodT", bound=Callable[..., Any])
T = TypeVar("T")


def api_path(*segments: str) -> str:
    """``api_path("cluster", "members", name)`` -> ``/1.0/cluster/members/<quoted name>``."""
    return "/1.0/" + "/".join(quote(str(segment), safe="") for segment in segments)


@attrs.frozen
class Requirement:
    """One API extension a manager method needs (declared with :func:`requires`).

    Attributes:
        extension: the API extension.
        when: a predicate of the call's arguments (by name, defaults applied): the extension
            is needed only when it is true (e.g. only for ``force=True``). None: always.
        versions: ``(server, version)`` pairs for servers that give the feature without
            advertising the extension: there the server's version must be at least that
            (e.g. ``(("incus", "6.22"),)``). Other servers need the extension.
    """

    extension: str
    when: Callable[[Mapping[str, Any]], bool] | None = None
    versions: tuple[tuple[str, str], ...] = ()

    def applies(self, arguments: Mapping[str, Any] | None) -> bool:
        """Whether a call with ``arguments`` needs it (None: the call's arguments do not fit
        the method, which will say so itself)."""
        if self.when is None:
            return True
        return arguments is not None and bool(self.when(arguments))


def requires(extension: str, *, when: Callable[[Mapping[str, Any]], bool] | None = None,
             versions: Mapping[str, str] | None = None) -> Callable[[MethodT], MethodT]:
    """Declare that a manager method needs the API extension ``extension``.

    The decorated method first asks the manager's :class:`~pylxd_cluster.server.ServerInfo`
    (the ``GET /1.0`` the client read when it connected; nothing is sent to check) and raises
    :class:`~pylxd_cluster.exceptions.ExtensionMissing` before sending anything when the
    server lacks it. Stack several for several extensions; :func:`required_extensions` lists
    them. ``when`` and ``versions`` (``{server: minimum version}``): see :class:`Requirement`.
    For example::

        @requires("clustering_evacuation")
        @requires("clustering_evacuation_force", when=lambda call: call["force"])
        def evacuate(self, name, mode=None, force=False, ...): ...
    """
    requirement = Requirement(extension, when, tuple(sorted((versions or {}).items())))

    def decorate(method: MethodT) -> MethodT:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def checked(self: Manager, *args: Any, **kwargs: Any) -> Plan[Any]:
            arguments: Mapping[str, Any] | None = None
            if requirement.when is not None:
                try:
                    bound = signature.bind(self, *args, **kwargs)
                except TypeError:
                    pass
                else:
                    bound.apply_defaults()
                    arguments = bound.arguments
            if requirement.applies(arguments):
                yield from self._server.require_plan(extension, call=self._call_name(method.__name__),
                                                     versions=dict(requirement.versions))
            return (yield from method(self, *args, **kwargs))

        checked.requirements = (requirement, *getattr(method, "requirements", ()))  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


def api_call(plan: Callable[..., Plan[T]]) -> Callable[..., Any]:
    """Make a plan method (a generator, see :mod:`pylxd_cluster.protocol`) a manager method:
    calling it runs the plan on the manager's transport. On a sync transport the call returns
    the plan's value; on an async one, a coroutine of it. The plan stays reachable as the
    method's ``plan`` attribute (see :func:`plan_of`); :func:`requires` goes below this one.
    """

    @functools.wraps(plan)
    def call(self: Manager, *args: Any, **kwargs: Any) -> Any:
        return self._transport.run(plan(self, *args, **kwargs))

    call.plan = plan  # type: ignore[attr-defined]
    return call


def plan_of(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Plan[Any]:
    """The plan of a bound manager method called with these arguments, for ``yield from``
    inside another plan: ``member = yield from plan_of(self.get, name)``.

    A method replaced on the instance (a test's ``monkeypatch.setattr(manager, "get", ...)``)
    is called as it is, and its value is the plan's."""
    plan = getattr(method, "plan", None)
    owner = getattr(method, "__self__", None)
    if plan is not None and owner is not None:
        return plan(owner, *args, **kwargs)
    return _finished(method(*args, **kwargs))


def _finished(value: T) -> Plan[T]:
    """A plan that sends nothing and returns ``value``."""
    return value
    yield  # noqa: B901 - makes this a generator


def required_extensions(method: Callable[..., Any]) -> tuple[Requirement, ...]:
    """The :class:`Requirement` s declared on a manager method with :func:`requires`, outermost
    first (``required_extensions(MemberManager.state)``)."""
    return tuple(getattr(method, "requirements", ()))


class Manager:
    """Base of the managers: holds the transport, what the server is, and the generic
    read/write helpers.

    Args:
        transport: the connection.
        operations: the OperationManager the Operation models returned by this manager use.
        server: the :class:`~pylxd_cluster.server.ServerInfo` to check API extensions with
            (the client's, shared); None: a new one, which reads ``GET /1.0`` on the first
            check, once. Building a manager sends nothing.
        api_extensions: a function returning the server's API extensions, instead of
            ``server`` (kept for callers of earlier versions).
    """

    #: How users reach this manager from a client (``"cluster.members"``), to name calls in
    #: error messages.
    call_prefix: ClassVar[str] = ""

    def __init__(self, transport: Any, operations: Manager | None = None, *,
                 server: ServerInfo | None = None,
                 api_extensions: Callable[[], Iterable[str]] | None = None) -> None:
        self._transport = transport
        # The OperationManager the Operation models returned by this manager delegate to.
        self._operations = operations
        self._server = server or ServerInfo(transport, api_extensions=api_extensions)

    @property
    def transport(self) -> Any:
        """The connection: a :class:`~pylxd_cluster.transport.Transport`, or an
        :class:`~pylxd_cluster.aio.AsyncTransport` (then every call returns a coroutine)."""
        return self._transport

    @property
    def server_info(self) -> ServerInfo:
        """What the server is and which API extensions it has (shared with the client)."""
        return self._server

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on {self._transport.endpoint}>"

    def _call_name(self, method: str) -> str:
        return f"{self.call_prefix}.{method}()" if self.call_prefix else f"{type(self).__name__}.{method}()"

    def _request(self, method: str, path: str, **kwargs: Any) -> Request:
        """The request a plan yields to send ``method path`` (``params``, ``json``,
        ``headers``, ``timeout`` as :class:`~pylxd_cluster.protocol.Request` takes them)."""
        return Request(method, path, **kwargs)

    def _get_model(self, path: str, model: type[ModelT]) -> Plan[ModelT]:
        """GET one object, keeping its ETag on the model."""
        result = yield self._request("GET", path)
        return model.from_api(result.metadata, manager=self, etag=result.etag)

    def _list_models(self, path: str, model: type[ModelT],
                     params: Mapping[str, Any] | None = None) -> Plan[tuple[ModelT, ...]]:
        """GET a collection with recursion=1: every object in ONE request."""
        query = {"recursion": 1, **(params or {})}
        result = yield self._request("GET", path, params=query)
        items = result.metadata or []
        if not isinstance(items, list):
            raise ClusterError(
                f"GET {path} on {self._transport.endpoint}: expected a list, got "
                f"{type(items).__name__}"
            )
        return tuple(model.from_api(item, manager=self) for item in items)

    def _exists(self, path: str) -> Plan[bool]:
        try:
            yield self._request("GET", path)
        except NotFound:
            return False
        return True

    def _if_match(self, etag: str | None) -> Mapping[str, str] | None:
        return {"If-Match": f'"{etag}"'} if etag else None

    def _operation(self, result: Result) -> Operation:
        """The Operation an async reply describes."""
        return Operation.from_api(result.metadata or {}, manager=self._operations)

    def _finish(self, result: Result, wait: bool, timeout: float | None) -> Plan[Operation]:
        """Wait on an async reply's operation when asked; return the (final) Operation."""
        if not wait:
            return self._operation(result)
        operation_id = result.operation or self._operation(result).id
        return (yield from plan_of(self._operations.wait, operation_id, timeout=timeout))
