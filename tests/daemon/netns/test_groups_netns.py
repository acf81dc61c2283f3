"""Service addresses moving between members in network namespaces: three daemons and a
client on one bridge (198.51.100.0/24), the service address 198.51.100.100 on eth0."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mockserver.daemon.harness import PackProcs, hold_for, write

ROOT = Path(__file__).resolve().parents[3]
NAMES = ("node1", "node2", "node3")
VIP = "198.51.100.100"
WEB = {"primary": "node1", "secondary": ["node2", "node3"], "service": [f"{VIP}/24/eth0"]}


@pytest.fixture
def lan(bridged_factory):
    namespaces = bridged_factory(4, prefix="pkg")
    members, client = namespaces[:3], namespaces[3]
    # A monitor address unanswered for 600 ms is Unreachable (the Pack's monitor-dead-interval).
    pack = PackProcs(listen=True, defaults={"expected_members": 3, "monitor-dead-interval": 600})
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


ECHO = f"""
import os, select, socket, sys
from mockserver.daemon.groups.icmp import echo_request, parse_reply
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xFFFF
s.sendto(echo_request(ident, 1), ("{VIP}", 0))
while select.select([s], [], [], 0.3)[0]:
    packet, source = s.recvfrom(2048)
    if source[0] == "{VIP}" and parse_reply(packet, v6=False, raw=True) == (ident, 1):
        sys.exit(0)
sys.exit(1)
"""


def echoed(client) -> bool:
    """An ICMP echo to the address, answered (a raw socket: the namespace runs as root)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return client.run([sys.executable, "-c", ECHO], check=False, env=env).returncode == 0


def holders(members) -> list:
    return [name for name, ns in members.items() if has_vip(ns)]


