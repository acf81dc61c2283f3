"""The entry point: :class:`Client`."""

from __future__ import annotations

import os
from typing import Any, Iterable

import requests
from urllib3.util.retry import Retry

from pylxd_cluster import remotes
from pylxd_cluster.events import EventPredicate, EventStream
from pylxd_cluster.exceptions import ClientConnectionError, ClusterError, ExtensionMissing, RemoteConfigError
from pylxd_cluster.managers.cluster import ClusterManager
from pylxd_cluster.managers.operations import OperationManager
from pylxd_cluster.models.event import Event
from pylxd_cluster.server import ServerInfo
from pylxd_cluster.transport import TimeoutValue, Transport

__all__ = ["Client", "ClientBase", "API_VERSION"]

#: The only API version LXD and Incus serve (``/1.0``).
API_VERSION = "1.0"


def check_version(version: str) -> str:
    """``version`` if it is the API version there is.

    Raises:
        ValueError: any other.
    """
    if version != API_VERSION:
        raise ValueError(f"version={version!r}: LXD and Incus serve only API version {API_VERSION!r} "
                         "(/1.0); leave version= out")
    return version


def remote_tls_error(remote: remotes.Remote, arguments: dict[str, Any], exc: ClientConnectionError) -> ClusterError:
    """What a connection failure to a remote of lxc's configuration means: a TLS failure
    against a remote without a pinned certificate is the configuration's to fix."""
    if arguments.get("verify") is not True or "TLS failure" not in str(exc):
        return exc
    return RemoteConfigError(
        f"{exc}. Remote {remote.name!r} has no pinned certificate ({remote.server_cert_path} is missing), "
        "so its certificate was checked against the system's CAs: add the remote again to pin it",
        remote=remote.name, path=remote.server_cert_path, endpoint=exc.endpoint)


class ClientBase:
    """What :class:`Client` and :class:`~pylxd_cluster.AsyncClient` know of their server, from
    the ``GET /1.0`` they read when they connect: read here without a request."""

    transport: Any
    server_info: ServerInfo
    project: str | None

    @property
    def endpoint(self) -> str:
        return self.transport.endpoint

    @property
    def host_info(self) -> dict[str, Any]:
        """The metadata of ``GET /1.0``."""
        return self.server_info.host_info

    @property
    def trusted(self) -> bool:
        """Whether the server trusts this client (``auth == "trusted"``)."""
        return self.host_info.get("auth") == "trusted"

    @property
    def environment(self) -> dict[str, Any]:
        """The server's environment (empty for an untrusted client)."""
        return self.host_info.get("environment") or {}

    @property
    def server(self) -> str:
        """Which server this is: ``"lxd"`` or ``"incus"`` (``environment.server``; ``""`` when
        it did not say, as to an untrusted client). The mock server and the pack daemons
        say ``"lxd"``. Read from the ``GET /1.0`` of the connection: no request."""
        return self.server_info.server

    @property
    def server_version(self) -> str:
        """The server's version (``environment.server_version``, e.g. ``"5.0.2"``; ``""`` when
        it did not say). No request."""
        return self.server_info.server_version

    @property
    def server_clustered(self) -> bool:
        return bool(self.environment.get("server_clustered"))

    @property
    def server_name(self) -> str:
        return self.environment.get("server_name") or ""

    @property
    def api_extensions(self) -> tuple[str, ...]:
        """The API extensions the server advertises (from ``GET /1.0``; no request)."""
        return self.server_info.api_extensions

    def has_api_extension(self, name: str) -> bool:
        """Whether the server advertises the API extension ``name`` (no request); calls that
        need one it lacks raise :class:`~pylxd_cluster.ExtensionMissing`."""
        return self.server_info.has_api_extension(name)

    def _check_project(self) -> None:
        """Refuse a project other than default on a server without projects.

        Raises:
            ExtensionMissing: as :class:`Client` says.
        """
        project = self.project
        if project not in (None, "default") and not self.server_info.has_api_extension("projects"):
            raise ExtensionMissing("projects", call=f"{type(self).__name__}(project={project!r})",
                                   server=self.server_info.server, server_version=self.server_info.server_version,
                                   endpoint=self.transport.endpoint, what="projects other than default",
                                   available="LXD 3.6 or later, and Incus")

    def __repr__(self) -> str:
        name = f" server_name={self.server_name!r}" if self.server_info.loaded and self.server_name else ""
        server = f" server={self.server_info.label!r}" if self.server_info.loaded and self.server else ""
        return f"<{type(self).__name__} endpoint={self.endpoint!r}{name}{server}>"


