"""How fast a configuration change reaches every member: our pack daemons against etcd.

Ours: N = 3 and 10 ``pylxd-cluster-daemon`` processes on loopback, started with the shared
harness (:mod:`mockserver.daemon.harness`: ``PackProcs(listen=True)``; ``pack: auto``,
keepalive 200 ms, dead-interval 1000 ms, ``expected_members`` N, broadcast on a free UDP
port, interfaces ``127.<a>.<b>.<i>`` in a random block), each with an ``Api`` module (unix
socket, and a TCP ``listen`` on its interface: members pull the document from the leader over
HTTP) and a ``PackConfiguration: {}`` module. One websocket per member on
``/1.0/events?type=lifecycle`` stays open across the trials. A trial is a
``PUT /1.0/cluster/config`` with ``{"modules": [{"Bench": {"value": <trial>}}]}`` on a
follower's unix socket (a random follower each trial); propagation is the time from just
before the PUT until EVERY member's stream delivered ``cluster-configuration-updated`` with
``context.version`` >= the version of the PUT's reply. The PUT's own latency (until its
reply) is reported too.

Peer (:mod:`benchmarks.etcd_peer`): etcd (Debian package etcd-server, /usr/bin/etcd), a
3-member cluster on 127.0.0.1 with
free ports and its data directories in a temporary directory. N = 3 and 10 watchers, each its
own watch stream (``POST /v3/watch`` on etcd's JSON gateway), spread over the 3 members. A
trial is a ``POST /v3/kv/put`` on a follower (a random one each trial, as ours); propagation
is the time from just before the put until the LAST watcher has seen the revision of the
put's reply.

Both halves are timed the same way, in this process: one asyncio loop (aiohttp) holds every
stream, and an arrival is stamped when the loop reads it. p50/p99 are nearest ranks (as the
other benchmarks: with 20 trials p99 is the worst one), after a few warm-up trials.

Only 127.0.0.0/8 and unix sockets are used; every process started here is stopped in
``finally`` (and killed if this process dies: pdeathsig), and the temporary directories are
removed.

Run alone: ``python -m benchmarks.config_propagation --sizes 3 --trials 5``.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time

from benchmarks.common import PROPAGATION_TIMEOUT, PUT_TIMEOUT, WARMUP, BenchFailure, Streams, percentile, table
from benchmarks.etcd_peer import ETCD, etcd_version, measure_etcd
from mockserver.daemon.harness import LEADER_ROLES, PackProcs

CONFIG_UPDATED = "cluster-configuration-updated"
KEEPALIVE_MS, DEAD_MS = 200, 1000
# The anchor: the seed's PackConfiguration polls the leader every `interval` (60 s by
# default) and restarts the member to apply a change (~5 s).
SEED_INTERVAL, SEED_RESTART = 60.0, 5.0
GOAL_P50_RATIO, GOAL_P99 = 3.0, 0.050


def fms(seconds) -> str:
    if seconds is None or seconds != seconds:
        return "-"
    return f"{seconds * 1000:.1f} ms"


def summarize(values: list) -> dict:
    return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99), "max": max(values),
            "n": len(values)}


# ---- ours: the reference daemon ---------------------------------------------------------------

def daemon_pack(size: int, rng: random.Random) -> PackProcs:
    """N daemons of the harness (``pack: auto``, a TCP ``listen`` on each interface and a
    ``PackConfiguration: {}`` module), not started yet; ``with`` stops them and removes the
    directory."""
    pack = PackProcs(defaults={"keepalive-interval": KEEPALIVE_MS, "dead-interval": DEAD_MS},
                     listen=True, seed=rng.randrange(1 << 32), tmp_prefix="cfgprop-", pdeathsig=True)
    for i in range(size):
        pack.add(f"node{i + 1:02d}", "auto", expected_members=size)
    return pack


def check_alive(pack: PackProcs) -> None:
    for node in pack.nodes.values():
        if not node.alive():
            raise BenchFailure(f"daemon {node.name} exited ({node.proc.poll()}):\n{describe_node(node, 25)}")


def describe_node(node, lines: int) -> str:
    return "\n".join([*node.output()[-lines:], node.log(lines)])


def describe(pack: PackProcs, lines: int = 8) -> str:
    return "\n".join(f"--- {n.name} ({n.interface}):\n{describe_node(n, lines)}" for n in pack.nodes.values())


async def api(session, method: str, path: str, body=None, timeout: float = 5.0):
    """``(status, parsed JSON reply)`` of one request on a member's unix socket."""
    import aiohttp

    async with session.request(method, "http://localhost" + path, json=body,
                               timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


async def pack_converged(pack: PackProcs, sessions: dict, timeout: float = 60.0) -> str:
    """Wait until every member shows every member Online and all show the same single
    leader (roles ["database-leader", "database"]); return the leader's name."""
    names = set(pack.nodes)
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        check_alive(pack)
        try:
            leaders = set()
            problems = []
            for name in pack.nodes:
                status, reply = await api(sessions[name], "GET", "/1.0/cluster/members?recursion=1")
                if status != 200:
                    problems.append(f"{name}: HTTP {status}")
                    continue
                view = {m["server_name"]: m for m in reply.get("metadata") or []}
                offline = sorted(n for n in names if (view.get(n) or {}).get("status") != "Online")
                if offline:
                    problems.append(f"{name} does not show {offline} Online")
                lead = sorted(n for n, m in view.items() if tuple(m.get("roles") or ()) == LEADER_ROLES)
                if len(lead) != 1:
                    problems.append(f"{name} shows leaders {lead}")
                leaders.update(lead)
            if not problems and len(leaders) == 1:
                return leaders.pop()
            last = "; ".join(problems) or f"leaders {sorted(leaders)}"
        except Exception as exc:  # noqa: BLE001 - sockets not there yet
            last = repr(exc)
        if time.monotonic() > deadline:
            raise BenchFailure(f"pack of {len(names)} did not converge within {timeout:g} s ({last}):\n"
                               f"{describe(pack)}")
        await asyncio.sleep(0.1)


async def member_events(session, name: str, streams: Streams, opened: asyncio.Event) -> None:
    import aiohttp

    try:
        async with session.ws_connect("http://localhost/1.0/events?type=lifecycle", timeout=10,
                                      heartbeat=None) as ws:
            opened.set()
            async for message in ws:
                arrived = time.perf_counter()
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                event = json.loads(message.data)
                meta = event.get("metadata") or {}
                if event.get("type") == "lifecycle" and meta.get("action") == CONFIG_UPDATED:
                    version = (meta.get("context") or {}).get("version")
                    if version is not None:
                        streams.record(name, int(version), arrived)
            streams.close(name, f"the event websocket closed ({ws.close_code})")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported through the trial that waits for it
        streams.close(name, repr(exc))
        opened.set()


async def pack_trials(pack: PackProcs, trials: int, rng: random.Random) -> dict:
    import aiohttp

    sessions = {name: aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=node.socket_path))
                for name, node in pack.nodes.items()}
    tasks = []
    try:
        leader = await pack_converged(pack, sessions)
        followers = [name for name in pack.nodes if name != leader]
        names = list(pack.nodes)
        streams = Streams(names)
        opened = {name: asyncio.Event() for name in names}
        tasks = [asyncio.create_task(member_events(sessions[name], name, streams, opened[name])) for name in names]
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened.values())), 15)
        except asyncio.TimeoutError:
            raise BenchFailure("the event websockets did not open within 15 s") from None
        if streams.closed:
            raise BenchFailure(f"event websockets failed: {streams.closed}")
        propagation, put_latency = [], []
        for trial in range(WARMUP + trials):
            await asyncio.sleep(0.02 + rng.uniform(0, 0.05))
            target = rng.choice(followers)
            what = f"ours N={len(names)} trial {trial + 1} (PUT on follower {target})"
            start = time.perf_counter()
            try:
                status, reply = await api(sessions[target], "PUT", "/1.0/cluster/config",
                                          {"modules": [{"Bench": {"value": trial + 1}}]}, timeout=PUT_TIMEOUT)
            except asyncio.TimeoutError:
                raise BenchFailure(f"{what}: no reply within {PUT_TIMEOUT:g} s") from None
            replied = time.perf_counter()
            meta = reply.get("metadata") if isinstance(reply, dict) else None
            if status != 200 or not isinstance(meta, dict) or "version" not in meta:
                shown = reply if isinstance(reply, str) else json.dumps(reply)
                raise BenchFailure(f"{what}: HTTP {status}: {shown[:400]}", logs=False)
            version = int(meta["version"])
            seen = await streams.all_reached(version, PROPAGATION_TIMEOUT,
                                             f"{what}: {CONFIG_UPDATED} with version >= {version}")
            if trial >= WARMUP:
                propagation.append(seen - start)
                put_latency.append(replied - start)
        return {"propagation": propagation, "put": put_latency, "leader": leader}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in sessions.values():
            with contextlib.suppress(Exception):
                await session.close()


