"""The cluster itself: ``/1.0/cluster`` and ``/1.0/cluster/certificate``."""

from __future__ import annotations

from typing import Callable, Iterable

from pylxd_cluster.managers.base import Manager, api_path
from pylxd_cluster.managers.configuration import ConfigurationManager
from pylxd_cluster.managers.groups import GroupManager
from pylxd_cluster.managers.members import MemberManager
from pylxd_cluster.managers.operations import OperationManager
from pylxd_cluster.managers.service_groups import ServiceGroupManager
from pylxd_cluster.managers.tokens import TokenManager
from pylxd_cluster.models.cluster import Cluster
from pylxd_cluster.models.operation import Operation
from pylxd_cluster.transport import Transport

__all__ = ["ClusterManager", "CertificateManager"]


class CertificateManager(Manager):
    """``client.cluster.certificate``: replace the cluster's certificate."""

    def put(self, cert: str, key: str) -> None:
        """Replace the cluster certificate and key (PEM text), on every member.

        Raises:
            APIError: 400 when either is not valid PEM.
        """
        body = {"cluster_certificate": cert, "cluster_certificate_key": key}
        self._request("PUT", api_path("cluster", "certificate"), json=body)


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

    ``api_extensions`` (a function returning the server's API extensions) saves
    :class:`ConfigurationManager` and :class:`ServiceGroupManager` their own ``GET /1.0``
    when given.
    """

    def __init__(self, transport: Transport, operations: OperationManager | None = None,
                 api_extensions: Callable[[], Iterable[str]] | None = None) -> None:
        operations = operations or OperationManager(transport)
        super().__init__(transport, operations)
        self.members = MemberManager(transport, operations)
        self.groups = GroupManager(transport, operations)
        self.tokens = TokenManager(transport, operations)
        self.certificate = CertificateManager(transport, operations)
        self.config = ConfigurationManager(transport, operations, api_extensions=api_extensions)
        self.service_groups = ServiceGroupManager(transport, operations, api_extensions=api_extensions)

    def get(self) -> Cluster:
        """``GET /1.0/cluster`` (with its ETag). A standalone server gives enabled=False."""
        return self._get_model(api_path("cluster"), Cluster)

    def enable(self, server_name: str, wait: bool = True,
               timeout: float | None = None) -> Operation:
        """Turn clustering on, with this server as the first member called ``server_name``.

        The server needs ``core.https_address`` set. Returns the final Operation when
        ``wait`` (else the running one).

        Raises:
            OperationError: bootstrapping failed (e.g. the server is already clustered).
            Timeout: not finished after ``timeout`` seconds.
        """
        result = self._request("PUT", api_path("cluster"),
                               json={"server_name": server_name, "enabled": True})
        return self._finish(result, wait, timeout)

    def disable(self) -> None:
        """Turn clustering off on a cluster of one member (``PUT {"enabled": false}``).

        Raises:
            APIError: the server refuses (e.g. other members remain).
        """
        result = self._request("PUT", api_path("cluster"),
                               json={"server_name": "", "enabled": False})
        if result.is_async:
            self._finish(result, wait=True, timeout=None)
