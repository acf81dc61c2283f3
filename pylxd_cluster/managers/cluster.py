"""The cluster itself: ``/1.0/cluster`` and ``/1.0/cluster/certificate``."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from pylxd_cluster.managers.base import Manager, api_call, api_path, requires
from pylxd_cluster.managers.configuration import ConfigurationManager
from pylxd_cluster.managers.groups import GroupManager
from pylxd_cluster.managers.members import MemberManager
from pylxd_cluster.managers.operations import OperationManager
from pylxd_cluster.managers.service_groups import ServiceGroupManager
from pylxd_cluster.managers.tokens import TokenManager
from pylxd_cluster.models.cluster import Cluster
from pylxd_cluster.models.operation import Operation
from pylxd_cluster.protocol import Plan
from pylxd_cluster.server import ServerInfo

__all__ = ["ClusterManager", "CertificateManager"]


class CertificateManager(Manager):
    """``client.cluster.certificate``: replace the cluster's certificate."""

    call_prefix = "cluster.certificate"

    @api_call
    @requires("clustering_update_cert")
    def put(self, cert: str, key: str) -> Plan[None]:
        """Replace the cluster certificate and key (PEM text), on every member.

        Raises:
            APIError: 400 when either is not valid PEM.
            ExtensionMissing: the server lacks ``clustering_update_cert`` (nothing is sent).
        """
        body = {"cluster_certificate": cert, "cluster_certificate_key": key}
        yield self._request("PUT", api_path("cluster", "certificate"), json=body)


class ClusterManager(Manager):
    """``client.cluster``: the cluster object, and the managers for what it contains.

    Attributes:
        members: :class:`MemberManager`
        groups: :class:`GroupManager`
        tokens: :class:`TokenManager`
        certificate: :class:`CertificateManager`
        config: :class:`ConfigurationManager` (a pack's shared configuration,
            ``/1.0/cluster/config``; our API extension ``pack_configuration``)
        service_groups: :class:`ServiceGroupManager` (a pack's service groups,
            ``/1.0/cluster/service-groups``; our API extension ``pack_service_groups``)

    Every manager checks the API extensions a call needs (see :data:`pylxd_cluster.server.EXTENSIONS`)
    with ``server``, the :class:`~pylxd_cluster.server.ServerInfo` they share (the client's:
    nothing is sent to check); without one, the first check reads ``GET /1.0``, once.
    ``api_extensions`` (a function returning the server's API extensions) is the older way
    to give them.
    """

    call_prefix = "cluster"

    def __init__(self, transport: Any, operations: OperationManager | None = None,
                 api_extensions: Callable[[], Iterable[str]] | None = None, *,
                 server: ServerInfo | None = None) -> None:
        operations = operations or OperationManager(transport)
        super().__init__(transport, operations, server=server, api_extensions=api_extensions)
        shared = {"server": self._server}
        self.members = MemberManager(transport, operations, **shared)
        self.groups = GroupManager(transport, operations, **shared)
        self.tokens = TokenManager(transport, operations, **shared)
        self.certificate = CertificateManager(transport, operations, **shared)
        self.config = ConfigurationManager(transport, operations, **shared)
        self.service_groups = ServiceGroupManager(transport, operations, **shared)

    @api_call
    @requires("clustering")
    def get(self) -> Plan[Cluster]:
        """``GET /1.0/cluster`` (with its ETag). A standalone server gives enabled=False.

        Raises:
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        return (yield from self._get_model(api_path("cluster"), Cluster))

    @api_call
    @requires("clustering")
    def enable(self, server_name: str, wait: bool = True,
               timeout: float | None = None) -> Plan[Operation]:
        """Turn clustering on, with this server as the first member called ``server_name``.

        The server needs ``core.https_address`` set. Returns the final Operation when
        ``wait`` (else the running one).

        Raises:
            OperationError: bootstrapping failed (e.g. the server is already clustered).
            Timeout: not finished after ``timeout`` seconds.
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        result = yield self._request("PUT", api_path("cluster"),
                               json={"server_name": server_name, "enabled": True})
        return (yield from self._finish(result, wait, timeout))

    @api_call
    @requires("clustering")
    def disable(self) -> Plan[None]:
        """Turn clustering off on a cluster of one member (``PUT {"enabled": false}``).

        Raises:
            APIError: the server refuses (e.g. other members remain).
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        result = yield self._request("PUT", api_path("cluster"),
                               json={"server_name": "", "enabled": False})
        if result.is_async:
            yield from self._finish(result, wait=True, timeout=None)
