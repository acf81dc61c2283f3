"""The pack daemon across a router: two subnets, 198.51.100.0/24 (node1, node2) and
203.0.113.0/24 (node3, node4), joined by a router namespace at .254 of each with
ip_forward=1 (``routed_namespaces`` in mockserver/daemon/harness/netns.py).

A router forwards unicast, never a subnet's broadcast: a pack that discovers by broadcast
alone becomes two packs, one per subnet, however long it runs. A hosts file listing every
member's address reaches across (unicast, routed), and one pack forms, with no broadcast;
when the router stops forwarding and starts again, the members re-dial each other.

Addresses exist only inside the namespaces, which are deleted with every process in them
whatever happens (the packs are closed first).
"""
from __future__ import annotations

import errno
import sys

import pytest

from mockserver.daemon.harness import LEADER_ROLES, PackProcs, hold_for

pytestmark = pytest.mark.system

SIDE_A = ("node1", "node2")         # 198.51.100.0/24
SIDE_B = ("node3", "node4")         # 203.0.113.0/24
NAMES = SIDE_A + SIDE_B
DEAD_MS = 600
TIMING = {"interval": 1, "keepalive-interval": 150, "dead-interval": DEAD_MS}
HOLD = 3 * DEAD_MS / 1000           # a few dead-intervals (and a broadcast announcement or more)


@pytest.fixture
def lan(routed_factory):
    """(router, {name: namespace}, make): the routed subnets, and ``make(**kw)`` for
    PackProcs that are closed before the namespaces go (routed_factory tears down after us)."""
    router, (side_a, side_b) = routed_factory((len(SIDE_A), len(SIDE_B)), prefix="pkr")
    hosts = dict(zip(NAMES, side_a + side_b))
    packs: list[PackProcs] = []

    def make(**kw) -> PackProcs:
        packs.append(PackProcs(tmp_prefix="pkr-", **kw))
        return packs[-1]

    try:
        yield router, hosts, make
    finally:
        for pack in packs:
            pack.close()


def forwarded(router) -> int:
    """IPv4 datagrams the router has forwarded (``Ip: ForwDatagrams`` of its namespace)."""
    header, values = [line.split() for line in router.run(["cat", "/proc/net/snmp"]).stdout.splitlines()
                      if line.startswith("Ip:")][:2]
    return int(dict(zip(header, values))["ForwDatagrams"])


def reaches(source, address: str) -> bool:
    """A TCP connect from ``source`` to a closed port of ``address``, refused: the far
    kernel answered, so unicast goes through the router both ways."""
    code = source.run([sys.executable, "-c", (
        "import socket, sys\n"
        "s = socket.socket(); s.settimeout(2)\n"
        f"sys.exit(s.connect_ex(('{address}', 9)))\n")], check=False).returncode
    return code == errno.ECONNREFUSED


def one_pack(pack: PackProcs, names, leader: str) -> None:
    """Every observer in ``names`` lists exactly ``names``, all Online, ``leader`` alone leading."""
    for observer in names:
        members = pack[observer].members()
        assert set(members) == set(names), (observer, sorted(members))
        for name, member in members.items():
            assert member.status == "Online", (observer, name, member.status, member.message)
            assert (tuple(member.roles) == LEADER_ROLES) == (name == leader), (observer, name, member.roles)


def test_broadcast_stops_at_the_router_and_makes_two_packs(lan):
    router, hosts, make = lan
    assert [hosts[n].address for n in NAMES] == ["198.51.100.1", "198.51.100.2", "203.0.113.1", "203.0.113.2"]
    # The routing itself works: unicast crosses both ways.
    assert reaches(hosts["node3"], hosts["node1"].address) and reaches(hosts["node1"], hosts["node4"].address)
    pack = make(defaults=TIMING)
    for name in NAMES:
        node = pack.add(name, "auto", netns=hosts[name])
        assert node.pack_options["broadcast"] == hosts[name].broadcast          # its own subnet's
    before = forwarded(router)
    pack.start_all()

    def two_packs() -> bool:
        leaders = pack.leader(SIDE_A), pack.leader(SIDE_B)
        return (pack.all_online(SIDE_A) and pack.all_online(SIDE_B) and leaders[0] in SIDE_A
                and leaders[1] in SIDE_B)

    pack.wait_until(two_packs, 10, 0.05, what="a pack on each side of the router")
    # However long it runs: each side sees only its own members (no one from across the
    # router, not even Offline), and keeps its own leader.
    hold_for(two_packs, HOLD, 0.05, what="two separate packs, one per subnet", describe=pack.describe)
    one_pack(pack, SIDE_A, pack.leader(SIDE_A))
    one_pack(pack, SIDE_B, pack.leader(SIDE_B))
    for name in NAMES:
        counters = pack[name].counters()
        assert counters["udp_sent_broadcast"] > 0 and counters["udp_received_broadcast"] > 0, (name, counters)
    # Not one of the daemons' datagrams went through the router.
    assert forwarded(router) == before


def test_a_hosts_file_forms_one_pack_across_the_router(lan):
    router, hosts, make = lan
    pack = make(broadcast=False, defaults=TIMING)
    listing = pack.dir / "hosts"
    for name in NAMES:
        node = pack.add(name, "auto", netns=hosts[name], discovery=[{"hosts-file": str(listing)}])
        assert "broadcast" not in node.pack_options and "mcast-group" not in node.pack_options
    everyone = [f"{hosts[n].address}:{pack.port}" for n in NAMES]
    listing.write_text("# both subnets\n" + "".join(f"{line}\n" for line in everyone))
    before = forwarded(router)
    pack.start_all()
    pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, 0.05,
                    what="one pack across the router, from the hosts file")
    leader = pack.leader()
    hold_for(lambda: pack.all_online() and pack.leader() == leader, HOLD, 0.05,
             what="every member Online everywhere, one leader", describe=pack.describe)
    one_pack(pack, NAMES, leader)
    for name in NAMES:
        # Members are reached at their own subnet's addresses, across the router too.
        urls = {m.server_name: m.url for m in pack[name].members().values()}
        assert all(urls[n].startswith(f"https://{hosts[n].address}:") for n in NAMES), (name, urls)
        [status] = pack[name].pack_state()["discovery"]
        assert status["strategy"] == f"hosts-file {listing}" and status["found"] == sorted(everyone), status
        counters = pack[name].counters()
        assert counters["udp_received_unicast"] > 0, (name, counters)
        assert counters["udp_sent_broadcast"] == counters["udp_received_broadcast"] == 0, (name, counters)
        assert counters["udp_sent_multicast"] == counters["udp_received_multicast"] == 0, (name, counters)
    # The unicast datagrams crossed: the router forwarded them.
    assert forwarded(router) > before
    # The router stops forwarding: each side sees the other Offline, yet keeps it (discovery
    # still proposes it). Forwarding again, the members re-dial each other: one pack again.
    router.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
    pack.wait_until(lambda: all(pack[a].statuses().get(b) == "Offline" and pack[b].statuses().get(a) == "Offline"
                                for a in SIDE_A for b in SIDE_B), 15, 0.05, what="each side sees the other Offline")
    router.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, 0.05, what="one pack again after the cut")
