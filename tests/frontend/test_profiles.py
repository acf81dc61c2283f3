"""Each server profile answers as its server: GET /1.0's keys and extensions, member state,
roles, join tokens, /wait, and the friendlier opt-in. (The live suite, tests/live, holds
lxd-5.0 and incus-6.0 against the real servers; this pins what the profiles say.)"""
from __future__ import annotations

import json

import pytest
import requests

from mockserver import MockCluster, profiles

PROFILES = list(profiles.PROFILES)


def ordered(reply) -> dict:
    return json.loads(reply.content, object_pairs_hook=dict)


@pytest.mark.parametrize("name", PROFILES)
def test_get_server_has_the_servers_keys_in_its_order_and_its_whole_extension_list(name):
    profile = profiles.profile(name)
    with MockCluster(2, server=name) as cluster:
        metadata = ordered(requests.get(cluster.url + "/1.0", timeout=10))["metadata"]
    assert tuple(metadata) == profile.server_keys
    assert tuple(metadata["environment"]) == profile.environment_keys
    assert metadata["environment"]["server"] == profile.server
    assert metadata["environment"]["server_version"] == profile.version
    assert metadata["api_extensions"] == list(profile.extensions) + ["pack_configuration"]


def test_member_state_exists_where_the_server_has_it():
    for name, status in (("lxd-5.0", 501), ("lxd-5.21", 200), ("lxd-6", 200), ("incus-6.0", 200)):
        with MockCluster(2, server=name) as cluster:
            reply = requests.get(cluster.url + "/1.0/cluster/members/node1/state", timeout=10)
            assert reply.status_code == status, (name, reply.text)
            if status == 200:
                sysinfo = reply.json()["metadata"]["sysinfo"]
                assert ("logical_cpus" in sysinfo) == profiles.profile(name).has("state_logical_cpus"), name


def test_lxd_6_roles_are_database_voter_and_control_plane():
    with MockCluster(3, server="lxd-6") as cluster:
        members = requests.get(cluster.url + "/1.0/cluster/members?recursion=1", timeout=10).json()["metadata"]
        assert [m["roles"] for m in members] == [["database-leader"], ["database-voter"], ["database-voter"]]
        body = {"roles": ["database-voter", "control-plane"], "groups": ["default"], "failure_domain": "default",
                "description": "", "config": {}}
        assert requests.put(cluster.url + "/1.0/cluster/members/node2", json=body, timeout=10).status_code == 200
        body["roles"] = ["database-voter", "event-hub"]                  # gone in LXD 6.8
        refused = requests.put(cluster.url + "/1.0/cluster/members/node2", json=body, timeout=10)
        assert (refused.status_code, refused.json()["error"]) == (400, 'Invalid cluster role "event-hub"')


def test_incus_refuses_a_token_for_a_members_name_and_answers_wait_errors_with_200():
    with MockCluster(2, server="incus-6.0") as cluster:
        refused = requests.post(cluster.url + "/1.0/cluster/members", json={"server_name": "node1"}, timeout=10)
        assert (refused.status_code, refused.json()["error"]) == (500, "The cluster already has a member with"
                                                                       " name: node1")
        token = requests.post(cluster.url + "/1.0/cluster/members", json={"server_name": "node9"}, timeout=10)
        waited = requests.get(cluster.url + token.json()["operation"] + "/wait?timeout=0.2", timeout=10)
        assert waited.status_code == 200
        assert waited.json() == {"type": "error", "status": "", "status_code": 0, "operation": "", "error_code": 500,
                                 "error": "context deadline exceeded", "metadata": None}
        again = requests.put(cluster.url + "/1.0/cluster", json={"server_name": "node1", "enabled": True}, timeout=10)
        failed = requests.get(cluster.url + again.json()["operation"] + "/wait?timeout=5", timeout=10)
        assert (failed.status_code, failed.json()["error"]) == (200, "Inconsistent state: found leftover cluster"
                                                                     " certificate")
    with MockCluster(2, server="lxd-5.21") as cluster:           # LXD grants it, and /wait is the operation
        token = requests.post(cluster.url + "/1.0/cluster/members", json={"server_name": "node1"}, timeout=10)
        assert token.status_code == 202
        waited = requests.get(cluster.url + token.json()["operation"] + "/wait?timeout=0.2", timeout=10)
        assert (waited.status_code, waited.json()["metadata"]["status"]) == (200, "Running")


def test_friendly_errors_are_an_opt_in_and_say_so_in_the_profile_name():
    body = {"name": "g", "members": []}
    with MockCluster(2, server="lxd-5.0") as faithful, MockCluster(2, server="lxd-5.0", friendly_errors=True) as kind:
        for cluster in (faithful, kind):
            assert requests.post(cluster.url + "/1.0/cluster/groups", json=body, timeout=10).status_code == 201
        duplicate = [requests.post(c.url + "/1.0/cluster/groups", json=body, timeout=10) for c in (faithful, kind)]
        assert [(r.status_code, r.json()["error"]) for r in duplicate] == [
            (500, "This cluster group already exists"), (409, 'Cluster group "g" already exists')]
        assert kind.state.profile.name == "lxd-5.0+friendly"


def test_an_unknown_profile_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown server profile 'lxd-4.0'; known: lxd-5.0, lxd-5.21, lxd-6,"
                                         " incus-6.0"):
        MockCluster(2, server="lxd-4.0")