class Client(ClientBase):
    """A connection to one LXD or Incus server (any member of a cluster).

    Construction sends ``GET /1.0`` once, to check that the endpoint is an LXD server and to
    learn what it is and what it supports (:attr:`server`, :attr:`server_version`,
    :attr:`api_extensions`); calls that need an API extension the server lacks raise
    :class:`~pylxd_cluster.ExtensionMissing` without sending anything.

    Args:
        endpoint: None (the local unix socket, see below), a socket path, or an
            ``http(s)://`` URL.
        cert: ``(certfile, keyfile)`` client certificate for HTTPS.
        verify: True, False, a CA bundle path, or the server certificate's SHA-256
            fingerprint (64 hex digits, colons allowed) to pin.
        timeout: seconds to wait for each reply, or a ``(connect, read)`` pair of them as
            requests (and pylxd) take it; None: forever.
        session: a :class:`requests.Session` to use (its adapter for this endpoint is
            replaced by one with the retry policy).
        consistency: None, or ``"linearizable"`` for reads that reflect every write
            acknowledged before them, on a pack daemon (through its leader, once a
            majority confirmed it still leads). By default a daemon answers from the
            last version it knows a majority holds, which may be a little stale; LXD and
            the mock ignore this.
        server: with ``endpoint`` None, whose socket to look for: ``"lxd"``, ``"incus"``,
            or None (either).
        project: the LXD project, as pylxd's ``project=``: sent as ``?project=`` where LXD
            scopes by project, i.e. on ``client.operations`` and ``client.events()``. The
            cluster endpoints (members, groups, tokens ...) are server-wide, so it does not
            change them. None: the server's default project.
        version: the API version, as pylxd's ``version=``: ``"1.0"``, the only one there is.
        retries: the retry policy: how many times to retry an idempotent request (0: never;
            None: 3), or a :class:`urllib3.util.retry.Retry`. GET and HEAD are retried on 503
            and on a dropped connection, any request on a connection that could not be made;
            never a write the server may have seen. See :func:`pylxd_cluster.transport.make_retry`.

    With ``endpoint`` None the socket is found in the order ``lxc`` and ``incus`` use, LXD's
    first: ``$LXD_SOCKET``, ``$LXD_DIR/unix.socket``, ``$INCUS_SOCKET``,
    ``$INCUS_DIR/unix.socket``, then ``/var/snap/lxd/common/lxd/unix.socket`` (the snap),
    ``/var/lib/lxd/unix.socket`` (the package), ``/run/incus/unix.socket`` and
    ``/var/lib/incus/unix.socket``. A variable is someone's choice for this process, so it
    beats every default path, and if it names no socket that is an error (as in ``lxc``),
    never a reason to connect to another server. LXD comes before Incus because this client
    looked for LXD alone before, so a machine with both keeps reaching LXD; pass
    ``server="incus"`` (or ``"lxd"``) to look for one only. See
    :func:`pylxd_cluster.sockets.find_socket`. For a remote of ``lxc``'s or ``incus``'s
    configuration, see :meth:`from_remote`.

    Attributes:
        cluster: :class:`~pylxd_cluster.managers.ClusterManager`
            (``client.cluster.members``, ``.groups``, ``.tokens``, ``.certificate``, ``.config``,
            ``.service_groups``).
        operations: :class:`~pylxd_cluster.managers.OperationManager`.
        host_info: the metadata of ``GET /1.0``.
        server_info: :class:`~pylxd_cluster.server.ServerInfo`, what ``GET /1.0`` said,
            shared with the managers.

    Raises:
        ClientConnectionError: the server cannot be reached (or no socket was found: the
            message names every place looked at).
        APIError: the endpoint answered, but not as LXD does.
        ExtensionMissing: ``project`` other than ``"default"`` on a server without the
            ``projects`` API extension (pylxd raises ClientConnectionFailed there).
        ValueError: an unknown ``consistency`` or ``server``, ``server`` with an ``endpoint``,
            a ``version`` other than ``"1.0"``, a ``timeout`` or ``retries`` requests cannot use.
    """

    def __init__(
        self,
        endpoint: None | str | os.PathLike = None,
        cert: tuple[str, str] | None = None,
        verify: bool | str = True,
        timeout: TimeoutValue = None,
        session: requests.Session | None = None,
        consistency: str | None = None,
        server: str | None = None,
        project: str | None = None,
        version: str = API_VERSION,
        retries: int | Retry | None = None,
    ) -> None:
        self.version = check_version(version)
        self.project = project
        self.transport = Transport(endpoint, cert=cert, verify=verify, timeout=timeout,
                                   session=session, consistency=consistency, server=server,
                                   project=project, retries=retries)
        # Read once here: the managers check API extensions against it without a request.
        self.server_info = ServerInfo(self.transport, self.transport.request("GET", "/1.0").metadata or {})
        try:
            self._check_project()
        except ExtensionMissing:
            self.transport.close()
            raise
        self.operations = OperationManager(self.transport, server=self.server_info)
        self.cluster = ClusterManager(self.transport, self.operations, server=self.server_info)

    @classmethod
    def from_remote(
        cls,
        name: str | None = None,
        *,
        server: str | None = None,
        config_dir: str | os.PathLike | None = None,
        timeout: TimeoutValue = None,
        session: requests.Session | None = None,
        consistency: str | None = None,
        project: str | None = None,
        retries: int | Retry | None = None,
    ) -> Client:
        """A client for a remote of ``lxc``'s or ``incus``'s configuration (``lxc remote
        list``), with the same certificates: ``Client.from_remote("prod")``.

        ``name`` None is the default remote (``default-remote``; ``$LXC_REMOTE`` or
        ``$INCUS_REMOTE`` override it, as in those clients). The configuration is
        ``config_dir``'s ``config.yml`` if given, else ``lxc``'s (``$LXD_CONF``, else
        ``~/snap/lxd/common/config`` for the snap, else ``~/.config/lxc``) or ``incus``'s
        (``$INCUS_CONF``, else ``~/.config/incus``), as :func:`pylxd_cluster.remotes.find_config`
        says: a variable that is set decides, LXD's before Incus's; otherwise the first that
        exists. ``server="lxd"`` or ``"incus"`` reads that client's configuration only.
        ``timeout``, ``session``, ``consistency``, ``project`` and ``retries`` are as for
        :class:`Client`.

        A ``unix://`` remote (``local``) is the local socket, looked for as :class:`Client`
        does for that client's server; ``unix:///path`` is that socket. An ``https://`` remote
        is reached with the configuration's ``client.crt`` and ``client.key``, and the
        certificate pinned in ``servercerts/<name>.crt`` (by its SHA-256 fingerprint); a
        remote without a pinned certificate is checked against ``client.ca`` if there is one,
        else the system's CAs, as ``lxc`` does.

        Raises:
            RemoteConfigError: no configuration file (every file looked for named), no such
                remote (the known ones listed), an image server (protocol simplestreams, or
                public), missing client certificates, a pinned certificate that is not PEM,
                or a TLS failure against a remote without a pinned certificate.
            ClientConnectionError, APIError: as for :class:`Client`.
            ValueError: ``server`` is not None, ``"lxd"`` or ``"incus"``.
        """
        remote = remotes.load_remote(name, server=server, config_dir=config_dir)
        arguments = remote.connection()
        try:
            return cls(**arguments, timeout=timeout, session=session, consistency=consistency, project=project,
                       retries=retries)
        except ClientConnectionError as exc:
            error = remote_tls_error(remote, arguments, exc)
            if error is exc:
                raise
            raise error from exc

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
