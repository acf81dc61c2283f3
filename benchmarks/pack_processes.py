"""The pack with real daemon processes on loopback (keepalive 200 ms, dead-interval 1000 ms).

- Detection, N = 3 and 10: ``kill -9`` a random follower; the time until EVERY survivor
  shows it Offline through its API. Bound: dead-interval + keepalive-interval = 1.2 s.
  The killed node is restarted between trials; the time until every other member shows
  it Online again is reported too (rejoin).
- Join, N = 3 and 10: start a new node (a new name each trial); the time until every
  member shows it Online. Bound: 2 x keepalive-interval = 0.4 s, counted from the end of
  the daemon's start-up: the creation of its API socket (the inode's ctime, a kernel
  timestamp), which the daemon does right before its first announcement. Also reported:
  from the moment this benchmark read the daemon's "running;" line (printed only after the
  announcement, and read late under load, so it can come after the pack already knows the
  newcomer: negative values), and from the process spawn (Python start-up included). The
  newcomer then leaves with SIGTERM; the time until every member shows it Offline is
  reported (leave).
- Idle CPU % and RSS per daemon of an idle 3-node pack over 10 s, from /proc.

How a "shows" is timed: every node's ``/1.0/events`` stream is watched; on a lifecycle
event the watcher reads ``/1.0/cluster/members?recursion=1`` from that node, and the
moment the member took the awaited status is the event's own timestamp (the daemon's
clock, when its API state changed; all processes share the host clock). So no polling
load is put on the daemons, and the figures do not include the reader's latency.

Only 127.0.0.0/8 addresses are used, on a UDP port free at the start of the run; every
process started here is stopped at the end (and killed if this process dies: pdeathsig).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROADCAST = "127.255.255.255"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- small helpers ---------------------------------------------------------------------------

def percentile(values, fraction):
    """Nearest rank (as benchmarks/pack_simulation.py): with 20 trials p99 is the worst one."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def ms(seconds) -> str:
    if seconds is None or seconds != seconds:
        return "-"
    if seconds == float("inf"):
        return "timeout"
    return f"{seconds * 1000:.0f} ms"


def free_udp_port() -> int:
    """A UDP port nobody holds on any address now (the daemons bind 127.0.0.x and the
    broadcast address on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def die_with_us(args: list) -> list:
    """Prefix ``args`` so that the child is SIGKILLed if this process dies (setpriv keeps
    the pid: it execs the command)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] + args if setpriv else args


