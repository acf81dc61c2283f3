"""Progress of long operations on stderr: a spinner with the elapsed time, and the
operation's own progress text when the server sends one, only when stderr is a terminal.

LXD puts the progress of an evacuation or restore in the operation's metadata
(``op.ExtendMetadata({"evacuation_progress": "Stopping \\"c1\\" in project \\"default\\""})``,
LXD 5.21's lxd/api_cluster.go), and of a migration in ``<stage>_progress`` text and a
``progress`` object (``{"stage", "percent", "speed"}``); ``lxc`` shows the first metadata value
whose key ends in ``_progress``. :func:`progress_text` reads it the same way. A server that
sends none (LXD 5.0, Incus, the mock) gets the spinner and the elapsed time alone.

The spinner redraws one line (``\\r``) from a thread of its own, ten times a second, with the
latest text it was given, and erases it when done; a pipe or a file gets none of it (the
command's plain progress lines only), and stdout is never written.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, Mapping, TextIO

from pylxd_cluster.display import display_width

__all__ = ["Spinner", "progress_text", "wait_for_operation", "FRAMES"]

FRAMES = "|/-\\"
INTERVAL = 0.1
#: How often a running operation is read again for its progress (seconds).
POLL_INTERVAL = 0.25


def progress_text(metadata: Mapping[str, Any] | None) -> str:
    """The progress an operation's metadata gives: ``evacuation_progress`` (LXD's), else the
    first other ``*_progress`` text (as lxc picks it), else the ``progress`` object as
    ``stage: percent% (speed)``; ``""`` when there is none."""
    if not isinstance(metadata, Mapping):
        return ""
    keys = ["evacuation_progress"] + sorted(k for k in metadata if isinstance(k, str) and k.endswith("_progress"))
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    progress = metadata.get("progress")
    if isinstance(progress, Mapping):
        parts = [str(progress.get("stage") or "")]
        if progress.get("percent") not in (None, ""):
            parts.append(f"{progress['percent']}%")
        if progress.get("speed") not in (None, "", 0, "0"):
            parts.append(f"({progress['speed']}/s)")
        return " ".join(part for part in parts if part).strip()
    if isinstance(progress, str):
        return progress
    return ""


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


class Spinner:
    """``| Evacuating node2: Stopping "c1" in project "default" (3.2s)`` on one line of
    ``stream`` (stderr), redrawn until :meth:`stop`; does nothing when ``stream`` is not a
    terminal (``enabled`` False). Use as a context manager."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.label = label
        self.started = time.monotonic()
        self._detail = ""
        self._drawn = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._frame = 0

    def set(self, detail: str) -> None:
        """The text after the label from now on (``""``: the label alone)."""
        with self._lock:
            self._detail = detail

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return columns or 80   # a terminal that does not say its size (a fresh pty) is taken as 80 wide

    def line(self) -> str:
        """The line as it is drawn now (without ``\\r``)."""
        with self._lock:
            detail = self._detail
        frame = FRAMES[self._frame % len(FRAMES)]
        text = f"{frame} {self.label}{': ' + detail if detail else ''} ({time.monotonic() - self.started:.1f}s)"
        width = self._width() - 1   # the last column would wrap on some terminals
        if display_width(text) > width:
            while text and display_width(text) > max(0, width - 3):
                text = text[:-1]
            text += "..."
        return text

    def _draw(self) -> None:
        text = self.line()
        self._frame += 1
        padding = max(0, self._drawn - display_width(text))
        self.stream.write("\r" + text + " " * padding)
        self.stream.flush()
        self._drawn = display_width(text)

    def _run(self) -> None:
        while not self._stopped.wait(INTERVAL):
            self._draw()

    def start(self) -> Spinner:
        if self.enabled and self._thread is None:
            self._draw()
            self._thread = threading.Thread(target=self._run, name="pylxd-cluster-spinner", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop redrawing and erase the line."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def __enter__(self) -> Spinner:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def wait_for_operation(operations: Any, operation: Any, timeout: float | None, spinner: Spinner,
                       sleep: Callable[[float], None] = time.sleep) -> Any:
    """Wait for ``operation`` (running) to end, reading it every :data:`POLL_INTERVAL` seconds
    to give ``spinner`` its progress text; returns the final Operation, as
    ``operations.wait`` does (and raises as it does: OperationError, Timeout).

    ``operations`` is the client's :class:`~pylxd_cluster.managers.operations.OperationManager`.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    current = operation
    while not current.is_final:
        spinner.set(progress_text(current.metadata))
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        sleep(POLL_INTERVAL if remaining is None else min(POLL_INTERVAL, remaining))
        current = operations.get(current.id)
    # The server's own answer for the end (or for a timeout): Success, OperationError, Timeout.
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    return operations.wait(current.id, timeout=remaining)
