"""Service groups (``/1.0/cluster/service-groups/<name>``, API extension ``pack_service_groups``).

A service group is VyOS's ``cluster group``: addresses and services that one pack member
holds at a time, failing over between its primary and its secondaries. The pack daemons
serve them; LXD and the mock server do not. Each object is the group as the answering
member sees it: its definition, its owner (``epoch`` counts the changes of owner), whether
the owner holds it now (``status``), and each member's state and monitor reachability.
"""

from __future__ import annotations

from pylxd_cluster.models.base import (
    ModelList,
    ServerModel,
    WireModel,
    as_bool,
    as_dict,
    as_int,
    as_str,
    as_tuple,
    frozen_model,
    nested_tuple,
    wire_field,
)

__all__ = [
    "ServiceGroup",
    "ServiceGroupList",
    "ServiceGroupMember",
    "GROUP_STATUSES",
    "MEMBER_STATUSES",
    "MONITOR_WORDS",
    "service_label",
]

#: A group's ``status``: its owner holds it; it is assigned and the takeover is under way;
#: it has nowhere to run.
GROUP_STATUSES = ("Active", "Starting", "Down")
#: A member's ``status`` in a group: it holds the group; it could take it over; it is not
#: alive; it is evacuated.
MEMBER_STATUSES = ("Active", "Standby", "Offline", "Evacuated")
#: What a member reports of a monitor address.
MONITOR_WORDS = ("Reachable", "Unreachable", "Unknown")

_EXEC = "exec:"


def service_label(service: str) -> str:
    """A service as displays show it: addresses and units as they are, an ``exec`` service by
    its program alone (``exec:/usr/bin/x start --token=...`` -> ``exec:/usr/bin/x ...``).

    Command arguments may carry credentials, and displays end up in terminals, logs and
    notebooks; :attr:`ServiceGroup.services` (and ``--format json``) keep them whole.
    """
    if not service.startswith(_EXEC):
        return service
    program, _, arguments = service[len(_EXEC):].strip().partition(" ")
    return f"{_EXEC}{program}" + (" ..." if arguments.strip() else "")


@frozen_model
class ServiceGroupMember(WireModel):
    """One member of a service group, as the answering member sees it.

    Attributes:
        name: the pack member.
        role: ``primary`` or ``secondary``.
        status: ``Active`` (it holds the group), ``Standby`` (alive and available: it could
            take the group over), ``Offline`` (not alive) or ``Evacuated``.
        this_node: whether it is the member that answered.
        monitors: ``{monitor address: word}``, the word being what that member last reported:
            ``Reachable``, ``Unreachable`` or ``Unknown`` (it has not reported yet).
    """

    name: str = wire_field(decode=as_str, default="")
    role: str = wire_field(decode=as_str, default="")
    status: str = wire_field(decode=as_str, default="")
    this_node: bool = wire_field(decode=as_bool, default=False)
    monitors: dict[str, str] = wire_field(decode=as_dict, factory=dict)

    @property
    def is_primary(self) -> bool:
        return self.role == "primary"

    @property
    def active(self) -> bool:
        """Whether it holds the group now."""
        return self.status == "Active"


