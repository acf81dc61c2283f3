"""Shared benchmark helpers: start servers as processes, time things, print ratio tables."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


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
