"""Background operations (tasks and join tokens) as LXD lists, waits on and cancels them."""
from __future__ import annotations

import threading
import time
import uuid
from typing import Callable

from mockserver.errors import bad_request, not_found
from mockserver.state.events import EventBus
from mockserver.wire import go_timestamp, now_utc

STATUS_NAMES = {
    100: "Operation created", 101: "Started", 102: "Stopped", 103: "Running", 104: "Cancelling",
    105: "Pending", 106: "Starting", 107: "Stopping", 108: "Aborting", 109: "Freezing",
    110: "Frozen", 111: "Thawed", 112: "Error", 113: "Ready",
    200: "Success", 400: "Failure", 401: "Cancelled",
}
PENDING, RUNNING, CANCELLING, SUCCESS, FAILURE, CANCELLED = 105, 103, 104, 200, 400, 401
FINAL = (SUCCESS, FAILURE, CANCELLED)


class Operation:
    """One operation. ``project`` is None for tasks: LXD's events carry no project for them."""

    def __init__(self, op_class: str, description: str, *, location: str, resources=None,
                 metadata=None, may_cancel=False, project: str | None = None):
        self.id = str(uuid.uuid4())
        self.op_class = op_class
        self.description = description
        self.created_at = go_timestamp(now_utc())
        self.status_code = PENDING
        self.resources = resources
        self.metadata = metadata
        self.may_cancel = may_cancel
        self.err = ""
        self.location = location
        self.project = project
        self.expires_at: float | None = None
        self._waiters: list[Callable[[Operation], None]] = []

    @property
    def url(self) -> str:
        return f"/1.0/operations/{self.id}"

    @property
    def done(self) -> bool:
        return self.status_code in FINAL

    def to_api(self) -> dict:
        # LXD 5.0.2 leaves updated_at equal to created_at through every status change.
        return {
            "id": self.id, "class": self.op_class, "description": self.description,
            "created_at": self.created_at, "updated_at": self.created_at,
            "status": STATUS_NAMES[self.status_code], "status_code": self.status_code,
            "resources": self.resources, "metadata": self.metadata, "may_cancel": self.may_cancel,
            "err": self.err, "location": self.location,
        }

    def add_waiter(self, waiter: Callable[[Operation], None]) -> None:
        """Call ``waiter`` once the operation is final (at once if it already is)."""
        if self.done:
            waiter(self)
        else:
            self._waiters.append(waiter)

    def remove_waiter(self, waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)


class OperationTable:
    """Operations by id. Final operations are forgotten after ``retention`` seconds, as LXD does."""

    def __init__(self, events: EventBus, lock: threading.RLock, retention: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self._ops: dict[str, Operation] = {}
        self._events = events
        self._lock = lock
        self.retention = retention
        self._clock = clock

    def _emit(self, op: Operation) -> None:
        self._events.publish("operation", op.to_api(), project=op.project)

    def _purge(self) -> None:
        now = self._clock()
        for op_id in [i for i, op in self._ops.items() if op.expires_at is not None and op.expires_at <= now]:
            del self._ops[op_id]

    def start(self, op: Operation) -> Operation:
        """Register ``op`` and move it Pending -> Running, emitting both events."""
        with self._lock:
            self._ops[op.id] = op
            self._emit(op)
            op.status_code = RUNNING
            self._emit(op)
        return op

    def finish(self, op: Operation, error: str | None = None) -> None:
        """End ``op`` with Success, or Failure and ``error``."""
        with self._lock:
            if op.done:
                return
            op.status_code = FAILURE if error else SUCCESS
            op.err = error or ""
            self._settle(op)

    def _settle(self, op: Operation) -> None:
        op.expires_at = self._clock() + self.retention
        self._emit(op)
        waiters, op._waiters = op._waiters, []
        for waiter in waiters:
            waiter(op)

    def get(self, op_id: str) -> Operation:
        """Raises: ApiError 404 ``Operation not found``."""
        with self._lock:
            self._purge()
            op = self._ops.get(op_id)
            if op is None:
                raise not_found("Operation not found")
            return op

    def cancel(self, op_id: str, requestor: dict | None) -> None:
        """Cancel a running, cancellable operation.

        Raises:
            ApiError: 404 unknown id; 400 not running or not cancellable.
        """
        with self._lock:
            op = self.get(op_id)
            if op.status_code != RUNNING:
                raise bad_request("Only running operations can be cancelled")
            if not op.may_cancel:
                raise bad_request("This operation cannot be cancelled")
            op.status_code = CANCELLING
            self._emit(op)
            op.status_code = CANCELLED
            self._settle(op)
            self._events.lifecycle("operation-cancelled", op.url, requestor)

    def all(self) -> list[Operation]:
        with self._lock:
            self._purge()
            return list(self._ops.values())

    def running(self, op_class: str | None = None) -> list[Operation]:
        return [op for op in self.all() if op.status_code == RUNNING and (op_class is None or op.op_class == op_class)]

    def by_status(self, recursion: bool) -> dict:
        """The ``GET /1.0/operations`` body: lowercase status -> urls or objects."""
        grouped: dict[str, list] = {}
        for op in self.all():
            grouped.setdefault(STATUS_NAMES[op.status_code].lower(), []).append(op.to_api() if recursion else op.url)
        return {key: grouped[key] for key in sorted(grouped)}

    def clear(self) -> None:
        with self._lock:
            self._ops.clear()

