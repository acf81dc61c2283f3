"""Multicast among three 127.0.0.x nodes on ``lo``, inside one fresh network namespace.

Each node is a process in the namespace (see _endpoint_child.py). Nothing outside the
namespace is touched; the namespace is deleted with its processes whatever happens.
"""
from __future__ import annotations

import sys
import textwrap

import pytest

from mockserver.daemon.harness import wait_until
from tests.daemon.udp._helpers import ChildNode

PORT = 5252
GROUP = "239.255.52.52"
ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]


def enable_lo_multicast(ns) -> None:
    ns.run(["ip", "link", "set", "dev", "lo", "multicast", "on"])
    ns.run(["ip", "route", "add", "224.0.0.0/4", "dev", "lo"])


def start_nodes(ns, addrs=ADDRS, **kw):
    nodes = [ChildNode(ns, interface=a, port=PORT, group=GROUP, **kw) for a in addrs]
    for node in nodes:
        node.start()
        assert node.error is None, node.error
    return nodes


@pytest.mark.parametrize("lo_setup", ["bare", "multicast-flag-and-route"])
def test_multicast_reaches_three_nodes_on_lo(netns_factory, lo_setup):
    ns = netns_factory("pkm")
    if lo_setup != "bare":
        enable_lo_multicast(ns)
    nodes = start_nodes(ns, broadcast="127.255.255.255")
    for i, sender in enumerate(nodes):
        payload = f"mc-from-{i}"
        sender.command("multicast", payload)
        wait_until(lambda: all(n.got(payload) for n in nodes), what=f"{payload} everywhere")
    # Broadcast on lo in the namespace too, and unicast.
    nodes[2].command("broadcast", "bc-from-2")
    nodes[0].command("unicast", "127.0.0.13", PORT, "uni-0-2")
    wait_until(lambda: all(n.got("bc-from-2") for n in nodes) and nodes[2].got("uni-0-2"),
             what="broadcast and unicast")
    counters = [n.counters() for n in nodes]  # a round trip: all datagrams are in
    for i, node in enumerate(nodes):
        for j in range(3):
            # exactly once each, from the sender's unicast address; own ones are flagged
            assert node.got(f"mc-from-{j}") == [(ADDRS[j], PORT, i == j)]
        assert node.got("bc-from-2") == [("127.0.0.13", PORT, i == 2)]
        assert counters[i]["received_multicast"] == 3
        assert counters[i]["received_broadcast"] == 1
        assert counters[i]["send_errors"] == 0
    assert nodes[2].got("uni-0-2") == [("127.0.0.11", PORT, False)]
    assert not nodes[1].got("uni-0-2")
    assert counters[0]["sent_multicast"] == 1
    for node in nodes:
        assert node.quit() == 0


def test_nodes_in_another_group_hear_nothing(netns_factory):
    ns = netns_factory("pkm")
    a = ChildNode(ns, interface="127.0.0.11", port=PORT, group=GROUP).start()
    b = ChildNode(ns, interface="127.0.0.12", port=PORT, group="239.255.52.53").start()
    a.command("multicast", "only-group-a")
    wait_until(lambda: a.got("only-group-a"), what="own multicast")
    b.counters()
    assert b.got("only-group-a") == []
    assert b.counters()["received"] == 0


SEND = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.12", 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.12"))
    s.sendto(sys.argv[1].encode(), (sys.argv[2], int(sys.argv[3])))
""")


def test_wildcard_interface_needs_a_route_on_bare_lo(netns_factory):
    ns = netns_factory("pkm")
    node = ChildNode(ns, interface="0.0.0.0", port=PORT, group=GROUP).start()
    assert node.error is not None
    assert "No such device" in node.error and "route" in node.error and GROUP in node.error
    assert node.proc.returncode == 2


def test_wildcard_interface_with_route_receives_multicast_once(netns_factory):
    ns = netns_factory("pkm")
    ns.run(["ip", "route", "add", "224.0.0.0/4", "dev", "lo"])
    node = ChildNode(ns, interface="0.0.0.0", port=PORT, group=GROUP).start()
    assert node.error is None, node.error
    ns.run([sys.executable, "-c", SEND, "from-raw", GROUP, PORT])
    node.command("multicast", "from-self")
    wait_until(lambda: node.got("from-raw") and node.got("from-self"), what="multicasts")
    counters = node.counters()
    assert len(node.got("from-raw")) == 1 and node.got("from-raw")[0][2] is False
    # Its own comes back once, recognised as own. Its source address is 0.0.0.0 on
    # Linux 6.18: the route 224.0.0.0/4 dev lo has link scope and lo's 127.0.0.1 host
    # scope, so no source address is chosen (one more reason for 127.0.0.x interfaces).
    [(ip, port, own)] = node.got("from-self")
    assert ip in ("0.0.0.0", "127.0.0.1") and port == PORT and own
    assert counters["received"] == 2
