"""Concurrent If-Match read-modify-write cycles through different members of a pack on
loopback, with the leader killed partway through: the history (every request and reply)
shows no lost or duplicated write, and the members agree at the end. On both engines of
record: the pack's own protocol, and etcd."""
from __future__ import annotations

import json

import pytest

from mockserver.daemon.harness import DocumentSampler, PackProcs
from tests.jepsen.checker import History, check
from tests.jepsen.harness import Clients, Timing, register_path, set_registers
from tests.support.backends import ENGINES, engine_options
from tests.support.rawhttp import exchange

NAMES = ("node1", "node2", "node3")
KEYS = ("node1", "node2")          # registers: these members' descriptions
TIMING = Timing(200, 1000)


@pytest.mark.parametrize("kind", ENGINES)
def test_concurrent_writers_lose_nothing_and_apply_nothing_twice_when_the_leader_dies(kind):
    with engine_options(kind) as engine, PackProcs(listen=True, **engine) as pack:
        pack.form(NAMES)
        history = History()
        initial = set_registers(pack, NAMES, {key: f"init-{key}" for key in KEYS}, history)
        documents = DocumentSampler(pack, NAMES)
        clients = Clients(pack, NAMES, KEYS, TIMING, history, seed=7, count=8)
        clients.start()
        try:
            pack.wait_until(lambda: sum(op.outcome == "ok" and op.kind == "cas" for op in history.ops) >= 40, 20,
                            what="writes going through")
            killed = pack.leader()
            pack[killed].kill9()
            pack.wait_until(lambda: pack.leader() not in ("", killed), 10, what="a new leader")
            written = sum(op.outcome == "ok" and op.kind == "cas" for op in history.ops)
            pack.wait_until(lambda: sum(op.outcome == "ok" and op.kind == "cas" for op in history.ops) >= written + 40,
                            20, what="writes going through the new leader")
        finally:
            clients.stop()
        pack[killed].start()
        pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, what="the killed leader back")
        pack.wait_until(lambda: len(pack.documents()) == 1, 10,
                        what="every member shows one document")
        documents.stop()
        final = {}
        for key in KEYS:
            seen = {json.loads(exchange(pack[n].socket_path, "GET", register_path(key)).body)["metadata"]
                    ["description"] for n in NAMES}
            assert len(seen) == 1, seen
            final[key] = seen.pop()
        assert check(history, initial, final) == []
        assert documents.conflicts == []
        swaps = [op for op in history.ops if op.kind == "cas" and op.end]
        assert sum(op.outcome == "ok" for op in swaps) >= 80
        assert {op.member for op in swaps if op.outcome == "ok"} == set(NAMES)   # through every member
