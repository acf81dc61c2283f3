"""Bad requests get LXD's error envelope with LXD's status, and change nothing.

With ``friendly_errors`` the mock never answers 500 for bad input. By default it answers as
its profile's server does (``lxd-5.0``: LXD 5.0.2's own 500s, with their texts): a 500 is then
one of the server's own answers, never a crash."""
from __future__ import annotations

import json
import random

import pytest

from mockserver import MockCluster

MEMBER = "/1.0/cluster/members/node1"
GOOD_PUT = {"description": "d", "roles": ["database"], "groups": ["default"], "failure_domain": "default",
            "config": {}}

# (method, path, body, headers, status, error text or None for "any")
BAD_REQUESTS = [
    # malformed JSON: Go's decoder texts
    ("PUT", MEMBER, b'{"description":', {}, 400, "unexpected EOF"),
    ("PATCH", MEMBER, b"not json", {}, 400, "invalid character 'o' in literal null (expecting 'u')"),
    (
        "POST",
        "/1.0/cluster/groups",
        b"{bad",
        {},
        400,
        "invalid character 'b' looking for beginning of object key string",
    ),
    ("POST", "/1.0/cluster/members", b"", {}, 400, "EOF"),
    ("POST", "/1.0/cluster/members/node1/state", b"[1,2", {}, 400, "unexpected EOF"),
    ("PUT", "/1.0/cluster", b'{"enabled":tru}', {}, 400, "invalid character '}' in literal true (expecting 'e')"),
    (
        "PUT",
        "/1.0/cluster/certificate",
        b'{"cluster_certificate":"\x01"}',
        {},
        400,
        "invalid character '\\x01' in string literal",
    ),
    # wrong types
    (
        "PUT",
        MEMBER,
        b'{"description":5}',
        {},
        400,
        "json: cannot unmarshal number into Go struct field ClusterMemberPut.description of type string",
    ),
    (
        "PUT",
        MEMBER,
        b'{"roles":"database"}',
        {},
        400,
        "json: cannot unmarshal string into Go struct field ClusterMemberPut.roles of type []string",
    ),
    (
        "PUT",
        MEMBER,
        b'{"config":{"user.a":1}}',
        {},
        400,
        "json: cannot unmarshal number into Go struct field ClusterMemberPut.config of type string",
    ),
    (
        "POST",
        "/1.0/cluster/groups",
        b"[]",
        {},
        400,
        "json: cannot unmarshal array into Go value of type api.ClusterGroupsPost",
    ),
    (
        "POST",
        "/1.0/cluster/members/node1/state",
        b'{"action":"evacuate","force":"yes"}',
        {},
        400,
        "json: cannot unmarshal string into Go struct field ClusterMemberStatePost.force of type bool",
    ),
    # invalid values
    ("POST", "/1.0/cluster/members/node1/state", b'{"action":"explode"}', {}, 400, 'Unknown action "explode"'),
    (
        "PUT",
        MEMBER,
        json.dumps({**GOOD_PUT, "config": {"bogus.key": "1"}}).encode(),
        {},
        400,
        'Invalid cluster configuration key "bogus.key"',
    ),
    (
        "PUT",
        MEMBER,
        json.dumps({**GOOD_PUT, "roles": ["database", "wizard"]}).encode(),
        {},
        400,
        'Invalid cluster role "wizard"',
    ),
    (
        "PUT",
        MEMBER,
        json.dumps({**GOOD_PUT, "groups": []}).encode(),
        {},
        400,
        "Cluster members need to belong to at least one group",
    ),
    ("POST", "/1.0/cluster/groups", b'{"name":"a/b"}', {}, 400, "Cluster group names may not contain slashes"),
    ("POST", "/1.0/cluster/groups", b'{"description":"x"}', {}, 400, "No name provided"),
    ("POST", "/1.0/cluster/members", b'{"server_name":"none"}', {}, 400, 'Join token name cannot be "none"'),
    (
        "PUT",
        "/1.0/cluster/certificate",
        b'{"cluster_certificate":"nope","cluster_certificate_key":"nope"}',
        {},
        400,
        None,
    ),
    ("GET", "/1.0/events?type=nonsense", b"", {}, 400, "'nonsense' isn't a supported notification type"),
    # unknown names
    ("GET", "/1.0/cluster/members/ghost", b"", {}, 404, "Cluster member not found"),
    ("PUT", "/1.0/cluster/members/ghost", json.dumps(GOOD_PUT).encode(), {}, 404, "Cluster member not found"),
    ("POST", "/1.0/cluster/members/ghost", b'{"server_name":"x"}', {}, 404, "Cluster member not found"),
    ("DELETE", "/1.0/cluster/members/ghost", b"", {}, 404, "Cluster member not found"),
    ("GET", "/1.0/cluster/members/ghost/state", b"", {}, 404, "Cluster member not found"),
    ("GET", "/1.0/cluster/groups/ghost", b"", {}, 404, "Cluster group not found"),
    ("DELETE", "/1.0/cluster/groups/ghost", b"", {}, 404, "Cluster group not found"),
    ("GET", "/1.0/operations/00000000-0000-0000-0000-000000000000", b"", {}, 404, "Operation not found"),
    ("GET", "/1.0/operations/x/wait?timeout=1", b"", {}, 404, "Operation not found"),
    ("GET", "/1.0/nothing/here", b"", {}, 404, "not found"),
    ("GET", "/2.0", b"", {}, 404, "not found"),
    # conflicts and forbidden
    ("POST", "/1.0/cluster/members/node1", b'{"server_name":"node2"}', {}, 409, None),
    ("POST", "/1.0/cluster/groups/default", b'{"name":"x"}', {}, 403, 'The "default" group cannot be renamed'),
    ("DELETE", "/1.0/cluster/groups/default", b"", {}, 403, "The 'default' cluster group cannot be deleted"),
    # ETag
    ("PUT", MEMBER, json.dumps(GOOD_PUT).encode(), {"If-Match": '"deadbeef"'}, 412, None),
    ("PATCH", "/1.0/cluster/groups/default", b"{}", {"If-Match": "deadbeef"}, 412, None),
    # unsupported methods on known routes
    ("DELETE", "/1.0/cluster/groups", b"", {}, 501, "not implemented"),
    ("PATCH", "/1.0/cluster", b"{}", {}, 501, "not implemented"),
    ("POST", "/1.0/operations", b"{}", {}, 501, "not implemented"),
    ("PUT", "/1.0/events", b"", {}, 501, "not implemented"),
    ("DELETE", "/1.0", b"", {}, 501, "not implemented"),
    # oversized body
    ("PUT", MEMBER, b'{"description":"' + b"x" * (2 * 1024 * 1024) + b'"}', {}, 413, None),
]


