"""Scripting the mock: from Python (MockCluster), over HTTP (/mock), and in-process (responses)."""
from __future__ import annotations

import re
import time

import pytest
import requests

from mockserver import InProcessMock, MockCluster


def test_offline_online_from_python(mock, http):
    mock.set_offline("node2", since=3.2)
    member = http.get("/1.0/cluster/members/node2").json()["metadata"]
    assert member["status"] == "Offline"
    # The real duration since the last heartbeat, then its time, as LXD writes it.
    assert re.match(r"No heartbeat for 3\.2\d*s \(\d{4}-\d\d-\d\d \d\d:\d\d:[\d.]+ \+0000 UTC\)$", member["message"])
    mock.set_online("node2")
    assert http.get("/1.0/cluster/members/node2").json()["metadata"]["message"] == "Fully operational"


def test_blocked_and_evacuated_statuses(mock, http):
    mock.set_status("node3", "Blocked")
    member = http.get("/1.0/cluster/members/node3").json()["metadata"]
    assert member["status"] == "Blocked" and "older than other members" in member["message"]
    mock.set_status("node3", "Evacuated")
    assert http.get("/1.0/cluster/members/node3").json()["metadata"]["message"] == "Unavailable due to maintenance"


def test_add_and_remove_members_rebalances_roles(mock, http):
    mock.add_member("node4")
    mock.add_member("node5", description="late")
    members = {m["server_name"]: m for m in http.get("/1.0/cluster/members?recursion=1").json()["metadata"]}
    assert members["node4"]["roles"] == ["database-standby"] and members["node5"]["description"] == "late"
    assert members["node4"]["groups"] == ["default"]
    mock.remove_member("node2")
    members = {m["server_name"]: m for m in http.get("/1.0/cluster/members?recursion=1").json()["metadata"]}
    assert "node2" not in members and members["node4"]["roles"] == ["database"]
    assert [e["metadata"]["action"] for e in mock.events[-3:]] == [
        "cluster-member-added", "cluster-member-added", "cluster-member-removed"]


def roles(http) -> dict:
    return {m["server_name"]: m["roles"] for m in http.get("/1.0/cluster/members?recursion=1").json()["metadata"]}


def test_set_leader_moves_the_leaders_roles_and_the_old_leader_votes(mock, http):
    assert roles(http) == {"node1": ["database-leader", "database"], "node2": ["database"], "node3": ["database"]}
    member = mock.set_leader("node3")
    assert member["roles"] == ["database-leader", "database"] and member["database"] is True
    assert roles(http) == {"node1": ["database"], "node2": ["database"], "node3": ["database-leader", "database"]}
    assert mock.events[-1]["metadata"]["action"] == "cluster-member-updated"
    # The choice holds through a join and a rename, and ends with the member or a reset.
    mock.add_member("node4")
    assert roles(http)["node3"] == ["database-leader", "database"] and roles(http)["node4"] == ["database-standby"]
    http.request("POST", "/1.0/cluster/members/node3", json={"server_name": "node3b"})
    assert roles(http)["node3b"] == ["database-leader", "database"]
    mock.remove_member("node3b")
    assert roles(http)["node1"] == ["database-leader", "database"]
    mock.set_leader("node2")
    mock.reset()
    assert roles(http)["node1"] == ["database-leader", "database"]


def test_set_leader_refuses_an_offline_or_unknown_member_and_works_over_http(mock, http):
    mock.set_offline("node2")
    refused = http.request("PUT", "/mock/members/node2/leader")
    assert (refused.status_code, refused.json()["error"]) == (400, 'Cluster member "node2" is offline and cannot lead')
    assert http.request("PUT", "/mock/members/ghost/leader").status_code == 404
    assert roles(http)["node1"] == ["database-leader", "database"]
    chosen = http.request("PUT", "/mock/members/node3/leader")
    assert chosen.status_code == 200 and chosen.json()["metadata"]["roles"] == ["database-leader", "database"]
    assert "/mock/members/{name}/leader" in http.get("/mock").json()["metadata"]["routes"]


def test_set_leader_on_a_server_that_shows_the_leader_alone():
    """LXD 6.7 and later show the leader with database-leader alone, the others as voters."""
    with MockCluster(3, server="lxd-6", unix=None) as mock:
        mock.set_leader("node2")
        members = {m["server_name"]: m["roles"] for m in mock.state.members_to_api()}
    assert members == {"node1": ["database-voter"], "node2": ["database-leader"], "node3": ["database-voter"]}