def measure_ours(size: int, trials: int, rng: random.Random) -> dict:
    with daemon_pack(size, rng) as pack:
        try:
            for node in pack.nodes.values():  # all at once; pack_converged waits for them
                node.start(wait=False)
            return asyncio.run(pack_trials(pack, trials, rng))
        except BenchFailure as exc:
            if not exc.logs:
                raise
            raise BenchFailure(f"{exc}\n  daemon logs (tail):\n{describe(pack, 6)}", logs=False) from None
        finally:
            pack.stop_all()  # they leave the pack in parallel


# ---- the report -------------------------------------------------------------------------------

def run(sizes=(3, 10), trials: int = 20, seed: int = 13) -> dict:
    rng = random.Random(seed)
    started = time.monotonic()
    version = etcd_version() if os.access(ETCD, os.X_OK) else "not installed"
    print(f"\nConfiguration propagation (a change until EVERY member / watcher has it), {trials} trials per N "
          f"after {WARMUP} warm-up; ours vs etcd {version} (3 members), loopback", flush=True)
    results = {"sizes": {}, "errors": [], "trials": trials}
    etcd, etcd_error = {}, None
    try:
        etcd = measure_etcd(sizes, trials, rng)
    except Exception as exc:  # noqa: BLE001 - reported below, and by the exit code
        etcd_error = f"etcd half FAILED: {exc}"
        results["errors"].append(etcd_error)
        print(f"  {etcd_error}", flush=True)
    print(f"  etcd: done in {time.monotonic() - started:.0f} s", flush=True)
    for size in sizes:
        entry = {"etcd": etcd.get(size), "ours": None, "error": None}
        try:
            entry["ours"] = measure_ours(size, trials, rng)
            print(f"  ours N={size}: done in {time.monotonic() - started:.0f} s", flush=True)
        except Exception as exc:  # noqa: BLE001 - reported below, and by the exit code
            entry["error"] = f"daemon half FAILED at N={size}: {exc}"
            results["errors"].append(entry["error"])
            print(f"  {entry['error']}", flush=True)
        results["sizes"][size] = entry

    rows = []
    for size, entry in results["sizes"].items():
        ours, peer = entry["ours"], entry["etcd"]
        if ours:
            o, p = summarize(ours["propagation"]), summarize(ours["put"])
            rows.append([size, f"ours: {size} daemons, PUT on a follower, {size} event streams", fms(o["p50"]),
                         fms(o["p99"]), fms(o["max"]), fms(p["p50"]), fms(p["p99"])])
        else:
            rows.append([size, f"ours: {size} daemons", "FAILED", "FAILED", "-", "-", "-"])
        if peer:
            o, p = summarize(peer["propagation"]), summarize(peer["put"])
            rows.append([size, f"etcd: 3 members, put on a follower, {size} watchers", fms(o["p50"]), fms(o["p99"]),
                         fms(o["max"]), fms(p["p50"]), fms(p["p99"])])
        else:
            rows.append([size, "etcd: 3 members", "FAILED", "FAILED", "-", "-", "-"])
    table(f"Configuration propagation, from just before the write until the last member / watcher had it "
          f"(nearest rank: p99 is the worst of {trials})",
          ["N", "who", "p50", "p99", "max", "write p50", "write p99"], rows)
    for size, entry in results["sizes"].items():
        ours, peer = entry["ours"], entry["etcd"]
        if not ours:
            print(f"  N={size}: ours not measured; goals (p50 within {GOAL_P50_RATIO:g}x of etcd, "
                  f"p99 < {GOAL_P99 * 1000:.0f} ms) NOT met")
            continue
        o = summarize(ours["propagation"])
        entry["our_p50"], entry["our_p99"] = o["p50"], o["p99"]
        p99_met = o["p99"] < GOAL_P99
        if peer:
            e = summarize(peer["propagation"])
            entry["ratio_p50"], entry["ratio_p99"] = o["p50"] / e["p50"], o["p99"] / e["p99"]
            p50_met = entry["ratio_p50"] <= GOAL_P50_RATIO
            print(f"  N={size}: ours/etcd p50 {entry['ratio_p50']:.2f}x, p99 {entry['ratio_p99']:.2f}x; "
                  f"goal p50 within {GOAL_P50_RATIO:g}x of etcd: {'met' if p50_met else 'NOT met'}; "
                  f"goal p99 < {GOAL_P99 * 1000:.0f} ms: {'met' if p99_met else 'NOT met'} ({fms(o['p99'])})")
        else:
            print(f"  N={size}: etcd not measured, no ratio; goal p99 < {GOAL_P99 * 1000:.0f} ms: "
                  f"{'met' if p99_met else 'NOT met'} ({fms(o['p99'])})")
    print(f"  anchor: the seed's PackConfiguration needs up to its interval ({SEED_INTERVAL:.0f} s) plus a "
          f"~{SEED_RESTART:.0f} s restart, ~{SEED_INTERVAL + SEED_RESTART:.0f} s, for a change to reach a member")
    for error in results["errors"]:
        print(f"  {error.splitlines()[0]}")
    results["wall"] = time.monotonic() - started
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3,10", help="comma-separated N: daemons / etcd watchers (default 3,10)")
    parser.add_argument("--trials", type=int, default=20, help="measured trials per N, after warm-up (default 20)")
    args = parser.parse_args(argv)
    results = run(tuple(int(x) for x in args.sizes.split(",")), args.trials)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
