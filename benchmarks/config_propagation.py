"""How fast a configuration change reaches every member: our pack daemons against etcd.

Ours: N = 3 and 10 ``pylxd-cluster-daemon`` processes on loopback (``pack: auto``,
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

Peer: etcd (Debian package etcd-server, /usr/bin/etcd), a 3-member cluster on 127.0.0.1 with
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
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from common import ROOT, free_port, table  # noqa: E402
from pack_processes import die_with_us, free_udp_port, percentile  # noqa: E402

ETCD = "/usr/bin/etcd"
BROADCAST = "127.255.255.255"
LEADER_ROLES = ["database-leader", "database"]
CONFIG_UPDATED = "cluster-configuration-updated"
KEEPALIVE_MS, DEAD_MS = 200, 1000
WARMUP = 3
PUT_TIMEOUT = 10.0          # s, for one PUT / put
PROPAGATION_TIMEOUT = 10.0  # s, for one change to reach every member / watcher
# The anchor: the seed's PackConfiguration polls the leader every `interval` (60 s by
# default) and restarts the member to apply a change (~5 s).
SEED_INTERVAL, SEED_RESTART = 60.0, 5.0
GOAL_P50_RATIO, GOAL_P99 = 3.0, 0.050


class BenchFailure(RuntimeError):
    """One half of the benchmark could not be measured (the message says why); ``logs``:
    whether the daemons' log tails help (not for a plain HTTP refusal)."""

    def __init__(self, message: str, logs: bool = True):
        super().__init__(message)
        self.logs = logs


def fms(seconds) -> str:
    if seconds is None or seconds != seconds:
        return "-"
    return f"{seconds * 1000:.1f} ms"


def summarize(values: list) -> dict:
    return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99), "max": max(values),
            "n": len(values)}


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


# ---- the peer: etcd ---------------------------------------------------------------------------

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
            self.members.append({"name": name, "client": free_port(), "peer": free_port(),
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
                m["proc"] = subprocess.Popen(die_with_us(m["args"]), stdout=log, stderr=subprocess.STDOUT,
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

    def __enter__(self) -> "EtcdCluster":
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


# ---- ours: the reference daemon ---------------------------------------------------------------

def daemon_command() -> list:
    """The ``pylxd-cluster-daemon`` console script next to this interpreter, else the module."""
    script = os.path.join(os.path.dirname(sys.executable), "pylxd-cluster-daemon")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "mockserver.daemon.cli"]


def free_tcp_port_on(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class DaemonPack:
    """N daemons in a temporary directory; ``with`` stops them and removes it."""

    def __init__(self, size: int, rng: random.Random):
        self.dir = tempfile.mkdtemp(prefix="cfgprop-")  # short: unix socket paths <= 107 bytes
        self.block = f"127.{rng.randrange(16, 250)}.{rng.randrange(0, 256)}."
        self.port = free_udp_port()
        self.pack_name = f"cfg{rng.randrange(1 << 20):x}"
        self.nodes = []
        for i in range(size):
            name = f"node{i + 1:02d}"
            interface = f"{self.block}{11 + i}"
            node = {"name": name, "interface": interface, "api_port": free_tcp_port_on(interface),
                    "socket": os.path.join(self.dir, f"{name}.socket"),
                    "config": os.path.join(self.dir, f"{name}.yaml"), "log": os.path.join(self.dir, f"{name}.log"),
                    "proc": None}
            with open(node["config"], "w") as out:
                out.write(f"""- Pack:
    name: {self.pack_name}
    secret: bench-{self.pack_name}
    broadcast: {BROADCAST}
    interface: {interface}
    port: {self.port}
    pack: auto
    server_name: {name}
    keepalive-interval: {KEEPALIVE_MS}
    dead-interval: {DEAD_MS}
    expected_members: {size}
- Api:
    unix: {node['socket']}
    listen: "{interface}:{node['api_port']}"
- PackConfiguration: {{}}
""")
            self.nodes.append(node)

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for node in self.nodes:
            with open(node["log"], "w") as log:
                node["proc"] = subprocess.Popen(die_with_us(daemon_command() + ["--config", node["config"]]),
                                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                cwd=self.dir, env=env)

    def check_alive(self) -> None:
        for node in self.nodes:
            if node["proc"].poll() is not None:
                raise BenchFailure(f"daemon {node['name']} exited ({node['proc'].returncode}):\n{tail(node['log'])}")

    def describe(self, lines: int = 8) -> str:
        return "\n".join(f"--- {n['name']} ({n['interface']}):\n{tail(n['log'], lines)}" for n in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:  # all at once: they leave the pack in parallel
            with contextlib.suppress(Exception):
                if node["proc"] is not None and node["proc"].poll() is None:
                    node["proc"].send_signal(signal.SIGTERM)
        for node in self.nodes:
            stop_process(node["proc"])
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "DaemonPack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


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


async def pack_converged(pack: DaemonPack, sessions: dict, timeout: float = 60.0) -> str:
    """Wait until every member shows every member Online and all show the same single
    leader (roles ["database-leader", "database"]); return the leader's name."""
    names = {n["name"] for n in pack.nodes}
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        pack.check_alive()
        try:
            leaders = set()
            problems = []
            for node in pack.nodes:
                status, reply = await api(sessions[node["name"]], "GET", "/1.0/cluster/members?recursion=1")
                if status != 200:
                    problems.append(f"{node['name']}: HTTP {status}")
                    continue
                view = {m["server_name"]: m for m in reply.get("metadata") or []}
                offline = sorted(n for n in names if (view.get(n) or {}).get("status") != "Online")
                if offline:
                    problems.append(f"{node['name']} does not show {offline} Online")
                lead = sorted(n for n, m in view.items() if list(m.get("roles") or []) == LEADER_ROLES)
                if len(lead) != 1:
                    problems.append(f"{node['name']} shows leaders {lead}")
                leaders.update(lead)
            if not problems and len(leaders) == 1:
                return leaders.pop()
            last = "; ".join(problems) or f"leaders {sorted(leaders)}"
        except Exception as exc:  # noqa: BLE001 - sockets not there yet
            last = repr(exc)
        if time.monotonic() > deadline:
            raise BenchFailure(f"pack of {len(names)} did not converge within {timeout:g} s ({last}):\n"
                               f"{pack.describe()}")
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


async def pack_trials(pack: DaemonPack, trials: int, rng: random.Random) -> dict:
    import aiohttp

    sessions = {n["name"]: aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=n["socket"]))
                for n in pack.nodes}
    tasks = []
    try:
        leader = await pack_converged(pack, sessions)
        followers = [n["name"] for n in pack.nodes if n["name"] != leader]
        names = [n["name"] for n in pack.nodes]
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
    pack = DaemonPack(size, rng)
    try:
        pack.start()
        return asyncio.run(pack_trials(pack, trials, rng))
    except BenchFailure as exc:
        if not exc.logs:
            raise
        raise BenchFailure(f"{exc}\n  daemon logs (tail):\n{pack.describe(6)}", logs=False) from None
    finally:
        pack.stop()


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
