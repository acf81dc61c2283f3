"""Lifelines: the leader and the owners of service groups are declared dead a dead-interval
after the last datagram heard from them, not when SWIM's probe comes round to them
(simulated time, in-memory network).

The setting is the short one, keepalive 100 ms and dead-interval 300 ms, where SWIM alone
needs up to 5 keepalives: its suspicion cannot be shorter than a period."""
from __future__ import annotations

import pytest

from mockserver.daemon.protocol.messages import ClaimKind
from tests.daemon.protocol.sim import LeaderChange, Pack, Status

K, D = 0.1, 0.3
MAX_DELAY = 0.002   # the in-memory network's longest delivery


def short_pack(**kwargs):
    return Pack(keepalive=K, dead_interval=D, expected=3, **kwargs)


def leader_everywhere(pack, leader):
    return all(pack.node(name).leader == leader for name in pack.alive())


def dead_everywhere(pack, name):
    return all(pack.status(o, name) == Status.DEAD for o in pack.alive() if o != name)


@pytest.mark.parametrize("phase", range(10))
def test_a_dead_leader_is_dead_to_all_a_dead_interval_after_its_last_heartbeat(phase):
    pack = short_pack(seed=phase)
    assert pack.run_until(lambda: leader_everywhere(pack, "node1"), 2.0)
    pack.run(1.0 + phase * K / 10)   # crash at every phase of the heartbeat period
    crashed_at = pack.net.now
    pack.net.crash("node1")
    assert pack.run_until(lambda: dead_everywhere(pack, "node1"), 5 * K)
    assert pack.net.now - crashed_at <= D + MAX_DELAY
    # and a new leader within a few round trips of that
    assert pack.run_until(lambda: leader_everywhere(pack, "node2"), 5 * K)
    assert pack.net.now - crashed_at <= D + 0.05


def test_a_watched_member_is_dead_to_its_watchers_a_dead_interval_after_its_last_datagram():
    pack = short_pack()
    assert pack.run_until(lambda: leader_everywhere(pack, "node1"), 2.0)
    owner = pack.node("node3")

    def renew():   # what the owner of a service group does each keepalive
        if "node3" in pack.alive():
            pack.net.carry("node3", owner.send_claim(["node1", "node2"], ClaimKind.RENEW, 1, [("web", 1, False, 0)],
                                                     pack.net.now))
            pack.net.schedule(pack.net.now + K, renew)
    renew()
    for watcher in ("node1", "node2"):
        pack.node(watcher).watch(["node3"], pack.net.now)
    pack.run(1.0)
    assert pack.statuses("node1")["node3"] == Status.ALIVE   # heard each keepalive: never silent
    crashed_at = pack.net.now
    pack.net.crash("node3")
    assert pack.run_until(lambda: dead_everywhere(pack, "node3"), 5 * K)
    assert pack.net.now - crashed_at <= D + MAX_DELAY


def test_a_member_that_alone_stops_hearing_the_leader_does_not_unseat_it():
    pack = short_pack()
    assert pack.run_until(lambda: leader_everywhere(pack, "node1"), 2.0)
    term = pack.node("node1").term
    cut_at = pack.net.now
    pack.net.cut("node1", "node3")     # node3 still hears node2, and node2 the leader
    pack.run(3.0)
    assert pack.node("node3").counters["marked_dead_silent"] >= 1   # node3 did lose sight of it
    changes = [(t, n, e) for t, n, e in pack.events
               if t > cut_at and n in ("node1", "node2") and isinstance(e, LeaderChange)]
    assert changes == []
    assert pack.node("node1").leader == pack.node("node2").leader == "node1"
    assert pack.node("node2").term == term
    assert pack.statuses("node2")["node1"] == Status.ALIVE
    pack.net.heal()
    assert pack.run_until(lambda: leader_everywhere(pack, "node1") and all(
        pack.statuses(n)[m] == Status.ALIVE for n in pack.alive() for m in pack.alive()), 10 * K)
    assert pack.node("node1").term == term


def test_a_member_that_stood_still_reads_what_came_before_it_judges():
    pack = short_pack()
    assert pack.run_until(lambda: leader_everywhere(pack, "node1"), 2.0)
    pack.run(0.5)
    node3 = pack.node("node3")
    heard = node3.peers["node1"].heard_directly
    # node3's process was paused for two dead-intervals; its first timer fires now.
    woke = heard + 2 * D
    node3.tick(woke)
    assert node3.members()["node1"].status == Status.ALIVE
    assert node3.counters["marked_dead_silent"] == 0
    assert woke < node3._silence_deadline() <= woke + K    # it judges again soon, unless it hears the leader
    node3.tick(node3._silence_deadline())
    assert node3.members()["node1"].status == Status.DEAD   # nothing came: now it is silent
    assert node3.counters["marked_dead_silent"] == 1


def test_silence_counts_from_the_first_datagram_heard_after_the_watch_began():
    pack = short_pack()
    assert pack.run_until(lambda: leader_everywhere(pack, "node1"), 2.0)
    pack.net.crash("node3")
    pack.run(0.01)
    node1 = pack.node("node1")
    node1.watch(["node3"], pack.net.now)
    # Nothing from node3 since: the watch alone declares no one dead (SWIM decides).
    assert node1._silence_deadline() == float("inf")
    pack.start("node3")
    assert pack.run_until(lambda: node1.peers["node3"].heard_directly >= node1._watched["node3"], 5 * K)
    heard = node1.peers["node3"].heard_directly
    assert node1._silence_deadline() <= heard + D


def test_in_a_large_pack_the_leader_sends_no_heartbeat_and_no_one_waits_for_one(monkeypatch):
    from mockserver.daemon.protocol import lifelines

    monkeypatch.setattr(lifelines, "HEARTBEAT_MEMBERS", 2)   # so that 5 members are a large pack
    monkeypatch.setattr(lifelines, "HEARTBEAT_SENT_UP_TO", 3)
    names = tuple(f"node{i}" for i in range(1, 6))
    pack = Pack(names=names, keepalive=K, dead_interval=D, expected=5)
    assert pack.run_until(lambda: leader_everywhere(pack, "node1"), 2.0)
    formed = pack.net.now
    sent = {n: pack.node(n).counters["sent"] for n in names}
    pack.run(5.0)
    # SWIM's constant load only, the leader's as a follower's (with heartbeats it would
    # send 4 more datagrams a period: three times a follower's load).
    rates = {n: (pack.node(n).counters["sent"] - sent[n]) / 5.0 for n in names}
    assert rates["node1"] < 1.5 * max(rates[n] for n in names[1:]), rates
    assert all(pack.node(n).counters["marked_dead_silent"] == 0 for n in names)
    assert not [e for t, n, e in pack.events if t > formed and isinstance(e, LeaderChange)]
    pack.net.crash("node1")    # and the leader is still replaced (SWIM alone finds it dead)
    assert pack.run_until(lambda: leader_everywhere(pack, "node2"), 2 * D + 5 * K)
