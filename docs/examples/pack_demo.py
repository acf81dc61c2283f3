"""`make demo`: a 3-node pack of reference daemons on loopback.

Starts three ``pylxd-cluster-daemon`` processes (pack: auto, keepalive 200 ms, dead after
1000 ms), shows the member table from each node, kills the leader with SIGKILL, shows it
go Offline everywhere and a new leader take over, then stops everything it started, even
on failure or Ctrl-C.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pylxd_cluster

BIN = os.path.dirname(sys.executable)
NODES = ("node1", "node2", "node3")
KEEPALIVE_MS, DEAD_MS = 200, 1000


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(workdir: str, index: int, name: str, port: int) -> str:
    path = os.path.join(workdir, f"{name}.yaml")
    with open(path, "w") as handle:
        handle.write(f"""- Pack:
    name: demo
    secret: demo-secret
    broadcast: 127.255.255.255
    interface: 127.0.0.{21 + index}
    port: {port}
    pack: auto
    server_name: {name}
    keepalive-interval: {KEEPALIVE_MS}
    dead-interval: {DEAD_MS}
- Api:
    unix: {workdir}/{name}.socket
""")
    return path


def start(name: str, config: str) -> subprocess.Popen:
    proc = subprocess.Popen([os.path.join(BIN, "pylxd-cluster-daemon"), "--config", config],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "running;" in line:
            print(f"   {name} is up (pid {proc.pid})", flush=True)
            return proc
    raise SystemExit(f"{name} did not start (exit code {proc.poll()})")


def cli(socket_path: str, *args: str) -> None:
    print(f"$ pylxd-cluster --endpoint {os.path.basename(socket_path)} " + " ".join(args), flush=True)
    subprocess.run([os.path.join(BIN, "pylxd-cluster"), "--endpoint", socket_path, *args], check=True, timeout=60)


def wait_for(what: str, predicate, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.01)
    raise SystemExit(f"gave up waiting for {what} after {timeout:.0f} s")


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="pylxd-cluster-pack-demo-")
    procs: dict[str, subprocess.Popen] = {}
    try:
        port = free_udp_port()
        step(f"Starting a 3-node pack on loopback (127.0.0.21-23, UDP port {port}, pack: auto, "
             f"keepalive {KEEPALIVE_MS} ms, dead after {DEAD_MS} ms)")
        sockets = {name: os.path.join(workdir, f"{name}.socket") for name in NODES}
        for index, name in enumerate(NODES):
            procs[name] = start(name, write_config(workdir, index, name, port))
        clients = {name: pylxd_cluster.Client(path) for name, path in sockets.items()}

        def leaders(names):
            return {clients[n].cluster.members.state(n).extra["pack"]["leader"] for n in names}

        took = wait_for("the pack to form and elect a leader",
                        lambda: all(len(c.cluster.members.all()) == 3 for c in clients.values())
                        and len(leaders(NODES)) == 1 and "" not in leaders(NODES), 15)
        leader = leaders(NODES).pop()
        print(f"   formed in {took:.2f} s; {leader} was elected leader")

        for name in NODES:
            step(f"The member table as {name} sees it")
            cli(sockets[name], "members")

        survivors = [n for n in NODES if n != leader]
        step(f"Killing the leader {leader} with SIGKILL (no goodbye)")
        procs[leader].kill()
        procs[leader].wait()
        killed_at = time.monotonic()

        def offline_everywhere():
            return all(clients[n].cluster.members.get(leader).status == "Offline" for n in survivors)

        wait_for(f"{leader} to go Offline", offline_everywhere, 10)
        print(f"   Offline on every survivor after {time.monotonic() - killed_at:.2f} s "
              f"(bound: dead-interval + keepalive-interval = {(DEAD_MS + KEEPALIVE_MS) / 1000:.1f} s)")
        wait_for("a new leader", lambda: len(leaders(survivors)) == 1 and "" not in leaders(survivors), 10)
        new_leader = leaders(survivors).pop()
        print(f"   new leader: {new_leader}, {time.monotonic() - killed_at:.2f} s after the kill")

        step(f"The member table as {survivors[-1]} sees it now")
        cli(sockets[survivors[-1]], "members")
        step(f"The status report from {survivors[-1]}")
        cli(sockets[survivors[-1]], "status")
        step("Done")
        return 0
    finally:
        step("Stopping the daemons")
        for name, proc in procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            print(f"   {name}: {'left the pack' if proc.returncode == 0 else f'exit code {proc.returncode}'}")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
