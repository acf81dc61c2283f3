"""Events from ``/1.0/events``."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from pylxd_cluster.models.base import (
    ModelList,
    WireModel,
    as_dict,
    as_str,
    as_timestamp,
    frozen_model,
    hide_secrets,
    masked_repr,
    wire_field,
)
from pylxd_cluster.timestamps import Timestamp

__all__ = ["Event", "EventList"]


@frozen_model
class Event(WireModel):
    """One event. For ``type == "lifecycle"``, ``action``/``source``/``name`` read the metadata."""

    type: str = wire_field(decode=as_str, default="")
    timestamp: Timestamp | None = wire_field(decode=as_timestamp, default=None)
    metadata: dict[str, Any] = wire_field(decode=as_dict, factory=dict)
    location: str = wire_field(decode=as_str, default="")
    project: str = wire_field(decode=as_str, default="")

    @property
    def action(self) -> str | None:
        """The lifecycle action (e.g. ``cluster-member-updated``), or None."""
        return self.metadata.get("action") if self.type == "lifecycle" else None

    @property
    def source(self) -> str | None:
        """The lifecycle source path (e.g. ``/1.0/cluster/members/node1``), or None."""
        return self.metadata.get("source") if self.type == "lifecycle" else None

    @property
    def name(self) -> str | None:
        """The object's name: metadata ``name`` if sent, else the source's last segment."""
        if self.type != "lifecycle":
            return None
        if self.metadata.get("name"):
            return self.metadata["name"]
        source = self.source or ""
        return unquote(source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]) or None

    @property
    def context(self) -> dict[str, Any]:
        """The lifecycle context (e.g. ``{"old_name": ...}`` for a rename), or {}."""
        return dict(self.metadata.get("context") or {})

    def __repr__(self) -> str:
        # An operation event carries the operation's metadata, a token's secret among it.
        return masked_repr(self, metadata=hide_secrets(self.metadata))

    def _repr_html_(self) -> str:
        from pylxd_cluster.display import event_html

        return event_html(self)


class EventList(ModelList):
    """Events gathered from a stream (``EventList(itertools.islice(stream, 10))``): a tuple
    with a rich display, one row per event (secrets in metadata hidden)."""

    __slots__ = ()
    _name_attribute = "name"
    _noun = "event about"
    _plural = "events about"

    def _html(self) -> str:
        from pylxd_cluster.display import events_html

        return events_html(self)
