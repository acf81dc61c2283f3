"""A pack daemon's own 503s (no leader yet, leadership moving, writes not committed yet) say
when to try again (Retry-After, whole seconds), and the SDK's GET waits that long before it
asks again; LXD never sends Retry-After, and the mock back end does not either.

Daemons run in this process, on loopback addresses of their own, as in
tests/daemon/processes/test_publish_guard.py (no subprocess, so not the system tier).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import types

import pytest
import urllib3.util.retry

import pylxd_cluster
from mockserver import profiles
from mockserver.api import ApiRequest
from mockserver.daemon.config import parse
from mockserver.daemon.gate import RETRY_AFTER_HEADER, outcome_unknown
from mockserver.daemon.harness import (
    LO_BROADCAST,
    async_wait_until,
    free_tcp_port,
    free_udp_port,
    random_block,
    render_yaml,
)
from mockserver.daemon.process import PackDaemon
from mockserver.mock.cluster import MockCluster
from pylxd_cluster.transport import RETRY_BACKOFF

KEEPALIVE_MS = 200   # so a keepalive interval rounds up to the least Retry-After: 1 s


class Pack:
    """Daemons of one pack in this process: same UDP port and broadcast, each on an address of
    one loopback block, serving its API on a unix socket and on TCP."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.block = random_block()
        self.port = free_udp_port()
        self.hosts = iter(range(11, 30))

    def daemon(self, name: str, role: str, keepalive_ms: int = KEEPALIVE_MS) -> PackDaemon:
        interface = f"{self.block}{next(self.hosts)}"
        modules = [("Pack", {"server_name": name, "name": "retry", "secret": "s3cret", "pack": role,
                             "interface": interface, "port": self.port, "broadcast": LO_BROADCAST,
                             "keepalive-interval": keepalive_ms, "dead-interval": 5 * keepalive_ms}),
                   ("Api", {"listen": f"{interface}:{free_tcp_port(interface)}",
                            "unix": str(self.tmp / f"{name}.socket")}),
                   ("PackConfiguration", {"state_dir": str(self.tmp / name)})]
        path = self.tmp / f"{name}.yaml"
        path.write_text(render_yaml(modules))
        return PackDaemon(parse(path.read_text(), str(path)))


def put_config(daemon: PackDaemon):
    return daemon.api.handle(ApiRequest("PUT", "/1.0/cluster/config", body=json.dumps({"modules": []}).encode(),
                                        protocol="unix"))


@pytest.mark.parametrize(("keepalive_ms", "seconds"), [(KEEPALIVE_MS, "1"), (2500, "3")])
def test_a_daemon_without_a_leader_answers_503_with_retry_after(tmp_path, keepalive_ms, seconds):
    """A follower alone has no leader: a write, or a linearizable read, is refused with a 503
    that says to come back after a keepalive interval (rounded up to whole seconds)."""
    async def scenario():
        follower = Pack(tmp_path).daemon("node2", "follower", keepalive_ms)
        await follower.start()
        try:
            assert not follower.node.leader
            write = put_config(follower)
            read = follower.api.handle(ApiRequest("GET", "/1.0/cluster/config", protocol="unix",
                                                  headers={"X-Pack-Consistency": "linearizable"}))
            plain = follower.api.handle(ApiRequest("GET", "/1.0/cluster/config", protocol="unix"))
            return write, read, plain
        finally:
            await follower.stop()

    write, read, plain = asyncio.run(scenario())
    for reply in (write, read):
        assert reply.status == 503, reply
        assert reply.headers[RETRY_AFTER_HEADER] == seconds, reply.headers
        assert "no leader right now" in json.loads(reply.body)["error"]
    assert plain.status == 200 and RETRY_AFTER_HEADER not in plain.headers   # a plain read needs no leader


def test_a_write_of_unknown_outcome_carries_no_retry_after():
    """It must be read back, not sent again: no Retry-After invites a blind retry."""
    reply = outcome_unknown("lost")
    assert reply.status == 503 and RETRY_AFTER_HEADER not in reply.headers


@pytest.mark.parametrize("server", list(profiles.PROFILES))
def test_the_mock_back_end_never_sends_retry_after(server):
    """The mock answers as LXD (or Incus) does: its 503s carry no Retry-After."""
    mock = MockCluster(3, server=server, listen=None, unix=None)
    mock.set_status("node2", "Offline")
    reply = mock.api.handle(ApiRequest("GET", "/1.0/cluster/members/node2/state"))
    assert reply.status == (503 if mock.state.profile.member_state else 501), reply
    assert RETRY_AFTER_HEADER not in reply.headers


def test_the_sdk_waits_for_the_daemons_retry_after_then_reads(tmp_path, monkeypatch):
    """A linearizable GET through a follower that has no leader yet: the daemon answers 503
    with Retry-After: 1, and the SDK pauses that long (not its own 0.2 s backoff) before it
    asks again. The pause is where the leader comes: urllib3's sleep is replaced by one that
    records the pause, starts the leader and waits until the follower follows it; the retry
    is then forwarded to the leader and answered."""
    pauses: list[float] = []

    async def scenario():
        pack = Pack(tmp_path)
        follower, leader = pack.daemon("node2", "follower"), pack.daemon("node1", "leader")
        loop = asyncio.get_running_loop()

        async def bring_the_leader():
            await leader.start()
            await async_wait_until(lambda: follower.node.leader == "node1", 10, what="node2 follows node1")

        def pause(seconds: float) -> None:   # runs in the SDK's thread
            pauses.append(seconds)
            if len(pauses) == 1:
                asyncio.run_coroutine_threadsafe(bring_the_leader(), loop).result(15)

        # urllib3's retry module alone sees the recording clock (the daemons' loop keeps time's).
        monkeypatch.setattr(urllib3.util.retry, "time", types.SimpleNamespace(sleep=pause, time=time.time,
                                                                              monotonic=time.monotonic))
        await follower.start()
        try:
            assert not follower.node.leader
            assert put_config(follower).headers[RETRY_AFTER_HEADER] == "1"

            def read():
                with pylxd_cluster.Client(str(tmp_path / "node2.socket"), consistency="linearizable") as client:
                    return client.cluster.config.get()

            return await asyncio.to_thread(read)
        finally:
            with contextlib.suppress(Exception):
                await leader.stop()
            await follower.stop()

    configuration = asyncio.run(scenario())
    assert pauses == [1.0] and pauses[0] != RETRY_BACKOFF
    assert configuration.version >= 1


def test_a_write_the_follower_cannot_forward_to_the_leader_says_when_to_retry(tmp_path):
    """The follower follows a leader whose API does not answer (its HTTP server is down, its
    heartbeats still come): nothing could be sent, so the 503 says when to send it again."""
    async def scenario():
        pack = Pack(tmp_path)
        follower, leader = pack.daemon("node2", "follower"), pack.daemon("node1", "leader")
        await leader.start()
        await follower.start()
        try:
            await async_wait_until(lambda: follower.node.leader == "node1", 10, what="node2 follows node1")
            await leader.http.stop()

            def write():
                with pylxd_cluster.Client(str(tmp_path / "node2.socket")) as client, \
                        pytest.raises(pylxd_cluster.APIError) as caught:
                    client.transport.request("PUT", "/1.0/cluster/config", json={"modules": []})
                return caught.value

            return await asyncio.to_thread(write)
        finally:
            await follower.stop()
            await leader.stop()

    error = asyncio.run(scenario())
    assert error.status_code == 503 and "Cannot reach cluster member" in error.error, error
    assert error.response.headers[RETRY_AFTER_HEADER] == "1"