# Where LXD 5.0.2 answers otherwise (tests/golden): (method, path, body) -> (status, error).
LXD_50 = {
    ("PUT", MEMBER, json.dumps({**GOOD_PUT, "config": {"bogus.key": "1"}}).encode()):
        (500, 'Invalid cluster configuration key "bogus.key"'),
    ("PUT", MEMBER, json.dumps({**GOOD_PUT, "roles": ["database", "wizard"]}).encode()):
        (500, 'Update roles: Invalid cluster role "wizard"'),
    ("POST", "/1.0/cluster/members/ghost", b'{"server_name":"x"}'): (500, "expected to update one row, not 0"),
    ("GET", "/1.0/cluster/members/ghost/state", b""): (501, "not implemented"),
    ("DELETE", "/1.0/cluster/groups/ghost", b""): (500, "Query deleted 0 rows instead of 1"),
}


@pytest.fixture(scope="module")
def server():
    with MockCluster(3, friendly_errors=True) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def faithful():
    with MockCluster(3, server="lxd-5.0") as cluster:
        yield cluster


@pytest.mark.parametrize("method,path,body,headers,status,error", BAD_REQUESTS,
                         ids=[f"{m} {p[:50]} {s}" for m, p, _, _, s, _ in BAD_REQUESTS])
def test_bad_request_gets_lxd_error_envelope(server, method, path, body, headers, status, error):
    import requests

    before = server.state.members_to_api(), server.state.groups_to_api()
    reply = requests.request(method, server.url + path, data=body, headers=headers, timeout=10)
    assert reply.status_code == status, reply.text
    envelope = reply.json()
    assert list(envelope) == ["type", "status", "status_code", "operation", "error_code", "error", "metadata"]
    assert envelope["type"] == "error" and envelope["error_code"] == status and envelope["metadata"] is None
    assert reply.content.endswith(b"}\n\n") and reply.headers["X-Content-Type-Options"] == "nosniff"
    if error is not None:
        assert envelope["error"] == error
    else:
        assert envelope["error"]
    assert (server.state.members_to_api(), server.state.groups_to_api()) == before, "a refused request changed state"


@pytest.mark.parametrize("method,path,body,headers,status,error", BAD_REQUESTS,
                         ids=[f"{m} {p[:50]} {s}" for m, p, _, _, s, _ in BAD_REQUESTS])
def test_the_lxd_5_0_profile_answers_bad_input_as_lxd_5_0_2_does(faithful, method, path, body, headers, status,
                                                                 error):
    import requests

    status, error = LXD_50.get((method, path, body), (status, error))
    before = faithful.state.members_to_api(), faithful.state.groups_to_api()
    reply = requests.request(method, faithful.url + path, data=body, headers=headers, timeout=10)
    assert reply.status_code == status, reply.text
    if status >= 400:
        envelope = reply.json()
        assert envelope["type"] == "error" and envelope["error_code"] == status
        assert error is None or envelope["error"] == error
    assert (faithful.state.members_to_api(), faithful.state.groups_to_api()) == before


