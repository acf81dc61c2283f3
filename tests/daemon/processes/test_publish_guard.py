"""A write the leader cannot make into a document is undone, not half-applied.

The API's decoding keeps unencodable text out (a lone surrogate becomes U+FFFD), but the
rule holds whatever path a value takes: nothing may be applied anywhere before it can be
published. Here the state is changed as a buggy handler might, bypassing the decoding; the
leader answers with an envelope, puts the state back, and takes the next write."""
from __future__ import annotations

import asyncio
import json

from mockserver.api import ApiRequest, AwaitCommit
from mockserver.daemon.config import parse
from mockserver.daemon.harness import free_tcp_port, free_udp_port, random_block, render_yaml
from mockserver.daemon.process import PackDaemon
from mockserver.wire import Reply, sync_reply


def _config(tmp_path):
    interface = random_block() + "1"
    modules = [("Pack", {"server_name": "node1", "name": "guard", "secret": "s3cret", "pack": "leader",
                         "interface": interface, "port": free_udp_port(), "broadcast": "127.255.255.255",
                         "keepalive-interval": 200, "dead-interval": 1000}),
               ("Api", {"listen": f"{interface}:{free_tcp_port(interface)}", "unix": str(tmp_path / "api.socket")}),
               ("PackConfiguration", {"state_dir": str(tmp_path / "state")})]
    path = tmp_path / "node1.yaml"
    path.write_text(render_yaml(modules))
    return parse(path.read_text(), str(path))


def test_an_unpublishable_write_is_undone_and_the_next_write_goes_through(tmp_path):
    async def scenario():
        daemon = PackDaemon(_config(tmp_path))
        await daemon.start()
        try:
            assert daemon.sync.is_leader()                     # a static leader leads at once
            assert await daemon.sync.wait_settled(10)          # its first version is committed
            assert daemon.sync.document.version
            before = daemon.sync.document
            daemon.state.update_member("node1", {"description": "bad \ud800", "failure_domain": "default",
                                                 "roles": ["database-leader", "database"],
                                                 "groups": ["default"]}, patch=False, requestor=None)
            answer = daemon.gate.written(sync_reply({}))
            assert isinstance(answer, Reply) and answer.status == 500
            assert "cannot be replicated" in json.loads(answer.body)["error"]
            assert daemon.state.member_to_api("node1")["description"] == ""   # put back
            assert daemon.sync.tip is before and daemon.sync.document is before
            good = ApiRequest("PUT", "/1.0/cluster/members/node1", body=json.dumps(
                {"description": "fine", "failure_domain": "default", "groups": ["default"],
                 "roles": ["database-leader", "database"]}).encode(), protocol="unix")
            result = daemon.api.handle(good)
            assert isinstance(result, AwaitCommit), result
            reply = await daemon.gate.wait(result)
            assert reply.status == 200, reply.body
            assert daemon.sync.document.version == before.version + 1
            assert daemon.state.member_to_api("node1")["description"] == "fine"
        finally:
            await daemon.stop()

    asyncio.run(scenario())
