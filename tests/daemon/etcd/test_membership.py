"""Membership and leadership on a real 3-member etcd cluster (loopback, TLS with client
certificates): leases, the election recipe, departures told from failures, a member cut off
from etcd that registers again, and members that carry on when an etcd member dies."""
from __future__ import annotations

import asyncio
import contextlib

import pytest

from mockserver.daemon.etcd.client import EtcdClient
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.etcd.membership import EtcdMembership
from mockserver.daemon.etcd.view import ALIVE, FAILED, LEFT, MemberRecord
from mockserver.daemon.harness import async_wait_until
from tests.daemon.etcd.conftest import settings_of

pytestmark = pytest.mark.system

DEAD, KEEPALIVE = 1.0, 0.2




class Member:
    """One member's membership and what it heard."""

    def __init__(self, etcd, keys, name, started=1, endpoints=None, candidate=True):
        self.client = EtcdClient(settings_of(etcd, endpoints))
        self.heard: list = []
        self.leaders: list = []
        self.cut: list = []
        self.reached: list = []
        self.membership = EtcdMembership(self.client, keys, MemberRecord(name, api=f"http://127.0.0.1:1/{name}",
                                                                         started=started),
                                         dead_interval=DEAD, keepalive=KEEPALIVE, candidate=candidate,
                                         on_members=self.heard.extend, on_leader=self.leaders.append,
                                         on_cut_off=self.cut.append,
                                         on_reach=lambda member, report: self.reached.append((member, report)))

    async def close(self):
        await self.membership.stop()
        await self.client.close()


@contextlib.asynccontextmanager
async def pack(etcd, request, names=("node1", "node2", "node3")):
    keys = PackKeys("/pylxd-cluster-test", request.node.name)
    members = {name: Member(etcd, keys, name) for name in names}
    try:
        for member in members.values():   # one after the other: node1's candidacy is the oldest
            await member.membership.start()
        yield keys, members
    finally:
        for member in members.values():
            await member.close()


def test_every_member_sees_every_member_and_the_same_leader(etcd, request):
    async def scenario():
        async with pack(etcd, request) as (keys, members):
            await async_wait_until(lambda: all(m.membership.view.alive() == ["node1", "node2", "node3"]
                                               for m in members.values()), 5, what="every member seen")
            terms = {(m.membership.leader, m.membership.term) for m in members.values()}
            assert len(terms) == 1 and next(iter(terms))[0] == "node1", terms
            assert members["node1"].membership.is_leader() and not members["node2"].membership.is_leader()
            assert members["node3"].membership.view.records["node2"].api == "http://127.0.0.1:1/node2"

    asyncio.run(scenario())


def test_a_departure_is_told_from_a_failure_and_leadership_moves(etcd, request):
    async def scenario():
        async with pack(etcd, request) as (keys, members):
            watcher = members["node3"]
            await async_wait_until(lambda: watcher.membership.view.alive() == ["node1", "node2", "node3"], 5)
            old_term = watcher.membership.term
            await members["node1"].membership.leave()       # the leader leaves on purpose
            await async_wait_until(lambda: watcher.membership.leader == "node2", 5, what="node2 leads")
            assert [(c.name, c.status) for c in watcher.heard if c.name == "node1"][-1] == ("node1", LEFT)
            assert watcher.membership.term > old_term
            await members["node2"].membership.stop()        # stops renewing: a failure, after the TTL
            await async_wait_until(lambda: watcher.membership.leader == "node3", 5, what="node3 leads")
            assert [(c.name, c.status) for c in watcher.heard if c.name == "node2"][-1] == ("node2", FAILED)
            assert watcher.membership.is_leader()

    asyncio.run(scenario())


def test_members_carry_on_when_an_etcd_member_dies(etcd, request):
    async def scenario():
        # Each member starts on a different endpoint: the one killed is node1's.
        keys = PackKeys("/pylxd-cluster-test", request.node.name)
        endpoints = etcd.endpoints
        members = {f"node{i + 1}": Member(etcd, keys, f"node{i + 1}", endpoints=endpoints[i:] + endpoints[:i])
                   for i in range(3)}
        try:
            for member in members.values():
                await member.membership.start()
            victim = next(name for name, m in etcd.members.items() if m["url"] == endpoints[0])
            etcd.kill9(victim)
            # node1 moves to the next endpoint and keeps its lease: nobody fails, the leader stays.
            renewals = members["node1"].membership.counters["renewals"]
            await async_wait_until(lambda: members["node1"].membership.counters["renewals"] > renewals + 3, 10,
                                   what="node1 renews through another etcd member")
            assert all(m.membership.view.alive() == ["node1", "node2", "node3"] for m in members.values())
            assert {m.membership.leader for m in members.values()} == {"node1"}
            assert not any(c.status == FAILED for m in members.values() for c in m.heard)
        finally:
            for member in members.values():
                await member.close()
            etcd.restart(victim)
            etcd.wait_ready()

    asyncio.run(scenario())


