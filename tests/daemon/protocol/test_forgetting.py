"""Forgetting the gone: a member that is dead and no longer proposed by discovery leaves the
member list; one that is still proposed, or a pack without discovery, keeps it; rumours of
its death do not bring it back, and it joins again when it comes back."""
from __future__ import annotations

from mockserver.daemon.protocol.node import MemberForgotten
from tests.daemon.protocol.sim import DEAD, Pack, Status

NAMES = ("node1", "node2", "node3")


def discovering_pack(**options) -> Pack:
    pack = Pack(NAMES, broadcast=False, **options)
    propose(pack, NAMES)
    return pack


def propose(pack: Pack, names) -> None:
    """Every running member's discovery now proposes ``names``' addresses."""
    for member in pack.alive():
        pack.net.carry(member, pack.node(member).discovered([pack.addresses[n] for n in names], pack.net.now))


def formed(pack: Pack, names=NAMES) -> bool:
    return all(pack.statuses(o) == dict.fromkeys(names, Status.ALIVE) for o in names)


def test_a_dead_member_no_longer_proposed_is_forgotten_everywhere_and_comes_back_as_a_newcomer():
    pack = discovering_pack()
    assert pack.run_until(lambda: formed(pack), 5)
    pack.net.crash("node3")
    assert pack.run_until(lambda: all(pack.status(o, "node3") == Status.DEAD for o in ("node1", "node2")), 5)
    pack.run(3 * DEAD)
    assert all(pack.status(o, "node3") == Status.DEAD for o in ("node1", "node2"))   # still proposed: kept
    propose(pack, ("node1", "node2"))
    assert pack.run_until(lambda: all(pack.status(o, "node3") is None for o in ("node1", "node2")), 4 * DEAD)
    forgotten = [(name, e) for _, name, e in pack.events if isinstance(e, MemberForgotten)]
    assert sorted(name for name, _ in forgotten) == ["node1", "node2"]
    assert all(e.member.name == "node3" and "no longer proposed by discovery" in e.why for _, e in forgotten)
    assert pack.node("node1").counters["forgotten"] == 1
    pack.run(4 * DEAD)                                            # no rumour brings it back
    assert all(pack.status(o, "node3") is None for o in ("node1", "node2"))
    # It comes back and is proposed again: a member like any newcomer.
    pack.start("node3")
    propose(pack, NAMES)
    assert pack.run_until(lambda: formed(pack), 5)


def test_a_dead_member_stays_while_still_proposed_and_a_pack_without_discovery_keeps_its_dead():
    plain = Pack(NAMES, broadcast=True)
    assert plain.run_until(lambda: formed(plain), 5)
    plain.net.crash("node3")
    plain.run(6 * DEAD)
    assert all(plain.status(o, "node3") == Status.DEAD for o in ("node1", "node2"))
    assert not any(isinstance(e, MemberForgotten) for _, _, e in plain.events)


def test_a_live_member_that_discovery_drops_is_never_forgotten():
    pack = discovering_pack()
    assert pack.run_until(lambda: formed(pack), 5)
    propose(pack, ("node1",))                                    # a truncated answer, say
    pack.run(6 * DEAD)
    assert formed(pack)
    assert not any(isinstance(e, MemberForgotten) for _, _, e in pack.events)
