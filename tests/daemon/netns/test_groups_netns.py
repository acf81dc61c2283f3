"""Service addresses moving between members in network namespaces: three daemons and a
client on one bridge (198.51.100.0/24), the service address 198.51.100.100 on eth0."""
from __future__ import annotations

import errno
import json
import socket

import pytest

from mockserver.daemon.harness import PackProcs, hold_for, write

NAMES = ("node1", "node2", "node3")
VIP = "198.51.100.100"
WEB = {"primary": "node1", "secondary": ["node2", "node3"], "service": [f"{VIP}/24/eth0"]}


@pytest.fixture
def lan(bridged_factory):
    namespaces = bridged_factory(4, prefix="pkg")
    members, client = namespaces[:3], namespaces[3]
    pack = PackProcs(listen=True, defaults={"expected_members": 3})
    try:
        pack.form(NAMES, members)
        yield pack, dict(zip(NAMES, members)), client
    finally:
        pack.close()   # before the namespaces go


def has_vip(ns) -> bool:
    out = ns.run(["ip", "-j", "addr", "show", "dev", "eth0"]).stdout
    return any(a.get("local") == VIP for link in json.loads(out) for a in link.get("addr_info", []))


def mac(ns) -> str:
    return json.loads(ns.run(["ip", "-j", "link", "show", "dev", "eth0"]).stdout)[0]["address"]


def client_neighbour(client) -> str | None:
    out = json.loads(client.run(["ip", "-j", "neigh", "show", VIP, "dev", "eth0"]).stdout)
    return out[0].get("lladdr") if out else None


def answered(client) -> bool:
    """A TCP connect to a closed port of the address: refused means a member's kernel answered."""
    code = client.run(["python3", "-c", (
        "import socket,sys\n"
        "s=socket.socket(); s.settimeout(0.3)\n"
        f"sys.exit(s.connect_ex(('{VIP}', 9)))\n")], check=False).returncode
    return code == errno.ECONNREFUSED


def holders(members) -> list:
    return [name for name, ns in members.items() if has_vip(ns)]


def test_the_address_is_up_on_the_owner_alone_and_moves_on_kill_9(lan):
    pack, members, client = lan
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB}}]})
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="the address on node1 alone")
    assert answered(client)
    assert client_neighbour(client) == mac(members["node1"])
    pack.kill9("node1")
    # node1's kernel keeps the address a killed daemon could not remove (as keepalived's
    # does): the new owner's gratuitous ARPs point the client at it.
    pack.wait_until(lambda: has_vip(members["node2"]), 10, what="the address on node2")
    pack.wait_until(lambda: client_neighbour(client) == mac(members["node2"]), 5, what="the client's neighbour")
    assert answered(client)
    assert not has_vip(members["node3"])
    # node1 starts again: it removes what its last run left, and waits as standby.
    pack["node1"].start()
    pack.wait_until(lambda: not has_vip(members["node1"]), 10, what="node1 cleans up")
    hold_for(lambda: holders(members) == ["node2"], 1.0, what="node2 keeps the group (no auto-failback)")


def test_an_owner_cut_off_lets_go_before_the_majority_takes_over(lan):
    from tests.support.netns import rejoin, split

    pack, members, client = lan
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB}}]})
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="the address on node1")
    split([members["node2"], members["node3"], client], [members["node1"]])
    samples = []

    def one_holder() -> bool:
        now = holders(members)
        samples.append(now)
        assert len(now) <= 1, f"two holders: {now}"
        return now == ["node2"]

    pack.wait_until(one_holder, 15, interval=0.01, what="node2 holds the address, and never two")
    assert [] in samples                      # node1 let go before node2 took it
    assert answered(client)
    rejoin(list(members.values()) + [client])
    hold_for(lambda: holders(members) == ["node2"], 1.0, what="node2 keeps it after the heal")
