"""Shared benchmark helpers: start servers as processes, time things, print ratio tables.

Daemon processes, free ports and waits come from :mod:`mockserver.daemon.harness`.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import statistics
import subprocess
import sys
import time

from mockserver.daemon.harness.processes import stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log_lines(nodes, since: float, until: float) -> list:
    """The daemons' log lines between two wall-clock times, in time order, each with its
    offset from ``since`` and its member's name (to show where a slow trial's time went)."""
    lines = []
    for node in nodes:
        for line in node.log_path.read_text(errors="replace").splitlines():
            try:
                when = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            except ValueError:
                continue
            if since - 0.002 <= when <= until:
                lines.append((when, f"{(when - since) * 1000:5.0f} ms  {node.name}: {line[24:].strip()}"))
    return [text for _, text in sorted(lines, key=lambda item: item[0])]


def percentile(values, fraction):
    """Nearest rank: with 20 trials p99 is the worst one."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def ms(seconds) -> str:
    if seconds is None or seconds != seconds:
        return "-"
    if seconds == float("inf"):
        return "timeout"
    return f"{seconds * 1000:.0f} ms"


@contextlib.contextmanager
def process(args: list, ready: str, timeout: float = 20.0):
    """Run ``args`` until the with-block ends; wait for a stdout line containing ``ready``."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{args[0]} exited before it was ready: {''.join(seen)}")
            seen.append(line)
            if ready in line:
                break
        else:
            raise RuntimeError(f"{args} not ready after {timeout}s")
        yield proc
    finally:
        stop_process(proc)


def mock_server(members: int, port: int):
    return process([sys.executable, "-m", "mockserver", "--members", str(members), "--listen", f"127.0.0.1:{port}"],
                   "stop with")


def interleaved(funcs: dict, repeat: int = 41, number: int = 3) -> dict:
    """Median seconds per call of each function, measured in alternating rounds, so that
    noise from the rest of the machine falls on every contender alike."""
    rounds = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            start = time.perf_counter()
            for _ in range(number):
                func()
            rounds[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(values) for name, values in rounds.items()}


def best_of(func, repeat: int = 5, number: int = 1) -> float:
    """Median seconds per call over ``repeat`` rounds of ``number`` calls."""
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        rounds.append((time.perf_counter() - start) / number)
    return statistics.median(rounds)


def table(title: str, header: list, rows: list) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


# ---- streams of numbered arrivals (the two halves of benchmarks/config_propagation.py) -------

# What both halves (ours, benchmarks/etcd_peer.py) of benchmarks/config_propagation.py use.
WARMUP = 3
PUT_TIMEOUT = 10.0          # s, for one PUT / put
PROPAGATION_TIMEOUT = 10.0  # s, for one change to reach every member / watcher


class BenchFailure(RuntimeError):
    """One half of a benchmark could not be measured (the message says why); ``logs``:
    whether the processes' log tails help (not for a plain HTTP refusal)."""

    def __init__(self, message: str, logs: bool = True):
        super().__init__(message)
        self.logs = logs


class Streams:
    """What each stream (a watcher, a member's event socket) saw: ``(number, arrival)`` in
    order, with ``number`` a revision (etcd) or a configuration version (ours)."""

    def __init__(self, names: list):
        self.seen = {name: [] for name in names}
        self.closed: dict = {}      # name -> why the stream ended
        self.changed = asyncio.Event()

    def record(self, name: str, number: int, when: float) -> None:
        self.seen[name].append((number, when))
        self.changed.set()

    def close(self, name: str, why: str) -> None:
        self.closed.setdefault(name, why)
        self.changed.set()

    def first_at(self, name: str, at_least: int):
        for number, when in self.seen[name]:
            if number >= at_least:
                return when
        return None

    async def all_reached(self, at_least: int, timeout: float, what: str) -> float:
        """The arrival at the last stream of a number >= ``at_least``; raises BenchFailure
        after ``timeout`` seconds, or when a stream that has not got there ended."""
        deadline = time.perf_counter() + timeout
        while True:
            firsts = {name: self.first_at(name, at_least) for name in self.seen}
            if all(t is not None for t in firsts.values()):
                return max(firsts.values())
            gone = {name: why for name, why in self.closed.items() if firsts[name] is None}
            if gone:
                raise BenchFailure(f"{what}: stream(s) ended before they saw {at_least}: {gone}")
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                late = {name: (self.seen[name][-1][0] if self.seen[name] else None)
                        for name, t in firsts.items() if t is None}
                raise BenchFailure(f"{what}: not every stream saw {at_least} within {timeout:g} s; "
                                   f"the last number each late one saw: {late}")
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
