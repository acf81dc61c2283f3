"""A fault-injection run in the manner of Jepsen: five daemons, each in its own network
namespace on one switch (``pack: auto``, ``expected_members: 5``), compare-and-swap
clients, and a nemesis; the checker (checker.py) then reads the history.

``make test`` runs a bounded run at 200/1000 ms (keepalive/dead-interval, every fault once)
and at 1000/8000 ms (two faults); ``make jepsen`` runs JEPSEN_CYCLES rounds of every
fault at both, with a random seed (JEPSEN_SEED replays one).
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import signal

import pytest

from mockserver.daemon.harness import DocumentSampler, PackProcs, wait_until
from mockserver.daemon.harness.netns import rejoin
from tests.jepsen.checker import History, check
from tests.jepsen.harness import Clients, Nemesis, Timing, register_path, set_registers
from tests.support.rawhttp import exchange

NAMES = tuple(f"node{i}" for i in range(1, 6))
KEYS = NAMES                       # registers: the members' descriptions
CYCLES = int(os.environ.get("JEPSEN_CYCLES", "0"))
SEED = int(os.environ.get("JEPSEN_SEED", "0")) or (random.randrange(1, 1 << 30) if CYCLES else 20261130)

RUNS = {
    "200/1000": (Timing(200, 1000), Nemesis.FAULTS * max(1, CYCLES)),
    "1000/8000": (Timing(1000, 8000), Nemesis.FAULTS * CYCLES if CYCLES else ("kill-restart-leader",
                                                                                "leader-with-minority")),
}


@pytest.mark.parametrize("run", list(RUNS))
def test_no_acknowledged_write_is_lost_and_reads_keep_their_promise_under_faults(bridged_factory, run):
    timing, faults = RUNS[run]
    print(f"jepsen {run}: seed {SEED} (replay with JEPSEN_SEED={SEED}), faults {faults}")
    namespaces = bridged_factory(len(NAMES), prefix="pkj")
    pack = PackProcs(listen=True, defaults={"keepalive-interval": timing.keepalive_ms,
                                            "dead-interval": timing.dead_ms, "expected_members": len(NAMES)})
    log: list = []
    try:
        pack.form(NAMES, namespaces, timeout=10 * timing.dead + 10)
        history = History()
        initial = set_registers(pack, NAMES, {key: f"init-{key}" for key in KEYS}, history)
        documents = DocumentSampler(pack, NAMES)
        clients = Clients(pack, NAMES, KEYS, timing, history, SEED)
        clients.start()
        try:
            nemesis = Nemesis(pack, NAMES, namespaces, timing, random.Random(SEED), log)
            for fault in faults:
                nemesis.run(fault)
            # Faults end as soon as the pack has reacted: let the clients go on until the
            # healed pack has answered enough of them to judge its liveness (bounded).
            with contextlib.suppress(AssertionError):
                wait_until(lambda: clients.completed("cas", "ok") >= 10 and clients.completed("read", "ok") >= 10,
                           10 * timing.dead + 20, interval=0.1, what="enough acknowledged operations")
        finally:
            clients.stop()
            rejoin(namespaces)
            for ns in namespaces:
                ns.link_up()
            for name in NAMES:
                node = pack[name]
                if node.alive():
                    node.proc.send_signal(signal.SIGCONT)
                else:
                    node.start(wait=False)
        pack.wait_until(lambda: pack.all_online() and pack.leader(), 10 * timing.dead + 20, what="healed")

        pack.wait_until(
            lambda: len(pack.documents()) == 1, 4 * timing.dead + 10, what="every member shows one document"
        )
        documents.stop()
        final = {}
        for key in KEYS:
            values = {json.loads(exchange(pack[n].socket_path, "GET", register_path(key)).body)["metadata"]
                      ["description"] for n in NAMES}
            assert len(values) == 1, (key, values)            # the members agree
            final[key] = values.pop()
        anomalies = check(history, initial, final)
        done = [op for op in history.ops if op.end]
        counts = {f"{op.kind}:{op.outcome}": 0 for op in done}
        for op in done:
            counts[f"{op.kind}:{op.outcome}"] += 1
        print(f"jepsen {run}: {len(done)} operations {dict(sorted(counts.items()))}; faults {log}; "
              f"documents sampled {len(documents.seen)}")
        if anomalies and os.environ.get("JEPSEN_DUMP"):
            with open(os.environ["JEPSEN_DUMP"], "w") as handle:
                json.dump({"initial": initial, "final": final, "ops": [vars(op) for op in history.ops]}, handle)
            import shutil
            shutil.copytree(pack.dir, os.environ["JEPSEN_DUMP"] + ".logs", dirs_exist_ok=True)
        assert anomalies == [], anomalies
        assert documents.conflicts == [], documents.conflicts[:5]
        assert counts.get("cas:ok", 0) >= 10 and counts.get("read:ok", 0) >= 10, counts
        assert len(log) == len(faults)
    finally:
        pack.close()
