"""What every manager does the same way: build paths, read models, wait on operations."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterable, Mapping, TypeVar
from urllib.parse import quote

from pylxd_cluster.exceptions import ClusterError, NotFound, NotImplementedByServer
from pylxd_cluster.models.base import WireModel
from pylxd_cluster.models.operation import Operation
from pylxd_cluster.transport import Result, Transport

__all__ = ["ExtensionManager", "Manager", "api_path"]

ModelT = TypeVar("ModelT", bound=WireModel)


def api_path(*segments: str) -> str:
    """``api_path("cluster", "members", name)`` -> ``/1.0/cluster/members/<quoted name>``."""
    return "/1.0/" + "/".join(quote(str(segment), safe="") for segment in segments)


class Manager:
    """Base of the managers: holds the transport and the generic read/write helpers."""

    def __init__(self, transport: Transport, operations: Manager | None = None) -> None:
        self._transport = transport
        # The OperationManager the Operation models returned by this manager delegate to.
        self._operations = operations

    @property
    def transport(self) -> Transport:
        return self._transport

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on {self._transport.endpoint}>"

    def _request(self, method: str, path: str, **kwargs: Any) -> Result:
        return self._transport.request(method, path, **kwargs)

    def _get_model(self, path: str, model: type[ModelT]) -> ModelT:
        """GET one object, keeping its ETag on the model."""
        result = self._request("GET", path)
        return model.from_api(result.metadata, manager=self, etag=result.etag)

    def _list_models(self, path: str, model: type[ModelT],
                     params: Mapping[str, Any] | None = None) -> tuple[ModelT, ...]:
        """GET a collection with recursion=1: every object in ONE request."""
        query = {"recursion": 1, **(params or {})}
        result = self._request("GET", path, params=query)
        items = result.metadata or []
        if not isinstance(items, list):
            raise ClusterError(
                f"GET {path} on {self._transport.endpoint}: expected a list, got "
                f"{type(items).__name__}"
            )
        return tuple(model.from_api(item, manager=self) for item in items)

    def _exists(self, path: str) -> bool:
        try:
            self._request("GET", path)
        except NotFound:
            return False
        return True

    def _if_match(self, etag: str | None) -> Mapping[str, str] | None:
        return {"If-Match": f'"{etag}"'} if etag else None

    def _operation(self, result: Result) -> Operation:
        """The Operation an async reply describes."""
        return Operation.from_api(result.metadata or {}, manager=self._operations)

    def _finish(self, result: Result, wait: bool, timeout: float | None) -> Operation:
        """Wait on an async reply's operation when asked; return the (final) Operation."""
        if not wait:
            return self._operation(result)
        return self._operations.wait(result.operation or self._operation(result).id, timeout=timeout)


class ExtensionManager(Manager):
    """Base of the managers of endpoints that only servers advertising the API extension
    :attr:`extension` have (in ``GET /1.0``'s ``api_extensions``).

    Its methods call :meth:`_require_extension` first: the extensions are read once, on the
    first call (``GET /1.0``, unless the manager was given ``api_extensions``), and kept.
    Building the manager sends nothing.

    Args:
        transport, operations: as for every manager.
        api_extensions: a function returning the server's API extensions (e.g. the
            ``Client``'s, already read); None: read ``GET /1.0`` on the first call.
    """

    #: The API extension the server must advertise.
    extension: ClassVar[str] = ""
    #: What lacking it means, ending the NotImplementedByServer message ("so it has no ...").
    lacking: ClassVar[str] = ""

    def __init__(self, transport: Transport, operations: Manager | None = None,
                 api_extensions: Callable[[], Iterable[str]] | None = None) -> None:
        super().__init__(transport, operations)
        self._api_extensions = api_extensions
        self._extensions: tuple[str, ...] | None = None

    def _require_extension(self, method: str, path: str) -> None:
        """Raise NotImplementedByServer unless the server advertises :attr:`extension`.

        Raises:
            NotImplementedByServer: it does not (status 501; nothing was sent to ``path``).
        """
        if self._extensions is None:
            if self._api_extensions is not None:
                self._extensions = tuple(self._api_extensions())
            else:
                info = self._request("GET", "/1.0").metadata or {}
                self._extensions = tuple(info.get("api_extensions") or ())
        if self.extension not in self._extensions:
            raise NotImplementedByServer(
                f"the server does not advertise the API extension {self.extension!r}, {self.lacking}",
                status_code=501, method=method, path=path, endpoint=self._transport.endpoint,
            )
