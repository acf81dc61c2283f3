"""filter= on member and group lists (api_filtering), with LXD's grammar."""
from __future__ import annotations

import pytest


@pytest.fixture
def shaped(mock):
    mock.set_offline("node2")
    mock.state.update_member("node3", {"roles": ["database"], "failure_domain": "rack 2", "description": "",
                                       "config": {"user.tier": "gold"}, "groups": ["default"]},
                             patch=False, requestor=None)
    return mock


@pytest.mark.parametrize("expression,names", [
    ("server_name eq node1", ["node1"]),
    ("status eq Offline", ["node2"]),
    ("not status eq Offline", ["node1", "node3"]),
    ("status ne Online or server_name eq node1", ["node1", "node2"]),
    ("status eq Online and roles eq database-leader", ["node1"]),
    ('failure_domain eq "rack 2"', ["node3"]),
    ("config.user.tier eq gold", ["node3"]),
    ("database eq true and server_name ne node1", ["node2", "node3"]),
])
def test_member_filters(shaped, http, expression, names):
    reply = http.get("/1.0/cluster/members", params={"recursion": "1", "filter": expression})
    assert reply.status_code == 200, reply.text
    assert [m["server_name"] for m in reply.json()["metadata"]] == names
    urls = http.get("/1.0/cluster/members", params={"filter": expression}).json()["metadata"]
    assert urls == [f"/1.0/cluster/members/{name}" for name in names]


def test_group_filter(mock, http):
    mock.state.create_group("edge", "edge sites", ["node1"], None)
    reply = http.get("/1.0/cluster/groups", params={"recursion": "1", "filter": "members eq node1 and name ne default"})
    assert [g["name"] for g in reply.json()["metadata"]] == ["edge"]


@pytest.mark.parametrize("expression,reason", [
    ("server_name", "clause has no operator"),
    ("server_name eq", "clause has no value"),
    ("server_name like node1", "unsupported operator"),
    ("server_name eq node1 xor status eq Online", "expected and/or"),
    ("server_name eq node1 and", "unterminated compound clause"),
    ('description eq "open', "unterminated quote"),
    ("colour eq blue", "unknown field"),
])
def test_bad_filters_are_400(http, expression, reason):
    reply = http.get("/1.0/cluster/members", params={"recursion": "1", "filter": expression})
    assert reply.status_code == 400 and reply.json()["error"].startswith("Invalid filter: ")
    assert reason in reply.json()["error"]
