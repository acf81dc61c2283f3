"""The etcd peer of benchmarks/config_propagation.py: how fast a key's change reaches N
watchers of a 3-member etcd cluster.

etcd (Debian package etcd-server, /usr/bin/etcd; ``make bench-deps`` installs it), a 3-member
cluster on 127.0.0.1 with free ports and its data directories in a temporary directory. N
watchers, each its own watch stream (``POST /v3/watch`` on etcd's JSON gateway), spread over
the 3 members. A trial is a ``POST /v3/kv/put`` on a follower (a random one each trial);
propagation is the time from just before the put until the LAST watcher has seen the
revision of the put's reply; stamped when this process's asyncio loop reads it.

Every etcd process is stopped in ``finally`` (and killed if this process dies: pdeathsig),
and the temporary directory is removed. Run alone: ``python -m benchmarks.etcd_peer``.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import sys
import time

from benchmarks.common import PROPAGATION_TIMEOUT, PUT_TIMEOUT, WARMUP, BenchFailure, Streams, percentile, table
from mockserver.daemon.harness.etcd import ETCD, EtcdCluster, EtcdError, etcd_version

__all__ = ["ETCD", "etcd_version", "measure_etcd"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def etcd_post(session, url: str, path: str, body: dict, timeout: float = PUT_TIMEOUT) -> dict:
    import aiohttp

    async with session.post(url + path, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        text = await resp.text()
        if resp.status != 200:
            raise BenchFailure(f"etcd {url}{path} answered {resp.status}: {text[:300]}")
        return json.loads(text)


async def etcd_ready(cluster: EtcdCluster, session, timeout: float = 30.0) -> str:
    """Wait until every member answers with the same leader; return the leader's member id."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            cluster.check_alive()
        except EtcdError as exc:
            raise BenchFailure(str(exc)) from None
        try:
            leaders, ids = set(), {}
            for m in cluster.members.values():
                status = await etcd_post(session, m["url"], "/v3/maintenance/status", {}, timeout=2)
                leaders.add(status.get("leader"))
                ids[m["name"]] = status["header"]["member_id"]
            if len(leaders) == 1 and None not in leaders and leaders <= set(ids.values()):
                for m in cluster.members.values():
                    m["id"] = ids[m["name"]]
                return leaders.pop()
            last = f"leaders {leaders}"
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = repr(exc)
        if time.monotonic() > deadline:
            raise BenchFailure(f"etcd cluster not ready after {timeout:g} s ({last}):\n{cluster.describe()}")
        await asyncio.sleep(0.1)


async def etcd_watch(session, url: str, key: str, name: str, streams: Streams, created: asyncio.Event) -> None:
    import aiohttp

    try:
        async with session.post(url + "/v3/watch", json={"create_request": {"key": b64(key)}},
                                timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
            if resp.status != 200:
                raise BenchFailure(f"watch on {url} answered {resp.status}: {(await resp.text())[:300]}")
            async for line in resp.content:
                arrived = time.perf_counter()
                if not line.strip():
                    continue
                message = json.loads(line)
                if "error" in message:
                    raise BenchFailure(f"watch on {url}: {message['error']}")
                result = message.get("result") or {}
                if result.get("created"):
                    created.set()
                for event in result.get("events") or ():
                    streams.record(name, int(event["kv"]["mod_revision"]), arrived)
        streams.close(name, "the watch stream ended")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported through the trial that waits for it
        streams.close(name, repr(exc))


async def etcd_trials(cluster: EtcdCluster, sizes, trials: int, rng: random.Random) -> dict:
    import aiohttp

    results = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        leader = await etcd_ready(cluster, session)
        members = list(cluster.members.values())
        followers = [m for m in members if m["id"] != leader]
        key = "/bench/config"
        counter = 0
        for size in sizes:
            names = [f"w{i}@{members[i % len(members)]['name']}" for i in range(size)]
            streams = Streams(names)
            created = [asyncio.Event() for _ in names]
            tasks = [asyncio.create_task(etcd_watch(session, members[i % len(members)]["url"], key,
                                                    name, streams, created[i]))
                     for i, name in enumerate(names)]
            try:
                try:
                    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in created)), 10)
                except asyncio.TimeoutError:
                    raise BenchFailure(f"etcd: {sum(not e.is_set() for e in created)} of {size} watches not created "
                                       f"within 10 s; closed: {streams.closed}") from None
                propagation, put_latency = [], []
                for trial in range(WARMUP + trials):
                    await asyncio.sleep(0.02 + rng.uniform(0, 0.05))
                    counter += 1
                    target = rng.choice(followers)
                    start = time.perf_counter()
                    reply = await etcd_post(session, target["url"], "/v3/kv/put",
                                            {"key": b64(key), "value": b64(json.dumps({"Bench": {"value": counter}}))})
                    replied = time.perf_counter()
                    revision = int(reply["header"]["revision"])
                    seen = await streams.all_reached(revision, PROPAGATION_TIMEOUT,
                                                     f"etcd N={size} trial {trial + 1} (revision {revision})")
                    if trial >= WARMUP:
                        propagation.append(seen - start)
                        put_latency.append(replied - start)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            results[size] = {"propagation": propagation, "put": put_latency}
    return results


def measure_etcd(sizes, trials: int, rng: random.Random) -> dict:
    if not os.access(ETCD, os.X_OK):
        raise BenchFailure(f"{ETCD} not found: install the Debian package etcd-server (`make bench-deps`)")
    # etcd's own heartbeat and election timeouts: the peer as etcd ships it.
    with EtcdCluster(3, fast_elections=False, prefix="etcd-bench-") as cluster:
        return asyncio.run(etcd_trials(cluster, sizes, trials, rng))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3,10", help="comma-separated N: watchers (default 3,10)")
    parser.add_argument("--trials", type=int, default=20, help="measured trials per N, after warm-up (default 20)")
    args = parser.parse_args(argv)
    sizes = tuple(int(x) for x in args.sizes.split(","))
    print(f"\netcd {etcd_version()} (3 members): a put on a follower until the last watcher has it, "
          f"{args.trials} trials per N after {WARMUP} warm-up, loopback", flush=True)
    results = measure_etcd(sizes, args.trials, random.Random(13))
    rows = []
    for size, r in results.items():
        values = [x * 1000 for x in r["propagation"]]
        puts = [x * 1000 for x in r["put"]]
        rows.append([size, f"{percentile(values, 0.5):.1f} ms", f"{percentile(values, 0.99):.1f} ms",
                     f"{max(values):.1f} ms", f"{percentile(puts, 0.5):.1f} ms", f"{percentile(puts, 0.99):.1f} ms"])
    table(f"etcd propagation (nearest rank: p99 is the worst of {args.trials})",
          ["N watchers", "p50", "p99", "max", "put p50", "put p99"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
