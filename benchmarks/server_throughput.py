"""Mock server throughput for GET /1.0/cluster/members?recursion=1 (100 members), against a
bare aiohttp handler that returns the same bytes, in the same run.

Both servers run as their own processes on loopback; one asyncio client with a fixed
number of connections drives each for the same time, alternating, several rounds.
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time

import aiohttp

from benchmarks.common import mock_server, process, table
from mockserver.daemon.harness import free_tcp_port

PATH = "/1.0/cluster/members?recursion=1"
MEMBERS = 100
CONNECTIONS = 16
SECONDS = 2.0
ROUNDS = 3


async def drive(url: str, seconds: float) -> float:
    """Requests per second that CONNECTIONS concurrent clients get within ``seconds``."""
    done = 0
    stop = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker():
            nonlocal done
            while time.perf_counter() < stop:
                async with session.get(url) as reply:
                    await reply.read()
                    if reply.status != 200:
                        raise RuntimeError(f"{url}: HTTP {reply.status}")
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return done / (time.perf_counter() - start)


def run() -> dict:
    mock_port, bare_port = free_tcp_port("127.0.0.1"), free_tcp_port("127.0.0.1")
    with mock_server(MEMBERS, mock_port):
        import requests
        body = requests.get(f"http://127.0.0.1:{mock_port}{PATH}", timeout=10).content
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            handle.write(body)
        try:
            with process([sys.executable, os.path.join(os.path.dirname(__file__), "bare_server.py"), str(bare_port),
                          handle.name], "ready"):
                mock_rates, bare_rates = [], []
                for _ in range(ROUNDS):
                    mock_rates.append(asyncio.run(drive(f"http://127.0.0.1:{mock_port}{PATH}", SECONDS)))
                    bare_rates.append(asyncio.run(drive(f"http://127.0.0.1:{bare_port}{PATH}", SECONDS)))
        finally:
            os.unlink(handle.name)
    mock_rate, bare_rate = statistics.median(mock_rates), statistics.median(bare_rates)
    table(f"Mock server throughput: GET {PATH}, {MEMBERS} members, {len(body)} bytes, "
          f"{CONNECTIONS} connections, median of {ROUNDS} x {SECONDS:g}s",
          ["server", "requests/s", "ratio to bare aiohttp"],
          [["bare aiohttp (same bytes)", f"{bare_rate:.0f}", "1.00"],
           ["pylxd-cluster mock", f"{mock_rate:.0f}", f"{mock_rate / bare_rate:.2f}"]])
    return {"mock_rps": mock_rate, "bare_rps": bare_rate, "ratio": mock_rate / bare_rate}


if __name__ == "__main__":
    run()
