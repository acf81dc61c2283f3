"""The ``pack`` part of a pack daemon's member state (``GET /1.0/cluster/members/<name>/state``
on a reference daemon; real LXD and Incus servers have none): who leads, what each
discovery strategy found, and where the start-up barrier stands."""

from __future__ import annotations

from typing import Any

from pylxd_cluster.models.base import (
    WireModel,
    as_dict,
    as_int,
    as_str,
    as_timestamp,
    as_tuple,
    frozen_model,
    nested,
    nested_tuple,
    wire_field,
)

__all__ = ["PackState", "DiscoveryStatus", "BarrierStatus"]


@frozen_model
class DiscoveryStatus(WireModel):
    """One discovery strategy: what it proposes (``host:port``), when it last answered, and
    its last error (it keeps what it found while it fails)."""

    strategy: str = wire_field(decode=as_str, default="")
    found: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple)
    updated_at: Any = wire_field(decode=as_timestamp, default=None)
    error: str | None = wire_field(default=None)
    error_at: Any = wire_field(decode=as_timestamp, default=None)
    problems: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple)
    polls: int = wire_field(decode=as_int, default=0)
    failures: int = wire_field(decode=as_int, default=0)

    @property
    def failing(self) -> bool:
        return self.error is not None


@frozen_model
class BarrierStatus(WireModel):
    """The start-up barrier (``wait-for-members``): ``status`` is ``none``, ``waiting``,
    ``met`` or ``timed out``."""

    status: str = wire_field(decode=as_str, default="none")
    members: int | None = wire_field(default=None)
    timeout: int = wire_field(decode=as_int, default=0)
    online: int = wire_field(decode=as_int, default=0)
    waited_ms: int | None = wire_field(default=None)


@frozen_model
class PackState(WireModel):
    """A pack daemon's own view: the leader and term, each member as heard (``members``:
    ``{name: {status, incarnation, last_heard, last_heard_seconds}}``), its counters, the
    shared document, the service groups, discovery and the barrier. Other keys are in
    ``extra``."""

    incarnation: int = wire_field(decode=as_int, default=0)
    leader: str = wire_field(decode=as_str, default="")
    term: int = wire_field(decode=as_int, default=0)
    conflict: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple)
    members: dict[str, Any] = wire_field(decode=as_dict, factory=dict)
    counters: dict[str, int] = wire_field(decode=as_dict, factory=dict)
    pid: int = wire_field(decode=as_int, default=0)
    document: dict[str, Any] = wire_field(decode=as_dict, factory=dict)
    groups: dict[str, Any] = wire_field(decode=as_dict, factory=dict)
    monitors: dict[str, Any] = wire_field(decode=as_dict, factory=dict)
    discovery: tuple[DiscoveryStatus, ...] = wire_field(codec=nested_tuple(DiscoveryStatus), factory=tuple)
    barrier: BarrierStatus = wire_field(codec=nested(BarrierStatus), factory=BarrierStatus)

    def _repr_html_(self) -> str:
        from pylxd_cluster.display import pack_state_html

        return pack_state_html(self)
