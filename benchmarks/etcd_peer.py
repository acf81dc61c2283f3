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
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchmarks.common import PROPAGATION_TIMEOUT, PUT_TIMEOUT, WARMUP, BenchFailure, Streams, percentile, table
from mockserver.daemon.harness import die_with_parent, free_tcp_port

ETCD = "/usr/bin/etcd"
LOOPBACK = "127.0.0.1"


def tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``grace`` seconds (never raises)."""
    if proc is None:
        return
    with contextlib.suppress(Exception):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def etcd_env() -> dict:
    env = dict(os.environ)
    arch = {"aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}.get(platform.machine())
    if arch:  # etcd 3.4 refuses to start on these unless told
        env.setdefault("ETCD_UNSUPPORTED_ARCH", arch)
    return env


def etcd_version() -> str:
    try:
        out = subprocess.run([ETCD, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    first = out.splitlines()[0] if out else ""
    return first.split(":", 1)[1].strip() if ":" in first else "?"


class EtcdCluster:
    """A 3-member etcd cluster on 127.0.0.1; ``with`` stops it and removes its directory."""

    def __init__(self, size: int = 3):
        self.dir = tempfile.mkdtemp(prefix="etcd-bench-")
        self.token = f"bench-{random.randrange(1 << 32):08x}"
        self.members = []
        for i in range(size):
            name = f"etcd{i}"
            self.members.append({"name": name, "client": free_tcp_port(LOOPBACK), "peer": free_tcp_port(LOOPBACK),
                                 "data": os.path.join(self.dir, name), "log": os.path.join(self.dir, f"{name}.log"),
                                 "proc": None})
        initial = ",".join(f"{m['name']}=http://127.0.0.1:{m['peer']}" for m in self.members)
        for m in self.members:
            m["args"] = [ETCD, "--name", m["name"], "--data-dir", m["data"],
                         "--listen-client-urls", f"http://127.0.0.1:{m['client']}",
                         "--advertise-client-urls", f"http://127.0.0.1:{m['client']}",
                         "--listen-peer-urls", f"http://127.0.0.1:{m['peer']}",
                         "--initial-advertise-peer-urls", f"http://127.0.0.1:{m['peer']}",
                         "--initial-cluster", initial, "--initial-cluster-token", self.token,
                         "--initial-cluster-state", "new", "--logger", "zap", "--log-outputs", "stderr"]
            m["url"] = f"http://127.0.0.1:{m['client']}"

    def start(self) -> None:
        env = etcd_env()
        for m in self.members:
            with open(m["log"], "w") as log:
                m["proc"] = subprocess.Popen(die_with_parent(m["args"]), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, cwd=self.dir, env=env)

    def check_alive(self) -> None:
        for m in self.members:
            if m["proc"].poll() is not None:
                raise BenchFailure(f"etcd member {m['name']} exited ({m['proc'].returncode}):\n{tail(m['log'])}")

    def describe(self) -> str:
        return "\n".join(f"--- {m['name']} ({m['url']}):\n{tail(m['log'], 10)}" for m in self.members)

    def stop(self) -> None:
        for m in self.members:
            stop_process(m["proc"])
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


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
        cluster.check_alive()
        try:
            leaders, ids = set(), {}
            for m in cluster.members:
                status = await etcd_post(session, m["url"], "/v3/maintenance/status", {}, timeout=2)
                leaders.add(status.get("leader"))
                ids[m["name"]] = status["header"]["member_id"]
            if len(leaders) == 1 and None not in leaders and leaders <= set(ids.values()):
                for m in cluster.members:
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
        followers = [m for m in cluster.members if m["id"] != leader]
        key = "/bench/config"
        counter = 0
        for size in sizes:
            names = [f"w{i}@{cluster.members[i % len(cluster.members)]['name']}" for i in range(size)]
            streams = Streams(names)
            created = [asyncio.Event() for _ in names]
            tasks = [asyncio.create_task(etcd_watch(session, cluster.members[i % len(cluster.members)]["url"], key,
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
    cluster = EtcdCluster(3)
    try:
        cluster.start()
        return asyncio.run(etcd_trials(cluster, sizes, trials, rng))
    finally:
        cluster.stop()


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
