"""Leases renewed with a majority: never two holders of a group, whatever the network does;
and a crashed owner's group is taken over without waiting for its lease."""
from __future__ import annotations

import pytest

from mockserver.daemon.groups.ownership import Assignment, OwnershipCore
from tests.daemon.groups.ownsim import DEAD, KEEPALIVE, LEASE, OwnNet, TwoHolders

WEB = "web"


def formed(**options) -> OwnNet:
    net = OwnNet(**options)
    net.commit({WEB: ("node1", 1)})
    net.run(0.2)
    assert net.holder(WEB) == "node1"
    return net


def test_an_assigned_group_is_held_by_its_owner_alone_and_kept():
    net = formed()
    net.run(5.0)                                  # a hundred renewals later
    assert net.holder(WEB) == "node1"
    assert [what for _, _, what, _ in net.history] == ["acquire"]
    assert net.cores["node1"].counters["lease_lost"] == 0


def test_a_crashed_owners_group_is_taken_over_without_waiting_for_its_lease():
    net = formed()
    net.crash("node1")
    crashed = net.now
    net.run(DEAD)                                 # the failure detector notices, the leader reassigns
    net.commit({WEB: ("node2", 2)})
    net.run(0.5)
    assert net.holder(WEB) == "node2"
    took = net.first("acquire", WEB, "node2") - crashed
    # The lease ran out while the crash was being noticed: the takeover adds only round trips.
    assert took < DEAD + 2 * KEEPALIVE, took


def test_an_owner_cut_off_releases_before_the_majority_takes_the_group():
    net = formed()
    net.isolate("node1")
    cut = net.now
    net.commit({WEB: ("node2", 2)}, order=["node2", "node3"])   # reassigned at once, the worst case
    net.run(1.0)
    released, acquired = net.first("release", WEB, "node1", cut), net.first("acquire", WEB, "node2", cut)
    assert released is not None and acquired is not None and released < acquired
    assert released - cut <= LEASE + 0.01          # it let go within its lease
    assert net.holder(WEB) == "node2"
    net.heal()
    net.commit({WEB: ("node2", 2)}, order=["node1"])              # it learns, and stays out
    net.run(1.0)
    assert net.holder(WEB) == "node2"


@pytest.mark.parametrize("outgoing, incoming", [(True, False), (False, True)])
def test_a_one_way_cut_of_the_owner_never_gives_two_holders(outgoing, incoming):
    """Split brain in keepalived comes from adverts blocked one way; here the owner needs
    answers from a majority, so it lets go whichever way its link broke."""
    net = formed()
    net.isolate("node1", outgoing=outgoing, incoming=incoming)
    net.commit({WEB: ("node2", 2)}, order=["node2", "node3"])
    net.run(1.0)
    assert net.holder(WEB) == "node2"
    assert net.first("release", WEB, "node1") < net.first("acquire", WEB, "node2")


def test_a_member_that_committed_late_delays_the_takeover_never_hastens_it():
    net = formed()
    net.isolate("node1")
    net.commit({WEB: ("node2", 2)}, order=["node2"])             # node3 has not committed it yet
    net.run(1.0)
    assert net.holder(WEB) is None                                # no majority answered the takeover
    net.commit({WEB: ("node2", 2)}, order=["node3"])
    net.run(1.0)
    assert net.holder(WEB) == "node2"


def test_losing_a_member_other_than_the_owner_disturbs_nothing():
    net = formed()
    net.crash("node3")
    net.run(3.0)
    assert net.holder(WEB) == "node1" and net.cores["node1"].counters["lease_lost"] == 0


def test_an_owner_that_loses_its_majority_lets_go_and_takes_the_group_back_when_it_returns():
    net = formed()
    net.isolate("node1")
    net.run(1.0)
    assert net.holder(WEB) is None                                # nobody reassigned it: nobody holds it
    net.heal()
    net.run(0.5)
    assert net.holder(WEB) == "node1"


@pytest.mark.parametrize("seed", range(200))
def test_random_faults_never_give_two_holders(seed):
    """Random crashes, cuts (one way or both), heals and reassignments of two groups, at
    random times, with clocks at different rates: at no instant do two members hold a group."""
    names = ("node1", "node2", "node3", "node4", "node5")
    net = OwnNet(names, seed=seed)
    rng = net.rng
    table = {"web": ("node1", 1), "db": ("node2", 1)}
    net.commit(table)
    try:
        for _ in range(40):
            action = rng.random()
            if action < 0.3:
                a, b = rng.sample(names, 2)
                net.cut.add((a, b))
            elif action < 0.45:
                net.heal()
            elif action < 0.5 and len(net.down) < 2:
                net.crash(rng.choice([n for n in names if n not in net.down]))
            else:
                group = rng.choice(["web", "db"])
                live = [n for n in names if n not in net.down]
                # A new owner is a new epoch (the leader's rule); the other group stays.
                table = {**table, group: (rng.choice(live), table[group][1] + 1)}
                # A committed document reaches a majority at least, in some order, some much
                # later; the others (cut off, say) may never see it.
                order = rng.sample(live, rng.randint(min(3, len(live)), len(live)))
                net.commit(table, order=order, gap=rng.uniform(0.0, 0.2))
            net.run(rng.uniform(0.0, 0.6))
        net.heal()
        net.run(3.0)
    except TwoHolders as exc:
        pytest.fail(f"seed {seed}: {exc}")


def test_a_lease_shorter_than_a_keepalive_is_refused():
    with pytest.raises(ValueError):
        OwnershipCore("node1", lease=0.05, keepalive=0.05)


