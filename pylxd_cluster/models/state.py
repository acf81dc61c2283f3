"""A member's resources (``GET /1.0/cluster/members/<name>/state``)."""

from __future__ import annotations

from typing import Any

from pylxd_cluster.models.base import WireModel, as_dict, as_int, as_tuple, frozen_model, nested, wire_field
from pylxd_cluster.models.pack_state import PackState

__all__ = ["MemberState", "MemberSysInfo"]


@frozen_model
class MemberSysInfo(WireModel):
    """The ``sysinfo`` part: uptime in seconds, sizes in bytes."""

    uptime: int = wire_field(decode=as_int, default=0)
    load_averages: tuple[float, ...] = wire_field(decode=as_tuple, factory=tuple)
    total_ram: int = wire_field(decode=as_int, default=0)
    free_ram: int = wire_field(decode=as_int, default=0)
    shared_ram: int = wire_field(decode=as_int, default=0)
    buffered_ram: int = wire_field(decode=as_int, default=0)
    total_swap: int = wire_field(decode=as_int, default=0)
    free_swap: int = wire_field(decode=as_int, default=0)
    processes: int = wire_field(decode=as_int, default=0)
    logical_cpus: int = wire_field(decode=as_int, default=0)


@frozen_model
class MemberState(WireModel):
    """A member's state: ``sysinfo`` (:class:`MemberSysInfo`) and ``storage_pools``; on a
    pack daemon also ``pack`` (:class:`~pylxd_cluster.models.pack_state.PackState`), None
    on LXD and Incus."""

    sysinfo: MemberSysInfo = wire_field(codec=nested(MemberSysInfo), factory=MemberSysInfo)
    storage_pools: dict[str, Any] = wire_field(decode=as_dict, factory=dict)
    pack: PackState | None = wire_field(codec=(lambda value: None if value is None else PackState.from_api(value),
                                               lambda value: value.to_api()), default=None, omit_if_none=True)

    def _repr_html_(self) -> str:
        from pylxd_cluster.display import member_state_html

        return member_state_html(self)