def test_injected_error_answers_envelope_then_expires(mock, http):
    mock.inject_error("/1.0/cluster/members/*", 503, "database is busy", times=1)
    first = http.get("/1.0/cluster/members/node1")
    assert (first.status_code, first.json()["error"]) == (503, "database is busy")
    assert http.get("/1.0/cluster/members/node1").status_code == 200
    assert http.get("/1.0/cluster").status_code == 200  # the glob did not match it


def test_injected_latency_delays_only_matching_method(mock, http):
    mock.inject_latency("/1.0/cluster", 0.3, method="GET")
    start = time.monotonic()
    http.get("/1.0/cluster")
    slow = time.monotonic() - start
    start = time.monotonic()
    http.get("/1.0/cluster/members")
    fast = time.monotonic() - start
    assert slow >= 0.3 and fast < 0.3


def test_request_log_and_reset(mock, http):
    http.get("/1.0/cluster/members?recursion=1")
    http.request("PATCH", "/1.0/cluster/groups/default", json={"description": "changed"})
    log = mock.requests
    assert [(r.method, r.path, r.status) for r in log[-2:]] == [
        ("GET", "/1.0/cluster/members", 200), ("PATCH", "/1.0/cluster/groups/default", 200)]
    assert log[-2].query == {"recursion": "1"} and '"changed"' in log[-1].body
    mock.reset()
    assert mock.requests == [] and mock.events == []
    assert http.get("/1.0/cluster/groups/default").json()["metadata"]["description"] == "Default cluster group"


def test_http_scripting_api(mock, http):
    offline = http.request("PUT", "/mock/members/node2/status", json={"status": "Offline", "since": 62.5})
    assert offline.status_code == 200 and offline.json()["metadata"]["message"].startswith("No heartbeat for 1m2.5s")
    added = http.request("POST", "/mock/members", json={"server_name": "node4", "failure_domain": "rack2"})
    assert added.status_code == 201 and added.headers["Location"] == "/1.0/cluster/members/node4"
    fault = http.request("POST", "/mock/faults", json={"path": "/1.0/cluster/groups*", "status": 409, "error": "nope"})
    assert fault.status_code == 201
    assert http.get("/1.0/cluster/groups").json()["error"] == "nope"
    assert http.request("DELETE", "/mock/faults").status_code == 200
    assert http.get("/1.0/cluster/groups").status_code == 200
    log = http.get("/mock/requests").json()["metadata"]
    assert [entry["path"] for entry in log][-2:] == ["/1.0/cluster/groups", "/1.0/cluster/groups"]
    assert all(not entry["path"].startswith("/mock") for entry in log)
    assert http.request("DELETE", "/mock/members/node4").status_code == 200
    assert http.request("POST", "/mock/reset").status_code == 200
    assert http.get("/1.0/cluster/members/node2").json()["metadata"]["status"] == "Online"


@pytest.mark.parametrize("path,body,error", [
    ("/mock/members/node2/status", {"status": "Sleeping"}, "Unknown member status"),
    ("/mock/members/ghost/status", {"status": "Offline"}, "Cluster member not found"),
    ("/mock/faults", {"path": "/x"}, 'give "status"'),
    ("/mock/faults", {"path": "/x", "status": 200}, "HTTP error status"),
    ("/mock/faults", {"status": 500}, '"path" is required'),
    ("/mock/faults", {"path": "/x", "latency": -1}, '"latency" must be a number'),
    ("/mock/members", {"server_name": "node1"}, "already has a member"),
])
def test_http_scripting_refuses_bad_requests(http, path, body, error):
    method = "PUT" if path.endswith("/status") else "POST"
    reply = http.request(method, path, json=body)
    assert 400 <= reply.status_code < 500 and error in reply.json()["error"]


def test_operation_delay_keeps_operations_running():
    with MockCluster(2, operation_delay=0.3) as slow:
        op = requests.post(slow.url + "/1.0/cluster/members/node2/state", json={"action": "evacuate"}, timeout=5).json()
        url = slow.url + op["operation"]
        assert requests.get(url, timeout=5).json()["metadata"]["status"] == "Running"
        done = requests.get(url + "/wait?timeout=5", timeout=10).json()["metadata"]
        assert done["status"] == "Success"