@frozen_model
class ServiceGroup(ServerModel):
    """A service group: its definition, where it runs, and each member's state.

    Attributes:
        name: the group's name.
        primary: the member that owns it when it can.
        secondary: the members that take over, in order.
        services: what it holds, in order, as text: addresses ``198.51.100.10/24/eth0``,
            systemd units ``nginx.service``, ``exec:<start command>``.
        monitors: addresses the owner must reach.
        auto_failback: whether it moves back to the primary once that has been healthy for
            ``failback_delay`` milliseconds.
        failback_delay: milliseconds (see ``auto_failback``).
        owner: the member the pack assigned it to ("" for none).
        epoch: the ownership's term: it grows with every change of owner.
        requested: the member an operator moved it to ("" when none; the request lasts
            while that member can own the group).
        status: ``Active`` (the owner holds it), ``Starting`` (assigned, the takeover is
            under way) or ``Down`` (nowhere to run).
        message: why it is where it is, and what else the status says (e.g. a monitor no
            member reaches).
        members: a :class:`ServiceGroupMember` per member, primary first.
    """

    name: str = wire_field(decode=as_str, default="")
    primary: str = wire_field(decode=as_str, default="")
    secondary: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple)
    services: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple)
    monitors: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple)
    auto_failback: bool = wire_field(decode=as_bool, default=False)
    failback_delay: int = wire_field(decode=as_int, default=0)
    owner: str = wire_field(decode=as_str, default="")
    epoch: int = wire_field(decode=as_int, default=0)
    requested: str = wire_field(decode=as_str, default="")
    status: str = wire_field(decode=as_str, default="")
    message: str = wire_field(decode=as_str, default="")
    members: tuple[ServiceGroupMember, ...] = wire_field(codec=nested_tuple(ServiceGroupMember), factory=tuple)

    @property
    def active(self) -> bool:
        """Whether its owner holds it now (``status == "Active"``)."""
        return self.status == "Active"

    @property
    def active_on(self) -> str | None:
        """The member holding it now, or None (Starting or Down)."""
        return (self.owner or None) if self.active else None

    @property
    def member_names(self) -> tuple[str, ...]:
        """The primary, then the secondaries."""
        return (self.primary, *self.secondary)

    @property
    def this_node(self) -> str | None:
        """The name of the answering member, when it is a member of the group."""
        return next((m.name for m in self.members if m.this_node), None)

    def member(self, name: str) -> ServiceGroupMember:
        """The state of member ``name`` in this group.

        Raises:
            KeyError: ``name`` is not a member of the group (the message lists those that are).
        """
        for member in self.members:
            if member.name == name:
                return member
        raise KeyError(f"{name!r} is not a member of service group {self.name!r} "
                       f"(members: {', '.join(m.name for m in self.members) or 'none'})")

    def describe(self) -> str:
        """One line: ``web: Active on node1 (epoch 3)``, ``web: Starting on node2 (epoch 4, moved
        to node2 by an operator)``, ``web: Down (epoch 5): no member of the group is alive and
        available``."""
        where = f"{self.status} on {self.owner}" if self.status in ("Active", "Starting") and self.owner \
            else self.status or "Unknown"
        requested = f", moved to {self.requested} by an operator" if self.requested else ""
        why = f": {self.message}" if self.message and where == self.status else ""
        return f"{self.name}: {where} (epoch {self.epoch}{requested}){why}"

    def refresh(self) -> ServiceGroup:
        """Read the group again; returns a NEW instance (models are frozen).

        Raises:
            NotFound: the group no longer exists.
            NotImplementedByServer: the server lacks the ``pack_service_groups`` extension.
            ClusterError: no manager, or any transport error.
        """
        return self.manager.get(self.name)

    def move(self, member: str | None, *, wait: bool = False, timeout: float | None = None) -> ServiceGroup | None:
        """Move the group to ``member`` (None or "": hand it back to the rules); see
        :meth:`~pylxd_cluster.managers.ServiceGroupManager.move`.

        Raises:
            APIError: 400 for a member that is not in the group or cannot own it now;
                503 on a pack without a leader.
            NotFound: the group no longer exists.
            Timeout: ``wait`` and it is not Active there within ``timeout`` seconds.
            OutcomeUnknown: the pack could not say whether the move was committed.
        """
        return self.manager.move(self.name, member, wait=wait, timeout=timeout)

    def clear_request(self) -> None:
        """Hand the group back to the rules; see
        :meth:`~pylxd_cluster.managers.ServiceGroupManager.clear_request`.

        Raises:
            NotFound: the group no longer exists.
            APIError: 503 on a pack without a leader.
            OutcomeUnknown: the pack could not say whether the change was committed.
        """
        return self.manager.clear_request(self.name)

    def __repr__(self) -> str:
        members = " ".join(f"{m.name}={m.status}" for m in self.members)
        return f"<ServiceGroup {self.describe()}; members {members or 'none'}>"

    def _repr_html_(self) -> str:
        from pylxd_cluster.display import service_group_html

        return service_group_html(self)


class ServiceGroupList(ModelList):
    """The service groups of a pack: a tuple, plus lookup by name and rich display."""

    __slots__ = ()
    _noun = "service group"
    _plural = "service groups"

    def by_name(self, name: str) -> ServiceGroup:
        """The group called ``name``.

        Raises:
            KeyError: no group has that name (the message lists the names there are).
        """
        return super().by_name(name)

    def table(self) -> str:
        """A text table, as ``pylxd-cluster service-group list`` prints it."""
        from pylxd_cluster.display import service_groups_table

        return service_groups_table(self)

    def _html(self) -> str:
        from pylxd_cluster.display import service_groups_html

        return service_groups_html(self)