@pytest.mark.parametrize("server_profile,status", [("lxd-5.0", 202), ("lxd-5.21", 202), ("incus-6.0", 400)])
def test_an_unknown_evacuation_mode_is_checked_as_each_server_checks_it(server_profile, status):
    """LXD 5.0.2 ignores the mode; 5.21 checks it per instance (the mock has none); Incus
    refuses it at once."""
    import requests

    with MockCluster(2, server=server_profile) as cluster:
        reply = requests.post(cluster.url + "/1.0/cluster/members/node1/state",
                              json={"action": "evacuate", "mode": "teleport"}, timeout=10)
        assert reply.status_code == status, reply.text
        if status == 400:
            assert reply.json()["error"] == ('Invalid value "teleport" (not one of [auto migrate live-migrate stop'
                                             ' stateful-stop force-stop])')


def test_unknown_fields_are_ignored_as_lxd_does(server):
    import requests

    body = {**GOOD_PUT, "description": "kept", "colour": "blue"}
    reply = requests.put(server.url + "/1.0/cluster/members/node2", json=body, timeout=10)
    assert reply.status_code == 200
    assert server.state.member_to_api("node2")["description"] == "kept"


def test_strict_mode_rejects_unknown_fields():
    import requests

    with MockCluster(2, strict=True) as strict:
        reply = requests.put(strict.url + "/1.0/cluster/members/node2", json={**GOOD_PUT, "colour": "blue"}, timeout=10)
        assert reply.status_code == 400
        assert reply.json()["error"] == 'json: unknown field "colour"'
        assert strict.state.member_to_api("node2")["description"] == ""


# PUT /1.0/cluster is left out: a body that decodes to enabled=false really does leave the
# cluster, after which LXD (and we) answer 500 "Server is not clustered" for member lists.
ROUTES = [("GET", "/1.0"), ("GET", "/1.0/cluster"), ("PUT", "/1.0/cluster/certificate"),
          ("GET", "/1.0/cluster/members"), ("POST", "/1.0/cluster/members"), ("PUT", MEMBER), ("PATCH", MEMBER),
          ("POST", MEMBER), ("POST", MEMBER + "/state"), ("POST", "/1.0/cluster/groups"),
          ("PUT", "/1.0/cluster/groups/default"), ("PATCH", "/1.0/cluster/groups/default"),
          ("POST", "/1.0/cluster/groups/default"), ("GET", "/1.0/operations"), ("PUT", "/mock/members/node2/status"),
          ("POST", "/mock/faults"), ("POST", "/mock/members")]


def _mutate(rng: random.Random) -> bytes:
    seeds = [json.dumps(GOOD_PUT), '{"name":"g","members":["node1"]}', '{"action":"evacuate"}',
             '{"server_name":"x","enabled":true}', '{"status":"Offline","since":1}', '{"path":"/x","latency":1}']
    data = bytearray(rng.choice(seeds).encode())
    for _ in range(rng.randint(1, 6)):
        choice = rng.random()
        position = rng.randrange(len(data) + 1)
        if choice < 0.4 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif choice < 0.7:
            data[position:position] = bytes(rng.choice([b"{", b"}", b"[", b"]", b",", b":", b'"', b"null", b"-1e999",
                                                        b"\\u12", b"\xff", b"9" * 30, b"true"]))
        elif data:
            del data[position:position + rng.randint(1, 8)]
    return bytes(data)


@pytest.mark.parametrize("friendly", [True, False], ids=["friendly", "faithful"])
def test_mutated_bodies_never_crash_the_server(friendly):
    """500 mutated bodies across every writable route: always an envelope, and never a crash.
    Friendly: never a 500. Faithful: a 500 only where it is the server's own answer."""
    import requests

    rng = random.Random(20261122)
    with MockCluster(3, friendly_errors=friendly) as cluster:
        session = requests.Session()
        statuses = set()
        for _ in range(500):
            method, path = rng.choice(ROUTES)
            reply = session.request(method, cluster.url + path, data=_mutate(rng), timeout=10)
            envelope = reply.json()
            own = not friendly and cluster.state.profile.answers_so(reply.status_code, envelope.get("error", ""))
            assert reply.status_code < 500 or reply.status_code == 503 or own, (method, path, reply.text)
            assert envelope["type"] in ("sync", "async", "error")
            statuses.add(reply.status_code)
        assert 400 in statuses and len(statuses) > 2
        # The server is still healthy afterwards.
        assert session.get(cluster.url + "/1.0/cluster", timeout=10).status_code == 200


def test_standalone_server_answers_as_lxd_does():
    """The one 500 LXD gives on purpose: listing members of a server that is not clustered."""
    import requests

    with MockCluster(0) as standalone:
        members = requests.get(standalone.url + "/1.0/cluster/members", timeout=10)
        assert (members.status_code, members.json()["error"]) == (500, "Server is not clustered")
        groups = requests.get(standalone.url + "/1.0/cluster/groups", timeout=10)
        assert (groups.status_code, groups.json()["error"]) == (400, "This server is not clustered")
        cluster = requests.get(standalone.url + "/1.0/cluster", timeout=10).json()["metadata"]
        assert cluster == {"server_name": "", "enabled": False, "member_config": []}
