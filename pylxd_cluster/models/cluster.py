"""The cluster object (``/1.0/cluster``)."""

from __future__ import annotations

from typing import Any

from pylxd_cluster.models.base import ServerModel, WireModel, as_bool, as_str, frozen_model, nested_tuple, wire_field

__all__ = ["Cluster", "MemberConfigKey"]


@frozen_model
class MemberConfigKey(WireModel):
    """A configuration key a joining member must provide (e.g. a storage pool source)."""

    entity: str = wire_field(decode=as_str, default="")
    name: str = wire_field(decode=as_str, default="")
    key: str = wire_field(decode=as_str, default="")
    value: str = wire_field(decode=as_str, default="")
    description: str = wire_field(decode=as_str, default="")


@frozen_model
class Cluster(ServerModel):
    """``GET /1.0/cluster``: the answering server's name and whether clustering is on.

    ``members``, ``groups`` and ``tokens`` are the managers (no request is made
    until you call one of their methods).
    """

    server_name: str = wire_field(decode=as_str, default="")
    enabled: bool = wire_field(decode=as_bool, default=False)
    member_config: tuple[MemberConfigKey, ...] = wire_field(
        codec=nested_tuple(MemberConfigKey), factory=tuple
    )

    @property
    def members(self) -> Any:
        """The :class:`~pylxd_cluster.managers.MemberManager`."""
        return self.manager.members

    @property
    def groups(self) -> Any:
        """The :class:`~pylxd_cluster.managers.GroupManager`."""
        return self.manager.groups

    @property
    def tokens(self) -> Any:
        """The :class:`~pylxd_cluster.managers.TokenManager`."""
        return self.manager.tokens

    def refresh(self) -> Cluster:
        """Read the cluster object again; returns a new instance.

        Raises:
            ClusterError: no manager, or any transport error.
        """
        return self.manager.get()

    def _repr_html_(self) -> str:
        from pylxd_cluster.display import cluster_html

        return cluster_html(self)
