"""The history checker finds each anomaly it is meant to find (and passes a good history)."""
from __future__ import annotations

from tests.jepsen.checker import History, Op, check


def _history(*ops: Op) -> History:
    history = History()
    history.ops.extend(ops)
    return history


def cas(old, new, outcome="ok", start=0.0, end=1.0, process=1):
    return Op(process, "cas", "k", start, end, outcome, old=old, new=new, member="node1")


def read(value, level="", start=0.0, end=1.0, outcome="ok"):
    return Op(9, "read", "k", start, end, outcome, value=value, level=level, member="node2")


def test_a_good_history_passes():
    history = _history(
        cas("a", "b", start=0, end=1),
        cas("b", "c", "info", start=2, end=3),
        read("b", start=1.5, end=2),
        cas("c", "d", start=4, end=5),
        cas("b", "x", "fail", start=2, end=3),
        read("d", "linearizable", start=6, end=7),
    )
    assert check(history, {"k": "a"}, {"k": "d"}) == []


def test_a_lost_acknowledged_write_is_found():
    problems = check(_history(cas("a", "b"), cas("a", "c", "info")), {"k": "a"}, {"k": "c"})
    assert any("'a' -> 'b'" in p and "was lost" in p for p in problems), problems


def test_two_acknowledged_swaps_from_one_value_are_found():
    problems = check(_history(cas("a", "b"), cas("a", "c")), {"k": "a"}, {"k": "c"})
    assert any("two acknowledged swaps from 'a'" in p for p in problems), problems


def test_a_failed_write_that_took_effect_is_found():
    problems = check(_history(cas("a", "b", "fail")), {"k": "a"}, {"k": "b"})
    assert any("took effect" in p for p in problems), problems


def test_an_aborted_read_is_found():
    problems = check(_history(cas("a", "b", "info"), read("b"), cas("a", "c")), {"k": "a"}, {"k": "c"})
    assert any("saw a write that was lost" in p for p in problems), problems


def test_a_stale_linearizable_read_is_found_but_a_stale_default_read_is_allowed():
    ops = [cas("a", "b", start=0, end=1), cas("b", "c", start=1, end=2)]
    assert check(_history(*ops, read("b", start=3, end=4)), {"k": "a"}, {"k": "c"}) == []
    problems = check(_history(*ops, read("b", "linearizable", start=3, end=4)), {"k": "a"}, {"k": "c"})
    assert any("older than 'c'" in p for p in problems), problems


def test_a_value_written_by_nobody_is_found():
    problems = check(_history(cas("a", "b")), {"k": "a"}, {"k": "zzz"})
    assert any("no acknowledged or pending swap wrote" in p for p in problems), problems
