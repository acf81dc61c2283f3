"""Compare-and-swap clients, a nemesis and a history, against a pack of daemons.

Clients reach every member through its unix socket (also during partitions, as Jepsen's
clients sit next to each node) and, per operation, pick a member, a register (a cluster
member's description: LXD checks If-Match on a member PUT, and ignores it on a group PUT)
and an action: a swap (GET, then PUT with If-Match to a value nobody wrote before), a
default read, or a linearizable read. The nemesis (in network
namespaces) cuts the leader off with a minority, isolates a follower, kills the leader and
restarts it at once, and pauses it (SIGSTOP); each fault lasts until the pack has reacted
to it (a new leader, a member marked Offline). A sampler (mockserver.daemon.harness's
DocumentSampler) watches every member's documents: one (term, version) must never name two
of them.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import random
import signal
import threading
import time
from dataclasses import dataclass

from mockserver.daemon.harness import wait_until
from mockserver.daemon.harness.netns import rejoin, split
from tests.jepsen.checker import History
from tests.support.rawhttp import exchange

JSON = [("Content-Type", "application/json")]
LINEARIZABLE = [("X-Pack-Consistency", "linearizable")]


def register_path(key: str) -> str:
    """A register is a member's description (``key``: the member's name)."""
    return f"/1.0/cluster/members/{key}"


def register_body(member: dict, description: str) -> dict:
    """The PUT that sets a member's description and keeps the rest as read."""
    return {"description": description, "roles": member["roles"], "groups": member["groups"] or ["default"],
            "failure_domain": member["failure_domain"], "config": member["config"]}


def set_registers(pack, names, values: dict, history: History, timeout: float = 30.0) -> dict:
    """Write each register's first value through the first of ``names``, recorded in
    ``history`` as an acknowledged swap from the member's description before (a member
    restarted from an older committed document may show that one again), and wait until
    every member shows it. Returns the values before, the registers' initial values."""
    socket_path = pack[names[0]].socket_path
    before = {}
    for key, value in values.items():
        current = exchange(socket_path, "GET", register_path(key), timeout=30)
        assert current.status == 200, current
        member = json.loads(current.body)["metadata"]
        before[key] = member["description"]
        op = history.invoke(process=-1, kind="cas", key=key, old=before[key], new=value, member=names[0])
        reply = exchange(socket_path, "PUT", register_path(key), json.dumps(register_body(member, value)).encode(),
                         JSON, timeout=30)
        assert reply.status == 200, reply
        history.complete(op, "ok", "the register's first value")

    def shown(name: str, key: str) -> str:
        return json.loads(exchange(pack[name].socket_path, "GET", register_path(key), timeout=30).body)["metadata"][
            "description"]
    wait_until(lambda: all(shown(n, k) == v for n in names for k, v in values.items()), timeout,
               what="the registers' first values on every member")
    return before


@dataclass(frozen=True)
class Timing:
    keepalive_ms: int
    dead_ms: int

    @property
    def dead(self) -> float:
        return self.dead_ms / 1000

    @property
    def commit(self) -> float:
        return max(2.0, 2 * self.dead)

    @property
    def request_timeout(self) -> float:
        # A paused member answers nothing: the client gives up (the outcome of a write is
        # then unknown to it).
        return self.dead + self.commit + 2.0


