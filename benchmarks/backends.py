"""The two engines of record side by side: ``backend: pack`` (the pack's own protocol over
UDP) against ``backend: etcd`` (a real 3-member etcd with TLS and client certificates), in
the same run, with the same daemons, harness and intervals (keepalive 250 ms,
dead-interval 2000 ms: etcd counts lease TTLs in whole seconds).

* **Configuration propagation** at N = 3 and 10: a ``PUT /1.0/cluster/config`` on a follower
  until EVERY member's event stream delivered ``cluster-configuration-updated`` with the
  reply's version (the trial loop of :mod:`benchmarks.config_propagation`).
* **Leader failover after kill -9** (N = 3): from the SIGKILL until both survivors show the
  same new leader (their member lists, polled every 10 ms).
* **Join time** (a 4th member): from the process's spawn until every member lists it
  Online; beside it, the spawn until the process printed its "running" line (Python's
  start-up and the member's own: on both engines the others list it Online by then).

Only 127.0.0.0/8 is used; every process is stopped at the end (pdeathsig for the daemons),
and the temporary directories are removed.

Run alone: ``python -m benchmarks.backends --trials 5``.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time

from benchmarks.common import ms, percentile, table
from benchmarks.config_propagation import pack_trials
from mockserver.daemon.harness import PackProcs
from mockserver.daemon.harness.etcd import EtcdCluster

TIMING = {"keepalive-interval": 250, "dead-interval": 2000}
KINDS = ("pack", "etcd")


@contextlib.contextmanager
def engine(kind: str):
    """PackProcs options for ``kind`` (and the etcd cluster it needs, started here)."""
    if kind == "pack":
        yield {}
        return
    with EtcdCluster(3, tls=True, prefix="bench-") as etcd:
        etcd.wait_ready()
        yield {"etcd": etcd}


@contextlib.contextmanager
def pack_of(kind: str, size: int, options: dict, seed: int):
    defaults = dict(TIMING, **({"expected_members": size} if kind == "pack" else {}))
    with PackProcs(listen=True, defaults=defaults, seed=seed, tmp_prefix="bkend-", pdeathsig=True,
                   **options) as pack:
        pack.form([f"node{i + 1:02d}" for i in range(size)], timeout=60)
        try:
            yield pack
        finally:
            pack.stop_all()


def propagation(kind: str, options: dict, sizes, trials: int, rng: random.Random) -> dict:
    results = {}
    for size in sizes:
        with pack_of(kind, size, options, rng.randrange(1 << 32)) as pack:
            results[size] = asyncio.run(pack_trials(pack, trials, rng))["propagation"]
    return results


def failover(kind: str, options: dict, trials: int, rng: random.Random) -> list:
    times = []
    with pack_of(kind, 3, options, rng.randrange(1 << 32)) as pack:
        for _ in range(trials):
            old = pack.leader()
            killed_at = pack[old].kill9()
            survivors = [n for n in pack.nodes if n != old]
            seen = pack.wait_until(lambda: pack.leader(survivors) not in ("", old), 30, interval=0.01,
                                   what=f"[{kind}] a new leader after {old} was killed")
            times.append(seen - killed_at)
            pack[old].start()
            pack.wait_until(lambda: pack.all_online() and pack.leader(), 30, what=f"[{kind}] {old} back")
    return times


def join(kind: str, options: dict, trials: int, rng: random.Random) -> dict:
    total, startup = [], []
    with pack_of(kind, 3, options, rng.randrange(1 << 32)) as pack:
        names = list(pack.nodes)
        for trial in range(trials):
            name = f"join{trial}"
            node = pack.add(name, "auto", **({"expected_members": 3} if kind == "pack" else {}))
            spawned = time.monotonic()
            node.start(wait=False)
            seen = pack.wait_until(lambda: pack.all_online(names + [name]), 30, interval=0.01,
                                   what=f"[{kind}] {name} Online everywhere")
            node.wait_running(10)
            total.append(seen - spawned)
            startup.append(node.running_at - spawned)
            node.terminate()
            pack.wait_until(lambda: all(pack[n].statuses().get(name) != "Online" for n in names), 30,
                            what=f"[{kind}] {name} left")
            pack[names[0]].client.cluster.members.delete(name, force=True)
            pack.wait_until(lambda: all(name not in pack[n].statuses() for n in names), 30,
                            what=f"[{kind}] {name} removed")
            del pack.nodes[name]
    return {"total": total, "startup": startup}


def run(sizes=(3, 10), trials: int = 20, failovers: int = 5, joins: int = 5, seed: int = 29) -> dict:
    rng = random.Random(seed)
    started = time.monotonic()
    print(f"\nEngines of record: backend pack vs backend etcd (3 etcd members, TLS), same daemons, keepalive "
          f"{TIMING['keepalive-interval']} ms, dead-interval {TIMING['dead-interval']} ms", flush=True)
    results: dict = {kind: {} for kind in KINDS}
    errors = []
    for kind in KINDS:
        try:
            with engine(kind) as options:
                results[kind]["propagation"] = propagation(kind, options, sizes, trials, rng)
                results[kind]["failover"] = failover(kind, options, failovers, rng)
                results[kind]["join"] = join(kind, options, joins, rng)
        except Exception as exc:  # noqa: BLE001 - reported, and by the exit code
            errors.append(f"{kind}: {exc}")
            print(f"  {kind} FAILED: {str(exc).splitlines()[0]}", flush=True)
        print(f"  {kind}: done in {time.monotonic() - started:.0f} s", flush=True)

    def cell(kind: str, *path, fraction: float):
        value = results[kind]
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return ms(percentile(value, fraction)) if value else "FAILED"

    def ratio(*path, fraction: float) -> str:
        values = []
        for kind in KINDS:
            value = results[kind]
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(percentile(value, fraction) if value else None)
        return f"{values[1] / values[0]:.2f}x" if all(values) else "-"

    rows = []
    for size in sizes:
        rows.append([f"propagation N={size} p50", cell("pack", "propagation", size, fraction=0.5),
                     cell("etcd", "propagation", size, fraction=0.5), ratio("propagation", size, fraction=0.5)])
        rows.append([f"propagation N={size} p99", cell("pack", "propagation", size, fraction=0.99),
                     cell("etcd", "propagation", size, fraction=0.99), ratio("propagation", size, fraction=0.99)])
    for label, path in (("failover after kill -9", ("failover",)), ("join, from spawn", ("join", "total")),
                        ("of which the process's start-up", ("join", "startup"))):
        for name, fraction in (("p50", 0.5), ("max", 1.0)):
            rows.append([f"{label} {name}", cell("pack", *path, fraction=fraction),
                         cell("etcd", *path, fraction=fraction), ratio(*path, fraction=fraction)])
    table(f"backend pack vs backend etcd ({trials} propagation trials per N, {failovers} failovers, {joins} joins; "
          "the ratio is etcd's / the pack's)", ["measure", "pack", "etcd", "etcd / pack"], rows)
    results["errors"] = errors
    results["wall"] = time.monotonic() - started
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3,10", help="comma-separated N for propagation (default 3,10)")
    parser.add_argument("--trials", type=int, default=20, help="propagation trials per N (default 20)")
    parser.add_argument("--failovers", type=int, default=5, help="leader kills per backend (default 5)")
    parser.add_argument("--joins", type=int, default=5, help="joins per backend (default 5)")
    args = parser.parse_args(argv)
    results = run(tuple(int(x) for x in args.sizes.split(",")), args.trials, args.failovers, args.joins)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
