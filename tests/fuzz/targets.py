"""What the fuzz sends requests to, and what it checks after every reply and every batch.

After each reply: an LXD envelope (a HEAD has no body), no traceback text, and no 5xx
but the ones LXD itself gives: 501 ``not implemented``, 500 ``Server is not clustered``
(after a client disabled clustering) and the 500s LXD 5.21 answers to bad input (both
targets answer as the ``lxd-5.21`` profile: ``ServerProfile.answers_so``), and 503 (a
member that is offline or cannot be reached; on a pack, a leader that is moving).

After each batch:

- every server still answers ``GET /1.0``;
- every member of a pack has the same document (version, term and digest);
- every group and member listed can be read, on every member, through its name escaped
  once, and the list shows it escaped twice, as LXD lists it;
- every group can be deleted through that name, every member renamed back to its own name
  (the mock's extra members deleted), which also puts the target back as it started.
"""
from __future__ import annotations

import json
import random
from urllib.parse import quote

from mockserver import profiles
from mockserver.wire import lxd_url
from tests.fuzz.hostile import Request
from tests.support.rawhttp import RawReply, exchange

LXD_500S = {"Server is not clustered"}
PROFILE = profiles.profile("lxd-5.21")     # the mock's default and the pack daemon's
IDENTS = ("node1", "node2", "node3")
JSON = [("Content-Type", "application/json")]


def _once(kind: str, name: str) -> str:
    return f"/1.0/cluster/{kind}/" + quote(name, safe="")


def _metadata(reply: RawReply):
    assert reply.status == 200 and reply.is_envelope, reply
    return json.loads(reply.body)["metadata"]


def check_reply(request: Request, reply: RawReply, stats: dict) -> None:
    stats[reply.status] = stats.get(reply.status, 0) + 1
    assert b"Traceback" not in reply.body, (request, reply.body[:500])
    if request.method == "HEAD":
        assert reply.body == b"" and reply.status not in (500, 502, 504), (request, reply)
        return
    if request.path.startswith("/internal/pack/document") and reply.status == 200:
        return   # the sealed document (an attacker never holds the key to ask for it)
    if request.path.startswith("/1.0/events") and reply.status == 400 and reply.body == b"Bad Request\n":
        return   # no websocket upgrade: LXD's upgrader answers in plain text, as the mock does
    assert reply.is_envelope, (request, reply.status, reply.headers, reply.body[:500])
    envelope = json.loads(reply.body)
    assert envelope["error_code"] == (reply.status if envelope["type"] == "error" else 0), (request, envelope)
    assert not envelope["error"].startswith("Internal server error"), (request, envelope)
    if reply.status >= 500:
        allowed = reply.status in (501, 503) or (reply.status == 500 and (
            envelope["error"] in LXD_500S or PROFILE.answers_so(500, envelope["error"])))
        assert allowed, (request, reply.status, envelope["error"])


class MockTarget:
    """A MockCluster of three members, over its TCP listener and its unix socket."""

    routes_extra = ("mock",)

    def __init__(self, mock):
        self.mock = mock
        self.addresses = [mock.url.partition("://")[2], mock.unix_socket]

    def send(self, member: int, request: Request, transport: int) -> RawReply:
        reply = exchange(self.addresses[transport % 2], request.method, request.path, request.body,
                         request.headers, timeout=30)
        if request.path.startswith("/mock/faults"):
            # A fault that the fuzz injected (errors, an hour of latency) would answer the
            # next requests in its place: cleared at once.
            exchange(self.mock.unix_socket, "DELETE", "/mock/faults")
        return reply

    def check_batch(self) -> None:
        socket = self.mock.unix_socket
        assert exchange(socket, "GET", "/1.0").status == 200
        if not _metadata(exchange(socket, "GET", "/1.0/cluster"))["enabled"]:
            assert exchange(socket, "POST", "/mock/reset").status == 200   # a client disabled clustering
            return
        _check_listed(socket)
        members = _metadata(exchange(socket, "GET", "/1.0/cluster/members?recursion=1"))
        idents = {m.server_name: m.ident for m in self.mock.state.members.values()}
        for member in members:   # extras (added through /mock) go, through the API
            name = member["server_name"]
            if idents[name] not in IDENTS:
                reply = exchange(socket, "DELETE", _once("members", name) + "?force=1")
                assert reply.status == 200, (name, reply)
        _clean_groups(socket, [m["server_name"] for m in members if idents[m["server_name"]] in IDENTS])
        for member in members:
            name = member["server_name"]
            if idents[name] in IDENTS and name != idents[name]:
                reply = exchange(
                    socket, "POST", _once("members", name), json.dumps({"server_name": idents[name]}).encode()
                )
                assert reply.status == 200, (name, reply)
        kept = [idents[m["server_name"]] for m in members if idents[m["server_name"]] in IDENTS]
        assert _metadata(exchange(socket, "GET", "/1.0/cluster/members")) == [lxd_url("1.0", "cluster", "members", n)
                                                                               for n in kept]
        if kept != list(IDENTS):   # a member was deleted: the next batch starts from three again
            assert exchange(socket, "POST", "/mock/reset").status == 200
        exchange(socket, "DELETE", "/mock/requests")