_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def parse_timestamp(text: str) -> float:
    """RFC 3339 (nanoseconds allowed) to POSIX seconds."""
    match = _TS.fullmatch(text)
    if not match:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    base, fraction, zone = match.groups()
    moment = _dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    offset = _dt.timezone.utc if zone == "Z" else _dt.timezone(
        (1 if zone[0] == "+" else -1) * _dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return moment.replace(tzinfo=offset).timestamp() + (float("0." + fraction) if fraction else 0.0)


def wait_for(predicate, timeout: float, what: str, step: float = 0.005):
    """Poll an in-memory ``predicate`` (no I/O) until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


# ---- a daemon process ------------------------------------------------------------------------

class Daemon:
    """One ``pylxd-cluster-daemon`` process with its configuration and API socket."""

    def __init__(self, workdir: str, pack: str, port: int, name: str, address: str, *,
                 keepalive_ms: int, dead_ms: int, role: str = "auto"):
        self.name, self.address, self.port = name, address, port
        self.socket = os.path.join(workdir, f"{name}.socket")
        self.config = os.path.join(workdir, f"{name}.yaml")
        with open(self.config, "w") as out:
            out.write(f"""- Pack:
    name: {pack}
    secret: bench-{pack}
    broadcast: {BROADCAST}
    interface: {address}
    port: {port}
    pack: {role}
    server_name: {name}
    keepalive-interval: {keepalive_ms}
    dead-interval: {dead_ms}
- Api:
    unix: {self.socket}
""")
        self.proc: subprocess.Popen | None = None
        # time.time() of the spawn, of the API socket's creation (its inode's ctime: the daemon
        # binds it just before its first announcement) and of reading the "running;" line.
        self.spawned = self.up = self.running = None
        self.tail: list = []
        self._ready = threading.Event()

    def start(self) -> "Daemon":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket)
        self._ready.clear()
        self.running, self.up, self.tail = None, None, []
        self.spawned = time.time()
        self.proc = subprocess.Popen(die_with_us([sys.executable, "-m", "mockserver.daemon.cli", "--config", self.config]),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     text=True, cwd=ROOT)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True, name=f"out-{self.name}").start()
        return self

    def _read(self, proc) -> None:
        for line in proc.stdout:  # always drained, so the daemon never blocks on a full pipe
            if self.running is None and "running;" in line:
                self.running = time.time()
                self._ready.set()
            self.tail = (self.tail + [line])[-40:]
        self._ready.set()

    def wait_ready(self, timeout: float = 30.0) -> "Daemon":
        if not self._ready.wait(timeout) or self.running is None:
            raise RuntimeError(f"daemon {self.name} not running after {timeout:g}s (exit {self.proc.poll()}):\n"
                               + "".join(self.tail))
        try:
            self.up = os.stat(self.socket).st_ctime
        except OSError:
            self.up = self.running
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (the daemon leaves the pack), SIGKILL if it does not exit within 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


# ---- watching a node's API -------------------------------------------------------------------

class Watcher(threading.Thread):
    """Follows one node's view of the pack through its API: its lifecycle events, and the
    member list read after each. ``since[name]`` is when (the node's own event timestamp)
    the member took the status now in ``view[name]``; ``leader``/``leader_at`` the same
    for the node's leader (from cluster-leader-changed)."""

    def __init__(self, daemon: Daemon):
        super().__init__(daemon=True, name=f"watch-{daemon.name}")
        from pylxd_cluster.events import connect_websocket
        from pylxd_cluster.transport import Transport

        self.node = daemon.name
        self.transport = Transport(daemon.socket, timeout=10)
        self.lock = threading.Lock()
        self.view: dict = {}       # name -> (status, roles)
        self.since: dict = {}      # name -> POSIX time the status in view was taken
        self.leader, self.leader_at = "", 0.0
        self.events = 0
        self.lag: list = []        # event arrival - event timestamp (seconds)
        self.closed = False
        self.ws = connect_websocket(self.transport, "/1.0/events?type=lifecycle", timeout=10)
        now = time.time()
        self._refresh(now, None)   # after subscribing: nothing can fall in between
        state = self.transport.request("GET", f"/1.0/cluster/members/{self.node}/state").metadata or {}
        with self.lock:
            self.leader, self.leader_at = (state.get("pack") or {}).get("leader") or "", now
        self.start()

    def _refresh(self, when: float, about: str | None) -> None:
        members = self.transport.request("GET", "/1.0/cluster/members?recursion=1").metadata or []
        view = {m["server_name"]: (m["status"], tuple(m.get("roles") or ())) for m in members}
        with self.lock:
            for name, (status, _) in view.items():
                if name not in self.view or self.view[name][0] != status:
                    # The event about this member is what changed it; for any other
                    # change seen meanwhile its own event follows and is recorded then.
                    self.since[name] = when if (about in (None, name)) else time.time()
            self.view = view

    def run(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data()
                arrived = time.time()
                if opcode == 8:  # close
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                if event.get("type") != "lifecycle":
                    continue
                meta = event.get("metadata") or {}
                stamp = parse_timestamp(event["timestamp"])
                self.events += 1
                self.lag.append(arrived - stamp)
                action = meta.get("action", "")
                if action == "cluster-leader-changed":
                    with self.lock:
                        self.leader, self.leader_at = (meta.get("context") or {}).get("leader") or "", stamp
                elif action.startswith("cluster-member-"):
                    about = (meta.get("source") or "").rstrip("/").rsplit("/", 1)[-1]
                    self._refresh(stamp, about)
        except Exception:  # noqa: BLE001 - the node went away (killed) or we closed it
            pass
        finally:
            self.closed = True

    def status(self, name: str):
        with self.lock:
            entry = self.view.get(name)
            return (entry[0], self.since.get(name, 0.0)) if entry else (None, 0.0)

    def online(self) -> set:
        with self.lock:
            return {n for n, (s, _) in self.view.items() if s == "Online"}

    def leaders_by_role(self) -> set:
        with self.lock:
            return {n for n, (s, roles) in self.view.items() if "database-leader" in roles and s == "Online"}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.shutdown()
        with contextlib.suppress(Exception):
            self.transport.close()


def all_show(watchers, name: str, status: str, after: float):
    """The time when the last of ``watchers`` showed ``name`` with ``status`` (taken at or
    after ``after``), or None while one does not."""
    times = []
    for w in watchers:
        seen, since = w.status(name)
        if seen != status or since < after:
            return None
        times.append(since)
    return max(times)


class Pack:
    """N daemons on 127.0.0.x, one UDP port, watched through their APIs."""

    def __init__(self, workdir: str, size: int, *, keepalive_ms=200, dead_ms=1000, first_host=101, label="bench"):
        self.workdir, self.keepalive_ms, self.dead_ms = workdir, keepalive_ms, dead_ms
        self.port = free_udp_port()
        self.name = f"{label}{self.port}"
        self.first_host = first_host
        self.daemons: dict = {}
        self.watchers: dict = {}
        self._next = 0
        for _ in range(size):
            self.add(f"node{self._next + 1:02d}")

    def add(self, name: str) -> Daemon:
        host = self.first_host + self._next
        if host > 254:
            raise RuntimeError("out of 127.0.0.x addresses")
        self._next += 1
        daemon = Daemon(self.workdir, self.name, self.port, name, f"127.0.0.{host}",
                        keepalive_ms=self.keepalive_ms, dead_ms=self.dead_ms)
        self.daemons[name] = daemon
        return daemon

    def start_all(self, watch: bool = True, timeout: float = 60.0) -> None:
        for d in self.daemons.values():
            d.start()
        for d in self.daemons.values():
            d.wait_ready()
        if watch:
            for d in self.daemons.values():
                self.watch(d)
            self.wait_converged(timeout)

    def watch(self, daemon: Daemon) -> Watcher:
        old = self.watchers.pop(daemon.name, None)
        if old is not None:
            old.close()
        self.watchers[daemon.name] = Watcher(daemon)
        return self.watchers[daemon.name]

    def live(self) -> list:
        return [d for d in self.daemons.values() if d.alive()]

    def wait_converged(self, timeout: float = 30.0) -> None:
        """Every live node shows every live node Online and one agreed leader."""
        names = {d.name for d in self.live()}

        def done():
            ws = [self.watchers[n] for n in names]
            return all(names <= w.online() for w in ws) and len({w.leader for w in ws}) == 1 and ws[0].leader
        wait_for(done, timeout, f"pack {self.name} to converge on {sorted(names)}")

    def leader(self) -> str:
        return self.watchers[self.live()[0].name].leader

    def stop(self) -> None:
        for w in self.watchers.values():
            w.close()
        for d in self.daemons.values():
            with contextlib.suppress(Exception):
                d.stop()


# ---- the measurements ------------------------------------------------------------------------

def detection_trials(pack: Pack, trials: int, rng: random.Random) -> dict:
    keepalive = pack.keepalive_ms / 1000
    detect, rejoin_up, rejoin_spawn, notes = [], [], [], []
    for _ in range(trials):
        time.sleep(0.3 + rng.uniform(0, keepalive))  # a random phase against the probe period
        leader = pack.leader()
        victim = pack.daemons[rng.choice([d.name for d in pack.live() if d.name != leader])]
        survivors = [pack.watchers[d.name] for d in pack.live() if d is not victim]
        killed = time.time()
        victim.kill9()
        try:
            seen = wait_for(lambda: all_show(survivors, victim.name, "Offline", killed), 15.0,
                            f"{victim.name} Offline everywhere")
            detect.append(seen - killed)
        except TimeoutError:
            detect.append(float("inf"))
        if detect[-1] > (pack.dead_ms + pack.keepalive_ms) / 1000:  # over the bound: who was late, and why
            late = sorted(((w.status(victim.name)[1] - killed, w.node) for w in survivors), reverse=True)
            notes.append(f"{victim.name} killed: over the bound on {', '.join(f'{n} ({ms(t)})' for t, n in late[:3])}; "
                         f"{late[0][1]} shows {member_message(pack.daemons[late[0][1]], victim.name)!r}; "
                         f"the others took {ms(min(t for t, _ in late))} at the earliest")
        victim.start().wait_ready()
        pack.watch(victim)
        others = [pack.watchers[d.name] for d in pack.live() if d is not victim]
        back = wait_for(lambda: all_show(others, victim.name, "Online", victim.spawned), 15.0,
                        f"{victim.name} Online again everywhere")
        rejoin_up.append(back - victim.up)
        rejoin_spawn.append(back - victim.spawned)
        pack.wait_converged()
    return {"detect": detect, "rejoin": rejoin_up, "rejoin_spawn": rejoin_spawn, "notes": notes}


def join_trials(pack: Pack, trials: int, rng: random.Random) -> dict:
    join_up, join_run, join_spawn, leave, notes = [], [], [], [], []
    for trial in range(trials):
        time.sleep(0.2 + rng.uniform(0, pack.keepalive_ms / 1000))
        members = [pack.watchers[d.name] for d in pack.live()]
        newcomer = pack.add(f"join{trial + 1:02d}")
        newcomer.start().wait_ready()
        try:
            seen = wait_for(lambda: all_show(members, newcomer.name, "Online", newcomer.spawned), 15.0,
                            f"{newcomer.name} Online everywhere")
            join_up.append(seen - newcomer.up)
            join_run.append(seen - newcomer.running)
            join_spawn.append(seen - newcomer.spawned)
        except TimeoutError:
            for values in (join_up, join_run, join_spawn):
                values.append(float("inf"))
        left = time.time()
        newcomer.stop()
        try:
            gone = wait_for(lambda: all_show(members, newcomer.name, "Offline", left), 15.0,
                            f"{newcomer.name} Offline everywhere after SIGTERM")
            leave.append(gone - left)
        except TimeoutError:
            leave.append(float("inf"))
        if leave[-1] > pack.keepalive_ms / 1000:  # not the LEAVE datagram: say what the slowest one shows
            slowest = max(members, key=lambda w: w.status(newcomer.name)[1])
            notes.append(f"{newcomer.name} left, {slowest.node} showed it Offline after {ms(leave[-1])}: "
                         f"{member_message(pack.daemons[slowest.node], newcomer.name)!r}")
    return {"join": join_up, "join_running": join_run, "join_spawn": join_spawn, "leave": leave, "notes": notes}


def member_message(daemon: Daemon, name: str) -> str:
    from pylxd_cluster.transport import Transport

    transport = Transport(daemon.socket, timeout=10)
    try:
        return transport.request("GET", f"/1.0/cluster/members/{name}").metadata.get("message", "")
    except Exception as exc:  # noqa: BLE001 - a diagnostic only
        return f"({exc})"
    finally:
        transport.close()


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def idle_usage(workdir: str, size: int = 3, seconds: float = 10.0) -> list:
    """Per daemon of an idle pack: CPU % (utime+stime delta / wall), RSS and packets/s."""
    from pylxd_cluster.transport import Transport

    pack = Pack(workdir, size, label="idle", first_host=201)
    try:
        pack.start_all(watch=True)
        for w in pack.watchers.values():  # no API client attached while measuring
            w.close()
        time.sleep(2.0)

        def counters():
            out = {}
            for d in pack.daemons.values():
                t = Transport(d.socket, timeout=10)
                try:
                    c = t.request("GET", f"/1.0/cluster/members/{d.name}/state").metadata["pack"]["counters"]
                finally:
                    t.close()
                out[d.name] = c.get("udp_sent", 0) + c.get("udp_received", 0)
            return out
        packets0 = counters()
        ticks0 = {d.name: _cpu_ticks(d.pid) for d in pack.daemons.values()}
        start = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - start
        ticks1 = {d.name: _cpu_ticks(d.pid) for d in pack.daemons.values()}
        rows = [{"name": d.name, "cpu": (ticks1[d.name] - ticks0[d.name]) / CLK_TCK / wall * 100,
                 "rss_kb": _status_kb(d.pid, "VmRSS"), "hwm_kb": _status_kb(d.pid, "VmHWM")}
                for d in pack.daemons.values()]
        packets1 = counters()
        for row in rows:
            row["pps"] = (packets1[row["name"]] - packets0[row["name"]]) / wall
        return rows
    finally:
        pack.stop()


# ---- the report ------------------------------------------------------------------------------

def table(title: str, header: list, rows: list) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import table as print_table
    print_table(title, header, rows)


def run(sizes=(3, 10), trials: int = 20, idle_seconds: float = 10.0, seed: int = 7) -> dict:
    rng = random.Random(seed)
    keepalive, dead = 200, 1000
    detect_bound, join_bound = (dead + keepalive) / 1000, 2 * keepalive / 1000
    results = {"sizes": {}, "trials": trials}
    workdir = tempfile.mkdtemp(prefix="pack-bench-")
    print(f"\nPack daemons as processes on loopback: keepalive {keepalive} ms, dead-interval {dead} ms, "
          f"{trials} trials per N", flush=True)
    started = time.monotonic()
    try:
        for size in sizes:
            pack = Pack(workdir, size, keepalive_ms=keepalive, dead_ms=dead, label=f"n{size}-")
            try:
                pack.start_all()
                r = detection_trials(pack, trials, rng)
                joins = join_trials(pack, trials, rng)
                r["notes"] += joins.pop("notes")
                r.update(joins)
                lags = [x for w in pack.watchers.values() for x in w.lag]
                r["event_lag_p99"] = percentile(lags, 0.99)
            finally:
                pack.stop()
            results["sizes"][size] = r
            print(f"  N={size}: done in {time.monotonic() - started:.0f} s", flush=True)
        results["idle"] = idle_usage(workdir, 3, idle_seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows = []
    for size, r in results["sizes"].items():
        for label, key, bound in (("detection (kill -9 follower, Offline on every survivor)", "detect", detect_bound),
                                  ("join, from start-up (API socket bound; Online on every member)", "join",
                                   join_bound),
                                  ("join, from reading its 'running;' line (printed after it announced)",
                                   "join_running", None),
                                  ("join, from process spawn (Python start-up included)", "join_spawn", None),
                                  ("rejoin after kill -9, from start-up", "rejoin", join_bound),
                                  ("rejoin after kill -9, from process spawn", "rejoin_spawn", None),
                                  ("leave (SIGTERM), Offline on every member", "leave", None)):
            values = r[key]
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            within = "" if bound is None else f"{sum(1 for v in values if v <= bound)}/{len(values)}"
            rows.append([size, label, ms(p50), ms(p99), ms(max(values)), ms(bound) if bound else "-", within,
                         ("met" if p99 <= bound else "NOT met") if bound else ""])
    table(f"Pack processes, detection and join ({trials} trials each; p99 is the nearest rank, i.e. the worst "
          f"of {trials})", ["N", "what", "p50", "p99", "max", "bound", "within", "p99 vs bound"], rows)
    idle = results["idle"]
    table(f"Idle 3-node pack, per daemon over {idle_seconds:g} s (CPU = utime+stime / wall, /proc)",
          ["daemon", "CPU %", "RSS MiB", "peak RSS MiB", "pkt/s (sent+received)"],
          [[r["name"], f"{r['cpu']:.2f}", f"{r['rss_kb'] / 1024:.1f}", f"{r['hwm_kb'] / 1024:.1f}", f"{r['pps']:.1f}"]
           for r in idle])
    for size, r in results["sizes"].items():
        for note in r["notes"]:
            print(f"  N={size}: {note}")
    lag = max(r["event_lag_p99"] for r in results["sizes"].values())
    print(f"  times are the daemons' own event timestamps; event delivery to the reader added p99 {ms(lag)} "
          "(not counted)")
    results["wall"] = time.monotonic() - started
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3,10", help="comma-separated pack sizes (default 3,10)")
    parser.add_argument("--trials", type=int, default=20, help="trials per size and measure (default 20)")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    return run(tuple(int(x) for x in args.sizes.split(",")), args.trials, args.idle_seconds)


if __name__ == "__main__":
    main()
