"""The asyncio entry point: :class:`AsyncClient`."""

from __future__ import annotations

import os
from typing import Any, Iterable

from urllib3.util.retry import Retry

from pylxd_cluster import remotes
from pylxd_cluster.aio.events import AsyncEventStream
from pylxd_cluster.aio.transport import AsyncTransport
from pylxd_cluster.client import API_VERSION, ClientBase, check_version, remote_tls_error
from pylxd_cluster.events import EventPredicate
from pylxd_cluster.exceptions import ClientConnectionError
from pylxd_cluster.managers.cluster import ClusterManager
from pylxd_cluster.managers.operations import OperationManager
from pylxd_cluster.models.event import Event
from pylxd_cluster.server import ServerInfo
from pylxd_cluster.transport import TimeoutValue

__all__ = ["AsyncClient"]


class AsyncClient(ClientBase):
    """:class:`~pylxd_cluster.Client` over asyncio: the same managers, models and exceptions,
    and every call that talks to the server is awaited.

    ::

        async with AsyncClient() as client:                # reads GET /1.0
            members = await client.cluster.members.all()   # one request, a MemberList
            await members.by_name("node2").evacuate()      # waits on the operation
            async with client.events() as stream:
                async for event in stream: ...

    In Jupyter, whose loop is already running, ``client = await AsyncClient.connect()`` at the
    top level of a cell. The client belongs to the event loop it was first used in.

    Args:
        endpoint, cert, verify, timeout, consistency, server, project, version, retries: as
            for :class:`~pylxd_cluster.Client` (a ``(connect, read)`` timeout pair too; the
            same retry policy, driven over asyncio). There is no ``session``: the client makes
            its :class:`aiohttp.ClientSession` in the running loop, on first use.

    Building the client sends nothing. ``async with``, :meth:`connect` or :meth:`open` read
    ``GET /1.0`` (what the server is and which API extensions it has); a manager call before
    that reads it first.

    Attributes:
        cluster: :class:`~pylxd_cluster.managers.ClusterManager`, whose calls return coroutines.
        operations: :class:`~pylxd_cluster.managers.OperationManager`, likewise.
        server_info: :class:`~pylxd_cluster.server.ServerInfo`.

    Raises:
        ClientConnectionError: ``endpoint`` is None and no local socket was found.
        ValueError: as for :class:`~pylxd_cluster.Client`.
    """

    def __init__(
        self,
        endpoint: None | str | os.PathLike = None,
        cert: tuple[str, str] | None = None,
        verify: bool | str = True,
        timeout: TimeoutValue = None,
        consistency: str | None = None,
        server: str | None = None,
        project: str | None = None,
        version: str = API_VERSION,
        retries: int | Retry | None = None,
    ) -> None:
        self.version = check_version(version)
        self.project = project
        self.transport = AsyncTransport(endpoint, cert=cert, verify=verify, timeout=timeout,
                                        consistency=consistency, server=server, project=project, retries=retries)
        self.server_info = ServerInfo(self.transport)
        self.operations = OperationManager(self.transport, server=self.server_info)
        self.cluster = ClusterManager(self.transport, self.operations, server=self.server_info)

    @classmethod
    async def connect(cls, endpoint: None | str | os.PathLike = None, **kwargs: Any) -> AsyncClient:
        """``AsyncClient(endpoint, **kwargs)``, connected (:meth:`open`).

        Raises:
            ClientConnectionError, APIError, ExtensionMissing, ValueError: as :meth:`open`
                and the constructor.
        """
        client = cls(endpoint, **kwargs)
        try:
            return await client.open()
        except BaseException:
            await client.close()
            raise

    @classmethod
    async def from_remote(
        cls,
        name: str | None = None,
        *,
        server: str | None = None,
        config_dir: str | os.PathLike | None = None,
        timeout: TimeoutValue = None,
        consistency: str | None = None,
        project: str | None = None,
        retries: int | Retry | None = None,
    ) -> AsyncClient:
        """A connected client for a remote of ``lxc``'s or ``incus``'s configuration, as
        :meth:`pylxd_cluster.Client.from_remote`.

        Raises:
            RemoteConfigError, ClientConnectionError, APIError, ValueError: as there.
        """
        remote = remotes.load_remote(name, server=server, config_dir=config_dir)
        arguments = remote.connection()
        try:
            return await cls.connect(**arguments, timeout=timeout, consistency=consistency, project=project,
                                     retries=retries)
        except ClientConnectionError as exc:
            error = remote_tls_error(remote, arguments, exc)
            if error is exc:
                raise
            raise error from exc

    async def open(self) -> AsyncClient:
        """Read ``GET /1.0`` (again, if it was read before); return the client.

        Raises:
            ClientConnectionError: the server cannot be reached.
            APIError: the endpoint answered, but not as LXD does.
            ExtensionMissing: ``project`` other than ``"default"`` on a server without the
                ``projects`` API extension.
        """
        result = await self.transport.request("GET", "/1.0")
        self.server_info.learn(result.metadata or {})
        self._check_project()
        return self

    def events(self, types: Iterable[str] = ("lifecycle",), timeout: float | None = None, *,
               reconnect: bool = True, reconnect_timeout: float | None = 60.0) -> AsyncEventStream:
        """The event stream (``/1.0/events``), opened by ``async with`` (or its ``open()``):
        ``async with client.events() as stream: async for event in stream: ...``

        ``timeout``: seconds ``__anext__`` waits for an event before raising Timeout.
        ``reconnect``, ``reconnect_timeout``: see :class:`~pylxd_cluster.aio.AsyncEventStream`.

        Raises (on opening):
            ClientConnectionError: cannot connect.
            APIError: the server refused (e.g. 400 for an unknown type).
        """
        return AsyncEventStream(self.transport, types=tuple(types), timeout=timeout, reconnect=reconnect,
                                reconnect_timeout=reconnect_timeout)

    async def wait_for_event(self, predicate: EventPredicate | None = None, *, action: str | None = None,
                             source: str | None = None, name: str | None = None,
                             types: Iterable[str] = ("lifecycle",), timeout: float | None = 10) -> Event:
        """Open a stream and return the first event matching every criterion given, as
        :meth:`pylxd_cluster.Client.wait_for_event`.

        Raises:
            Timeout: nothing matched within ``timeout`` seconds.
            ClientConnectionError, APIError: as for :meth:`events`.
        """
        async with self.events(types=types) as stream:
            return await stream.wait_for(predicate, action=action, source=source, name=name, timeout=timeout)

    async def close(self) -> None:
        """Close the connections (idempotent)."""
        await self.transport.close()

    async def __aenter__(self) -> AsyncClient:
        if not self.server_info.loaded:
            try:
                await self.open()
            except BaseException:
                await self.close()
                raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()
