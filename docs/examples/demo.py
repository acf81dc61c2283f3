"""`make demo`: a 3-member mock LXD cluster, walked with the SDK and the CLI.

Starts ``pylxd-cluster-mock`` as its own process on a unix socket, then shows the member
table, a join token, an evacuation and a restore, and the lifecycle events they emit.
Stops everything it started, even on failure or Ctrl-C.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pylxd_cluster

BIN = os.path.dirname(sys.executable)


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def cli(socket_path: str, *args: str) -> None:
    command = [os.path.join(BIN, "pylxd-cluster"), "--endpoint", socket_path, *args]
    print("$ pylxd-cluster " + " ".join(args), flush=True)
    subprocess.run(command, check=True, timeout=60)


def start_mock(socket_path: str) -> subprocess.Popen:
    mock = subprocess.Popen([os.path.join(BIN, "pylxd-cluster-mock"), "--members", "3", "--unix", socket_path],
                            stdout=subprocess.PIPE, text=True)
    for line in mock.stdout:
        print("   " + line.rstrip(), flush=True)
        if "stop with" in line:
            return mock
    raise SystemExit(f"the mock server exited early (code {mock.wait()})")


def collect_events(client: pylxd_cluster.Client, seen: list, ready: threading.Event, stop: threading.Event):
    with client.events(types=("lifecycle",)) as stream:
        ready.set()
        while not stop.is_set():
            event = stream.next_event(timeout=0.2)
            if event is not None:
                seen.append(event)


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="pylxd-cluster-demo-")
    socket_path = os.path.join(workdir, "lxd.socket")
    mock = None
    try:
        step("Starting a 3-member mock LXD cluster (pylxd-cluster-mock)")
        mock = start_mock(socket_path)

        step("Connecting with the SDK")
        client = pylxd_cluster.Client(socket_path)
        cluster = client.cluster.get()
        print(f"   {client!r}: cluster enabled={cluster.enabled}, this member is {cluster.server_name}")
        events, ready, stop = [], threading.Event(), threading.Event()
        listener = threading.Thread(target=collect_events, args=(client, events, ready, stop), daemon=True)
        listener.start()
        ready.wait(10)

        step("The member table, as `lxc cluster list` prints it")
        cli(socket_path, "members")

        step("A join token for a new member node4")
        token = client.cluster.tokens.create("node4")
        print(f"   token: {token.token[:60]}...")
        print(f"   decoded: server_name={token.server_name} addresses={list(token.addresses)} "
              f"expires_at={token.expires_at:%Y-%m-%d %H:%M} UTC")
        cli(socket_path, "tokens")
        client.cluster.tokens.revoke(token)
        print("   revoked it again")

        step("Evacuating node2 (the SDK waits on the operation)")
        operation = client.cluster.members.evacuate("node2", mode="stop")
        print(f"   operation {operation.id}: {operation.status}")
        cli(socket_path, "status")

        step("Restoring node2 with the CLI")
        cli(socket_path, "restore", "node2")

        step("Lifecycle events the server emitted")
        deadline = time.time() + 5
        while len(events) < 4 and time.time() < deadline:
            time.sleep(0.05)
        stop.set()
        listener.join(5)
        for event in events:
            print(f"   {event.timestamp:%H:%M:%S.%f} {event.action:<28} {event.source}")
        client.close()
        step("Done")
        return 0
    finally:
        if mock is not None and mock.poll() is None:
            print("\n==> Stopping the mock server", flush=True)
            mock.send_signal(signal.SIGTERM)
            try:
                print("   " + mock.communicate(timeout=10)[0].strip(), flush=True)
            except subprocess.TimeoutExpired:
                mock.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
