"""Background operations: ``/1.0/operations``."""

from __future__ import annotations

import math

from pylxd_cluster.exceptions import APIError, OperationError, Timeout
from pylxd_cluster.managers.base import Manager, api_path
from pylxd_cluster.models.operation import Operation
from pylxd_cluster.transport import operation_id as _bare_id

__all__ = ["OperationManager"]

FINAL_FAILURES = ("Failure", "Cancelled")
# Seconds added to the HTTP read timeout of a /wait call, so that the server's own
# timeout fires first and we get its reply rather than a socket timeout.
WAIT_GRACE_SECONDS = 10


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

    def all(self) -> tuple[Operation, ...]:
        """Every operation the server knows, in one request (any status)."""
        result = self._request("GET", "/1.0/operations", params={"recursion": 1})
        by_status = result.metadata or {}
        return tuple(
            Operation.from_api(item, manager=self)
            for items in by_status.values()
            for item in (items or ())
            if isinstance(item, dict)
        )

    def wait(self, operation_id: str, timeout: float | None = None) -> Operation:
        """Wait until the operation ends, with ``GET /1.0/operations/<id>/wait``; returns
        the final Operation (status Success).

        ``timeout`` is in seconds (rounded up to whole seconds, as LXD wants); None waits
        as long as the server lets the operation run.

        Raises:
            OperationError: it ended Failure or Cancelled (``.operation``, ``.err``).
            Timeout: still running after ``timeout`` seconds.
            NotFound: no such operation (also: it ended more than a few seconds ago).
            ClientConnectionError, APIError: as for any request.
        """
        op_id = _bare_id(operation_id)
        endpoint = self._transport.endpoint
        server_timeout = -1 if timeout is None else max(0, math.ceil(timeout))
        http_timeout = None if timeout is None else server_timeout + max(self._transport.timeout or 0,
                                                                         WAIT_GRACE_SECONDS)
        try:
            result = self._request("GET", api_path("operations", op_id, "wait"), params={"timeout": server_timeout},
                                   timeout=http_timeout)
        except APIError as exc:
            # Newer LXD reports a failed operation as an error envelope inside an
            # HTTP 200 reply; only a real HTTP error status means the wait itself failed.
            if getattr(exc.response, "status_code", None) != 200:
                raise
            raise OperationError(f"operation {op_id} on {endpoint} failed: {exc.error}", operation=None,
                                 err=exc.error) from exc
        operation = Operation.from_api(result.metadata or {}, manager=self)
        if operation.status in FINAL_FAILURES:
            raise OperationError(f"operation {op_id} ({operation.description}) on {endpoint} ended "
                                 f"{operation.status}: {operation.err or 'no error text'}",
                                 operation=operation, err=operation.err)
        if operation.status != "Success":
            raise Timeout(f"operation {op_id} ({operation.description}) on {endpoint} is still "
                          f"{operation.status} after {timeout} s")
        return operation

    def cancel(self, operation_id: str) -> None:
        """Cancel a running operation (``DELETE /1.0/operations/<id>``).

        Raises:
            NotFound: no such operation.
            APIError: 400 "Only running operations can be cancelled".
        """
        self._request("DELETE", api_path("operations", _bare_id(operation_id)))

