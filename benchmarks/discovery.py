"""Discovery through DNS: daemon processes on loopback finding each other through a real
dnsmasq (the harness's, :mod:`mockserver.daemon.harness.dnsmasq`), keepalive 200 ms,
dead-interval 1000 ms, DNS polling-interval 1000 ms.

- Join through DNS, N = 3: three daemons that find each other only through the ``dns``
  strategy (one A name listing them, broadcast off). A trial starts a fourth daemon
  (``pack: auto``, a new name and address each trial), then adds its address to the pack's
  A name, and measures from the moment dnsmasq first answers with it (the reload done, seen
  by a DNS probe) to the moment every member shows the newcomer Online. Bound: polling-
  interval + 2 x keepalive-interval = 1.4 s (a member's next poll finds the address, its
  announce is answered, gossip spreads it). Anchor: libcluster's DNSPoll polls every
  ``poll_interval``, 5 s by default, so a node that appears in DNS waits up to 5 s there.
  The newcomer DNS-discovers too, but through a name of its own that lists only itself:
  polling the pack's name, it would find the three members at its first poll and announce
  itself to them before its record is added (the record would then measure nothing). Between
  trials it leaves (SIGTERM), its address goes from the name, and the pack settles: every
  member shows it Offline and no longer proposes its address.
  Peer, in the same run and trial by trial in turn: the same with a ``hosts-file`` strategy
  at the same polling-interval (the file rewritten at once: os.replace). The ratio DNS /
  hosts file is what the resolver costs over reading a file.
- Formation, N = 20: the time from the spawn of the first of 20 daemons (all spawned at
  once) until every member shows all 20 Online and one leader, through DNS (one A name
  listing the 20 addresses, broadcast off) against broadcast discovery (no DNS), trials in
  turn. Also shown: from the start-up of the last daemon to finish it (its API socket
  bound, right before its first announcement), i.e. without the Python start-ups.

How a "shows" is timed: as in :mod:`benchmarks.pack_processes`, through each member's
lifecycle events (the harness's ``MemberWatcher``: the daemon's own timestamp of the change,
no polling load on the daemons); what this process polls, every 10 ms, is that in-memory
state. Only 127.0.0.0/8 addresses are used; every daemon is started with pdeathsig (killed
if this process dies) and every process started here is stopped at the end, on failure too.

Run alone: ``python -m benchmarks.discovery --help``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import threading
import time

import dns.message
import dns.query
import dns.rdatatype

from benchmarks.common import log_lines, ms, percentile, table
from mockserver.daemon.harness import READY, MemberWatcher, PackProcs, WaitTimeout, all_show, poll_until
from mockserver.daemon.harness.dnsmasq import Dnsmasq

KEEPALIVE_MS, DEAD_MS, POLLING_MS = 200, 1000, 1000
LIBCLUSTER_POLL = 5.0     # s: libcluster's Cluster.Strategy.DNSPoll, poll_interval default 5_000 ms
DOMAIN = "pack.test"
PACK_QUERY = f"pack.{DOMAIN}"
PROBE = 0.010             # s: how often this process looks at what the watchers saw
JOIN_TIMEOUT = 15.0       # s, for one join
FORM_TIMEOUT = 90.0       # s, for one formation of N daemons (their start-up included)


def started_at(node) -> float | None:
    """When the daemon finished its start-up: it binds its API socket (the inode's ctime)
    right before its first announcement."""
    return node.socket_ctime() or node.line_time(READY)


# ---- where the addresses come from: dnsmasq, or a hosts file -----------------------------------

class DnsSource:
    """A dnsmasq on ``<block>.250`` serving ``records`` ({name: [address, ...]})."""

    kind = "dns"

    def __init__(self, pack: PackProcs, polling_ms: int):
        self.polling_ms = polling_ms
        self.server = Dnsmasq(pack.dir, f"{pack.block}250", domain=DOMAIN)
        self.server.start()

    def strategy(self, query: str) -> dict:
        return {"dns": {"query": query, "resolver": self.server.resolver, "polling-interval": self.polling_ms}}

    def answer(self, query: str) -> set:
        reply = dns.query.udp(dns.message.make_query(query, dns.rdatatype.A), self.server.address,
                              timeout=0.5, port=self.server.port)
        return {item.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for item in rrset}

    def publish(self, records: dict, query: str) -> float:
        """Serve ``records``; return the wall time at which dnsmasq first answered ``query``
        with them (the probe asks back to back: within a query's round trip, well under 1 ms)."""
        want = set(records.get(query, ()))
        self.server.records = {name: list(addresses) for name, addresses in records.items()}
        self.server.reload()

        def answered():
            sent = time.time()
            return sent if self.answer(query) == want else None
        return poll_until(answered, 5.0, interval=0.0005, what=f"dnsmasq to answer {query} with {sorted(want)}")

    def close(self) -> None:
        self.server.stop()


class HostsFileSource:
    """One hosts file per name in the pack's directory, rewritten at once (os.replace)."""

    kind = "hosts-file"

    def __init__(self, pack: PackProcs, polling_ms: int):
        self.dir, self.polling_ms = pack.dir, polling_ms

    def path(self, query: str) -> str:
        return str(self.dir / f"{query}.hosts")

    def strategy(self, query: str) -> dict:
        return {"hosts-file": {"path": self.path(query), "polling-interval": self.polling_ms}}

    def publish(self, records: dict, query: str) -> float:
        for name, addresses in records.items():
            temporary = self.path(name) + ".new"
            with open(temporary, "w") as f:
                f.write("".join(f"{address}\n" for address in addresses))
            os.replace(temporary, self.path(name))
        return time.time()

    def close(self) -> None:
        pass


SOURCES = {"dns": DnsSource, "hosts-file": HostsFileSource}


# ---- join: a pack of 3 finds a 4th through its source ---------------------------------------------

class JoinPack(PackProcs):
    """Three members that find each other only through ``kind`` (broadcast off), each
    followed by a MemberWatcher; ``close()`` stops all (the source too)."""

    def __init__(self, kind: str, polling_ms: int = POLLING_MS, size: int = 3):
        super().__init__(broadcast=False, defaults={"keepalive-interval": KEEPALIVE_MS, "dead-interval": DEAD_MS},
                         tmp_prefix=f"disc-{kind[:3]}-", pdeathsig=True)
        self.kind, self.polling_ms = kind, polling_ms
        self.source = None
        self.watchers: dict = {}
        self.records: dict = {}
        self.joins, self.first, self.notes, self.worst = [], [], [], []
        self.members = [f"node{i + 1}" for i in range(size)]
        try:
            self.source = SOURCES[kind](self, polling_ms)
            for name in self.members:
                self.add(name, "auto", discovery=[self.source.strategy(PACK_QUERY)])
            self.records[PACK_QUERY] = [self[name].interface for name in self.members]
            self.source.publish(self.records, PACK_QUERY)
            self.start_all()
            for name in self.members:
                self.watchers[name] = MemberWatcher(self[name])
            self.settle(None, 30.0)
        except BaseException:
            self.close()
            raise

    def proposed(self, name: str) -> set:
        """The addresses member ``name``'s strategy found at its last poll."""
        return {found.split(":")[0] for found in self[name].pack_state()["discovery"][0]["found"]}

    def settle(self, gone, timeout: float = 20.0) -> None:
        """Every member shows every member Online and one leader, ``gone`` (a newcomer that
        left) Offline, and proposes exactly the members' addresses again (so that the next
        newcomer's address is new to every strategy)."""
        watchers = list(self.watchers.values())
        addresses = set(self.records[PACK_QUERY])

        def settled():
            if gone is not None and not all_show(watchers, gone, "Offline", 0.0):
                return False
            return (all(set(self.members) <= w.online() for w in watchers) and len({w.leader for w in watchers}) == 1
                    and watchers[0].leader and all(self.proposed(name) == addresses for name in self.members))
        poll_until(settled, timeout, interval=0.05, what=f"{self.kind} pack to settle", describe=self.describe)

    def trial(self, index: int, rng: random.Random) -> None:
        name = f"join{index + 1:02d}"
        newcomer = self.add(name, "auto", discovery=[self.source.strategy(f"{name}.{DOMAIN}")])
        self.records[f"{name}.{DOMAIN}"] = [newcomer.interface]
        self.source.publish(self.records, f"{name}.{DOMAIN}")   # its own name: it finds only itself
        newcomer.start(timeout=30.0)
        poll_until(lambda: newcomer.pack_state()["discovery"][0]["polls"] >= 1, 10, what=f"{name}'s first poll")
        watchers = list(self.watchers.values())
        time.sleep(rng.uniform(0, self.polling_ms / 1000))   # a random phase against the members' polls
        self.records[PACK_QUERY] = self.records[PACK_QUERY] + [newcomer.interface]
        appeared = self.source.publish(self.records, PACK_QUERY)
        try:
            seen = poll_until(lambda: all_show(watchers, name, "Online", newcomer.spawned_wall), JOIN_TIMEOUT,
                              interval=PROBE, what=f"{name} Online on every member")
            self.joins.append(seen - appeared)
            self.first.append(min(w.status(name)[1] for w in watchers) - appeared)
        except WaitTimeout:
            seen = appeared + JOIN_TIMEOUT
            self.joins.append(float("inf"))
            self.first.append(float("inf"))
        if self.joins[-1] < 0:
            self.notes.append(f"{name}: Online everywhere {ms(-self.joins[-1])} BEFORE its record appeared")
        if self.joins[-1] == max(self.joins):   # the slowest trial so far, as the members logged it
            self.worst = [f"{self.kind}, {name} ({newcomer.interface}), every member shows it Online "
                          f"{ms(self.joins[-1])} after its record appeared:"]
            self.worst += log_lines([self[m] for m in self.members], appeared, seen + 0.01)
        newcomer.stop()
        self.records[PACK_QUERY] = [self[m].interface for m in self.members]
        del self.records[f"{name}.{DOMAIN}"]
        self.source.publish(self.records, PACK_QUERY)
        self.settle(name)

    def close(self) -> None:
        for watcher in self.watchers.values():
            watcher.close()
        try:
            self.stop_all(timeout=5.0)
        finally:
            try:
                if self.source is not None:
                    self.source.close()
            finally:
                super().close()


def join_trials(trials: int, rng: random.Random) -> dict:
    packs: dict = {}
    try:
        for kind in SOURCES:
            packs[kind] = JoinPack(kind)
        for index in range(trials):
            for kind in (list(SOURCES) if index % 2 == 0 else list(SOURCES)[::-1]):   # in turn, ABBA
                packs[kind].trial(index, rng)
        return {kind: {"join": p.joins, "first": p.first, "notes": p.notes, "worst": p.worst}
                for kind, p in packs.items()}
    finally:
        for pack in packs.values():
            pack.close()


# ---- formation: N daemons at once, through DNS or broadcast ---------------------------------------

def formation_trial(kind: str, size: int, polling_ms: int = POLLING_MS) -> dict:
    """One pack of ``size`` daemons, spawned at once; returns the seconds from the first
    spawn, and from the last start-up, until every member shows all Online and one leader."""
    dns_pack = kind == "dns"
    pack = PackProcs(broadcast=not dns_pack, defaults={"keepalive-interval": KEEPALIVE_MS, "dead-interval": DEAD_MS},
                     tmp_prefix=f"form-{kind[:3]}-", pdeathsig=True)
    source, watchers = None, {}
    try:
        names = [f"node{i + 1:02d}" for i in range(size)]
        if dns_pack:
            source = DnsSource(pack, polling_ms)
        for name in names:
            pack.add(name, "auto", **({"discovery": [source.strategy(PACK_QUERY)]} if dns_pack else {}))
        if dns_pack:
            source.publish({PACK_QUERY: [pack[n].interface for n in names]}, PACK_QUERY)
        for name in names:
            pack[name].start(wait=False)
        spawned = pack[names[0]].spawned_wall
        everyone = set(names)

        def formed():
            for name in names:   # follow each member from the moment its API answers
                node = pack[name]
                if name not in watchers and node.line_time(READY) is not None:
                    watchers[name] = MemberWatcher(node)
                if not node.alive():
                    return ("exited", name)
            if len(watchers) < size:
                return None
            ws = list(watchers.values())
            if not all(everyone <= w.online() for w in ws) or len({w.leader for w in ws}) != 1 or not ws[0].leader:
                return None
            return max(max(max(w.status(n)[1] for n in names), w.leader_at) for w in ws)
        try:
            done = poll_until(formed, FORM_TIMEOUT, interval=PROBE, what=f"{size} daemons to form ({kind})")
        except WaitTimeout as exc:
            lacking = {n: sorted(everyone - w.online())[:5] for n, w in watchers.items() if everyone - w.online()}
            return {"from_spawn": float("inf"), "from_startup": float("inf"), "startup": float("nan"),
                    "note": f"{kind}: not formed within {FORM_TIMEOUT:g} s; {len(watchers)} watched, "
                            f"missing in views: {lacking}; leaders: {sorted({w.leader for w in watchers.values()})}"
                            f" ({str(exc).splitlines()[0][:120]})"}
        if isinstance(done, tuple):
            raise RuntimeError(f"{kind}: {done[1]} exited: {pack[done[1]].describe()}")
        last_up = max(started_at(pack[n]) or spawned for n in names)
        return {"from_spawn": done - spawned, "from_startup": done - last_up, "startup": last_up - spawned,
                "note": None}
    finally:
        for watcher in watchers.values():
            watcher.close()
        try:
            pack.close()      # SIGKILL to every daemon, the directory removed
        finally:
            if source is not None:
                source.close()


def formation_trials(size: int, trials: int) -> dict:
    results = {kind: {"from_spawn": [], "from_startup": [], "startup": [], "notes": []}
               for kind in ("dns", "broadcast")}
    for index in range(trials):
        for kind in (("dns", "broadcast") if index % 2 == 0 else ("broadcast", "dns")):   # in turn, ABBA
            r = formation_trial(kind, size)
            results[kind]["from_spawn"].append(r["from_spawn"])
            results[kind]["from_startup"].append(r["from_startup"])
            results[kind]["startup"].append(r["startup"])
            if r["note"]:
                results[kind]["notes"].append(r["note"])
    return results


# ---- the report ---------------------------------------------------------------------------------

@contextlib.contextmanager
def exit_on_sigterm():
    """SIGTERM raises SystemExit meanwhile, so that it too unwinds through the ``finally``
    blocks (the daemons die with this process anyway, pdeathsig; dnsmasq would not)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(signum, frame):
        raise SystemExit(128 + signum)
    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def ratio(a: float, b: float) -> float:
    return a / b if b not in (0, float("inf")) and a != float("inf") and a == a and b == b else float("nan")


def fx(value: float) -> str:
    return f"{value:.2f}x" if value == value else "not comparable"


def report_joins(joins: dict, trials: int, bound: float) -> dict:
    ours, peer = joins["dns"], joins["hosts-file"]
    out = {"join_p50": percentile(ours["join"], 0.5), "join_p99": percentile(ours["join"], 0.99)}
    out["join_ratio_p50"] = ratio(out["join_p50"], percentile(peer["join"], 0.5))
    out["join_ratio_p99"] = ratio(out["join_p99"], percentile(peer["join"], 0.99))
    out["join_vs_libcluster"] = out["join_p99"] / LIBCLUSTER_POLL
    rows = []
    for kind, r in joins.items():
        for label, key in (("record added -> Online on every member", "join"),
                           ("record added -> Online on the first member", "first")):
            values, checked = r[key], key == "join"
            p99 = percentile(values, 0.99)
            rows.append([kind, label, ms(percentile(values, 0.5)), ms(p99), ms(max(values)),
                         ms(bound) if checked else "-",
                         f"{sum(1 for v in values if v <= bound)}/{len(values)}" if checked else "",
                         ("met" if p99 <= bound else "NOT met") if checked else ""])
    table(f"Join through discovery, N=3 + 1 ({trials} trials per source; p99 is the nearest rank: the worst of "
          f"{trials})", ["source", "what", "p50", "p99", "max", "bound", "within", "p99 vs bound"], rows)
    for r in joins.values():
        for note in r["notes"]:
            print(f"  {note}")
    print("\n".join(f"    {line}" for line in ours["worst"]))
    for kind, r in joins.items():
        print(f"  join through {kind}, every trial (ms): " + " ".join(ms(v).split()[0] for v in sorted(r["join"])))
    p99 = out["join_p99"]
    print(f"  join through DNS: p50 {ms(out['join_p50'])} / p99 {ms(p99)}; p99 within polling-interval + "
          f"2 x keepalive ({ms(bound)}): {'met' if p99 <= bound else 'NOT met'}; {fx(out['join_ratio_p50'])} / "
          f"{fx(out['join_ratio_p99'])} the hosts file's p50 / p99")
    print(f"  against libcluster's DNSPoll (poll_interval 5 s by default: a node new in DNS waits up to 5 s): "
          f"our p99 is {out['join_vs_libcluster']:.2f}x of 5 s")
    return out


def report_formation(formation: dict, size: int, trials: int) -> dict:
    out = {"form_p50": {kind: percentile(r["from_spawn"], 0.5) for kind, r in formation.items()},
           "form_p99": {kind: percentile(r["from_spawn"], 0.99) for kind, r in formation.items()}}
    out["form_ratio_p50"] = ratio(out["form_p50"]["dns"], out["form_p50"]["broadcast"])
    out["form_ratio_p99"] = ratio(out["form_p99"]["dns"], out["form_p99"]["broadcast"])
    rows = []
    for kind, r in formation.items():
        for label, key in (("from the first spawn (Python start-ups included)", "from_spawn"),
                           ("from the last daemon's start-up (API socket bound)", "from_startup"),
                           ("(the start-ups: first spawn -> last API socket bound)", "startup")):
            values = r[key]
            rows.append([kind, label, ms(percentile(values, 0.5)), ms(percentile(values, 0.99)), ms(max(values)),
                         fx(ratio(percentile(values, 0.5), percentile(formation["broadcast"][key], 0.5)))
                         if kind == "dns" else "-"])
    table(f"Pack formation, N={size} spawned at once, until every member shows all Online and one leader "
          f"({trials} trials per kind)", ["kind", "what", "p50", "p99", "max", "p50 / broadcast's"], rows)
    for r in formation.values():
        for note in r["notes"]:
            print(f"  {note}")
    print(f"  formation N={size}: DNS p50 {ms(out['form_p50']['dns'])} / p99 {ms(out['form_p99']['dns'])}, "
          f"broadcast p50 {ms(out['form_p50']['broadcast'])} / p99 {ms(out['form_p99']['broadcast'])}: "
          f"DNS / broadcast {fx(out['form_ratio_p50'])} (p50), {fx(out['form_ratio_p99'])} (p99)")
    return out


def run(join_trials_n: int = 10, form_size: int = 20, form_trials: int = 3, seed: int = 11) -> dict:
    """Both measurements; a part that cannot be measured (no dnsmasq, a daemon that does not
    start) is reported as NOT measured, with why, in ``errors``."""
    rng = random.Random(seed)
    bound = (POLLING_MS + 2 * KEEPALIVE_MS) / 1000
    print(f"\nDiscovery through DNS (dnsmasq on loopback; keepalive {KEEPALIVE_MS} ms, dead-interval {DEAD_MS} ms, "
          f"polling-interval {POLLING_MS} ms, broadcast off): {join_trials_n} joins per source, "
          f"{form_trials} formations of N={form_size} per kind", flush=True)
    started = time.monotonic()
    results: dict = {"bound": bound, "size": form_size, "errors": []}
    with exit_on_sigterm():
        for part, measure in (("joins", lambda: join_trials(join_trials_n, rng)),
                              ("formation", lambda: formation_trials(form_size, form_trials))):
            try:
                results[part] = measure()
                print(f"  {part}: done in {time.monotonic() - started:.0f} s", flush=True)
            except Exception as exc:  # noqa: BLE001 - reported, and the other part still runs
                results["errors"].append(f"discovery {part}: {exc}")
                print(f"  {part}: NOT measured: {str(exc)[:2000]}", flush=True)
    if "joins" in results:
        results.update(report_joins(results["joins"], join_trials_n, bound))
    if "formation" in results:
        results.update(report_formation(results["formation"], form_size, form_trials))
    results["wall"] = time.monotonic() - started
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10, help="joins per source (default 10)")
    parser.add_argument("--formation-trials", type=int, default=3, help="formations per kind (default 3)")
    parser.add_argument("--size", type=int, default=20, help="daemons per formation (default 20)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    return run(args.trials, args.size, args.formation_trials, args.seed)


if __name__ == "__main__":
    main()
