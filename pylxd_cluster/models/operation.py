"""Background operations (``/1.0/operations/<id>``)."""

from __future__ import annotations

from typing import Any

from pylxd_cluster.models.base import (
    ModelList,
    ServerModel,
    as_bool,
    as_int,
    as_str,
    as_timestamp,
    frozen_model,
    hide_secrets,
    masked_repr,
    wire_field,
)
from pylxd_cluster.timestamps import Timestamp

__all__ = ["Operation", "OperationList", "FINAL_STATUSES"]

#: Statuses after which an operation never changes again.
FINAL_STATUSES = ("Success", "Failure", "Cancelled")


@frozen_model
class Operation(ServerModel):
    """An LXD operation. ``class_`` is the wire key ``class`` (task, websocket, token).

    ``resources`` and ``metadata`` are kept exactly as sent (LXD sends null for
    operations without them).
    """

    id: str = wire_field(decode=as_str, default="")
    class_: str = wire_field("class", decode=as_str, default="")
    description: str = wire_field(decode=as_str, default="")
    created_at: Timestamp | None = wire_field(decode=as_timestamp, default=None)
    updated_at: Timestamp | None = wire_field(decode=as_timestamp, default=None)
    status: str = wire_field(decode=as_str, default="")
    status_code: int = wire_field(decode=as_int, default=0)
    resources: dict[str, Any] | None = wire_field(default=None)
    metadata: dict[str, Any] | None = wire_field(default=None)
    may_cancel: bool = wire_field(decode=as_bool, default=False)
    err: str = wire_field(decode=as_str, default="")
    location: str = wire_field(decode=as_str, default="")

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "Success"

    def refresh(self) -> Operation:
        """Read the operation again; returns a new instance.

        Raises:
            NotFound: the operation is gone (LXD forgets finished ones after ~5 s).
            ClusterError: no manager, or any transport error.
        """
        return self.manager.get(self.id)

    def wait(self, timeout: float | None = None) -> Operation:
        """Wait until the operation ends; returns the final Operation.

        Raises:
            OperationError: it ended Failure or Cancelled.
            Timeout: still running after ``timeout`` seconds.
            NotFound: the operation is gone.
        """
        return self.manager.wait(self.id, timeout=timeout)

    def cancel(self) -> None:
        """Cancel the operation (``DELETE /1.0/operations/<id>``).

        Raises:
            APIError: 400 when it is not running or cannot be cancelled.
            NotFound: the operation is gone.
        """
        return self.manager.cancel(self.id)

    def __await__(self):
        """``await operation``: :meth:`wait` with no timeout, for an operation an
        :class:`~pylxd_cluster.AsyncClient` returned (``wait=False``); the final Operation.

        Raises:
            TypeError: a sync :class:`~pylxd_cluster.Client`'s operation (call :meth:`wait`).
            OperationError, NotFound: as :meth:`wait`.
        """
        if not getattr(getattr(self.manager, "transport", None), "is_async", False):
            raise TypeError("only an AsyncClient's operation can be awaited; call operation.wait() on a Client's")
        return self.wait().__await__()

    def __repr__(self) -> str:
        # A token operation's metadata holds the join token's secret: displays hide it.
        return masked_repr(self, metadata=hide_secrets(self.metadata) if self.metadata is not None else None)

    def _repr_html_(self) -> str:
        from pylxd_cluster.display import operation_html

        return operation_html(self)


class OperationList(ModelList):
    """Operations: a tuple, plus lookup by id and rich display (secrets in metadata hidden)."""

    __slots__ = ()
    _name_attribute = "id"
    _noun = "operation"
    _plural = "operations"

    def by_name(self, name: str) -> Operation:
        """The operation whose id is ``name``.

        Raises:
            KeyError: no operation has that id.
        """
        return super().by_name(name)

    def _html(self) -> str:
        from pylxd_cluster.display import operations_html

        return operations_html(self)
