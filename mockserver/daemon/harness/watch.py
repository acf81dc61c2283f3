"""Watching a pack from outside: lifecycle events, documents, broadcast datagrams."""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Iterable
from urllib.parse import quote

import pylxd_cluster
from mockserver.daemon.harness.addresses import LO_BROADCAST
from mockserver.daemon.harness.processes import DaemonError, Node
from mockserver.daemon.harness.unixhttp import _unix_websocket, raw_request


class DocumentSampler:
    """Samples every running member's shown and held documents in the background: one
    (term, version) must never name two documents (``conflicts`` lists any). A member
    marked ``paused`` (SIGSTOP) is left alone."""

    def __init__(self, pack, names):
        self.pack, self.names, self.seen, self.conflicts = pack, names, {}, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="documents")
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            for name in self.names:
                node = self.pack[name]
                if not node.alive() or getattr(node, "paused", False):
                    continue
                try:
                    document = node.pack_state(timeout=0.5)["document"]
                except Exception:  # noqa: BLE001 - a member starting or stopping answers nothing
                    continue
                for entry in (document, document["held"]):
                    if entry.get("version") is None:   # etcd: a leader's document not written yet
                        continue
                    key = (entry["term"], entry["version"])
                    if self.seen.setdefault(key, entry["digest"]) != entry["digest"]:
                        self.conflicts.append((name, key, entry["digest"], self.seen[key]))
            self._stop.wait(0.01)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def event_time(text: str) -> float:
    """An event's RFC 3339 ``timestamp`` (nanoseconds allowed) as POSIX seconds, comparable
    with ``time.time()`` (the daemons share the host clock)."""
    stamp = pylxd_cluster.parse_timestamp(text)
    if stamp is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    return stamp.timestamp() + (stamp.nanosecond % 1000) / 1e9


class MemberWatcher(threading.Thread):
    """Follows one node's view of the pack through its API, without polling it: its
    ``/1.0/events?type=lifecycle`` stream, and the member list read after each
    ``cluster-member-*`` event. Started by the constructor (after subscribing, it reads the
    member list and the node's leader once, so that nothing falls in between).

    ``status(name)`` is ``(status, since)``: ``since`` is when the member took that status,
    as the timestamp of the node's own event (the daemon's clock, when its API state changed;
    a wall-clock time, see :func:`event_time`); ``leader``/``leader_at`` the same for the
    node's leader (from ``cluster-leader-changed``). ``lag`` lists, per event, its arrival
    here minus its timestamp. ``close()`` ends it (so does the node's death)."""

    def __init__(self, node: Node, timeout: float = 10.0):
        super().__init__(daemon=True, name=f"watch-{node.name}")
        self.node = node  # the watched Node (``node.name``: whose view this is)
        self.timeout = timeout
        self.lock = threading.Lock()
        self.view: dict[str, tuple] = {}     # member -> (status, roles)
        self.since: dict[str, float] = {}    # member -> wall time the status in view was taken
        self.leader, self.leader_at = "", 0.0
        self.events = 0
        self.lag: list[float] = []
        self.closed = False
        self.ws = _unix_websocket(node.socket_path, "/1.0/events?type=lifecycle", timeout)
        try:
            now = time.time()
            self._refresh(now, None)
            state = self._get(f"/1.0/cluster/members/{quote(node.name, safe='')}/state")
        except BaseException:
            self.close()
            raise
        with self.lock:
            self.leader, self.leader_at = ((state or {}).get("pack") or {}).get("leader") or "", now
        self.start()

    def _get(self, path: str):
        status, reply = raw_request(self.node.socket_path, "GET", path, timeout=self.timeout)
        if status != 200:
            raise DaemonError(f"{self.node.name}: GET {path} answered {status}: {reply}")
        return reply["metadata"]

    def _refresh(self, when: float, about: str | None) -> None:
        members = self._get("/1.0/cluster/members?recursion=1") or []
        view = {m["server_name"]: (m["status"], tuple(m.get("roles") or ())) for m in members}
        with self.lock:
            for name, (status, _) in view.items():
                if name not in self.view or self.view[name][0] != status:
                    # The event about this member is what changed it; for any other change
                    # seen meanwhile its own event follows and is recorded then.
                    self.since[name] = when if about in (None, name) else time.time()
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
                stamp = event_time(event["timestamp"])
                self.events += 1
                self.lag.append(arrived - stamp)
                action = meta.get("action", "")
                if action == "cluster-leader-changed":
                    with self.lock:
                        self.leader, self.leader_at = (meta.get("context") or {}).get("leader") or "", stamp
                elif action.startswith("cluster-member-"):
                    about = (meta.get("source") or "").rstrip("/").rsplit("/", 1)[-1]
                    self._refresh(stamp, about)
        except Exception:  # noqa: BLE001 - the node went away (killed) or we closed the stream
            pass
        finally:
            self.closed = True

    def status(self, name: str) -> tuple:
        """``(status, since)`` of member ``name`` in this node's view (``(None, 0.0)`` if absent)."""
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


def all_show(watchers: Iterable[MemberWatcher], name: str, status: str, after: float) -> float | None:
    """The time at which the last of ``watchers`` showed member ``name`` with ``status``
    (taken at or after the wall time ``after``), or None while one does not (for
    :func:`poll_until`)."""
    times = []
    for watcher in watchers:
        seen, since = watcher.status(name)
        if seen != status or since < after:
            return None
        times.append(since)
    return max(times) if times else None


class BroadcastCapture:
    """A socket bound to ``(address, port)`` with SO_REUSEADDR + SO_REUSEPORT: on loopback,
    bound to 127.255.255.255, it receives a copy of every broadcast the pack sends (the
    kernel delivers a broadcast to every socket bound to that address and port).
    ``datagrams`` is a list of ``(data, source)``; use as a context manager."""

    def __init__(self, port: int, address: str = LO_BROADCAST):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.sock.bind((address, port))
        self.sock.settimeout(0.1)
        self.datagrams: list[tuple] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"capture-{port}")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.datagrams.append((data, source))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def __enter__(self) -> BroadcastCapture:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
