"""The shared document on a real 3-member etcd: compare-and-swap on the revision, fencing by
the writer's candidacy, every member following the same versions, and a write refused when
etcd has no quorum."""
from __future__ import annotations

import asyncio

import aetcd
import pytest

from mockserver.daemon.etcd.client import EtcdClient
from mockserver.daemon.etcd.document import EtcdDocument, NotLeading, StaleWrite
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.etcd.membership import EtcdMembership
from mockserver.daemon.etcd.view import MemberRecord
from mockserver.daemon.harness import async_wait_until
from tests.daemon.etcd.conftest import settings_of

pytestmark = pytest.mark.system



def test_the_leader_writes_with_cas_and_every_member_follows(etcd, request):
    async def scenario():
        keys = PackKeys("/pylxd-cluster-test", request.node.name)
        clients = [EtcdClient(settings_of(etcd)) for _ in range(3)]
        seen = [[] for _ in clients]
        documents = [EtcdDocument(client, keys, on_document=lambda v, r, s=s: s.append((v, r)))
                     for client, s in zip(clients, seen)]
        leader = EtcdMembership(clients[0], keys, MemberRecord("node1"), dead_interval=1.0, keepalive=0.2)
        try:
            await leader.start()
            for document in documents:
                await document.start()
            assert all(s == [(None, 0)] for s in seen)
            first = await documents[0].write(b"v1", base=0, candidacy=leader.candidacy, term=leader.term)
            second = await documents[0].write(b"v2", base=first, candidacy=leader.candidacy, term=leader.term)
            await async_wait_until(lambda: all(s[-1] == (b"v2", second) for s in seen), 5, what="v2 everywhere")
            assert all([v for v, _ in s] == [None, b"v1", b"v2"] for s in seen)
            with pytest.raises(StaleWrite, match=f"at version {second}, not {first}"):
                await documents[1].write(b"lost", base=first, candidacy=leader.candidacy, term=leader.term)
            with pytest.raises(NotLeading):       # a term that is not the candidacy's own
                await documents[1].write(b"usurper", base=second, candidacy=leader.candidacy, term=leader.term - 1)
            await leader.leave()                  # the candidacy goes with the lease
            with pytest.raises(NotLeading):
                await documents[0].write(b"after", base=second, candidacy=leader.candidacy, term=leader.term)
            assert documents[2].value == b"v2" and documents[2].revision == second
        finally:
            await leader.stop()
            for document in documents:
                await document.stop()
            for client in clients:
                await client.close()

    asyncio.run(scenario())


def test_without_quorum_a_write_times_out_and_its_outcome_is_decided_by_etcd(etcd, request):
    """A write sent while etcd has no quorum is not answered in time: the caller cannot know
    whether it will be committed (the member it reached may propose it once quorum is back),
    which the daemon must report as an unknown outcome. Afterwards every etcd member holds
    the same document: the old one, or the new one at a higher revision."""
    async def scenario():
        keys = PackKeys("/pylxd-cluster-test", request.node.name)
        client = EtcdClient(settings_of(etcd))
        leader = EtcdMembership(client, keys, MemberRecord("node1"), dead_interval=5.0, keepalive=0.2)
        document = EtcdDocument(client, keys)
        down = list(etcd.members)[:2]
        try:
            await leader.start()
            await document.start()
            base = await document.write(b"before", base=0, candidacy=leader.candidacy, term=leader.term)
            for name in down:
                etcd.kill9(name)
            with pytest.raises((aetcd.exceptions.ConnectionFailedError, aetcd.exceptions.ConnectionTimeoutError)):
                await document.write(b"no quorum", base=base, candidacy=leader.candidacy, term=leader.term,
                                     timeout=1.0)
        finally:
            for name in down:
                etcd.restart(name)
            etcd.wait_ready()
        try:
            seen = set()
            for endpoint in etcd.endpoints:
                one = EtcdClient(settings_of(etcd, [endpoint]))
                try:
                    reply = await one.call(lambda one=one: one.get(keys.document), timeout=10)
                    seen.add((reply.value, reply.mod_revision))
                finally:
                    await one.close()
            assert len(seen) == 1, seen
            ((value, revision),) = seen
            assert (value, revision == base) in ((b"before", True), (b"no quorum", False))
        finally:
            await leader.stop()
            await document.stop()
            await client.close()

    asyncio.run(scenario())
