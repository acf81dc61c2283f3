"""Service-group ownership on a real etcd: a group has one owner at a time, the key is the
fence, and it goes with the owner's lease. (Join tokens live in the document on etcd: see
test_daemon.py.)"""
from __future__ import annotations

import asyncio

import pytest

from mockserver.daemon.etcd.client import EtcdClient
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.etcd.membership import EtcdMembership
from mockserver.daemon.etcd.ownership import EtcdOwnership
from mockserver.daemon.etcd.view import MemberRecord
from mockserver.daemon.harness import async_wait_until
from tests.daemon.etcd.conftest import settings_of

pytestmark = pytest.mark.system



def test_a_group_has_one_owner_and_goes_with_its_lease(etcd, request):
    async def scenario():
        keys = PackKeys("/pylxd-cluster-test", request.node.name)
        clients = [EtcdClient(settings_of(etcd)) for _ in range(2)]
        members = [EtcdMembership(client, keys, MemberRecord(f"node{i + 1}"), dead_interval=1.0, keepalive=0.2)
                   for i, client in enumerate(clients)]
        ownership = [EtcdOwnership(client, keys) for client in clients]
        try:
            for member in members:
                await member.start()
            claims = await asyncio.gather(*(own.claim("web", m.name, m.lease_id) for own, m in zip(ownership, members)))
            assert len(set(claims)) == 1 and claims[0] in ("node1", "node2")   # both agree on one owner
            owner = 0 if claims[0] == "node1" else 1
            loser = 1 - owner
            assert await ownership[owner].claim("web", members[owner].name, members[owner].lease_id) == claims[0]
            assert not await ownership[loser].release("web", members[loser].name)   # not the loser's to release
            assert await ownership[loser].owners() == {"web": claims[0]}
            await members[owner].stop()            # the owner stops renewing: the key goes with the lease
            await async_wait_until(lambda: members[loser].view.alive() == [members[loser].name], 5,
                                   what="the owner's lease expired")
            assert await ownership[loser].owners() == {}
            assert await ownership[loser].claim("web", members[loser].name, members[loser].lease_id) == \
                members[loser].name
            assert await ownership[loser].release("web", members[loser].name)
            assert await ownership[loser].owners() == {}
        finally:
            for member in members:
                await member.stop()
            for client in clients:
                await client.close()

    asyncio.run(scenario())