def test_wait_timeout_returns_the_running_operation():
    with MockCluster(2) as mock:
        op = requests.post(mock.url + "/1.0/cluster/members", json={"server_name": "n9"}, timeout=5).json()
        start = time.monotonic()
        reply = requests.get(mock.url + op["operation"] + "/wait?timeout=0.5", timeout=5)
        assert time.monotonic() - start >= 0.5
        assert reply.status_code == 200 and reply.json()["metadata"]["status"] == "Running"


def test_inprocess_mode_serves_pylxd_without_sockets():
    import pylxd

    with InProcessMock(members=3) as mock:
        client = pylxd.Client(endpoint=mock.url)
        mock.set_offline("node3")
        statuses = {m.server_name: m.status for m in client.cluster.members.all()}
        assert statuses == {"node1": "Online", "node2": "Online", "node3": "Offline"}
        with pytest.raises(pylxd.exceptions.NotFound):
            client.cluster.members.get("ghost")
        assert mock.requests[0].path == "/1.0"


def test_inprocess_operations_finish_after_their_reply():
    with InProcessMock(members=2) as mock:
        reply = requests.post(mock.url + "/1.0/cluster/members/node2/state", json={"action": "evacuate"})
        assert reply.status_code == 202 and reply.json()["metadata"]["status"] == "Running"
        waited = requests.get(mock.url + reply.json()["operation"] + "/wait").json()["metadata"]
        assert waited["status"] == "Success"
        assert mock.state.member_to_api("node2")["status"] == "Evacuated"
        events = requests.get(mock.url + "/1.0/events")
        assert events.status_code == 501 and "MockCluster" in events.json()["error"]


def test_trusted_client_certificates_over_tls(tmp_path):
    from mockserver.state.certificate import generate

    client_cert, client_key = generate("test-client")
    (tmp_path / "client.crt").write_text(client_cert)
    (tmp_path / "client.key").write_text(client_key)
    with MockCluster(2, tls=True, trusted_certs=[client_cert], unix=None) as mock:
        anonymous = requests.get(mock.url + "/1.0", verify=False, timeout=5).json()["metadata"]
        assert anonymous["auth"] == "untrusted" and "environment" not in anonymous
        refused = requests.get(mock.url + "/1.0/cluster", verify=False, timeout=5)
        assert (refused.status_code, refused.json()["error"]) == (403, "not authorized")
        cert = (str(tmp_path / "client.crt"), str(tmp_path / "client.key"))
        trusted = requests.get(mock.url + "/1.0/cluster", verify=False, cert=cert, timeout=5)
        assert trusted.status_code == 200 and trusted.json()["metadata"]["enabled"] is True


def test_start_failure_is_a_clear_error():
    import socket

    from mockserver import MockClusterError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MockClusterError) as caught:
            MockCluster(1, listen=f"127.0.0.1:{port}", unix=None).start()
    assert "mock server could not start" in str(caught.value) and "address already in use" in str(caught.value).lower()


def test_unix_only_mock_with_a_chosen_path(tmp_path):
    import os

    path = str(tmp_path / "lxd.socket")
    with MockCluster(1, listen=None, unix=path) as mock:
        assert mock.url is None and mock.endpoint == path and os.path.exists(path)
    assert not os.path.exists(path)


def test_scripting_api_needs_trust_like_the_rest(tmp_path):
    from mockserver.state.certificate import generate

    client_cert, _ = generate("trusted-client")
    with MockCluster(2, tls=True, trusted_certs=[client_cert], unix=None) as mock:
        reply = requests.put(mock.url + "/mock/members/node2/status", json={"status": "Offline"}, verify=False,
                             timeout=5)
        assert (reply.status_code, reply.json()["error"]) == (403, "not authorized")
        assert mock.state.member_to_api("node2")["status"] == "Online"


def test_adding_a_member_to_a_standalone_mock_is_refused():
    with MockCluster(0) as mock:
        reply = requests.post(mock.url + "/mock/members", json={"server_name": "x"}, timeout=5)
        assert reply.status_code == 400 and "enable clustering first" in reply.json()["error"]


def test_inprocess_latency_is_applied():
    with InProcessMock(members=1) as mock:
        mock.inject_latency("/1.0/cluster", 0.2)
        start = time.monotonic()
        requests.get(mock.url + "/1.0/cluster")
        assert time.monotonic() - start >= 0.2
