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

The daemons are started with the shared harness (:mod:`mockserver.daemon.harness`: a
``PackProcs`` per pack, in its own loopback block ``127.<a>.<b>.0/24`` on a free UDP port, and
a ``MemberWatcher`` per node). Only 127.0.0.0/8 addresses are used; every process started
here is stopped at the end (and killed if this process dies: pdeathsig).

Run alone: ``python -m benchmarks.pack_processes --help``.
"""
from __future__ import annotations

import argparse
import os
import random
import time

from benchmarks.common import ms, percentile, table
from mockserver.daemon.harness import READY, MemberWatcher, PackProcs, all_show, poll_until, raw_request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def wait_for(predicate, timeout: float, what: str):
    """Poll an in-memory ``predicate`` (no I/O) every 5 ms until it is truthy; return its
    value. Raises TimeoutError (the harness's WaitTimeout)."""
    return poll_until(predicate, timeout, interval=0.005, what=what)


def started_at(node) -> float:
    """When the daemon finished its start-up: it binds its API socket (the inode's ctime)
    right before its first announcement; else when its "running;" line was read."""
    return node.socket_ctime() or node.line_time(READY)


# ---- a pack, watched through its APIs --------------------------------------------------------

class Pack(PackProcs):
    """N daemons (``pack: auto``) of the harness, each followed by a :class:`MemberWatcher`;
    ``with`` (or :meth:`close`) stops them gracefully and removes the directory."""

    def __init__(self, size: int, *, keepalive_ms=200, dead_ms=1000, label="bench"):
        super().__init__(defaults={"keepalive-interval": keepalive_ms, "dead-interval": dead_ms},
                         tmp_prefix=f"pack-bench-{label}-", pdeathsig=True)
        self.keepalive_ms, self.dead_ms = keepalive_ms, dead_ms
        self.watchers: dict = {}
        for index in range(size):
            self.add(f"node{index + 1:02d}", "auto")

    def start_watched(self, watch: bool = True, timeout: float = 60.0) -> None:
        self.start_all(timeout=timeout)
        if watch:
            for name in self.nodes:
                self.watch(name)
            self.wait_converged(timeout)

    def watch(self, name: str) -> MemberWatcher:
        old = self.watchers.pop(name, None)
        if old is not None:
            old.close()
        self.watchers[name] = MemberWatcher(self.nodes[name])
        return self.watchers[name]

    def close_watchers(self) -> None:
        for watcher in self.watchers.values():
            watcher.close()

    def wait_converged(self, timeout: float = 30.0) -> None:
        """Every live node shows every live node Online and one agreed leader."""
        names = {n.name for n in self.running()}

        def done():
            ws = [self.watchers[n] for n in names]
            return all(names <= w.online() for w in ws) and len({w.leader for w in ws}) == 1 and ws[0].leader
        wait_for(done, timeout, f"pack {self.pack_name} to converge on {sorted(names)}")

    def watched_leader(self) -> str:
        return self.watchers[self.running()[0].name].leader

    def close(self) -> None:
        self.close_watchers()
        self.stop_all()
        super().close()


# ---- the measurements ------------------------------------------------------------------------

def detection_trials(pack: Pack, trials: int, rng: random.Random) -> dict:
    keepalive = pack.keepalive_ms / 1000
    detect, rejoin_up, rejoin_spawn, notes = [], [], [], []
    for _ in range(trials):
        time.sleep(0.3 + rng.uniform(0, keepalive))  # a random phase against the probe period
        leader = pack.watched_leader()
        victim = pack[rng.choice([n.name for n in pack.running() if n.name != leader])]
        survivors = [pack.watchers[n.name] for n in pack.running() if n is not victim]
        killed = time.time()
        victim.kill9()
        try:
            seen = wait_for(lambda: all_show(survivors, victim.name, "Offline", killed), 15.0,
                            f"{victim.name} Offline everywhere")
            detect.append(seen - killed)
        except TimeoutError:
            detect.append(float("inf"))
        if detect[-1] > (pack.dead_ms + pack.keepalive_ms) / 1000:  # over the bound: who was late, and why
            late = sorted(((w.status(victim.name)[1] - killed, w.node.name) for w in survivors), reverse=True)
            notes.append(f"{victim.name} killed: over the bound on {', '.join(f'{n} ({ms(t)})' for t, n in late[:3])}; "
                         f"{late[0][1]} shows {member_message(pack[late[0][1]], victim.name)!r}; "
                         f"the others took {ms(min(t for t, _ in late))} at the earliest")
        victim.start(timeout=30.0)
        pack.watch(victim.name)
        others = [pack.watchers[n.name] for n in pack.running() if n is not victim]
        back = wait_for(lambda: all_show(others, victim.name, "Online", victim.spawned_wall), 15.0,
                        f"{victim.name} Online again everywhere")
        rejoin_up.append(back - started_at(victim))
        rejoin_spawn.append(back - victim.spawned_wall)
        pack.wait_converged()
    return {"detect": detect, "rejoin": rejoin_up, "rejoin_spawn": rejoin_spawn, "notes": notes}


def join_trials(pack: Pack, trials: int, rng: random.Random) -> dict:
    join_up, join_run, join_spawn, leave, notes = [], [], [], [], []
    for trial in range(trials):
        time.sleep(0.2 + rng.uniform(0, pack.keepalive_ms / 1000))
        members = [pack.watchers[n.name] for n in pack.running()]
        newcomer = pack.add(f"join{trial + 1:02d}", "auto")
        newcomer.start(timeout=30.0)
        try:
            seen = wait_for(lambda: all_show(members, newcomer.name, "Online", newcomer.spawned_wall), 15.0,
                            f"{newcomer.name} Online everywhere")
            join_up.append(seen - started_at(newcomer))
            join_run.append(seen - newcomer.line_time(READY))
            join_spawn.append(seen - newcomer.spawned_wall)
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
            notes.append(f"{newcomer.name} left, {slowest.node.name} showed it Offline after {ms(leave[-1])}: "
                         f"{member_message(slowest.node, newcomer.name)!r}")
    return {"join": join_up, "join_running": join_run, "join_spawn": join_spawn, "leave": leave, "notes": notes}


def member_message(node, name: str) -> str:
    """What ``node`` says about member ``name`` (a diagnostic only: never raises)."""
    try:
        status, reply = raw_request(node.socket_path, "GET", f"/1.0/cluster/members/{name}", timeout=10)
        return reply["metadata"].get("message", "") if status == 200 else f"(HTTP {status}: {reply})"
    except Exception as exc:  # noqa: BLE001 - a diagnostic only
        return f"({exc})"


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


def idle_usage(size: int = 3, seconds: float = 10.0) -> list:
    """Per daemon of an idle pack: CPU % (utime+stime delta / wall), RSS and packets/s."""
    with Pack(size, label="idle") as pack:
        pack.start_watched()
        pack.close_watchers()  # no API client attached while measuring
        time.sleep(2.0)

        def counters():
            out = {}
            for node in pack.nodes.values():
                c = node.counters()
                out[node.name] = c.get("udp_sent", 0) + c.get("udp_received", 0)
            return out
        nodes = list(pack.nodes.values())
        packets0 = counters()
        ticks0 = {n.name: _cpu_ticks(n.pid) for n in nodes}
        start = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - start
        ticks1 = {n.name: _cpu_ticks(n.pid) for n in nodes}
        rows = [{"name": n.name, "cpu": (ticks1[n.name] - ticks0[n.name]) / CLK_TCK / wall * 100,
                 "rss_kb": _status_kb(n.pid, "VmRSS"), "hwm_kb": _status_kb(n.pid, "VmHWM")}
                for n in nodes]
        packets1 = counters()
        for row in rows:
            row["pps"] = (packets1[row["name"]] - packets0[row["name"]]) / wall
        return rows


# ---- the report ------------------------------------------------------------------------------

def run(sizes=(3, 10), trials: int = 20, idle_seconds: float = 10.0, seed: int = 7) -> dict:
    rng = random.Random(seed)
    keepalive, dead = 200, 1000
    detect_bound, join_bound = (dead + keepalive) / 1000, 2 * keepalive / 1000
    results = {"sizes": {}, "trials": trials}
    print(f"\nPack daemons as processes on loopback: keepalive {keepalive} ms, dead-interval {dead} ms, "
          f"{trials} trials per N", flush=True)
    started = time.monotonic()
    for size in sizes:
        with Pack(size, keepalive_ms=keepalive, dead_ms=dead, label=f"n{size}") as pack:
            pack.start_watched()
            r = detection_trials(pack, trials, rng)
            joins = join_trials(pack, trials, rng)
            r["notes"] += joins.pop("notes")
            r.update(joins)
            lags = [x for w in pack.watchers.values() for x in w.lag]
            r["event_lag_p99"] = percentile(lags, 0.99)
        results["sizes"][size] = r
        print(f"  N={size}: done in {time.monotonic() - started:.0f} s", flush=True)
    results["idle"] = idle_usage(3, idle_seconds)

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
