"""Check a history of compare-and-swap registers against what the pack promises.

Each key is a register (a cluster member's description). Clients read it, and swap it from
the value they read to a value nobody wrote before (PUT with If-Match). Every operation is
recorded when invoked and when it completed, with its outcome:

- ``ok``: the server acknowledged it;
- ``fail``: the server said it was not applied (412, a 4xx, a 503 that says nothing was
  changed);
- ``info``: nobody knows (a 503 with ``X-Pack-Outcome: unknown``, a timeout, a broken
  connection).

Because written values are unique, the register's history is a chain from the initial
value to the final one, each link one swap that took effect. The checker rebuilds it from
the final value backwards (each value was written by exactly one operation) and finds:

- an acknowledged swap whose value is not on the chain: a lost write;
- two acknowledged swaps from one value: both were told they replaced it;
- a failed swap whose value is on the chain: a write that failed and took effect;
- a value on the chain twice: a write applied twice;
- a read of a value that is not on the chain: it showed a write that was lost (an
  aborted read), weaker than "a read shows what a majority holds";
- a linearizable read older than a swap acknowledged before it began, or of a value whose
  swap began after the read ended.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Op:
    process: int
    kind: str             # "cas" or "read"
    key: str
    start: float
    end: float = 0.0
    outcome: str = ""     # "ok", "fail" or "info"
    old: str = ""         # cas: the value it swaps from
    new: str = ""         # cas: the value it writes
    value: str = ""       # read: the value it saw
    level: str = ""       # read: "" (default) or "linearizable"
    member: str = ""      # which member answered
    detail: str = ""      # the status and error text


@dataclass
class History:
    ops: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def invoke(self, **fields) -> Op:
        op = Op(start=time.monotonic(), **fields)
        with self._lock:
            self.ops.append(op)
        return op

    @staticmethod
    def complete(op: Op, outcome: str, detail: str = "", value: str = "") -> None:
        op.end, op.outcome, op.detail = time.monotonic(), outcome, detail
        if value:
            op.value = value


def check(history: History, initial: dict, final: dict) -> list:
    """Anomalies found (empty: the history is as promised). ``initial`` and ``final`` map
    each key to its first and last value (the last read linearizably after the run)."""
    anomalies = []
    for key in initial:
        ops = [op for op in history.ops if op.key == key and op.end]
        anomalies += [f"{key}: {text}" for text in _check_key(ops, initial[key], final[key])]
    return anomalies


def _check_key(ops: list, initial: str, final: str) -> list:
    problems = []
    swaps = [op for op in ops if op.kind == "cas" and op.outcome in ("ok", "info")]
    writer = {}
    for op in swaps:
        writer.setdefault(op.new, op)
    acknowledged_from = {}
    for op in ops:
        if op.kind == "cas" and op.outcome == "ok":
            if op.old in acknowledged_from:
                problems.append(f"two acknowledged swaps from {op.old!r}: to {acknowledged_from[op.old].new!r} "
                                f"and to {op.new!r}")
            acknowledged_from[op.old] = op
    # The chain, from the final value back to the initial one.
    chain, value, seen = [], final, set()
    while value != initial:
        if value in seen:
            problems.append(f"{value!r} was written twice (the chain loops)")
            break
        seen.add(value)
        chain.append(value)
        op = writer.get(value)
        if op is None:
            problems.append(f"the register holds {value!r}, which no acknowledged or pending swap wrote")
            break
        value = op.old
    chain.append(initial)
    chain.reverse()
    position = {value: index for index, value in enumerate(chain)}
    for op in ops:
        if op.kind == "cas" and op.outcome == "ok" and op.new not in position:
            problems.append(f"acknowledged swap {op.old!r} -> {op.new!r} (member {op.member}) was lost")
        if op.kind == "cas" and op.outcome == "fail" and op.new in position:
            problems.append(f"failed swap {op.old!r} -> {op.new!r} ({op.detail}) took effect")
        if op.kind == "read" and op.outcome == "ok" and op.value not in position:
            problems.append(f"read of {op.value!r} on {op.member} ({op.level or 'default'}) saw a write that was lost")
    for read in (op for op in ops if op.kind == "read" and op.outcome == "ok" and op.level == "linearizable"):
        seen_at = position.get(read.value)
        if seen_at is None:
            continue
        for op in ops:
            if op.kind == "cas" and op.outcome == "ok" and op.end < read.start and position.get(op.new, -1) > seen_at:
                problems.append(f"linearizable read on {read.member} saw {read.value!r}, older than {op.new!r} "
                                "acknowledged before the read began")
                break
        author = writer.get(read.value)
        if author is not None and author.start > read.end:
            problems.append(f"linearizable read saw {read.value!r} before its swap began")
    return problems
