"""What a test scripts on the mock beyond cluster state: injected faults and the request log."""
from __future__ import annotations

import collections
import fnmatch
import threading
import time
from dataclasses import asdict, dataclass, field

from mockserver.errors import ApiError


@dataclass
class Fault:
    """Make requests matching ``method`` and ``path`` fail or slow down.

    ``path`` is a shell-style pattern (``/1.0/cluster/members/*``); ``method`` ``*`` is any.
    ``status`` with ``error`` answers an LXD error envelope instead of running the handler;
    ``latency`` (seconds) delays the reply. ``times`` limits how many requests it hits
    (None: every one).
    """

    path: str
    method: str = "*"
    status: int | None = None
    error: str = ""
    latency: float = 0.0
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.method == "*" or self.method.upper() == method) and fnmatch.fnmatchcase(path, self.path)

    def to_api(self) -> dict:
        return asdict(self)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    body: str
    status: int
    protocol: str
    time: float = field(default_factory=time.time)

    def to_api(self) -> dict:
        return asdict(self)


class Script:
    """Faults and the request log, shared by the server threads and the test thread."""

    def __init__(self, log_size: int = 10_000):
        self._lock = threading.Lock()
        self.faults: list[Fault] = []
        self.requests: collections.deque[RecordedRequest] = collections.deque(maxlen=log_size)

    def add_fault(self, fault: Fault) -> Fault:
        if fault.status is not None and not 400 <= fault.status <= 599:
            raise ValueError(f"fault status must be an HTTP error status (400-599), not {fault.status}")
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take(self, method: str, path: str, wanted) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if wanted(fault) and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def latency(self, method: str, path: str) -> float:
        fault = self._take(method, path, lambda f: f.latency > 0 and f.status is None)
        return fault.latency if fault else 0.0

    def error(self, method: str, path: str) -> Fault | None:
        return self._take(method, path, lambda f: f.status is not None)

    def record(self, entry: RecordedRequest) -> None:
        self.requests.append(entry)

    # ---- the API core's RequestHooks (mockserver.api.seams) ----------------------------

    def injected_error(self, method: str, path: str) -> ApiError | None:
        fault = self.error(method, path)
        return None if fault is None else ApiError(fault.status, fault.error or "Injected failure")

    def handled(self, req, status: int) -> None:
        self.record(RecordedRequest(req.method, req.path, dict(req.query),
                                    req.body[:4096].decode("utf-8", "replace"), status, req.protocol))

    def clear_requests(self) -> None:
        self.requests.clear()

    def reset(self) -> None:
        self.clear_faults()
        self.clear_requests()
