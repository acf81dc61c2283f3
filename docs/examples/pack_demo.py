"""`make demo`: a 3-node pack of reference daemons on loopback.

Starts three ``pylxd-cluster-daemon`` processes (pack: auto, keepalive 200 ms, dead after
1000 ms), shows the member table from each node, kills the leader with SIGKILL, shows it
go Offline everywhere and a new leader take over, then stops everything it started, even
on failure or Ctrl-C (and the kernel kills the daemons if this process is killed).

The daemons are started with the harness of the installed package,
:mod:`mockserver.daemon.harness` (the one the tests and benchmarks use), on 127.0.0.21-23
with a free UDP port, and a temporary directory for the configuration files, sockets and
logs.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from mockserver.daemon.harness import PackProcs

BIN = os.path.dirname(sys.executable)
NODES = ("node1", "node2", "node3")
KEEPALIVE_MS, DEAD_MS = 200, 1000


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def cli(socket_path: str, *args: str) -> None:
    print(f"$ pylxd-cluster --endpoint {os.path.basename(socket_path)} " + " ".join(args), flush=True)
    subprocess.run([os.path.join(BIN, "pylxd-cluster"), "--endpoint", socket_path, *args], check=True, timeout=60)


def main() -> int:
    with PackProcs(defaults={"keepalive-interval": KEEPALIVE_MS, "dead-interval": DEAD_MS},
                   tmp_prefix="pylxd-cluster-pack-demo-", pdeathsig=True) as pack:
        try:
            return demo(pack)
        except AssertionError as exc:  # the harness's waits and checks
            print(f"demo failed: {exc}", file=sys.stderr)
            return 1
        finally:
            step("Stopping the daemons")
            for name, code in pack.stop_all().items():
                print(f"   {name}: {'left the pack' if code == 0 else f'exit code {code}'}")


def demo(pack: PackProcs) -> int:
    nodes = [pack.add(name, "auto", interface=f"127.0.0.{21 + index}") for index, name in enumerate(NODES)]
    step(f"Starting a 3-node pack on loopback (127.0.0.21-23, UDP port {pack.port}, pack: auto, "
         f"keepalive {KEEPALIVE_MS} ms, dead after {DEAD_MS} ms)")
    pack.start_all(timeout=20)
    for node in nodes:
        print(f"   {node.name} is up (pid {node.pid})", flush=True)
    started = time.monotonic()

    def leaders(names):
        return {pack[n].client.cluster.members.state(n).pack.leader for n in names}

    formed = pack.wait_until(lambda: all(len(n.client.cluster.members.all()) == 3 for n in nodes)
                             and len(leaders(NODES)) == 1 and "" not in leaders(NODES), 15,
                             interval=0.01, what="the pack to form and elect a leader")
    leader = leaders(NODES).pop()
    print(f"   formed in {formed - started:.2f} s; {leader} was elected leader")

    for name in NODES:
        step(f"The member table as {name} sees it")
        cli(pack[name].socket_path, "members")

    survivors = [n for n in NODES if n != leader]
    step(f"Killing the leader {leader} with SIGKILL (no goodbye)")
    pack.kill9(leader)
    killed_at = time.monotonic()

    def offline_everywhere():
        return all(pack[n].client.cluster.members.get(leader).status == "Offline" for n in survivors)

    offline = pack.wait_until(offline_everywhere, 10, interval=0.01, what=f"{leader} to go Offline")
    print(f"   Offline on every survivor after {offline - killed_at:.2f} s "
          f"(bound: dead-interval + keepalive-interval = {(DEAD_MS + KEEPALIVE_MS) / 1000:.1f} s)")
    took = pack.wait_until(lambda: len(leaders(survivors)) == 1 and "" not in leaders(survivors), 10,
                           interval=0.01, what="a new leader")
    new_leader = leaders(survivors).pop()
    print(f"   new leader: {new_leader}, {took - killed_at:.2f} s after the kill")

    step(f"The member table as {survivors[-1]} sees it now")
    cli(pack[survivors[-1]].socket_path, "members")
    step(f"The status report from {survivors[-1]}")
    cli(pack[survivors[-1]].socket_path, "status")
    step("Done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
