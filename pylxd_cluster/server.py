"""What the client knows about the server it talks to: ``GET /1.0``, read once and kept.

:class:`ServerInfo` holds the reply; the managers ask it whether the server has an API
extension before they send a request that needs one (see
:func:`pylxd_cluster.managers.base.requires`), and it raises
:class:`~pylxd_cluster.exceptions.ExtensionMissing` when it has not.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from pylxd_cluster.exceptions import ClusterError, ExtensionMissing, server_label
from pylxd_cluster.protocol import Plan, Request

__all__ = ["ServerInfo", "EXTENSIONS", "version_at_least"]

#: The API extensions SDK calls check, each with (what it provides, which servers have it).
#: Sources: LXD's and Incus's doc/api-extensions.md and version/api.go at their release
#: tags, and the golden GET /1.0 of LXD 5.0.2 (it has the first five).
EXTENSIONS: Mapping[str, tuple[str, str]] = {
    "clustering": ("the cluster API, /1.0/cluster", "every LXD since 3.0, and Incus"),
    "clustering_join_token": ("join tokens, POST /1.0/cluster/members", "LXD 5.0 or later, and Incus"),
    "clustering_update_cert": ("PUT /1.0/cluster/certificate", "LXD 5.0 or later, and Incus"),
    "clustering_evacuation": ("POST /1.0/cluster/members/<name>/state: evacuate and restore",
                              "LXD 5.0 or later, and Incus"),
    "clustering_groups": ("cluster groups, /1.0/cluster/groups", "LXD 5.0 or later, and Incus"),
    "cluster_member_state": ("GET /1.0/cluster/members/<name>/state", "LXD 5.11 or later, and Incus"),
    "clustering_evacuation_force": ('evacuate with "force": true', "LXD 6.9 or later (Incus has no force)"),
    "clustering_restore_skip_mode": ('restore with mode "skip"',
                                     "LXD 6.4 or later and 5.21.4 or later, and Incus 6.22 or later, which "
                                     "takes it without advertising this extension (an older Incus ignores the "
                                     "mode and restarts the instances)"),
    "pack_configuration": ("the shared configuration of a pack, /1.0/cluster/config",
                           "pylxd-cluster's mock server and pack daemons, not LXD nor Incus"),
    "pack_service_groups": ("service groups, /1.0/cluster/service-groups",
                            "pylxd-cluster's pack daemons, not LXD, Incus nor the mock server"),
}


class ServerInfo:
    """The server's ``GET /1.0``, read once and kept; shared by a client and its managers.

    Args:
        transport: the connection; used only to read ``GET /1.0`` when ``host_info`` is None.
        host_info: the metadata of ``GET /1.0`` already read (the :class:`~pylxd_cluster.Client`
            reads it when it connects); None: read it on the first question, once.
        api_extensions: a function returning the server's API extensions, to use instead of
            those of ``host_info`` (what managers were given before this class existed).

    When it has to read ``GET /1.0``, the first question may raise what any request raises
    (``ClientConnectionError``, ``Timeout``, ``APIError``); nothing is kept then, so the next
    question reads again.
    """

    def __init__(self, transport: Any, host_info: Mapping[str, Any] | None = None, *,
                 api_extensions: Callable[[], Iterable[str]] | None = None) -> None:
        self._transport = transport
        # Kept as given (the Client's host_info is this very dict), a copy if not a dict.
        self._host_info: dict[str, Any] | None = (
            host_info if isinstance(host_info, dict) or host_info is None else dict(host_info))
        self._api_extensions_of = api_extensions
        self._extensions: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        known = self.label if self._host_info is not None else "not read yet"
        return f"<ServerInfo {known} at {self._transport.endpoint}>"

    @property
    def loaded(self) -> bool:
        """Whether the extensions are known without a request."""
        return self._host_info is not None or self._api_extensions_of is not None

    def learn(self, host_info: Mapping[str, Any]) -> None:
        """Keep ``host_info``, the metadata of a ``GET /1.0`` read by someone else."""
        self._host_info = dict(host_info)
        self._extensions = None

    def require_plan(self, extension: str, call: str = "", versions: Mapping[str, str] | None = None) -> Plan[None]:
        """:meth:`require` as a plan (see :mod:`pylxd_cluster.protocol`): reads ``GET /1.0``
        through the plan's transport first if it was not read yet, so that an async client's
        managers check without blocking.

        Raises:
            ExtensionMissing: as :meth:`require`.
        """
        if not self.loaded:
            result = yield Request("GET", "/1.0")
            self.learn(result.metadata or {})
        self.require(extension, call=call, versions=versions)

    @property
    def host_info(self) -> dict[str, Any]:
        """The metadata of ``GET /1.0`` (read now if it was not given and not read yet)."""
        if self._host_info is None:
            if getattr(self._transport, "is_async", False):
                raise ClusterError(f"GET /1.0 of {self._transport.endpoint} was not read yet: use `async with "
                                   "AsyncClient(...)`, `await AsyncClient.connect(...)` or `await client.open()`")
            self._host_info = self._transport.request("GET", "/1.0").metadata or {}
        return self._host_info

    @property
    def environment(self) -> dict[str, Any]:
        """The server's environment (empty for an untrusted client, and, without reading
        ``GET /1.0``, when the extensions come from an ``api_extensions`` function)."""
        if self._host_info is None and self._api_extensions_of is not None:
            return {}
        return self.host_info.get("environment") or {}

    @property
    def server(self) -> str:
        """``environment.server``: ``"lxd"`` or ``"incus"`` (``""`` when it did not say, e.g.
        to an untrusted client). The mock server and the pack daemons say ``"lxd"``."""
        return str(self.environment.get("server") or "")

    @property
    def server_version(self) -> str:
        """``environment.server_version`` (e.g. ``"5.0.2"``; ``""`` when it did not say)."""
        return str(self.environment.get("server_version") or "")

    @property
    def label(self) -> str:
        """``"LXD 5.0.2"``, ``"Incus 6.0.4"``, or ``"the server"`` when it did not say."""
        return server_label(self.server, self.server_version)

    @property
    def api_extensions(self) -> tuple[str, ...]:
        """The API extensions the server advertises (read once)."""
        if self._extensions is None:
            if self._api_extensions_of is not None:
                self._extensions = tuple(self._api_extensions_of())
            else:
                self._extensions = tuple(self.host_info.get("api_extensions") or ())
        return self._extensions

    def has_api_extension(self, name: str) -> bool:
        return name in self.api_extensions

    def require(self, extension: str, call: str = "", versions: Mapping[str, str] | None = None) -> None:
        """Return if the server advertises ``extension`` (or, for a server named in
        ``versions``, which gives the feature without the extension, if its version is at
        least the one given there); else raise.

        Raises:
            ExtensionMissing: it does not; the message names ``call``, the extension, what
                it provides, the server and its version, and what to do.
        """
        minimum = versions.get(self.server) if versions else None
        if minimum is not None:
            if version_at_least(self.server_version, minimum):
                return
        elif extension in self.api_extensions:
            return
        what, available = EXTENSIONS.get(extension, ("", ""))
        raise ExtensionMissing(extension, call=call, server=self.server, server_version=self.server_version,
                               endpoint=self._transport.endpoint, what=what, available=available)


def version_at_least(version: str, minimum: str) -> bool:
    """``version_at_least("6.0.4", "6.22")`` is False; an unknown or unparsable version is
    never enough."""
    def numbers(text: str) -> tuple[int, ...] | None:
        parts = text.strip().split(".")
        if not text.strip() or not all(part.isdigit() for part in parts):
            return None
        return tuple(int(part) for part in parts)

    have, want = numbers(version), numbers(minimum)
    return have is not None and want is not None and have >= want
