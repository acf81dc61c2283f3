"""The pack daemon across a real (virtual) LAN: one daemon per network namespace, the
namespaces plugged into one bridge (mockserver/daemon/harness/netns.py), addresses 198.51.100.x.

Subnet broadcast and multicast discovery, and a partition (one node's link down) and its
heal with ``pack: auto`` and ``expected_members: 3``. Each daemon's API is a unix socket in
a temporary directory: the namespaces share the host's filesystem, so the tests query them
from the host. The namespaces (and everything running in them) are deleted whatever happens.
"""
from __future__ import annotations

import time

import pytest

from mockserver.daemon.harness import LEADER_ROLES, PackProcs, config_of, hold_for, modules, write

NAMES = ("node1", "node2", "node3")


@pytest.fixture
def lan(bridged_factory):
    """(pack, namespaces): three namespaces on a bridge, and a PackProcs to run daemons in them."""
    members = bridged_factory(3, prefix="pkd")
    pack = PackProcs(defaults={"interval": 1})
    try:
        yield pack, members
    finally:
        pack.close()  # before the namespaces go (bridged_factory's teardown runs after ours)


def assert_pack(pack: PackProcs, leader: str) -> None:
    for observer in NAMES:
        members = pack[observer].members()
        assert set(members) == set(NAMES), (observer, members)
        for name, member in members.items():
            assert member.status == "Online", (observer, member)
            assert (tuple(member.roles) == LEADER_ROLES) == (name == leader), (observer, member)
            assert member.database == (name == leader), (observer, member)


def test_subnet_broadcast_discovery(lan):
    pack, members = lan
    for name, ns, role in zip(NAMES, members, ("leader", "follower", "follower")):
        node = pack.add(name, role, netns=ns)
        assert node.pack_options["broadcast"] == "198.51.100.255" and node.interface.startswith("198.51.100.")
    pack.start_all()
    pack.wait_until(lambda: pack.all_online(), 10, what="the pack to form across the bridge")
    assert_pack(pack, "node1")
    for name, ns in zip(NAMES, members):
        counters = pack[name].counters()
        assert counters["udp_received_broadcast"] > 0, counters
        # Members are reached at their subnet addresses.
        urls = {m.server_name: m.url for m in pack[name].members().values()}
        assert all(urls[n].startswith(f"https://{m.address}:") for n, m in zip(NAMES, members)), urls


def test_multicast_discovery_across_the_bridge(lan):
    pack, members = lan
    pack.use_broadcast = False
    for name, ns, role in zip(NAMES, members, ("leader", "follower", "follower")):
        node = pack.add(name, role, netns=ns, mcast_group=pack.mcast_group)
        assert "broadcast" not in node.pack_options
    pack.start_all()
    pack.wait_until(lambda: pack.all_online(), 10, what="the multicast pack to form across the bridge")
    assert_pack(pack, "node1")
    for name in NAMES:
        counters = pack[name].counters()
        assert counters["udp_received_multicast"] > 0, counters
        assert counters["udp_received_broadcast"] == 0 and counters["udp_sent_broadcast"] == 0, counters


