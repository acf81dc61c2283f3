"""ServiceGroups on a running pack of three daemons: a bad group is refused before it
replicates, through the API (400) and through the leader's file (the running configuration
stays); a good one replicates to every member without a restart."""
from __future__ import annotations

import pytest

from mockserver.daemon.harness import config_of, hold_for, modules, raw_request, write
from tests.daemon.processes.groups_pack import NAMES, pack_with_groups

WEB = {"primary": "node1", "secondary": ["node2", "node3"], "service": ["198.51.100.10/24/veth0"],
       "monitor": ["198.51.100.1"]}


@pytest.fixture(scope="module")
def pack():
    with pack_with_groups() as procs:
        yield procs


def shared(node) -> dict:
    return modules(config_of(node), "modules")


def test_a_good_group_replicates_to_every_member(pack):
    follower = next(n for n in NAMES if n != pack.leader())
    write(pack[follower], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB}}]})
    pack.wait_until(lambda: all(shared(pack[n]).get("ServiceGroups") == {"web": WEB} for n in NAMES), 10,
                    what="the group on every member")


@pytest.mark.parametrize("group, reason", [
    ({**WEB, "secondary": ["node2", "node9"]}, "key 'secondary': 'node9' is not a member of the pack"),
    ({**WEB, "secondary": ["node1"]}, "key 'secondary': 'node1' is the primary"),
    ({**WEB, "service": []}, "key 'service': required"),
    ({**WEB, "service": ["198.51.100.10/24/not a name"]}, "key 'service': interface 'not a name'"),
])
def test_a_bad_group_is_refused_through_the_api_and_nothing_replicates(pack, group, reason):
    before = {n: config_of(pack[n])["version"] for n in NAMES}
    for name in NAMES:   # through a follower (forwarded to the leader) and the leader itself
        status, reply = raw_request(pack[name].socket_path, "PATCH", "/1.0/cluster/config",
                                    {"modules": [{"ServiceGroups": {"bad": group}}]})
        assert status == 400, reply
        assert reply["error"].startswith("module ServiceGroups, group 'bad', ") and reason in reply["error"], reply
    hold_for(lambda: {n: config_of(pack[n])["version"] for n in NAMES} == before, 0.5,
             what="no member took a new version")
    assert all("bad" not in shared(pack[n]).get("ServiceGroups", {}) for n in NAMES)


def test_the_same_address_in_two_groups_is_refused(pack):
    other = {"primary": "node2", "secondary": "node3", "service": ["198.51.100.10/24/veth1"]}
    status, reply = raw_request(pack["node1"].socket_path, "PATCH", "/1.0/cluster/config",
                                {"modules": [{"ServiceGroups": {"web": WEB, "db": other}}]})
    assert status == 400 and "198.51.100.10 is already a service of group 'web'" in reply["error"], reply


def test_a_leaders_file_naming_an_unknown_member_is_refused_and_the_running_groups_stay(pack):
    leader = pack[pack.leader()]
    write(leader, "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB}}]})
    pack.wait_until(lambda: all(shared(pack[n]).get("ServiceGroups") == {"web": WEB} for n in NAMES), 10,
                    what="the group on every member")
    before = leader.pack_state()["document"]["counters"]["file_errors"]
    leader.set_modules([("PackConfiguration", {}),
                        ("ServiceGroups", {"web": {**WEB, "secondary": ["node2", "node9"]}})])
    pack.wait_until(lambda: leader.pack_state()["document"]["counters"]["file_errors"] > before, 10,
                    what="the leader refuses its edited file")
    assert "'node9' is not a member of the pack" in leader.log(), leader.log()
    hold_for(lambda: all(shared(pack[n]).get("ServiceGroups") == {"web": WEB} for n in NAMES), 1.0,
             what="the running groups stay on every member")
