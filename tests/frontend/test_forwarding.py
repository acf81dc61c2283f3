"""Forwarding between two members' HTTP transports (real sockets on loopback), with gates of
the test's own (the front end knows no back end's headers): the member that forwards a
write answers its client only after its gate caught up with the version the leader stamped
on its answer (read your writes), the stamp stays between members, and a write whose
answer was lost is answered as the gate says."""
from __future__ import annotations

import asyncio
import json

import aiohttp

from mockserver.api import ApiServer, ForwardTo
from mockserver.http import HttpTransport
from mockserver.state import ClusterState
from mockserver.wire import error_reply

STAMP_HEADER = "X-Test-Stamp"
FORWARDED_HEADER = "X-Test-Forwarded"
OUTCOME_HEADER = "X-Test-Outcome"


class LeaderGate:
    """The far side: answers here, and stamps its document version on forwarded answers."""

    def route(self, req):
        return None

    def written(self, reply):
        return reply

    def reply_headers(self, req_headers) -> dict:
        return {STAMP_HEADER: "3.7"} if req_headers.get(FORWARDED_HEADER) else {}


class FollowerGate:
    """Forwards every write to ``leader``; records what it was asked to catch up with, and
    holds the catch-up until the test releases it (``hold``)."""

    def __init__(self, leader: str, log: list, hold: bool = False):
        self.leader, self.log = leader, log
        self.catching_up, self.release = asyncio.Event(), asyncio.Event()
        if not hold:
            self.release.set()

    kept_reply_headers = (OUTCOME_HEADER.lower(),)

    def route(self, req):
        return ForwardTo(self.leader, "node1") if req.method != "GET" else None

    async def caught_up(self, reply_headers):
        self.log.append(("caught up with", reply_headers.get(STAMP_HEADER)))
        self.catching_up.set()
        await self.release.wait()

    def reply_headers(self, req_headers) -> dict:
        return {}

    def forward_headers(self) -> dict:
        return {FORWARDED_HEADER: "1"}

    def unknown_outcome(self, text: str):
        reply = error_reply(503, text)
        reply.headers[OUTCOME_HEADER] = "unknown"
        return reply


async def scenario():
    log: list = []
    leader_api = ApiServer(ClusterState(3), gate=LeaderGate())
    leader = HttpTransport(leader_api, listen=["127.0.0.1:0"])
    await leader.start()
    gate = FollowerGate(leader.addresses[0], log, hold=True)
    follower_api = ApiServer(ClusterState(3), gate=gate)
    follower = HttpTransport(follower_api, listen=["127.0.0.1:0"])
    await follower.start()

    async def release_once_caught_up_is_awaited():
        await gate.catching_up.wait()   # the transport now waits on the catch-up, the client too
        gate.release.set()

    releaser = asyncio.ensure_future(release_once_caught_up_is_awaited())
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://{follower.addresses[0]}/1.0/cluster/groups",
                                    data=json.dumps({"name": "rack2", "description": "second rack"})) as reply:
                log.append(("client answered", reply.status))
                client_headers = dict(reply.headers)
            async with session.get(f"http://{leader.addresses[0]}/1.0/cluster/members/node2",
                                   headers={FORWARDED_HEADER: "1"}) as reply:
                stamped = reply.headers.get(STAMP_HEADER)
    finally:
        releaser.cancel()
        await follower.stop()
        await leader.stop()
    return log, client_headers, stamped, leader_api


def test_a_forwarded_write_is_answered_after_the_forwarding_member_caught_up():
    log, client_headers, stamped, leader_api = asyncio.run(scenario())
    assert log == [("caught up with", "3.7"), ("client answered", 201)]
    assert STAMP_HEADER not in client_headers            # between members only
    assert stamped == "3.7"                                 # every forwarded answer is stamped
    assert leader_api.context.state.group_to_api("rack2")["description"] == "second rack"


async def _forward_to_a_leader_that_dies(first_write: bool):
    """The far side reads each request and drops the connection without answering, as a
    leader killed after it applied the write."""
    received = []

    async def on_connection(reader, writer):
        data = await reader.readuntil(b"\r\n\r\n")
        received.append(data.split(b" ", 2)[:2])
        writer.close()

    dying = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    address = f"127.0.0.1:{dying.sockets[0].getsockname()[1]}"
    follower_api = ApiServer(ClusterState(3), gate=FollowerGate(address, []))
    follower = HttpTransport(follower_api, listen=["127.0.0.1:0"])
    await follower.start()
    try:
        async with aiohttp.ClientSession() as session:
            if first_write:   # a kept-alive connection to the leader exists already
                async with session.put(f"http://{follower.addresses[0]}/1.0/cluster/members/node2", data=b"{}"):
                    pass
                received.clear()
            async with session.put(f"http://{follower.addresses[0]}/1.0/cluster/members/node2",
                                   data=json.dumps({"description": "x"})) as reply:
                return reply.status, dict(reply.headers), await reply.json(), received
    finally:
        await follower.stop()
        dying.close()


def test_a_write_whose_leader_died_after_reading_it_is_reported_unknown_and_never_resent():
    for kept_alive in (False, True):
        status, headers, envelope, received = asyncio.run(_forward_to_a_leader_that_dies(kept_alive))
        assert (status, headers.get(OUTCOME_HEADER)) == (503, "unknown"), envelope
        assert "may or may not have taken effect" in envelope["error"]
        assert received == [[b"PUT", b"/1.0/cluster/members/node2"]]   # sent once, not twice
