"""Background operations: ``/1.0/operations``."""

from __future__ import annotations

import math

from pylxd_cluster.exceptions import APIError, ClusterError, OperationError, Timeout
from pylxd_cluster.managers.base import Manager, api_call, api_path, plan_of
from pylxd_cluster.models.operation import Operation, OperationList
from pylxd_cluster.protocol import Plan, Request, extend_read_timeout
from pylxd_cluster.protocol import operation_id as _bare_id

__all__ = ["OperationManager"]

FINAL_FAILURES = ("Failure", "Cancelled")
# Seconds added to the HTTP read timeout of a /wait call, so that the server's own
# timeout fires first and we get its reply rather than a socket timeout.
WAIT_GRACE_SECONDS = 10
# Go's context.DeadlineExceeded, the error text Incus (and newer LXD) put in the envelope that
# answers a /wait whose timeout ran out with the operation still running.
DEADLINE_EXCEEDED = "context deadline exceeded"


class OperationManager(Manager):
    """``client.operations``: read, wait on and cancel background operations."""

    def __init__(self, transport, *, server=None) -> None:
        super().__init__(transport, operations=self, server=server)

    def _request(self, method: str, path: str, **kwargs) -> Request:
        """Operations are per project in LXD: the client's ``project`` goes along as ``?project=``."""
        if self._transport.project is not None:
            kwargs["params"] = {**(kwargs.get("params") or {}), "project": self._transport.project}
        return super()._request(method, path, **kwargs)

    @api_call
    def get(self, operation_id: str) -> Plan[Operation]:
        """The operation with this id.

        Raises:
            NotFound: no such operation (finished ones are forgotten after ~5 s).
        """
        return (yield from self._get_model(api_path("operations", _bare_id(operation_id)), Operation))

    @api_call
    def all(self) -> Plan[OperationList]:
        """Every operation the server knows, in one request (any status)."""
        result = yield self._request("GET", "/1.0/operations", params={"recursion": 1})
        by_status = result.metadata or {}
        return OperationList(
            Operation.from_api(item, manager=self)
            for items in by_status.values()
            for item in (items or ())
            if isinstance(item, dict)
        )

    @api_call
    def wait(self, operation_id: str, timeout: float | None = None) -> Plan[Operation]:
        """Wait until the operation ends, with ``GET /1.0/operations/<id>/wait``; returns
        the final Operation (status Success).

        ``timeout`` is in seconds (rounded up to whole seconds, as LXD wants); None waits
        as long as the server lets the operation run.

        Servers answer a wait that fails in two ways, and both mean the same here:

        * LXD 5.0 answers the operation as it is: still Running after a timeout, or ended
          Failure;
        * Incus 6.0 (and LXD since) answers HTTP 200 at once, then an error envelope: the
          text ``context deadline exceeded`` after a timeout, or the operation's error. The
          operation is then read (``GET /1.0/operations/<id>``) to tell which, since an
          operation may itself fail with that text; if it is already gone, the text decides.

        Raises:
            OperationError: it ended Failure or Cancelled (``.operation``, ``.err``).
            Timeout: still running after ``timeout`` seconds.
            NotFound: no such operation (also: it ended more than a few seconds ago).
            ClientConnectionError, APIError: as for any request.
        """
        op_id = _bare_id(operation_id)
        server_timeout = -1 if timeout is None else max(0, math.ceil(timeout))
        # The server holds the reply up to server_timeout: wait that much longer for it (the
        # read part of a (connect, read) pair; the connect part is kept).
        http_timeout = None if timeout is None else extend_read_timeout(self._transport.timeout, server_timeout,
                                                                        minimum=WAIT_GRACE_SECONDS)
        try:
            result = yield self._request("GET", api_path("operations", op_id, "wait"),
                                         params={"timeout": server_timeout}, timeout=http_timeout)
        except APIError as exc:
            # An error envelope inside an HTTP 200 reply is the wait's outcome (Incus, newer
            # LXD); only a real HTTP error status means the wait itself failed.
            if exc.http_status != 200:
                raise
            return (yield from self._outcome_of_error(op_id, exc.error, timeout))
        return self._outcome(Operation.from_api(result.metadata or {}, manager=self), timeout)

    def _outcome(self, operation: Operation, timeout: float | None, said: str = "") -> Operation:
        """The final Operation, or the exception its status means."""
        endpoint = self._transport.endpoint
        if operation.status in FINAL_FAILURES:
            raise OperationError(f"operation {operation.id} ({operation.description}) on {endpoint} ended "
                                 f"{operation.status}: {operation.err or said or 'no error text'}",
                                 operation=operation, err=operation.err or said)
        if operation.status != "Success":
            because = f" (the server said: {said})" if said else ""
            waited = f"after {timeout} s" if timeout is not None else "when the server ended the wait"
            raise Timeout(f"operation {operation.id} ({operation.description}) on {endpoint} is still "
                          f"{operation.status} {waited}{because}")
        return operation

    def _outcome_of_error(self, op_id: str, error: str, timeout: float | None) -> Plan[Operation]:
        """What an error envelope answering ``/wait`` means: read the operation to tell a
        timeout from a failure; if it cannot be read, the text decides."""
        try:
            operation = yield from plan_of(self.get, op_id)
        except ClusterError:
            operation = None
        if operation is not None and operation.id:
            return self._outcome(operation, timeout, said=error)
        endpoint = self._transport.endpoint
        if error == DEADLINE_EXCEEDED:
            raise Timeout(f"operation {op_id} on {endpoint} is still running after {timeout} s "
                          f"(the server said: {error})")
        raise OperationError(f"operation {op_id} on {endpoint} failed: {error}", operation=None, err=error)

    @api_call
    def cancel(self, operation_id: str) -> Plan[None]:
        """Cancel a running operation (``DELETE /1.0/operations/<id>``).

        Raises:
            NotFound: no such operation.
            APIError: 400 "Only running operations can be cancelled".
        """
        yield self._request("DELETE", api_path("operations", _bare_id(operation_id)))

