"""Background operations: ``/1.0/operations``."""

from __future__ import annotations

from typing import Optional, Tuple

from ..models.operation import Operation
from ..transport import operation_id as _bare_id
from .base import Manager, api_path

__all__ = ["OperationManager"]


class OperationManager(Manager):
    """``client.operations``: read, wait on and cancel background operations."""

    def __init__(self, transport) -> None:
        super().__init__(transport, operations=self)

    def get(self, operation_id: str) -> Operation:
        """The operation with this id.

        Raises:
            NotFound: no such operation (finished ones are forgotten after ~5 s).
        """
        return self._get_model(api_path("operations", _bare_id(operation_id)), Operation)

    def all(self) -> Tuple[Operation, ...]:
        """Every operation the server knows, in one request (any status)."""
        result = self._request("GET", "/1.0/operations", params={"recursion": 1})
        by_status = result.metadata or {}
        return tuple(
            Operation.from_api(item, manager=self)
            for items in by_status.values()
            for item in (items or ())
            if isinstance(item, dict)
        )

    def wait(self, operation_id: str, timeout: Optional[float] = None) -> Operation:
        """Wait until the operation ends; returns the final Operation (status Success).

        Raises:
            OperationError: it ended Failure or Cancelled.
            Timeout: still running after ``timeout`` seconds.
            NotFound: no such operation.
        """
        final = self._transport.wait_operation(_bare_id(operation_id), timeout=timeout)
        return final.evolve(manager=self)

    def cancel(self, operation_id: str) -> None:
        """Cancel a running operation (``DELETE /1.0/operations/<id>``).

        Raises:
            NotFound: no such operation.
            APIError: 400 "Only running operations can be cancelled".
        """
        self._request("DELETE", api_path("operations", _bare_id(operation_id)))