def test_a_takeover_is_answered_only_after_the_new_assignment_is_committed():
    core = OwnershipCore("node3", lease=LEASE, keepalive=KEEPALIVE)
    core.assignments({WEB: Assignment("node1", 1)}, now=0.0)
    [answer] = core.heard_renew("node1", 1, ((WEB, 1),), now=1.0)
    assert answer.answers == ((WEB, 1, True),)
    assert core.heard_takeover("node2", WEB, 2, now=1.1) == []          # epoch 2 not committed here
    core.assignments({WEB: Assignment("node2", 2)}, now=1.2)
    [reply] = core.heard_takeover("node2", WEB, 2, now=1.5)
    assert reply.age == pytest.approx(0.5)                              # it renewed node1 half a second ago
    [refusal] = core.heard_renew("node1", 2, ((WEB, 1),), now=1.6)
    assert refusal.answers == ((WEB, 1, False),)                        # and never again
    # Having said yes to the new owner since, it still reports the older yes.
    core.heard_renew("node2", 1, ((WEB, 2),), now=1.7)
    [reply] = core.heard_takeover("node2", WEB, 2, now=1.8)
    assert reply.age == pytest.approx(0.8)


def test_questions_heard_before_the_commit_are_answered_at_the_commit_not_a_keepalive_later():
    """The new owner often sees the commit first: its takeover and renewal reach a member
    that has not committed yet. That member answers both once it commits."""
    from mockserver.daemon.groups.ownership import SendRenewed, SendTakeoverReply

    core = OwnershipCore("node3", lease=LEASE, keepalive=KEEPALIVE)
    core.assignments({WEB: Assignment("node1", 1)}, now=0.0)
    core.heard_renew("node1", 7, ((WEB, 1),), now=1.0)
    assert core.heard_takeover("node2", WEB, 2, now=1.1) == []
    [refused] = core.heard_renew("node2", 1, ((WEB, 2),), now=1.1)
    assert refused.answers == ((WEB, 2, False),)
    effects = core.assignments({WEB: Assignment("node2", 2)}, now=1.15)
    replies = [e for e in effects if isinstance(e, SendTakeoverReply)]
    renewed = [e for e in effects if isinstance(e, SendRenewed)]
    assert [(r.to, r.group, r.epoch) for r in replies] == [("node2", WEB, 2)]
    assert replies[0].age == pytest.approx(0.15)                     # its yes to node1, 150 ms ago
    assert [(r.to, r.seq, r.answers) for r in renewed] == [("node2", 1, ((WEB, 2, True),))]
    assert core.heard_renew("node1", 8, ((WEB, 1),), now=1.2)[0].answers == ((WEB, 1, False),)
    # Asked too long ago: the asker has asked again since; nothing is answered twice.
    stale = OwnershipCore("node3", lease=LEASE, keepalive=KEEPALIVE)
    stale.heard_takeover("node2", WEB, 2, now=1.0)
    assert stale.assignments({WEB: Assignment("node2", 2)}, now=1.0 + LEASE) == []


def _assign_and_take_over(core, epoch: int, others: dict, now: float) -> list:
    """Commit (``core``'s own name, ``epoch``) on ``core`` and answer its takeover and its
    renewal from ``others`` {member: age of its newest yes to an older claim, or None}."""
    from mockserver.daemon.groups.ownership import SendRenew

    effects = core.assignments({WEB: Assignment(core.name, epoch)}, now=now, version=epoch)
    renew = next(e for e in effects if isinstance(e, SendRenew))
    for member, age in others.items():
        effects += core.heard_takeover_reply(member, WEB, epoch, age, now)
        effects += core.heard_renewed(member, renew.seq, ((WEB, epoch, True),), now)
    return effects


def test_a_member_that_renewed_a_stale_claim_of_its_own_takes_over_at_once():
    """A member restarts with an old document in which it owns the group: it renews that
    claim alone (the others refuse) until it catches up. Its own yes to that claim is no
    one else's lease: its next takeover does not wait for it."""
    from mockserver.daemon.groups.ownership import Acquire

    core = OwnershipCore("node2", lease=LEASE, keepalive=KEEPALIVE)
    core.membership(["node1", "node3"], 3, 0.0)
    core.assignments({WEB: Assignment("node2", 1)}, now=0.0, version=1)   # stale: epoch 2 is node1's
    for step in range(1, 10):
        core.tick(step * KEEPALIVE)                  # renews epoch 1, saying yes to itself alone
    assert not core.holds(WEB)
    effects = _assign_and_take_over(core, 3, {"node1": None, "node3": None}, 10 * KEEPALIVE)
    assert [e for e in effects if isinstance(e, Acquire)] == [Acquire(WEB, 3)]


def test_a_member_that_said_yes_to_another_owner_still_waits_out_that_owners_lease():
    from mockserver.daemon.groups.ownership import Acquire

    core = OwnershipCore("node2", lease=LEASE, keepalive=KEEPALIVE)
    core.membership(["node1", "node3"], 3, 0.0)
    core.assignments({WEB: Assignment("node1", 2)}, now=0.0, version=2)
    core.heard_renew("node1", 1, ((WEB, 2),), now=1.0)                    # node1 holds on this yes
    effects = _assign_and_take_over(core, 3, {"node1": None, "node3": None}, 1.01)
    assert not [e for e in effects if isinstance(e, Acquire)]
    assert not [e for e in core.tick(1.0 + LEASE * 0.99) if isinstance(e, Acquire)]   # its lease may run
    assert [e for e in core.tick(1.0 + LEASE * 1.021) if isinstance(e, Acquire)] == [Acquire(WEB, 3)]
