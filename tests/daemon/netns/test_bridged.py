"""Three nodes in three namespaces plugged into one bridge (in a fourth, "switch"
namespace): subnet broadcast, multicast and unicast, and partitions by unplugging a link.

Addresses are from 198.51.100.0/24 (documentation range) and exist only inside the
namespaces, which are deleted with their processes whatever happens.
"""
from __future__ import annotations

import time

from mockserver.daemon.harness import hold_for, wait_until
from tests.daemon.udp._helpers import ChildNode

PORT = 5252
GROUP = "239.255.52.52"


def start_nodes(members):
    nodes = [ChildNode(ns, interface=ns.address, port=PORT, broadcast=ns.broadcast, group=GROUP)
             for ns in members]
    for node in nodes:
        node.start()
        assert node.error is None, node.error
    return nodes


def send_until(sender, kind, payload_base, receivers, timeout=10.0):
    """Send (numbered payloads, every 0.2 s) until every receiver got one; returns the
    payload that made it. A freshly plugged link may need a moment before it forwards."""
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        n += 1
        payload = f"{payload_base}-{n}"
        sender.command(kind, payload)
        try:
            wait_until(lambda: all(r.got(payload) for r in receivers), timeout=0.2)
            return payload
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{kind} {payload_base} did not reach "
                                     f"{[r.name for r in receivers if not r.got(payload)]}")


def settle(nodes, holds, what):
    """``holds()`` stays true for 0.3 s, after a round trip to every node (what was read is
    recorded): late or duplicated datagrams would break it meanwhile."""
    for node in nodes:
        node.counters()
    hold_for(holds, 0.3, what=what)


def test_broadcast_and_multicast_reach_all_three(bridged_factory):
    members = bridged_factory(3, prefix="pkb")
    nodes = start_nodes(members)
    addrs = [m.address for m in members]
    assert addrs == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    made_it = {}
    for i, sender in enumerate(nodes):
        made_it["bc", i] = send_until(sender, "broadcast", f"bc{i}", nodes)
        made_it["mc", i] = send_until(sender, "multicast", f"mc{i}", nodes)
    nodes[0].command("unicast", addrs[2], PORT, "uni-0-2")
    wait_until(lambda: nodes[2].got("uni-0-2"), what="unicast across the bridge")
    def once_each():
        return all(node.got(made_it[kind, j]) == [(addrs[j], PORT, i == j)]
                   for i, node in enumerate(nodes) for j in range(3) for kind in ("bc", "mc")) \
            and nodes[2].got("uni-0-2") == [(addrs[0], PORT, False)] and nodes[1].got("uni-0-2") == []

    settle(nodes, once_each, "every datagram delivered once, unicast to its target only")
    for i, node in enumerate(nodes):
        for j in range(3):
            for kind in ("bc", "mc"):
                got = node.got(made_it[kind, j])
                # once (no double delivery), from the sender's address, own flagged
                assert got == [(addrs[j], PORT, i == j)], (i, kind, j, got)
    assert nodes[2].got("uni-0-2") == [(addrs[0], PORT, False)]
    assert nodes[1].got("uni-0-2") == []
    counters = [n.counters() for n in nodes]
    assert all(c["received_broadcast"] >= 3 and c["received_multicast"] >= 3 for c in counters)
    assert all(c["send_errors"] == 0 for c in counters)


def test_link_down_partitions_a_node_and_link_up_heals(bridged_factory):
    members = bridged_factory(3, prefix="pkb")
    nodes = start_nodes(members)
    # Connected first.
    send_until(nodes[0], "broadcast", "before", nodes)
    send_until(nodes[0], "multicast", "mbefore", nodes)

    members[2].link_down()
    for kind, tag in (("broadcast", "cut"), ("multicast", "mcut")):
        # Still reaches the connected side (and itself) ...
        payload = send_until(nodes[0], kind, tag, nodes[:2])
        # ... the unplugged node hears nobody, and nobody hears it.
        isolated = send_until(nodes[2], kind, f"{tag}-iso", nodes[2:])
        settle(nodes, lambda: nodes[2].got(payload) == [] and nodes[0].got(isolated) == nodes[1].got(isolated) == [],
               "nothing crosses the cut")
        assert nodes[2].got(payload) == []
        assert nodes[0].got(isolated) == [] and nodes[1].got(isolated) == []
    nodes[0].command("unicast", members[2].address, PORT, "uni-cut")
    settle(nodes, lambda: nodes[2].got("uni-cut") == [], "no unicast across the cut")
    assert nodes[2].got("uni-cut") == []

    members[2].link_up()
    send_until(nodes[0], "broadcast", "healed", nodes)
    send_until(nodes[2], "broadcast", "healed-back", nodes)
    send_until(nodes[1], "multicast", "mhealed", nodes)
    nodes[0].command("unicast", members[2].address, PORT, "uni-healed")
    wait_until(lambda: nodes[2].got("uni-healed"), what="unicast after healing")
    for node in nodes:
        assert node.quit() == 0