class PackTarget:
    """Three pack daemons; each request goes to one of them, over TCP or its unix socket.
    A member is never deleted (the daemon would leave the pack and stop)."""

    routes_extra = ("pack",)

    def __init__(self, pack, settle):
        self.pack = pack
        self.settle = settle

    def node(self, member: int):
        return self.pack[IDENTS[member % 3]]

    def send(self, member: int, request: Request, transport: int) -> RawReply:
        node = self.node(member)
        address = node.listen if transport % 2 == 0 else node.socket_path
        return exchange(address, request.method, request.path, request.body, request.headers, timeout=30)

    def check_batch(self) -> None:
        for ident in IDENTS:
            assert exchange(self.pack[ident].socket_path, "GET", "/1.0").status == 200
        self.settle()
        for ident in IDENTS:
            _check_listed(self.pack[ident].socket_path)
        socket = self.pack[random.choice(IDENTS)].socket_path
        names = {ident: _metadata(exchange(self.pack[ident].socket_path, "GET", "/1.0"))["environment"]["server_name"]
                 for ident in IDENTS}
        _clean_groups(socket, list(names.values()))
        for ident, name in names.items():
            if name != ident:
                reply = exchange(socket, "POST", _once("members", name), json.dumps({"server_name": ident}).encode(),
                                 JSON, timeout=15)
                assert reply.status == 200, (name, reply)
        assert exchange(socket, "PUT", "/1.0/cluster/config", b'{"modules":[]}', JSON, timeout=15).status == 200
        self.settle()
        for ident in IDENTS:
            listed = _metadata(exchange(self.pack[ident].socket_path, "GET", "/1.0/cluster/members"))
            assert listed == [lxd_url("1.0", "cluster", "members", n) for n in IDENTS], (ident, listed)


def _check_listed(socket: str) -> None:
    """Every group and member listed answers at its name escaped once; the plain list
    shows it escaped twice."""
    for kind, key in (("groups", "name"), ("members", "server_name")):
        objects = _metadata(exchange(socket, "GET", f"/1.0/cluster/{kind}?recursion=1"))
        urls = _metadata(exchange(socket, "GET", f"/1.0/cluster/{kind}"))
        assert urls == [lxd_url("1.0", "cluster", kind, o[key]) for o in objects], (kind, urls)
        for obj in objects:
            assert _metadata(exchange(socket, "GET", _once(kind, obj[key])))[key] == obj[key], (kind, obj)


def _clean_groups(socket: str, members: list) -> None:
    """Delete every group but default through its name escaped once (members first go
    back to default, so that none is left in no group)."""
    groups = _metadata(exchange(socket, "GET", "/1.0/cluster/groups?recursion=1"))
    if all(group["name"] == "default" for group in groups):
        return
    reply = exchange(socket, "PUT", "/1.0/cluster/groups/default",
                     json.dumps({"description": "Default cluster group", "members": members}).encode(), JSON,
                     timeout=15)
    assert reply.status == 200, reply
    for group in groups:
        if group["name"] == "default":
            continue
        path = _once("groups", group["name"])
        reply = exchange(socket, "PUT", path, json.dumps({"description": "", "members": []}).encode(), JSON, timeout=15)
        assert reply.status == 200, (group, reply)
        reply = exchange(socket, "DELETE", path, timeout=15)
        assert reply.status == 200, (group, reply)
