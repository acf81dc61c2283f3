"""The entry point: :class:`Client`."""

from __future__ import annotations

import os
from typing import Any, Iterable

import requests

from pylxd_cluster.events import EventPredicate, EventStream
from pylxd_cluster.managers.cluster import ClusterManager
from pylxd_cluster.managers.operations import OperationManager
from pylxd_cluster.models.event import Event
from pylxd_cluster.transport import Transport

__all__ = ["Client"]


class Client:
    """A connection to one LXD server (any member of a cluster).

    Construction sends ``GET /1.0`` once, to check that the endpoint is an LXD
    server and to learn what it supports.

    Args:
        endpoint: None (the local unix socket: ``$LXD_DIR/unix.socket``, the snap
            path, then ``/var/lib/lxd/unix.socket``), a socket path, or an
            ``http(s)://`` URL.
        cert: ``(certfile, keyfile)`` client certificate for HTTPS.
        verify: True, False, a CA bundle path, or the server certificate's SHA-256
            fingerprint (64 hex digits, colons allowed) to pin.
        timeout: seconds to wait for each reply (None: forever).
        session: a :class:`requests.Session` to use.
        consistency: None, or ``"linearizable"`` for reads that reflect every write
            acknowledged before them, on a pack daemon (through its leader, once a
            majority confirmed it still leads). By default a daemon answers from the
            last version it knows a majority holds, which may be a little stale; LXD and
            the mock ignore this.

    Attributes:
        cluster: :class:`~pylxd_cluster.managers.ClusterManager`
            (``client.cluster.members``, ``.groups``, ``.tokens``, ``.certificate``, ``.config``,
            ``.service_groups``).
        operations: :class:`~pylxd_cluster.managers.OperationManager`.
        host_info: the metadata of ``GET /1.0``.

    Raises:
        ClientConnectionError: the server cannot be reached (or no socket was found).
        APIError: the endpoint answered, but not as LXD does.
        ValueError: an unknown ``consistency``.
    """

    def __init__(
        self,
        endpoint: None | str | os.PathLike = None,
        cert: tuple[str, str] | None = None,
        verify: bool | str = True,
        timeout: float | None = None,
        session: requests.Session | None = None,
        consistency: str | None = None,
    ) -> None:
        self.transport = Transport(endpoint, cert=cert, verify=verify, timeout=timeout,
                                   session=session, consistency=consistency)
        self.host_info: dict[str, Any] = self.transport.request("GET", "/1.0").metadata or {}
        self.operations = OperationManager(self.transport)
        # The extensions come with /1.0, read once here: no second request to check them.
        self.cluster = ClusterManager(self.transport, self.operations, api_extensions=lambda: self.api_extensions)

    @property
    def endpoint(self) -> str:
        return self.transport.endpoint

    @property
    def trusted(self) -> bool:
        """Whether the server trusts this client (``auth == "trusted"``)."""
        return self.host_info.get("auth") == "trusted"

    @property
    def environment(self) -> dict[str, Any]:
        """The server's environment (empty for an untrusted client)."""
        return self.host_info.get("environment") or {}

    @property
    def server_clustered(self) -> bool:
        return bool(self.environment.get("server_clustered"))

    @property
    def server_name(self) -> str:
        return self.environment.get("server_name") or ""

    @property
    def api_extensions(self) -> tuple[str, ...]:
        return tuple(self.host_info.get("api_extensions") or ())

    def has_api_extension(self, name: str) -> bool:
        return name in self.api_extensions

    def events(self, types: Iterable[str] = ("lifecycle",),
               timeout: float | None = None) -> EventStream:
        """Open the event stream (``/1.0/events``); use it as a context manager.

        ``timeout``: seconds ``next()`` waits for an event before raising Timeout.

        Raises:
            ClientConnectionError: cannot connect.
            APIError: the server refused (e.g. 400 for an unknown type).
        """
        return EventStream(self.transport, types=types, timeout=timeout)

    def wait_for_event(self, predicate: EventPredicate | None = None, *,
                       action: str | None = None, source: str | None = None,
                       name: str | None = None, types: Iterable[str] = ("lifecycle",),
                       timeout: float | None = 10) -> Event:
        """Open a stream and return the first event matching every criterion given.

        Events sent before the stream opens are missed; to wait for the effect of
        your own request, open ``client.events()`` first and call its ``wait_for``.

        Raises:
            Timeout: nothing matched within ``timeout`` seconds.
            ClientConnectionError, APIError: as for :meth:`events`.
        """
        with self.events(types=types) as stream:
            return stream.wait_for(predicate, action=action, source=source, name=name,
                                   timeout=timeout)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        name = f" server_name={self.server_name!r}" if self.server_name else ""
        return f"<Client endpoint={self.endpoint!r}{name}>"
