"""Hostile input against a pack of three real daemons: written through a follower, it is
answered as LXD answers it (as the mock does), every member ends up with the same document,
and what was created stays reachable and deletable on every member.

Before: a lone surrogate wedged the leader (every later write 500, members drifting apart),
a newline in a group name replicated an object nobody could reach, a restarted daemon logged
tracebacks for datagrams that came before its protocol node, and SIGTERM waited 61 s for a
pending long poll.
"""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from urllib.parse import quote

import pytest
import websocket

from mockserver.daemon.harness import PackProcs
from tests.support.rawhttp import connect, exchange, request_bytes

NAMES = ("node1", "node2", "node3")


def agree(pack) -> bool:
    return len(pack.documents()) == 1


@pytest.fixture(scope="module")
def pack():
    with PackProcs(listen=True, defaults={"expected_members": 3}) as procs:
        for name in NAMES:
            procs.add(name, "auto")
        procs.start_all()
        procs.wait_until(lambda: procs.all_online(NAMES) and procs["node1"].leaders() == ["node1"]
                         and all(procs[n].leaders() == ["node1"] for n in NAMES), 15, what="node1 leads")
        procs.wait_until(lambda: agree(procs), 10, what="one document")
        yield procs


def send(pack, member: str, method: str, path: str, body: bytes = b""):
    return exchange(pack[member].socket_path, method, path, body, [("Content-Type", "application/json")], timeout=15)


def on_every_member(pack, method: str, path: str):
    return {name: send(pack, name, method, path) for name in NAMES}


def settle(pack) -> None:
    pack.wait_until(lambda: agree(pack), 10, what="members agree on the document")


@pytest.mark.parametrize("method,path,body,status,error", [
    ("PUT", "/1.0/cluster/members/node1", b'{"roles":["x"],"description":' + b"[" * 10001 + b"]" * 10001 + b"}", 400,
     "invalid character '[' exceeded max depth"),
    ("PATCH", "/1.0/cluster/members/node1", b'{"config":{"user.a":' + b"[" * 3000 + b"]" * 3000 + b"}}", 400,
     "json: cannot unmarshal array into Go struct field ClusterMemberPut.config of type string"),
    ("PATCH", "/1.0/cluster/members/node1", b'{"description":' + b"7" * 5000 + b"}", 400,
     "json: cannot unmarshal number into Go struct field ClusterMemberPut.description of type string"),
    ("PUT", "/1.0/cluster/config", b'{"modules":[{"M":{"k":' + b"[" * 3000 + b"]" * 3000 + b"}}]}", 400, None),
    ("POST", "/internal/pack/join", b'{"server_name":' + b"[" * 3000 + b"]" * 3000 + b"}", 400,
     'Expected {"server_name", "at", "proof"}'),
    ("POST", "/internal/pack/join", b'{"server_name":"x","at":' + b"9" * 400 + b',"proof":"p"}', 400,
     'Expected {"server_name", "at", "proof"}'),
])
def test_refused_writes_are_go_400s_and_change_nothing_anywhere(pack, method, path, body, status, error):
    before = pack.documents()
    reply = send(pack, "node3", method, path, body)
    assert reply.status == status and reply.is_envelope, reply.body[:300]
    if error:
        assert json.loads(reply.body)["error"] == error
    settle(pack)
    assert pack.documents() == before


def test_a_lone_surrogate_becomes_u_fffd_on_every_member_and_writes_go_on(pack):
    put = b'{"description":"\\ud800x","failure_domain":"default","groups":["default"]}'
    assert send(pack, "node3", "PUT", "/1.0/cluster/members/node2", put).status == 200
    assert (
        send(pack, "node2", "POST", "/1.0/cluster/groups", b'{"name":"g\\udfff","description":"\\ud800"}').status == 201
    )
    modules = b'{"modules":[{"Mod\\ud800":{"key":"\\udfff"}}]}'
    assert send(pack, "node3", "PUT", "/1.0/cluster/config", modules).status == 200
    settle(pack)
    for name, reply in on_every_member(pack, "GET", "/1.0/cluster/members/node2").items():
        assert json.loads(reply.body)["metadata"]["description"] == "\ufffdx", name
    for name, reply in on_every_member(pack, "GET", "/1.0/cluster/groups/" + quote("g\ufffd")).items():
        assert json.loads(reply.body)["metadata"]["description"] == "\ufffd", name
    for name, reply in on_every_member(pack, "GET", "/1.0/cluster/config").items():
        assert json.loads(reply.body)["metadata"]["modules"] == [{"Mod\ufffd": {"key": "\ufffd"}}], name
    # The pack is not wedged: the next writes succeed and reach everyone.
    assert send(pack, "node2", "PUT", "/1.0/cluster/config", b'{"modules":[]}').status == 200
    assert send(pack, "node3", "DELETE", "/1.0/cluster/groups/" + quote("g\ufffd")).status == 200
    settle(pack)


