"""/1.0/events: LXD's Event objects over a websocket, on TCP and the unix socket."""
from __future__ import annotations

import json
import socket

import pytest
import requests
import websocket

from mockserver import MockCluster


def open_events(mock: MockCluster, transport: str, types: str = "lifecycle"):
    if transport == "unix":
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(mock.unix_socket)
        return websocket.create_connection(f"ws://localhost/1.0/events?type={types}", socket=sock, timeout=5)
    return websocket.create_connection(mock.url.replace("http", "ws") + f"/1.0/events?type={types}", timeout=5)


def receive(ws, count):
    return [json.loads(ws.recv()) for _ in range(count)]


@pytest.fixture(scope="module")
def mock():
    with MockCluster(3) as cluster:
        yield cluster


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_lifecycle_events_have_lxd_shape(mock, transport):
    ws = open_events(mock, transport)
    try:
        reply = requests.post(mock.url + "/1.0/cluster/groups", json={"name": f"g-{transport}"}, timeout=5)
        assert reply.status_code == 201
        event = receive(ws, 1)[0]
    finally:
        ws.close()
    assert list(event) == ["type", "timestamp", "metadata", "location", "project"]
    assert event["type"] == "lifecycle" and event["location"] == "node1" and event["project"] == "default"
    assert event["metadata"]["action"] == "cluster-group-created"
    assert event["metadata"]["source"] == f"/1.0/cluster/groups/g-{transport}"
    assert list(event["metadata"]) == ["action", "source", "requestor"]
    assert event["metadata"]["requestor"]["protocol"] == "http"


def test_unix_requestor_is_root_at(mock):
    from urllib.parse import quote

    import requests_unixsocket

    ws = open_events(mock, "unix")
    try:
        session = requests_unixsocket.Session()
        base = "http+unix://" + quote(mock.unix_socket, safe="")
        session.post(base + "/1.0/cluster/members/node2", json={"server_name": "node2b"}, timeout=5)
        event = receive(ws, 1)[0]
        session.post(base + "/1.0/cluster/members/node2b", json={"server_name": "node2"}, timeout=5)
    finally:
        ws.close()
    assert event["metadata"] == {"action": "cluster-member-renamed", "source": "/1.0/cluster/members/node2b",
                                 "context": {"old_name": "node2"},
                                 "requestor": {"username": "root", "protocol": "unix", "address": "@"}}


def test_operation_events_follow_an_evacuation(mock):
    ws = open_events(mock, "tcp", "operation,lifecycle")
    try:
        reply = requests.post(mock.url + "/1.0/cluster/members/node3/state", json={"action": "evacuate"}, timeout=5)
        op_id = reply.json()["metadata"]["id"]
        events = receive(ws, 4)
        requests.post(mock.url + "/1.0/cluster/members/node3/state", json={"action": "restore"}, timeout=5)
        restore = receive(ws, 4)
    finally:
        ws.close()
    operations = [e for e in events if e["type"] == "operation"]
    assert [e["metadata"]["status"] for e in operations] == ["Pending", "Running", "Success"]
    assert all(e["metadata"]["id"] == op_id and "project" not in e for e in operations)
    lifecycle = [e for e in events if e["type"] == "lifecycle"]
    assert [e["metadata"]["action"] for e in lifecycle] == ["cluster-member-evacuated"]
    assert "cluster-member-restored" in [e["metadata"].get("action") for e in restore]


def test_type_filter_only_delivers_requested_types(mock):
    ws = open_events(mock, "tcp", "operation")
    try:
        requests.post(mock.url + "/1.0/cluster/groups", json={"name": "only-ops"}, timeout=5)
        requests.post(mock.url + "/1.0/cluster/members", json={"server_name": "node7"}, timeout=5)
        first = receive(ws, 1)[0]
    finally:
        ws.close()
    assert first["type"] == "operation" and first["metadata"]["class"] == "token"


def test_scripted_offline_emits_member_updated(mock):
    ws = open_events(mock, "tcp")
    try:
        mock.set_offline("node2", since=3.2)
        event = receive(ws, 1)[0]
        mock.set_online("node2")
        back = receive(ws, 1)[0]
    finally:
        ws.close()
    assert event["metadata"]["action"] == back["metadata"]["action"] == "cluster-member-updated"
    assert event["metadata"]["source"] == "/1.0/cluster/members/node2"


def wait_for_subscribers(mock, count):
    import time
    deadline = time.time() + 5
    while mock.state.events.subscriber_count != count and time.time() < deadline:
        time.sleep(0.02)
    return mock.state.events.subscriber_count


def test_event_subscribers_are_released_on_close(mock):
    before = wait_for_subscribers(mock, 0)  # sockets of earlier tests are released asynchronously
    assert before == 0
    ws = open_events(mock, "tcp")
    requests.post(mock.url + "/1.0/cluster/groups", json={"name": "sub-check"}, timeout=5)
    receive(ws, 1)
    assert mock.state.events.subscriber_count == before + 1
    ws.close()
    assert wait_for_subscribers(mock, before) == before


def test_logging_events_record_requests(mock):
    ws = open_events(mock, "tcp", "logging")
    try:
        requests.get(mock.url + "/1.0/cluster/members?recursion=1", timeout=5)
        event = receive(ws, 1)[0]
    finally:
        ws.close()
    assert event["type"] == "logging" and "project" not in event
    assert event["metadata"]["message"] == "Handling API request" and event["metadata"]["level"] == "debug"
    assert event["metadata"]["context"]["url"] == "/1.0/cluster/members?recursion=1"
    assert all(e["type"] != "logging" for e in mock.events)