class AddressChanges:
    """The kernel's own account of the service address on a member's eth0 (``ip -ts monitor
    address``): when it was added and deleted there, timestamped as each notification came."""

    def __init__(self, ns):
        self.proc = ns.popen(["ip", "-ts", "monitor", "address", "dev", "eth0"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)

    def stop(self) -> list[tuple[str, str]]:
        """[(ISO timestamp, "added" or "deleted")] of the service address, in order."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        changes = []
        for line in out.splitlines():
            if line.startswith("[") and f" {VIP}/" in line:
                stamp, _, rest = line[1:].partition("] ")
                changes.append((stamp, "deleted" if rest.startswith("Deleted") else "added"))
        return changes


def test_the_address_is_up_on_the_owner_alone_and_moves_on_kill_9(lan):
    pack, members, client = lan
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB}}]})
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="the address on node1 alone")
    assert answered(client) and echoed(client)
    assert client_neighbour(client) == mac(members["node1"])
    # A host that dies: its cable is pulled as its daemon is killed. (Its kernel keeps the
    # address a killed daemon could not remove, as keepalived's does.)
    members["node1"].link_down()
    pack.kill9("node1")
    # The client keeps trying, TCP and ICMP, until the address answers again: node2's
    # gratuitous ARPs pointed the client at it.
    pack.wait_until(lambda: answered(client) and echoed(client), 10, interval=0.05,
                    what="the address answers TCP and ICMP again")
    assert has_vip(members["node2"]) and not has_vip(members["node3"])
    assert client_neighbour(client) == mac(members["node2"])
    members["node1"].link_up()
    # node1 starts again: it removes what its last run left, and waits as standby.
    pack["node1"].start()
    pack.wait_until(lambda: not has_vip(members["node1"]), 10, what="node1 cleans up")
    hold_for(lambda: holders(members) == ["node2"], 1.0, what="node2 keeps the group (no auto-failback)")


def test_an_owner_cut_off_lets_go_before_the_majority_takes_over(lan, tmp_path):
    from mockserver.daemon.harness.netns import rejoin, split

    pack, members, client = lan
    hook = ["sh", "-c", f'echo "$PACK_SEQ $PACK_EVENT $PACK_TERM" >> {tmp_path}/$PACK_MEMBER.log']
    web = {**WEB, "notify": hook}
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": web}}]})
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="the address on node1")
    watched = {name: AddressChanges(members[name]) for name in ("node1", "node2")}
    split([members["node2"], members["node3"], client], [members["node1"]])

    def one_holder() -> bool:
        now = holders(members)
        assert len(now) <= 1, f"two holders: {now}"
        return now == ["node2"]

    pack.wait_until(one_holder, 15, interval=0.05, what="node2 holds the address, and never two")
    changes = {name: watch.stop() for name, watch in watched.items()}
    # node1 let go before node2 took it, as each kernel tells (sampling can miss a short gap).
    assert [kind for _, kind in changes["node1"]] == ["deleted"] and \
        [kind for _, kind in changes["node2"]] == ["added"], changes
    assert changes["node1"][0][0] < changes["node2"][0][0], changes
    assert answered(client)
    rejoin(list(members.values()) + [client])
    hold_for(lambda: holders(members) == ["node2"], 1.0, what="node2 keeps it after the heal")

    # The winner announces the address again once the pack has healed, and its hook is told.
    def told(name):
        path = tmp_path / f"{name}.log"
        return path.read_text().split("\n")[:-1] if path.exists() else []

    pack.wait_until(lambda: [line.split()[1] for line in told("node2")] == ["active", "reannounce"], 10,
                    what="node2 re-announces after the heal")
    assert [line.split()[1] for line in told("node1")] == ["active", "standby"]
    assert told("node3") == []


def test_evacuate_moves_services_down_in_reverse_order_and_restore_leaves_the_group(lan, tmp_path):
    """An exec service records, when it starts and stops, whether the address is up: it is,
    both times (addresses first up, last down). Evacuating the owner hands the group over."""
    pack, members, client = lan
    log = tmp_path / "web.log"
    probe = f"ip -o addr show dev eth0 | grep -c ' {VIP}/' || true"
    web = {**WEB, "service": [f"{VIP}/24/eth0", {"exec": {
        "start": ["sh", "-c", f"echo \"start $(hostname) $({probe})\" >> {log}"],
        "stop": ["sh", "-c", f"echo \"stop $(hostname) $({probe})\" >> {log}"]}}]}
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": web}}]})
    pack.wait_until(lambda: holders(members) == ["node1"] and log.exists() and "start" in log.read_text(), 10,
                    what="node1 holds web, its service started")
    write(pack["node2"], "POST", "/1.0/cluster/members/node1/state", {"action": "evacuate"}, expect=202)
    pack.wait_until(lambda: holders(members) == ["node2"] and log.read_text().count("start") == 2, 10,
                    what="node2 holds web after node1 is evacuated")
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [(what, up) for what, _, up in lines] == [("start", "1"), ("stop", "1"), ("start", "1")], lines
    assert answered(client) and client_neighbour(client) == mac(members["node2"])
    write(pack["node2"], "POST", "/1.0/cluster/members/node1/state", {"action": "restore"}, expect=202)
    hold_for(lambda: holders(members) == ["node2"], 1.5, what="no auto-failback: node2 keeps it")


def test_auto_failback_returns_the_group_to_the_primary_after_its_delay(lan):
    pack, members, client = lan
    web = {**WEB, "auto-failback": True, "failback-delay": 1000}
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": web}}]})
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="node1 holds web")
    write(pack["node2"], "POST", "/1.0/cluster/members/node1/state", {"action": "evacuate"}, expect=202)
    pack.wait_until(lambda: holders(members) == ["node2"], 10, what="node2 holds web")
    write(pack["node2"], "POST", "/1.0/cluster/members/node1/state", {"action": "restore"}, expect=202)
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="back on node1")
    assert client_neighbour(client) is None or answered(client)


def test_groups_are_added_changed_and_removed_live_without_touching_the_others(lan):
    pack, members, client = lan
    db_vip = "198.51.100.101"
    db = {"primary": "node3", "secondary": ["node1"], "service": [f"{db_vip}/24/eth0", "2001:db8::101/64/eth0"]}
    leader = pack[pack.leader()]
    write(leader, "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB}}]})
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="web on node1")
    write(leader, "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB, "db": db}}]})

    def db_on(name) -> bool:
        out = json.loads(members[name].run(["ip", "-j", "addr", "show", "dev", "eth0"]).stdout)
        locals_ = {a.get("local") for link in out for a in link.get("addr_info", [])}
        return {db_vip, "2001:db8::101"} <= locals_

    pack.wait_until(lambda: db_on("node3"), 10, what="db (IPv4 and IPv6) on node3")
    assert holders(members) == ["node1"]          # web untouched
    # Redefined in place: web's address changes, on the member that holds it.
    moved = {**WEB, "service": ["198.51.100.102/24/eth0"]}
    write(leader, "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": moved, "db": db}}]})

    def on(name, address) -> bool:
        out = json.loads(members[name].run(["ip", "-j", "addr", "show", "dev", "eth0"]).stdout)
        return address in {a.get("local") for link in out for a in link.get("addr_info", [])}

    pack.wait_until(lambda: on("node1", "198.51.100.102") and not on("node1", VIP), 10, what="web's new address")
    write(leader, "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB, "db": db}}]})
    pack.wait_until(lambda: holders(members) == ["node1"] and not on("node1", "198.51.100.102"), 10,
                    what="web's address back")
    # Changed: node3 is no longer in db's list, so db moves to its new primary (without
    # auto-failback a group does not move merely because the primary changed).
    write(leader, "PATCH", "/1.0/cluster/config",
          {"modules": [{"ServiceGroups": {"web": WEB, "db": {**db, "primary": "node2", "secondary": ["node1"]}}}]})
    pack.wait_until(lambda: db_on("node2") and not db_on("node3"), 10, what="db moves to node2")
    # Removed: its addresses go, web stays.
    write(leader, "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB}}]})
    pack.wait_until(lambda: not any(db_on(n) for n in NAMES), 10, what="db gone")
    hold_for(lambda: holders(members) == ["node1"], 0.5, what="web untouched")


def group_status(pack, name: str, group: str = "web") -> dict:
    return write(pack[name], "GET", f"/1.0/cluster/service-groups/{group}")["metadata"]


def test_a_monitor_lost_by_the_owner_alone_moves_the_group_and_lost_by_all_it_stays(lan):
    """The client's address is the monitor. A blackhole route on a member makes it
    unreachable from there only (the member's echoes go nowhere)."""
    pack, members, client = lan
    monitor = client.address
    web = {**WEB, "monitor": [monitor]}
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": web}}]})
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="node1 holds web")
    pack.wait_until(lambda: all(m["monitors"][monitor] == "Reachable" for m in group_status(pack, "node3")["members"]),
                    10, what="every member reports the monitor reachable")

    members["node1"].ip("route", "add", "blackhole", f"{monitor}/32")
    pack.wait_until(lambda: holders(members) == ["node2"], 10, what="web moves to node2")
    pack.wait_until(lambda: group_status(pack, "node3")["status"] == "Active", 5, what="node3 sees it active")
    shown = group_status(pack, "node3")
    assert shown["members"][0]["monitors"][monitor] == "Unreachable", shown
    assert "node1 cannot reach monitor" in shown["message"], shown
    assert answered(client) and client_neighbour(client) == mac(members["node2"])

    # Lost by every member: nobody is better placed, the group stays, and the status says why.
    # node3 first (lost by node2 first, the group would rightly go to node3 meanwhile).
    members["node3"].ip("route", "add", "blackhole", f"{monitor}/32")
    pack.wait_until(lambda: group_status(pack, pack.leader())["members"][2]["monitors"][monitor] == "Unreachable",
                    10, what="the leader knows node3 lost the monitor")
    members["node2"].ip("route", "add", "blackhole", f"{monitor}/32")
    pack.wait_until(lambda: "no member reaches it" in group_status(pack, "node1")["message"], 10,
                    what="the status says no member reaches the monitor")
    hold_for(lambda: holders(members) == ["node2"], 1.0, what="web stays on node2")

    # Back for node1 alone: web stays on node2 (no auto-failback; node2 is no worse off than
    # node1 was), and the status no longer blames the monitor on everyone.
    members["node1"].ip("route", "del", "blackhole", f"{monitor}/32")
    pack.wait_until(lambda: group_status(pack, "node2")["members"][0]["monitors"][monitor] == "Reachable", 10,
                    what="node1 reaches the monitor again")
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="web moves to node1, the only member reaching it")


def test_a_group_moved_by_hand_brings_its_address_along(lan):
    pack, members, client = lan
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB}}]})
    pack.wait_until(lambda: holders(members) == ["node1"], 10, what="node1 holds web")
    assert answered(client) and client_neighbour(client) == mac(members["node1"])
    write(pack["node2"], "POST", "/1.0/cluster/service-groups/web", {"member": "node3"})
    pack.wait_until(lambda: holders(members) == ["node3"], 10, what="web moved to node3")
    pack.wait_until(lambda: client_neighbour(client) == mac(members["node3"]), 5, what="the client's neighbour")
    assert answered(client)
    # node1 shows it Active once it has heard node3's renewal saying so (within a keepalive).
    pack.wait_until(lambda: group_status(pack, "node1")["status"] == "Active", 5, what="node1 shows web Active")
    shown = group_status(pack, "node1")
    assert (shown["owner"], shown["requested"], shown["status"]) == ("node3", "node3", "Active"), shown