@pytest.mark.parametrize("name", ["n\nl", "t\tab", "s p", "50%", "q?x", "é"])
def test_a_group_with_any_name_is_reachable_renamed_and_deleted_on_every_member(pack, name):
    create = send(pack, "node2", "POST", "/1.0/cluster/groups", json.dumps({"name": name}).encode())
    assert create.status == 201, create.body
    settle(pack)
    once = "/1.0/cluster/groups/" + quote(name, safe="")
    for member, listed in on_every_member(pack, "GET", "/1.0/cluster/groups").items():
        assert create.headers["location"] in json.loads(listed.body)["metadata"], member
    for member, reply in on_every_member(pack, "GET", once).items():
        assert reply.status == 200 and json.loads(reply.body)["metadata"]["name"] == name, member
    assert send(pack, "node3", "POST", once, json.dumps({"name": name + "!"}).encode()).status == 201
    renamed = "/1.0/cluster/groups/" + quote(name + "!", safe="")
    assert send(pack, "node2", "DELETE", renamed).status == 200
    settle(pack)
    for member, reply in on_every_member(pack, "GET", "/1.0/cluster/groups").items():
        assert json.loads(reply.body)["metadata"] == ["/1.0/cluster/groups/default"], member


def test_a_member_renamed_with_a_newline_or_nul_is_reachable_on_every_member(pack):
    assert send(pack, "node2", "POST", "/1.0/cluster/members/node3", b'{"server_name":"no\\nde"}').status == 200
    settle(pack)
    for member, reply in on_every_member(pack, "GET", "/1.0/cluster/members/no%0Ade").items():
        assert reply.status == 200, (member, reply.body)
    assert send(pack, "node3", "POST", "/1.0/cluster/members/no%0Ade", b'{"server_name":"node3\\u0000x"}').status == 200
    settle(pack)
    for member, reply in on_every_member(pack, "GET", "/1.0/cluster/members").items():
        assert "/1.0/cluster/members/node3" in json.loads(reply.body)["metadata"], member


def test_a_restarted_member_logs_no_traceback_for_early_datagrams(pack):
    """Datagrams reach a restarting member's socket before its protocol node exists (the
    pack keeps probing it; here a sender floods it too): they wait until it does."""
    node = pack["node3"]
    stop = threading.Event()

    def flood():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            while not stop.wait(0.0005):   # about 2,000 datagrams a second, until told to stop
                with contextlib.suppress(OSError):
                    sender.sendto(b"\x00" * 64, (node.interface, pack.port))

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        for _ in range(3):
            pack.restart("node3")
    finally:
        stop.set()
        flooder.join(5)
    pack.wait_until(lambda: pack.all_online(NAMES), 10, what="node3 back")
    log = node.log(tail=100000)
    assert "Traceback" not in log and "on_datagram raised" not in log, log
    assert sum(count for key, count in node.counters().items() if key.startswith("dropped_")) > 0  # dropped, counted


@pytest.mark.parametrize("member", ["node1", "node2"])
def test_sigterm_with_a_pending_long_poll_stops_within_a_second(pack, member):
    """A join token's operation runs until the token is used: waiting on it is a long poll
    (on node2, forwarded to the leader)."""
    token = json.loads(send(pack, member, "POST", "/1.0/cluster/members", b'{"server_name":"node9"}').body)
    wait_path = token["operation"] + "/wait?timeout=-1"
    # The member's log events say when it has taken each request.
    log = websocket.create_connection("ws://lxd/1.0/events?type=logging", timeout=10,
                                      socket=connect(pack[member].socket_path))
    waiting = [connect(pack[member].socket_path, timeout=30) for _ in range(2)]
    for sock in waiting:
        sock.sendall(request_bytes("GET", wait_path))
    taken = 0
    while taken < 2:
        event = json.loads(log.recv())
        taken += event["metadata"]["context"].get("url", "").startswith(wait_path.split("?")[0])
    log.close()
    started = time.monotonic()
    pack[member].terminate(timeout=10)
    took = time.monotonic() - started
    for sock in waiting:
        sock.close()
    pack[member].start()
    pack.wait_until(lambda: pack.all_online(NAMES) and agree(pack), 15, what=f"{member} back")
    assert took < 1.5, f"SIGTERM took {took:.2f} s with long polls pending"
