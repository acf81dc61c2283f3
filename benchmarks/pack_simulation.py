"""The pack protocol at scale: the real protocol core (crypto included) on the in-memory
network, at N = 10, 100 and 1000, keepalive 1 s, dead-interval 4 s, 1% loss.

Per size it reports:
- the largest per-node load in packets/s (sent + received), leader included, over a
  steady period (SWIM's load does not grow with N; all-to-all heartbeats would be N-1);
- detection: from a crash to each survivor marking the member dead (p50 / p99);
- join convergence: from a newcomer's start until every member knows it;
- false positives: live members ever marked dead.

Nodes join through three seed peers (static peers), as large deployments do.

Run alone: ``python -m benchmarks.pack_simulation --sizes 1000``.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

from benchmarks.common import percentile
from mockserver.daemon.protocol.crypto import Sealer
from mockserver.daemon.protocol.memnet import MemoryNetwork
from mockserver.daemon.protocol.messages import Role, Status
from mockserver.daemon.protocol.node import MemberChange, NodeSettings, PackNode

KEEPALIVE, DEAD, LOSS = 1.0, 4.0, 0.01
SEALER = Sealer.for_pack("simulation-secret", "sim")


class Simulation:
    def __init__(self, size: int, seed: int = 1):
        self.size = size
        self.deaths: dict[str, float] = {}
        self.dead_marks: list = []      # (when, observer, member)
        self.alive_marks: dict = {}     # member -> {observer: when}
        self.net = MemoryNetwork(loss=LOSS, seed=seed, delay=(0.0005, 0.005), on_effect=self._effect)
        self.rng = random.Random(seed)
        self.seeds = [self.address(i) for i in range(3)]

    def address(self, index: int) -> tuple:
        return (f"127.{index // 65536}.{index // 256 % 256}.{index % 256 + 1}", 5252)  # in memory only

    def _effect(self, now, observer, effect):
        if isinstance(effect, MemberChange):
            if effect.member.status == Status.DEAD:
                self.dead_marks.append((now, observer, effect.member.name))
            elif effect.member.status == Status.ALIVE:
                self.alive_marks.setdefault(effect.member.name, {}).setdefault(observer, now)

    def start_node(self, index: int) -> None:
        host, port = self.address(index)
        settings = NodeSettings(f"n{index}", host, port, role=Role.AUTO, keepalive=KEEPALIVE, dead_interval=DEAD,
                                announce_interval=30.0, peers=tuple(a for a in self.seeds if a != (host, port)))
        node = PackNode(settings, SEALER, boot=1000 + index, now=self.net.now, rng=random.Random(index))
        self.net.add(node)

    def converged(self) -> bool:
        alive = [s for s in self.net.slots.values() if s.alive]
        return all(sum(1 for r in s.node.members().values() if r.status == Status.ALIVE) == len(alive) for s in alive)

    def run(self) -> dict:
        wall = time.perf_counter()
        for index in range(self.size):  # staggered start over 10 s
            self.net.run_until(index * 10.0 / self.size)
            self.start_node(index)
        self.net.run_until(self.net.now + 5.0)
        deadline = self.net.now + 120.0
        while not self.converged() and self.net.now < deadline:  # checked each simulated second: it is O(N^2)
            self.net.run_until(self.net.now + 1.0)
        converged_at = self.net.now

        # Steady state load and false positives, leader included.
        steady_from = int(self.net.now) + 1
        self.net.run_until(steady_from + 30.0)
        loads = {s.node.settings.name: sum(s.sent_at_second[t] + s.received_at_second[t]
                                           for t in range(steady_from, steady_from + 30)) / 30
                 for s in self.net.slots.values()}
        leader = next(iter({s.node.leader for s in self.net.slots.values()}))
        false_positives = len(self.dead_marks)

        # Crashes: detection from the crash to each survivor's dead mark.
        # The seeds survive: the newcomer below joins through them.
        seeds = {f"n{i}" for i in range(len(self.seeds))}
        others = [n for n in loads if n != leader and n not in seeds]
        victims = self.rng.sample(others, 4) + ([leader] if leader else [])
        for name in victims:
            self.deaths[name] = self.net.now
            self.net.crash(name)
            self.net.run_until(self.net.now + 2.0 * DEAD + 5.0)
        survivors = [s.node.settings.name for s in self.net.slots.values() if s.alive]
        detection = []
        for name, died in self.deaths.items():
            marks = {obs: when for when, obs, member in self.dead_marks if member == name and when >= died}
            detection += [marks.get(obs, float("inf")) - died for obs in survivors]
        new_leader = next(iter({s.node.leader for s in self.net.slots.values() if s.alive}))

        # Join convergence of one newcomer.
        joined = self.net.now
        self.start_node(self.size)
        newcomer = f"n{self.size}"
        self.net.run_until(self.net.now + 30.0,
                           stop=lambda: len(self.alive_marks.get(newcomer, {})) >= len(survivors))
        join_time = max(self.alive_marks.get(newcomer, {}).values(), default=float("inf")) - joined
        false_positives += sum(1 for when, obs, member in self.dead_marks if member not in self.deaths)
        return {
            "size": self.size, "converged_at": converged_at, "max_load": max(loads.values()),
            "leader_load": loads.get(leader, float("nan")), "median_load": statistics.median(loads.values()),
            "detect_p50": percentile(detection, 0.5), "detect_p99": percentile(detection, 0.99),
            "undetected": sum(1 for d in detection if d == float("inf")), "join": join_time,
            "false_positives": false_positives, "leader": leader, "new_leader": new_leader,
            "wall": time.perf_counter() - wall,
        }


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated pack sizes (default 10,100,1000)")
    args = parser.parse_args(argv)
    results = []
    print(f"\nPack simulation: keepalive {KEEPALIVE:g}s, dead-interval {DEAD:g}s, {LOSS:.0%} loss, "
          "real protocol core on the in-memory network")
    header = ["N", "max pkt/s/node", "leader pkt/s", "median pkt/s", "detect p50", "detect p99", "join", "false +",
              "sim wall s"]
    print("  " + "  ".join(header))
    for size in [int(x) for x in args.sizes.split(",")]:
        r = Simulation(size).run()
        results.append(r)
        print(f"  {r['size']:<4} {r['max_load']:>10.1f}  {r['leader_load']:>11.1f}  {r['median_load']:>11.1f}  "
              f"{r['detect_p50']:>9.2f}s  {r['detect_p99']:>9.2f}s  {r['join']:.2f}s  {r['false_positives']:>6}  "
              f"{r['wall']:>8.1f}", flush=True)
    print(f"  targets at N=1000: <= 10 pkt/s per node, detection p99 <= {2 * DEAD:g}s (2 x dead-interval), "
          "0 false positives at 1% loss")
    return results


if __name__ == "__main__":
    main()
