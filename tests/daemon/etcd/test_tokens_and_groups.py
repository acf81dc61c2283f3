"""Join tokens and service-group ownership on a real etcd: a token is used once and expires
with its lease; a group has one owner at a time, the key is the fence, and it goes with the
owner's lease."""
from __future__ import annotations

import asyncio

import pytest

from mockserver.daemon.etcd.client import EtcdClient
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.etcd.membership import EtcdMembership
from mockserver.daemon.etcd.ownership import EtcdOwnership
from mockserver.daemon.etcd.tokens import EtcdTokens
from mockserver.daemon.etcd.view import MemberRecord
from mockserver.daemon.harness import async_wait_until
from tests.daemon.etcd.conftest import settings_of

pytestmark = pytest.mark.system



def test_a_join_token_is_used_once_revoked_or_expired(etcd, request):
    async def scenario():
        keys = PackKeys("/pylxd-cluster-test", request.node.name)
        first, second = EtcdClient(settings_of(etcd)), EtcdClient(settings_of(etcd))
        try:
            tokens, other = EtcdTokens(first, keys), EtcdTokens(second, keys)
            await tokens.create("t1", b'{"server_name":"node4"}', lifetime=60)
            await tokens.create("t2", b"two", lifetime=60)
            await tokens.create("short", b"soon gone", lifetime=1)
            assert set(await other.all()) == {"t1", "t2", "short"}
            # Two members present the same token at once: one of them gets it.
            results = await asyncio.gather(tokens.consume("t1"), other.consume("t1"))
            assert sorted(results, key=lambda r: r is None) == [b'{"server_name":"node4"}', None]
            assert await tokens.consume("t1") is None and await tokens.consume("never") is None
            assert await other.revoke("t2") and not await other.revoke("t2")
            # The short one expires with its lease (etcd checks leases every half second or so).
            async def expired() -> bool:
                return "short" not in await tokens.all()

            await async_wait_until(expired, 10, interval=0.05, what="the 1 s token to go with its lease")
            assert await tokens.consume("short") is None
        finally:
            await first.close()
            await second.close()

    asyncio.run(scenario())


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
