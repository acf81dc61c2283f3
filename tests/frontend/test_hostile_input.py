"""Input that once wedged, poisoned or crashed the mock: each answer is an LXD envelope,
nothing half-changes, and the server goes on serving everything afterwards."""
from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
import websocket

from mockserver import MockCluster
from mockserver.daemon.harness import wait_until
from mockserver.http import HttpLimits, HttpTransport
from tests.support.rawhttp import connect, exchange, read_reply, request_bytes

MEMBER = "/1.0/cluster/members/node2"
GOOD_PUT = {"description": "d", "roles": ["database"], "groups": ["default"], "failure_domain": "default", "config": {}}


@pytest.fixture
def mock():
    with MockCluster(3) as cluster:
        yield cluster


def _address(mock) -> str:
    return mock.url.partition("://")[2]


def _everything_reads(mock) -> None:
    """Every read that renders state answers an envelope 200 (a poisoned value would not)."""
    for path in ("/1.0/cluster/members?recursion=1", "/1.0/cluster/members", "/1.0/cluster/groups?recursion=1",
                 "/1.0/cluster/members/node1", "/1.0/cluster/groups/default", "/mock", "/mock/events", "/mock/requests",
                 "/mock/faults", "/1.0/operations?recursion=1"):
        reply = exchange(mock.unix_socket, "GET", path)
        assert reply.status == 200 and reply.is_envelope, (path, reply.body[:300])


@pytest.mark.parametrize("method,path,body,shown_at", [
    ("PUT", MEMBER, '{"description":"\\ud800x","roles":["database"],"groups":["default"],"failure_domain":"default"}',
     MEMBER),
    ("POST", "/1.0/cluster/groups", '{"name":"g\\udfff","description":"\\ud800"}', "/1.0/cluster/groups?recursion=1"),
    ("PUT", "/1.0/cluster/groups/default", '{"description":"\\udc00","members":["node1","node2","node3"]}',
     "/1.0/cluster/groups/default"),
    ("POST", MEMBER, '{"server_name":"n\\ud83d"}', "/1.0/cluster/members?recursion=1"),
    ("POST", "/1.0/cluster/members", '{"server_name":"t\\ud800"}', "/1.0/operations?recursion=1"),
    ("POST", "/mock/members", '{"server_name":"m\\ud800"}', "/1.0/cluster/members?recursion=1"),
    ("POST", "/mock/faults", '{"path":"/x\\ud800","latency":0.001}', "/mock/faults"),
    ("PUT", "/1.0/cluster/config", '{"modules":[{"M\\ud800":{"k":"\\udfff"}}]}', "/1.0/cluster/config"),
])
def test_a_lone_surrogate_becomes_u_fffd_and_poisons_nothing(mock, method, path, body, shown_at):
    events = websocket.create_connection(
        mock.url.replace("http", "ws") + "/1.0/events?type=lifecycle,operation", timeout=10
    )
    try:
        reply = exchange(mock.unix_socket, method, path, body.encode(), [("Content-Type", "application/json")])
        assert reply.status in (200, 201, 202) and reply.is_envelope, reply.body
        assert "\ufffd".encode() in exchange(mock.unix_socket, "GET", shown_at).body   # as Go decodes it
        _everything_reads(mock)
        if path != "/mock/faults":   # the event that carries it reaches the stream, which stays open
            assert json.loads(events.recv())["type"] in ("lifecycle", "operation")
            events.ping()
            assert events.connected
    finally:
        events.close()


def test_text_that_cannot_be_encoded_is_written_as_go_writes_it(mock):
    """A non-UTF-8 If-Match comes back in the 412's text as \\ufffd, as Go's encoder writes
    invalid UTF-8; not aiohttp's text/plain 500."""
    reply = exchange(mock.unix_socket, "PUT", MEMBER, json.dumps(GOOD_PUT).encode(),
                     [("If-Match", b"\xff\xfe"), ("Content-Type", "application/json")])
    assert reply.status == 412 and reply.is_envelope
    assert reply.body.decode().endswith('vs \\ufffd\\ufffd","metadata":null}\n\n')


def test_content_encoding_is_not_decoded_as_go_does_not(mock):
    body = json.dumps({**GOOD_PUT, "description": "plain"}).encode()
    reply = exchange(mock.unix_socket, "PUT", MEMBER, body, [("Content-Encoding", "gzip")])
    assert reply.status == 200 and reply.is_envelope
    assert mock.state.member_to_api("node2")["description"] == "plain"