def test_a_restart_is_seen_as_one(etcd, request):
    async def scenario():
        async with pack(etcd, request, names=("node1", "node2")) as (keys, members):
            await members["node2"].membership.leave()
            again = Member(etcd, keys, "node2", started=2)
            try:
                await again.membership.start()
                await async_wait_until(lambda: [(c.name, c.status) for c in members["node1"].heard][-1:]
                                       == [("node2", ALIVE)], 5, what="node2 back")
            finally:
                await again.close()

    asyncio.run(scenario())


def test_a_leader_that_died_and_started_again_retires_its_previous_lease_at_once(etcd, request):
    """node1 led and died without leaving; started again, it revokes its previous lease:
    that candidacy goes now, not a TTL later, and node2 (the oldest candidacy left) leads."""
    async def scenario():
        async with pack(etcd, request, names=("node1", "node2")) as (keys, members):
            crashed = members["node1"].membership
            old_lease, old_candidacy = crashed.lease_id, crashed.candidacy
            assert crashed.is_leader()
            await members["node1"].close()   # renewals stop, nothing said: as a process killed
            again = Member(etcd, keys, "node1", started=2)
            try:
                await again.membership.start()
                assert again.membership.counters["incarnations_replaced"] == 1
                assert await again.client.get(old_candidacy) is None
                assert (await again.client.get_lease_info(old_lease)).TTL == -1   # etcd: no such lease
                await async_wait_until(lambda: members["node2"].membership.is_leader(), 5, what="node2 leads")
                assert [(c.name, c.status) for c in members["node2"].heard if c.name == "node1"][-1] == ("node1", ALIVE)
                assert not any(c.status == FAILED for c in members["node2"].heard)
            finally:
                await again.close()

    asyncio.run(scenario())


def test_a_member_cut_off_from_etcd_says_so_and_registers_again(etcd, request):
    """Quorum lost (two of three etcd members down): renewals fail, the member counts itself
    cut off before its TTL ends; when etcd is back it registers again, without a restart."""
    async def scenario():
        async with pack(etcd, request, names=("node1",)) as (keys, members):
            member = members["node1"]
            registrations = member.membership.counters["registrations"]
            down = [name for name in etcd.members][:2]
            for name in down:
                etcd.kill9(name)
            try:
                await async_wait_until(lambda: member.cut == [True], 10, what="node1 cut off")
                assert not member.membership.is_leader()
            finally:
                for name in down:
                    etcd.restart(name)
            await async_wait_until(lambda: member.cut == [True, False], 20, what="node1 back")
            # etcd's new leader extended every lease: node1 renews the one it had.
            assert member.membership.counters["registrations"] == registrations
            record = await member.client.get(keys.member("node1"))
            assert record is not None and record.lease == member.membership.lease_id
            await async_wait_until(lambda: member.membership.view.alive() == ["node1"]
                                   and member.membership.is_leader(), 10, what="node1 registered and leading")

    asyncio.run(scenario())
    etcd.wait_ready()


def test_what_a_member_reaches_is_shared_and_published_again_under_a_new_lease(etcd, request):
    """node1's monitor report reaches node2 through etcd; when etcd says node1's lease is
    gone (revoked here, as an expiry), node1 registers anew and publishes it again."""
    async def scenario():
        async with pack(etcd, request, names=("node1", "node2")) as (keys, members):
            node1, node2 = members["node1"], members["node2"]
            report = {"198.51.100.1": True, "203.0.113.1": False}
            await node1.membership.report_reach(report)
            await async_wait_until(lambda: node2.reached == [("node1", report)], 5, what="node2 hears node1's report")
            written = (await node1.client.get(keys.reach("node1"))).mod_revision
            await node1.membership.report_reach(dict(report))   # unchanged: not written again
            assert (await node1.client.get(keys.reach("node1"))).mod_revision == written

            old_lease = node1.membership.lease_id
            await node2.client.revoke_lease(old_lease)
            # The key went with the old lease, and comes back under the new one.
            await async_wait_until(lambda: node2.reached == [("node1", report)] * 2, 10,
                                   what="node2 hears node1's report again")
            stored = await node1.client.get(keys.reach("node1"))
            assert node1.membership.lease_id != old_lease and stored.lease == node1.membership.lease_id
            assert node1.membership.counters["registrations"] == 2

    asyncio.run(scenario())
