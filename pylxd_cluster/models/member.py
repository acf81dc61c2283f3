"""Cluster members (``/1.0/cluster/members/<name>``) and lists of them."""

from __future__ import annotations

from typing import Any

from pylxd_cluster.models.base import (
    ModelList,
    ServerModel,
    as_bool,
    as_dict,
    as_str,
    as_tuple,
    frozen_model,
    wire_field,
)

__all__ = ["ClusterMember", "MemberList"]


@frozen_model
class ClusterMember(ServerModel):
    """One cluster member, as ``GET /1.0/cluster/members/<name>`` returns it.

    Fields are declared in LXD's wire order; the first five are the writable
    part (ClusterMemberPut) that :meth:`save` sends. ``groups`` is an empty tuple
    when the server sends null (a member removed from every group).
    """

    roles: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple, writable=True)
    failure_domain: str = wire_field(decode=as_str, default="", writable=True)
    description: str = wire_field(decode=as_str, default="", writable=True)
    config: dict[str, str] = wire_field(decode=as_dict, factory=dict, writable=True)
    groups: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple, writable=True)
    server_name: str = wire_field(decode=as_str, default="")
    url: str = wire_field(decode=as_str, default="")
    database: bool = wire_field(decode=as_bool, default=False)
    status: str = wire_field(decode=as_str, default="")
    message: str = wire_field(decode=as_str, default="")
    architecture: str = wire_field(decode=as_str, default="")

    @property
    def name(self) -> str:
        """Same as ``server_name``."""
        return self.server_name

    def refresh(self) -> ClusterMember:
        """Read the member again; returns a NEW instance (models are frozen).

        Raises:
            NotFound: the member no longer exists (or was renamed).
            ClusterError: no manager, or any transport error.
        """
        return self.manager.get(self.server_name)

    def save(self) -> None:
        """PUT the writable fields, with If-Match of the ETag this instance was read with.

        Edit with :meth:`evolve` first: ``member.evolve(description="x").save()``.

        Raises:
            PreconditionFailed: the member changed on the server since it was read;
                refresh() and retry.
            NotFound: the member no longer exists.
            APIError: the server refused the values (e.g. 400 for roles it will not drop).
        """
        return self.manager.save(self)

    def rename(self, new_name: str) -> None:
        """Rename the member; this instance keeps the old name (read the new one with get()).

        Raises:
            APIError: e.g. 500 for an unknown member on LXD 5.0.
        """
        return self.manager.rename(self.server_name, new_name)

    def delete(self, force: bool = False) -> None:
        """Remove the member from the cluster (``force`` skips the member's own cleanup).

        Raises:
            NotFound: no such member.
            APIError: e.g. 500 "Member is the only member in the cluster".
        """
        return self.manager.delete(self.server_name, force=force)

    def evacuate(self, mode: str | None = None, force: bool = False, wait: bool = True,
                 timeout: float | None = None) -> Any:
        """Evacuate the member; see :meth:`MemberManager.evacuate`.

        Raises:
            OperationError: the evacuation failed (e.g. already evacuated).
            Timeout, NotFound, APIError.
        """
        return self.manager.evacuate(self.server_name, mode=mode, force=force, wait=wait,
                                     timeout=timeout)

    def restore(self, mode: str | None = None, wait: bool = True,
                timeout: float | None = None) -> Any:
        """Restore an evacuated member; see :meth:`MemberManager.restore`.

        Raises:
            OperationError: the restore failed (e.g. already restored).
            Timeout, NotFound, APIError.
        """
        return self.manager.restore(self.server_name, mode=mode, wait=wait, timeout=timeout)

    def state(self) -> Any:
        """The member's resources (:class:`MemberState`).

        Raises:
            NotImplementedByServer: LXD 5.0 answers 501 for member state.
        """
        return self.manager.state(self.server_name)

    def _repr_html_(self) -> str:
        from pylxd_cluster.display import member_html

        return member_html(self)


class MemberList(ModelList):
    """The members of a cluster: a tuple, plus lookup by name and rich display."""

    __slots__ = ()
    _name_attribute = "server_name"
    _noun = "cluster member"
    _plural = "members"

    def by_name(self, name: str) -> ClusterMember:
        """The member called ``name``.

        Raises:
            KeyError: no member has that name (the message lists the names there are).
        """
        return super().by_name(name)

    def table(self) -> str:
        """A text table like ``lxc cluster list``."""
        from pylxd_cluster.display import members_table

        return members_table(self)

    def _html(self) -> str:
        from pylxd_cluster.display import members_html

        return members_html(self)
