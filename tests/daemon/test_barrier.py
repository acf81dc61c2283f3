"""The start-up barrier's rule, without a daemon: met at the count, given up at the timeout,
and never held again once ended."""
from __future__ import annotations

from mockserver.daemon.barrier import StartupBarrier


def test_it_holds_until_the_count_and_then_never_again():
    barrier = StartupBarrier(3, timeout=60)
    barrier.start(100.0)
    assert barrier.holding(1, 101.0) == "the start-up barrier waits for 3 members Online (1 now)"
    assert barrier.holding(2, 102.0) == "the start-up barrier waits for 3 members Online (2 now)"
    assert barrier.holding(3, 102.5) == ""
    assert barrier.holding(1, 103.0) == ""                  # a member lost later changes nothing
    assert barrier.describe() == {"status": "met", "members": 3, "timeout": 60000, "online": 3, "waited_ms": 2500}


def test_it_gives_up_at_the_timeout_and_none_configured_never_holds():
    barrier = StartupBarrier(5, timeout=2)
    barrier.start(0.0)
    assert barrier.holding(2, 1.9)
    assert barrier.holding(2, 2.0) == "" and barrier.describe()["status"] == "timed out"
    unset = StartupBarrier(None, timeout=60)
    unset.start(0.0)
    assert unset.holding(1, 0.0) == "" and unset.describe()["status"] == "none"