@pytest.mark.parametrize("name", ["n\nl", "t\tab", "sp ace", "per%cent", "q?uery", "h#ash", "ünï", "semi;colon"])
def test_a_group_with_any_name_is_listed_read_renamed_and_deleted(mock, name):
    create = exchange(mock.unix_socket, "POST", "/1.0/cluster/groups", json.dumps({"name": name}).encode())
    assert create.status == 201, create.body
    from urllib.parse import quote, unquote
    once = "/1.0/cluster/groups/" + quote(name, safe="")
    listed = json.loads(exchange(mock.unix_socket, "GET", "/1.0/cluster/groups").body)["metadata"]
    assert create.headers["location"] in listed          # escaped twice, as LXD lists it
    assert unquote(unquote(create.headers["location"])) == "/1.0/cluster/groups/" + name
    assert json.loads(exchange(mock.unix_socket, "GET", once).body)["metadata"]["name"] == name
    rename = exchange(mock.unix_socket, "POST", once, json.dumps({"name": name + "2"}).encode())
    assert rename.status == 201, rename.body
    renamed = "/1.0/cluster/groups/" + quote(name + "2", safe="")
    assert exchange(mock.unix_socket, "DELETE", renamed).status == 200
    assert mock.state.group_names() == ["default"]


def test_a_member_renamed_with_a_newline_stays_reachable_and_goes_back(mock):
    assert exchange(mock.unix_socket, "POST", MEMBER, b'{"server_name":"no\\nde"}').status == 200
    listed = json.loads(exchange(mock.unix_socket, "GET", "/1.0/cluster/members").body)["metadata"]
    assert "/1.0/cluster/members/no%250Ade" in listed
    assert exchange(mock.unix_socket, "GET", "/1.0/cluster/members/no%0Ade").status == 200
    assert exchange(mock.unix_socket, "POST", "/1.0/cluster/members/no%0Ade", b'{"server_name":"node2"}').status == 200
    assert mock.state.member_names() == ["node1", "node2", "node3"]


def test_a_nul_cuts_names_and_texts_as_lxds_database_does(mock):
    reply = exchange(mock.unix_socket, "POST", "/1.0/cluster/groups", b'{"name":"z\\u0000z","description":"a\\u0000b"}')
    assert (reply.status, reply.headers["location"]) == (201, "/1.0/cluster/groups/z%2500z")
    assert mock.state.group_to_api("z") == {"name": "z", "description": "a", "members": [], "used_by": []}
    assert exchange(mock.unix_socket, "GET", "/1.0/cluster/groups/z%00anything").status == 200
    assert exchange(mock.unix_socket, "DELETE", "/1.0/cluster/groups/z").status == 200


@pytest.mark.parametrize("body,error", [
    (b'{"status":"Offline","since":1e999}',
     "json: cannot unmarshal number 1e999 into Go struct field MockStatusPut.since of type float64"),
    (b'{"status":"Offline","since":1e300}', '"since" must be a number from 0 to 3.1536e+08'),
    (b'{"status":"Offline","since":' + b"9" * 5000 + b"}", None),
    (b'{"status":"Offline","since":-1}', '"since" must be a number from 0 to 3.1536e+08'),
])
def test_mock_status_values_that_overflow_change_nothing(mock, body, error):
    reply = exchange(mock.unix_socket, "PUT", "/mock/members/node2/status", body)
    assert reply.status == 400 and reply.is_envelope, reply.body
    if error:
        assert json.loads(reply.body)["error"] == error
    assert mock.state.member_to_api("node2")["status"] == "Online"


@pytest.mark.parametrize("body", [b'{"path":"/x","latency":1e999}', b'{"path":"/x","times":1e999,"latency":1}',
                                  b'{"path":"/x","latency":1e6}', b'{"path":"/x","status":1e3}',
                                  b'{"path":"/x","status":' + b"4" * 400 + b"}"])
def test_mock_fault_values_that_overflow_add_no_fault(mock, body):
    reply = exchange(mock.unix_socket, "POST", "/mock/faults", body)
    assert reply.status == 400 and reply.is_envelope, reply.body
    assert mock.script.faults == []


