"""Helpers shared by the pack transport tests."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_endpoint_child.py")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class Recorder:
    """An on_datagram callback that keeps what it got."""

    def __init__(self):
        self.got: list[tuple[bytes, tuple[str, int]]] = []

    def __call__(self, data: bytes, source) -> None:
        self.got.append((data, source))

    def payloads(self) -> list[bytes]:
        return [d for d, _ in self.got]

    def count(self, payload: bytes) -> int:
        return sum(1 for d, _ in self.got if d == payload)


class ChildNode:
    """A UdpEndpoint running in a process inside a namespace (see _endpoint_child.py)."""

    def __init__(self, ns, *, interface: str, port: int, broadcast: str | None = None,
                 group: str | None = None):
        cmd = [sys.executable, CHILD, "--interface", interface, "--port", str(port)]
        if broadcast:
            cmd += ["--broadcast", broadcast]
        if group:
            cmd += ["--group", group]
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.name = interface
        self.proc = ns.popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.recv: list[tuple[str, str, int, bool]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.local_address: tuple[str, int] | None = None
        self.error: str | None = None

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("RECV "):
                _, payload, ip, port, own = line.split()
                with self._lock:
                    self.recv.append((payload, ip, int(port), own == "1"))
            else:
                self.lines.put(line)

    def _line(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.name}: no answer in {timeout}s; "
                                 f"exit={self.proc.poll()} stderr={self._stderr()!r}") from None

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read()

    def start(self, timeout: float = 10.0) -> ChildNode:
        line = self._line(timeout)
        if line.startswith("READY "):
            _, ip, port = line.split()
            self.local_address = (ip, int(port))
            return self
        if line.startswith("ERROR "):
            self.error = line[len("ERROR "):]
            self.proc.wait(timeout=5)
            return self
        raise AssertionError(f"{self.name}: unexpected line {line!r}")

    def command(self, *words) -> None:
        self.proc.stdin.write(" ".join(map(str, words)) + "\n")
        self.proc.stdin.flush()

    def counters(self, timeout: float = 5.0) -> dict:
        self.command("counters")
        line = self._line(timeout)
        assert line.startswith("COUNTERS "), line
        return json.loads(line[len("COUNTERS "):])

    def got(self, payload: str) -> list[tuple[str, int, bool]]:
        with self._lock:
            return [(ip, port, own) for p, ip, port, own in self.recv if p == payload]

    def quit(self) -> int:
        self.command("quit")
        return self.proc.wait(timeout=10)


