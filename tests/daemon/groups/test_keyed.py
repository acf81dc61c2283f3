"""Service-group ownership fenced by a key in etcd (KeyedOwnershipCore), sans-IO: a member
brings a group up only once it holds the group's key, lets go before its lease can end
when cut off, and never asks for a key it was not assigned."""
from __future__ import annotations

from mockserver.daemon.groups.keyed import DropKey, KeyedOwnershipCore, TakeKey
from mockserver.daemon.groups.ownership import Acquire, Assignment, Release


def core() -> KeyedOwnershipCore:
    return KeyedOwnershipCore("node1", keepalive=0.25)


def test_a_group_comes_up_only_once_its_key_is_held():
    c = core()
    assert c.assignments({"web": Assignment("node1", 1)}, 0.0, version=1) == [TakeKey("web", 1)]
    assert c.tick(0.1) == []                      # one question at a time
    assert c.key_taken("web", 1, "node2", 0.2) == []   # the previous owner has not let go
    assert not c.holds("web") and c.counters["key_busy"] == 1
    assert c.tick(0.3) == [] and c.tick(0.45) == [TakeKey("web", 1)]   # asked again a keepalive later
    assert c.key_freed("web", 0.5) == []          # already asking
    assert c.key_taken("web", 1, "node1", 0.5) == [Acquire("web", 1)]
    assert c.held() == {"web": 1} and c.next_deadline() == float("inf")


def test_a_freed_key_is_asked_for_at_once():
    c = core()
    c.assignments({"web": Assignment("node1", 1)}, 0.0, version=1)
    c.key_taken("web", 1, "node2", 0.1)
    assert c.key_freed("web", 0.15) == [TakeKey("web", 1)]


def test_a_group_assigned_elsewhere_goes_down_first_then_its_key():
    c = core()
    c.assignments({"web": Assignment("node1", 1)}, 0.0, version=1)
    c.key_taken("web", 1, "node1", 0.1)
    effects = c.assignments({"web": Assignment("node3", 2)}, 1.0, version=2)
    assert effects == [Release("web", 1, "assigned elsewhere", until=1.0), DropKey("web")]
    assert c.held() == {}
    assert c.assignments({"web": Assignment("node1", 1)}, 2.0, version=1) == []   # an older version: ignored


def test_cut_off_takes_every_group_down_and_asks_nothing_until_back():
    c = core()
    c.assignments({"web": Assignment("node1", 1), "db": Assignment("node1", 4)}, 0.0, version=1)
    c.key_taken("web", 1, "node1", 0.1)
    assert c.cut_off(True, 1.0) == [Release("web", 1, "cut off from etcd: its lease may end", until=1.0)]
    assert c.key_taken("db", 4, "node1", 1.1) == []   # an answer that arrives while cut off changes nothing
    assert c.tick(5.0) == [] and c.next_deadline() == float("inf") and c.counters["lease_lost"] == 1
    assert sorted(c.cut_off(False, 6.0), key=repr) == [TakeKey("db", 4), TakeKey("web", 1)]


def test_a_key_taken_for_an_assignment_gone_meanwhile_is_let_go():
    c = core()
    c.assignments({"web": Assignment("node1", 1)}, 0.0, version=1)
    c.assignments({"web": Assignment("node2", 2)}, 0.1, version=2)
    assert c.key_taken("web", 1, "node1", 0.2) == [DropKey("web")]
    assert c.key_failed("web", 1, 0.3) == [] and c.counters["key_failures"] == 1


def test_stopping_takes_everything_down_and_lets_the_keys_go():
    c = core()
    c.assignments({"web": Assignment("node1", 1), "db": Assignment("node1", 2)}, 0.0, version=1)
    c.key_taken("web", 1, "node1", 0.1)
    assert c.stop(1.0) == [Release("web", 1, "the member is stopping", until=1.0), DropKey("web"), DropKey("db")]
    assert c.held() == {} and c.tick(2.0) == []