def test_deep_nesting_and_huge_numbers_are_go_400s_on_every_route_with_a_body(mock):
    deep = b"[" * 10001 + b"]" * 10001
    for method, path in (("PUT", MEMBER), ("PATCH", MEMBER), ("POST", "/1.0/cluster/groups"),
                         ("PUT", "/1.0/cluster/groups/default"), ("POST", "/1.0/cluster/members"),
                         ("POST", MEMBER + "/state"), ("PUT", "/1.0/cluster/config"), ("POST", "/mock/faults"),
                         ("PUT", "/mock/members/node2/status"), ("POST", "/mock/members")):
        reply = exchange(mock.unix_socket, method, path, deep)
        assert (reply.status, json.loads(reply.body)["error"]) == (400, "invalid character '[' exceeded max depth")
    reply = exchange(mock.unix_socket, "PUT", "/1.0/cluster/config",
                     b'{"modules":[{"M":{"k":' + b"[" * 3000 + b"]" * 3000 + b"}}]}")
    assert reply.status == 400 and "nested deeper than 64 levels" in json.loads(reply.body)["error"]
    reply = exchange(mock.unix_socket, "PUT", "/1.0/cluster/config", b'{"modules":[{"M":{"k":1e999}}]}')
    assert reply.status == 400 and "1e999 cannot be carried in JSON" in json.loads(reply.body)["error"]
    _everything_reads(mock)


def test_stop_ends_pending_long_polls_within_a_second():
    mock = MockCluster(3, operation_delay=3600).start()
    op = json.loads(exchange(mock.unix_socket, "POST", MEMBER + "/state", b'{"action":"evacuate"}').body)
    replies = []

    def wait():
        replies.append(exchange(mock.unix_socket, "GET", op["operation"] + "/wait?timeout=-1", timeout=30))

    waiter = threading.Thread(target=wait)
    waiter.start()
    abandoned = connect(mock.unix_socket)
    abandoned.sendall(request_bytes("GET", op["operation"] + "/wait?timeout=-1"))
    wait_until(lambda: len(mock.requests) >= 3, 10, what="the two waits taken")
    started = time.monotonic()
    mock.stop()
    took = time.monotonic() - started
    waiter.join(10)
    abandoned.close()
    assert took < 1.0, f"stop took {took:.1f} s"
    assert replies and replies[0].status == 200 and json.loads(replies[0].body)["metadata"]["status"] == "Running"


def test_slow_clients_are_cut_off_by_the_header_and_body_timeouts():
    limits = HttpLimits(header_timeout=0.5, body_timeout=0.5)
    with MockCluster(3) as base:
        transport = HttpTransport(base.api, listen=["127.0.0.1:0"], limits=limits)
        asyncio.run_coroutine_threadsafe(transport.start(), base._loop).result(10)
        try:
            address = transport.addresses[0]
            trickling = []
            for _ in range(20):
                sock = connect(address)
                sock.sendall(b"GET /1.0 HTTP/1.1\r\nHost: x\r\n")   # headers never end
                trickling.append(sock)
            idle = connect(address)                                   # says nothing at all
            for sock in trickling + [idle]:
                sock.settimeout(5)
                assert sock.recv(1) == b""                            # closed by the server
                sock.close()
            slow_body = connect(address)
            slow_body.sendall(b"PUT /1.0/cluster/members/node2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            reply = read_reply(slow_body)
            assert reply.status == 408 and reply.is_envelope
            assert json.loads(reply.body)["error"] == "Request body not received within 0.5 s"
            assert base.state.member_to_api("node2")["description"] == ""
        finally:
            asyncio.run_coroutine_threadsafe(transport.stop(), base._loop).result(10)


def test_odd_paths_are_answered_with_envelopes(mock):
    # (A request line aiohttp cannot parse at all, such as "GET * HTTP/1.1", gets its
    # text/plain 400, as Go's server answers malformed requests in plain text.)
    for path in ("/", "//", "/1.0/../1.0", "/%", "/%zz", "/%ff%fe", "/1.0/cluster/members/%00"):
        sock = connect(_address(mock))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = read_reply(sock)
        sock.close()
        assert reply.is_envelope, (path, reply.status, reply.body)


@pytest.mark.parametrize("body", [
    b'{"description":"' + b"x" * 200_000 + b'\x01"}',          # a long string that does not end well
    b'{"description":"' + b"\\u00e9" * 50_000 + b'\\q"}',
    b'{"a":' * 5000 + b'"' + b"x" * 5000,
])
def test_a_long_malformed_string_is_refused_in_linear_time(mock, body):
    """The fuzz found a regular expression that backtracked exponentially on such strings
    (the server hung). A hang shows as the client's timeout, not as a slow answer."""
    reply = exchange(mock.unix_socket, "PUT", MEMBER, body, timeout=10)
    assert reply.status == 400 and reply.is_envelope, reply.body[:200]
