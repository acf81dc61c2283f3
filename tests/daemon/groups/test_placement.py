"""Where a group runs: every reason to move it, and every reason to leave it where it is."""
from __future__ import annotations

import ipaddress

import pytest

from mockserver.daemon.groups.config import parse_groups
from mockserver.daemon.groups.placement import Candidate, place

M1, M2 = ipaddress.ip_address("198.51.100.1"), ipaddress.ip_address("198.51.100.2")


def group(**overrides):
    body = {"primary": "node1", "secondary": ["node2", "node3"], "service": ["198.51.100.10/24/veth0"], **overrides}
    return parse_groups({"web": body})[0]


def members(*names, **changes):
    """Every named member alive and reaching both monitors, healthy since t=0; ``changes``
    maps a name to the Candidate fields that differ."""
    return {name: Candidate(name, **{"reaches": frozenset({M1, M2}), **changes.get(name, {})}) for name in names}


ALL = ("node1", "node2", "node3")


def test_the_primary_takes_a_group_nobody_owns():
    result = place(group(), None, members(*ALL), now=100)
    assert (result.owner, result.moved, result.reason) == ("node1", True, "placed when the group was defined")


@pytest.mark.parametrize("change, reason", [
    ({"alive": False}, "node1 is down"),
    ({"evacuated": True}, "node1 is evacuated"),
])
def test_a_group_leaves_an_owner_that_is_down_or_evacuated_for_the_first_secondary(change, reason):
    result = place(group(), "node1", members(*ALL, node1=change), now=100)
    assert (result.owner, result.moved, result.reason) == ("node2", True, reason)


def test_secondaries_take_over_in_order():
    result = place(group(), "node2", members(*ALL, node1={"alive": False}, node2={"alive": False}), now=100)
    assert result.owner == "node3"


def test_without_auto_failback_a_returning_primary_waits_as_standby():
    result = place(group(), "node2", members(*ALL), now=10_000)
    assert (result.owner, result.moved, result.reason) == ("node2", False, "the owner is healthy")


def test_with_auto_failback_the_primary_takes_it_back_after_its_delay():
    web = group(**{"auto-failback": True, "failback-delay": 5000})
    returned = members(*ALL, node1={"healthy_since": 100.0})
    assert place(web, "node2", returned, now=104.9).owner == "node2"      # not healthy long enough
    result = place(web, "node2", returned, now=105.0)
    assert (result.owner, result.moved) == ("node1", True)
    assert result.reason == "auto-failback: primary node1 healthy for 5 s"


def test_a_monitor_lost_by_the_owner_but_reached_by_a_secondary_moves_the_group():
    web = group(monitor=[str(M1)])
    result = place(web, "node1", members(*ALL, node1={"reaches": frozenset({M2})}), now=100)
    assert (result.owner, result.reason) == ("node2", "node1 cannot reach monitor 198.51.100.1")


def test_a_monitor_nobody_reaches_leaves_the_group_where_it_is_and_says_why():
    web = group(monitor=[str(M1)])
    blind = {name: {"reaches": frozenset()} for name in ALL}
    result = place(web, "node2", members(*ALL, **blind), now=100)
    assert (result.owner, result.moved) == ("node2", False)
    assert result.notes == ("monitor 198.51.100.1: no member reaches it",)


def test_an_operators_move_holds_while_that_member_can_own_the_group():
    result = place(group(), "node1", members(*ALL), now=100, requested="node3")
    assert (result.owner, result.moved, result.reason) == ("node3", True, "moved to node3 by an operator")
    # The member asked for is down: the rules decide again.
    result = place(group(), "node1", members(*ALL, node3={"alive": False}), now=100, requested="node3")
    assert (result.owner, result.moved) == ("node1", False)


def test_no_live_member_leaves_the_group_nowhere():
    result = place(group(), "node1", members(*ALL, **{n: {"alive": False} for n in ALL}), now=100)
    assert (result.owner, result.moved, result.reason) == (None, True, "no member of the group is alive and available")


def test_a_member_removed_from_the_group_hands_it_over():
    web = group(secondary=["node3"])
    result = place(web, "node2", members(*ALL), now=100)
    assert (result.owner, result.reason) == ("node1", "node2 is no longer a member of the group")
