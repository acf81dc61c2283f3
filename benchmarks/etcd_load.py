"""etcd's load from a pack at scale: N simulated members in one process, each with its lease
(renewed every keepalive), its record and candidacy under it, and its watch of the pack's
directory, as the etcd backend's members have (mockserver.daemon.etcd.membership).

For N = 100 and 1000, against a 3-member etcd on loopback (etcd's own timeouts):

* registration: the time for N members to register (leases granted, keys written);
* steady state over a window: etcd's CPU (``process_cpu_seconds_total`` of its 3 members),
  its database size, and the client traffic per member per second (etcd's gRPC bytes
  received and sent, over N and the window): what keepalives cost;
* fan-out: one member leaves; the time until all N watchers have seen it.

The members share a few gRPC channels (one process cannot hold a thousand); each still has
its own lease, keys and watch, which is what etcd serves. Run alone:
``python -m benchmarks.etcd_load --sizes 100,1000``.
"""
from __future__ import annotations

import argparse
import asyncio
import time
import urllib.request

from benchmarks.common import BenchFailure, percentile, table
from mockserver.daemon.etcd.client import EtcdClient, EtcdSettings
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.etcd.membership import EtcdMembership
from mockserver.daemon.etcd.view import LEFT, MemberRecord
from mockserver.daemon.harness.etcd import ETCD, EtcdCluster, etcd_version

KEEPALIVE, DEAD = 1.0, 4.0   # seconds: the pack simulation's settings (benchmarks/pack_simulation.py)
WINDOW = 10.0                # seconds of steady state measured
CHANNELS = 8                 # gRPC channels the simulated members share
CONVERGENCE_LIMIT = 900.0    # seconds for every view to hold every member
METRICS = ("process_cpu_seconds_total", "etcd_network_client_grpc_received_bytes_total",
           "etcd_network_client_grpc_sent_bytes_total", "etcd_mvcc_db_total_size_in_bytes")


def scrape(cluster: EtcdCluster) -> dict[str, float]:
    """The sums over etcd's members of :data:`METRICS` (the database size: the largest)."""
    totals = dict.fromkeys(METRICS, 0.0)
    for url in cluster.endpoints:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as reply:
            for line in reply.read().decode().splitlines():
                name, _, value = line.partition(" ")
                if name in totals:
                    number = float(value)
                    if name == "etcd_mvcc_db_total_size_in_bytes":
                        totals[name] = max(totals[name], number)
                    else:
                        totals[name] += number
    return totals


async def measure(cluster: EtcdCluster, size: int) -> dict:
    keys = PackKeys("/bench", f"load-{size}")
    clients = [EtcdClient(EtcdSettings(tuple(cluster.endpoints), timeout=30.0)) for _ in range(CHANNELS)]
    heard: dict[str, float] = {}
    members: list[EtcdMembership] = []

    def watcher(name: str):
        def on_members(changes) -> None:
            if any(change.status == LEFT for change in changes) and name not in heard:
                heard[name] = time.perf_counter()
        return on_members

    try:
        started = time.perf_counter()
        for index in range(size):
            name = f"sim{index:04d}"
            member = EtcdMembership(clients[index % CHANNELS], keys, MemberRecord(name, started=1),
                                    dead_interval=DEAD, keepalive=KEEPALIVE, on_members=watcher(name))
            await member.start()
            members.append(member)
        registered = time.perf_counter() - started
        # Every member has every other in its view before the window starts: N x N watch events
        # on registration, all delivered to this one process here (to N processes in a pack).
        deadline = time.monotonic() + CONVERGENCE_LIMIT
        while not all(len(m.view.records) == size for m in members):
            if time.monotonic() > deadline:
                raise BenchFailure(f"N={size}: the views did not converge in {CONVERGENCE_LIMIT:g} s")
            await asyncio.sleep(0.1)
        converged = time.perf_counter() - started
        before, t0 = scrape(cluster), time.monotonic()
        await asyncio.sleep(WINDOW)   # the steady state being measured: keepalives only
        after, elapsed = scrape(cluster), time.monotonic() - t0
        renewals = sum(m.counters["renewals"] for m in members)
        leaving = members.pop(0)
        left_at = time.perf_counter()
        await leaving.leave()
        deadline = time.monotonic() + 60
        while len(heard) < len(members):
            if time.monotonic() > deadline:
                raise BenchFailure(f"N={size}: {len(members) - len(heard)} watchers never saw the departure")
            await asyncio.sleep(0.01)
        fanout = sorted(when - left_at for when in heard.values())
        traffic = (after["etcd_network_client_grpc_received_bytes_total"]
                   - before["etcd_network_client_grpc_received_bytes_total"]
                   + after["etcd_network_client_grpc_sent_bytes_total"]
                   - before["etcd_network_client_grpc_sent_bytes_total"])
        return {"size": size, "register_s": registered, "converged_s": converged,
                "cpu_percent": 100 * (after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"])
                / elapsed,
                "db_bytes": after["etcd_mvcc_db_total_size_in_bytes"],
                "bytes_per_member_s": traffic / size / elapsed, "renewals": renewals,
                "fanout_p50": percentile(fanout, 0.5), "fanout_max": fanout[-1]}
    finally:
        for member in members:
            await member.stop()
        for client in clients:
            await client.close()


def run(sizes=(100, 1000)) -> dict:
    import os

    if not os.access(ETCD, os.X_OK):
        raise BenchFailure(f"{ETCD} not found: `make system-deps` installs the Debian package etcd-server")
    results = []
    with EtcdCluster(3, fast_elections=False, prefix="etcd-load-") as cluster:
        cluster.wait_ready()
        for size in sizes:
            results.append(asyncio.run(measure(cluster, size)))
    rows = [[r["size"], f"{r['register_s']:.1f} s / {r['converged_s']:.1f} s", f"{r['cpu_percent']:.1f} %",
             f"{r['db_bytes'] / 1024:.0f} KiB",
             f"{r['bytes_per_member_s']:.0f} B/s", f"{r['fanout_p50'] * 1000:.0f} / {r['fanout_max'] * 1000:.0f} ms"]
            for r in results]
    table(f"etcd {etcd_version()} (3 members, loopback) under N simulated members: keepalive {KEEPALIVE:g} s, "
          f"lease TTL {DEAD:g} s, each with its watch; steady state over {WINDOW:g} s",
          ["N", "registration / all views full", "etcd CPU (3 members)", "db size", "client traffic per member",
           "a departure seen by all, p50 / max"], rows)
    return {"sizes": {r["size"]: r for r in results}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000", help="comma-separated N (default 100,1000)")
    args = parser.parse_args(argv)
    run(tuple(int(size) for size in args.sizes.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