def test_partition_and_heal_with_expected_members(lan):
    pack, members = lan
    for name, ns in zip(NAMES, members):
        pack.add(name, "auto", netns=ns, expected_members=3)
    pack.start_all()

    def single_leader(names):
        views = [pack[n].leaders() for n in names]
        if all(len(v) == 1 for v in views) and len({v[0] for v in views}) == 1:
            return views[0][0]
        return None

    pack.wait_until(lambda: pack.all_online() and single_leader(NAMES), 10, what="one leader everywhere")
    leader = single_leader(NAMES)
    term = pack[leader].pack_state()["term"]
    # Cut the leader off: the two-node side has a majority (2 of 3), the leader alone has not.
    isolated = leader
    majority = [n for n in NAMES if n != isolated]
    members[NAMES.index(isolated)].link_down()
    t0 = time.monotonic()

    def partitioned():
        for name in majority:
            statuses = pack[name].statuses()
            if statuses[isolated] != "Offline" or any(statuses[n] != "Online" for n in majority):
                return False
        if single_leader(majority) in (None, isolated):
            return False
        alone = pack[isolated].statuses()
        return all(alone[n] == "Offline" for n in majority) and pack[isolated].leaders() == []

    pack.wait_until(partitioned, 8, 0.05, what="the majority to elect a leader and the isolated node to have none")
    new = single_leader(majority)
    print(f"TIMING partition: majority leader {new} and isolated {isolated} leaderless after "
          f"{(time.monotonic() - t0) * 1000:.0f} ms")
    new_term = pack[new].pack_state()["term"]
    assert new_term > term
    # No split brain while it lasts.
    hold_for(lambda: pack[isolated].leaders() == [] and pack[isolated].pack_state()["leader"] == ""
             and single_leader(majority) == new, 1.5, 0.1, what="one leader, on the majority side",
             describe=pack.describe)
    for name in majority:
        message = pack[name].members()[isolated].message
        assert message.startswith("No heartbeat for"), message

    watcher = majority[-1]
    with pack[watcher].new_client() as client, client.events() as stream:
        members[NAMES.index(isolated)].link_up()
        t1 = time.monotonic()
        pack.wait_until(lambda: pack.all_online() and single_leader(NAMES), 15, 0.05,
                        what="every node Online with one leader after the heal")
        healed = single_leader(NAMES)
        print(f"TIMING heal: all Online with one leader ({healed}) after {(time.monotonic() - t1) * 1000:.0f} ms")
        # It stays so.
        hold_for(lambda: pack.all_online() and single_leader(NAMES) == healed, 2, 0.1,
                 what="every node Online with one leader", describe=pack.describe)
        changes = []
        while True:
            event = stream.next_event(timeout=0.2)
            if event is None:
                break
            if event.action == "cluster-leader-changed":
                changes.append(event.context)
    terms = {name: (pack[name].pack_state()["leader"], pack[name].pack_state()["term"]) for name in NAMES}
    # The leader the majority elected keeps leading: a live leader is never replaced, so the
    # returning node does not take the leadership back (no flapping).
    assert healed == new and changes == [], (
        f"after the heal {healed} leads instead of the majority's leader {new} (elected with term "
        f"{new_term}); leader changes seen by {watcher}: "
        f"{changes}; (leader, term) per node now: {terms}")
    assert_pack(pack, healed)


def test_writes_during_a_partition_are_kept_on_the_majority_side_and_converge_after_heal(bridged_factory):
    """With expected_members 3, only the side that sees a majority has a leader and takes
    writes; the isolated side refuses them (nothing is acknowledged there). After the heal
    every member has every acknowledged write."""
    members = bridged_factory(3, prefix="pks")
    pack = PackProcs(defaults={"interval": 1}, listen=True)
    try:
        for name, ns in zip(NAMES, members):
            pack.add(name, "auto", netns=ns, expected_members=3)
        pack.start_all()
        pack.wait_until(lambda: pack.all_online() and len({tuple(pack[n].leaders()) for n in NAMES}) == 1
                        and pack["node1"].leaders(), 10, what="one leader everywhere")
        leader = pack["node1"].leaders()[0]
        write(pack[leader], "PATCH", "/1.0/cluster/config", {"modules": [{"BeforeCut": {"n": 1}}]})
        isolated, majority = leader, [n for n in NAMES if n != leader]
        members[NAMES.index(isolated)].link_down()
        pack.wait_until(lambda: pack[majority[0]].leaders() and pack[majority[0]].leaders()[0] in majority
                        and pack[isolated].leaders() == [], 10, what="a majority leader, none on the cut side")
        # The majority side takes writes; the cut side refuses, clearly, and changes nothing.
        write(pack[majority[1]], "PATCH", "/1.0/cluster/config", {"modules": [{"DuringCut": {"side": "majority"}}]})
        member = pack[majority[0]].client.cluster.members.get(majority[1])
        member.evolve(description="written during the cut").save()
        refused = write(pack[isolated], "PATCH", "/1.0/cluster/config",
                        {"modules": [{"DuringCut": {"side": "minority"}}]}, expect=503)
        assert "no leader" in refused["error"], refused
        assert "DuringCut" not in modules(config_of(pack[isolated]), "modules")

        members[NAMES.index(isolated)].link_up()
        pack.wait_until(lambda: pack.all_online() and len({tuple(pack[n].leaders()) for n in NAMES}) == 1, 15,
                        what="healed")
        # The returning member's document is older: it must not take the leadership back.
        assert pack[isolated].leaders()[0] in majority, pack.describe()
        pack.wait_until(lambda: len({(config_of(pack[n])["version"], config_of(pack[n])["digest"]) for n in NAMES})
                        == 1, 10, what="one configuration everywhere")
        for name in NAMES:
            assert modules(config_of(pack[name]), "modules") == {"BeforeCut": {"n": 1},
                                                                 "DuringCut": {"side": "majority"}}, name
            assert pack[name].members()[majority[1]].description == "written during the cut", name
    finally:
        pack.close()
