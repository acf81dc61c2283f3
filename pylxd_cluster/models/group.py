"""Cluster groups (``/1.0/cluster/groups/<name>``)."""

from __future__ import annotations

from pylxd_cluster.models.base import ModelList, ServerModel, as_str, as_tuple, frozen_model, wire_field

__all__ = ["ClusterGroup", "GroupList"]


def _optional_tuple(value) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@frozen_model
class ClusterGroup(ServerModel):
    """A cluster group. ``used_by`` is None when the server does not send it (LXD 5.0)."""

    description: str = wire_field(decode=as_str, default="", writable=True)
    members: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple, writable=True)
    name: str = wire_field(decode=as_str, default="")
    used_by: tuple[str, ...] | None = wire_field(
        decode=_optional_tuple, encode=list, default=None, omit_if_none=True
    )

    def refresh(self) -> ClusterGroup:
        """Read the group again; returns a new instance.

        Raises:
            NotFound: the group no longer exists.
        """
        return self.manager.get(self.name)

    def save(self) -> None:
        """PUT description and members (If-Match is sent, though LXD 5.0 ignores it for groups).

        Raises:
            NotFound: the group or one of its members does not exist.
            PreconditionFailed: the group changed since it was read (servers that check).
        """
        return self.manager.save(self)

    def rename(self, new_name: str) -> None:
        """Rename the group; this instance keeps the old name.

        Raises:
            Forbidden: the "default" group cannot be renamed.
            APIError: e.g. the new name is already in use.
        """
        return self.manager.rename(self.name, new_name)

    def delete(self) -> None:
        """Delete the group (it must be empty).

        Raises:
            Forbidden: the "default" group cannot be deleted.
            APIError: the group still has members, or does not exist.
        """
        return self.manager.delete(self.name)

    def _repr_html_(self) -> str:
        from pylxd_cluster.display import groups_html

        return groups_html([self])


class GroupList(ModelList):
    """The cluster groups: a tuple, plus lookup by name, a text table and rich display."""

    __slots__ = ()
    _noun = "cluster group"
    _plural = "groups"

    def by_name(self, name: str) -> ClusterGroup:
        """The group called ``name``.

        Raises:
            KeyError: no group has that name (the message lists the names there are).
        """
        return super().by_name(name)

    def table(self) -> str:
        """A text table like ``lxc cluster group list``."""
        from pylxd_cluster.display import groups_table

        return groups_table(self)

    def _html(self) -> str:
        from pylxd_cluster.display import groups_html

        return groups_html(self)