class Clients:
    def __init__(self, pack, names, keys, timing: Timing, history: History, seed: int, count: int = 4):
        self.pack, self.names, self.keys, self.timing, self.history = pack, names, keys, timing, history
        self.seed, self.count = seed, count
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True, name=f"client{i}")
                         for i in range(count)]
        self._values = itertools.count()

    def start(self):
        for thread in self._threads:
            thread.start()

    def completed(self, kind: str, outcome: str) -> int:
        return sum(1 for op in self.history.ops if op.end and op.kind == kind and op.outcome == outcome)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timing.request_timeout + 5)

    def _run(self, process: int):
        rng = random.Random(self.seed * 100 + process)
        while not self._stop.is_set():
            name, key = rng.choice(self.names), rng.choice(self.keys)
            node = self.pack[name]
            roll = rng.random()
            if roll < 0.6:
                self._swap(process, name, node, key)
            else:
                self._read(process, name, node, key, "linearizable" if roll < 0.75 else "")

    def _path(self, key: str) -> str:
        return register_path(key)

    def _read(self, process, name, node, key, level):
        op = self.history.invoke(process=process, kind="read", key=key, level=level, member=name)
        try:
            reply = exchange(node.socket_path, "GET", self._path(key), headers=LINEARIZABLE if level else (),
                             timeout=self.timing.request_timeout)
        except OSError as exc:
            self.history.complete(op, "fail", f"{type(exc).__name__}: {exc}")
            self._stop.wait(0.05)   # a member that is down: do not spin on it
            return
        if reply.status == 200:
            self.history.complete(op, "ok", value=json.loads(reply.body)["metadata"]["description"])
        else:
            self.history.complete(op, "fail", f"{reply.status} {reply.body[:200]!r}")

    def _swap(self, process, name, node, key):
        try:
            current = exchange(node.socket_path, "GET", self._path(key), timeout=self.timing.request_timeout)
        except OSError:
            self._stop.wait(0.05)
            return
        if current.status != 200:
            return
        metadata = json.loads(current.body)["metadata"]
        old = metadata["description"]
        new = f"p{process}-{next(self._values)}"
        body = json.dumps(register_body(metadata, new)).encode()
        op = self.history.invoke(process=process, kind="cas", key=key, old=old, new=new, member=name)
        try:
            reply = exchange(node.socket_path, "PUT", self._path(key), body,
                             JSON + [("If-Match", current.headers.get("etag", ""))],
                             timeout=self.timing.request_timeout)
        except (ConnectionRefusedError, FileNotFoundError) as exc:   # never sent: the member is down
            self.history.complete(op, "fail", f"{type(exc).__name__}")
            return
        except OSError as exc:                                       # sent, no answer
            self.history.complete(op, "info", f"{type(exc).__name__}: {exc}")
            return
        detail = f"{reply.status} {reply.body[:300]!r}"
        if reply.status == 200:
            self.history.complete(op, "ok", detail)
        elif reply.headers.get("x-pack-outcome") == "unknown" or reply.status >= 500 and reply.status != 503:
            self.history.complete(op, "info", detail)
        else:   # 4xx, or a 503 that says nothing was changed
            self.history.complete(op, "fail", detail)


class Nemesis:
    """Faults across network namespaces, one at a time, each healed before the next."""

    FAULTS = ("leader-with-minority", "isolated-follower", "kill-restart-leader", "pause-leader")

    def __init__(self, pack, names, namespaces, timing: Timing, rng: random.Random, log: list):
        self.pack, self.names, self.namespaces = pack, names, dict(zip(names, namespaces))
        self.timing, self.rng, self.log = timing, rng, log

    def _reachable(self) -> list:
        return [n for n in self.names if self.pack[n].alive() and not getattr(self.pack[n], "paused", False)]

    def leader(self) -> str:
        """The leader every running member shows ("" while they disagree or show none)."""
        try:
            return self.pack.leader(self._reachable())
        except Exception:  # noqa: BLE001 - a member not answering yet
            return ""

    def settle(self) -> None:
        """Until every running member shows one leader (the next fault needs one to aim at),
        or give up after a while: a run without a leader is still a run the checker reads."""
        with contextlib.suppress(AssertionError):
            wait_until(self.leader, 4 * self.timing.dead + 5, interval=0.05, what="one leader")

    def _leader_among(self, names) -> str:
        """The leader every one of ``names`` shows ("" while they disagree or show none)."""
        return self.pack.leader(names)

    def _hold(self, took_effect, what: str) -> None:
        """Keep the fault until it has taken effect (the pack reacted to it), at most a few
        dead-intervals: a fault the pack never notices still ends, and the run goes on."""
        with contextlib.suppress(AssertionError):
            wait_until(took_effect, 4 * self.timing.dead + 5, interval=0.05, what=what)

    def run(self, fault: str) -> None:
        leader = self.leader() or self.rng.choice(self.names)
        started = time.monotonic()
        others = [n for n in self.names if n != leader]
        if fault == "leader-with-minority":
            friend = self.rng.choice(others)
            majority = [n for n in self.names if n not in (leader, friend)]
            minority = [self.namespaces[leader], self.namespaces[friend]]
            split([self.namespaces[n] for n in majority], minority)
            self._hold(lambda: self._leader_among(majority) not in ("", leader), "a leader on the majority side")
            rejoin(list(self.namespaces.values()))
        elif fault == "isolated-follower":
            follower = self.rng.choice(others)
            self.namespaces[follower].link_down()
            rest = [n for n in self.names if n != follower]
            self._hold(lambda: all(self.pack[n].statuses().get(follower) == "Offline" for n in rest),
                       f"{follower} Offline on the others")
            self.namespaces[follower].link_up()
        elif fault == "kill-restart-leader":
            self.pack[leader].kill9()
            self.pack[leader].start(wait=False)
            self.pack[leader].wait_running(30)
        elif fault == "pause-leader":
            node = self.pack[leader]
            node.paused = True
            node.proc.send_signal(signal.SIGSTOP)
            try:
                self._hold(lambda: self._leader_among(others) not in ("", leader), "a new leader while paused")
            finally:
                node.proc.send_signal(signal.SIGCONT)
                node.paused = False
        self.log.append((fault, leader, round(time.monotonic() - started, 2)))
        self.settle()
