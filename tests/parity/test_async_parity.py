"""The AsyncClient's calls, run against the mock server and a 3-daemon pack.

As the sync SDK's parity suite: writes go through the backend's entry (a follower on the
pack, so each is forwarded to the leader), and their effects are checked on every member's
view with the sync clients, waiting for them to arrive.
"""
from __future__ import annotations

import asyncio

import pytest

import pylxd_cluster
from pylxd_cluster import AsyncClient


def run(coroutine):
    return asyncio.run(coroutine)


def member(client, name: str):
    return client.cluster.members.get(name)


def test_every_member_answers_the_async_client_as_the_sync_one(backend):
    async def scenario():
        for view in backend.views():
            async with AsyncClient(view.endpoint, timeout=15) as client:
                assert client.server_name == view.server_name and client.api_extensions == view.api_extensions
                listed, synced = await client.cluster.members.all(), view.cluster.members.all()
                assert [m.to_api() for m in listed] == [m.to_api() for m in synced]
                gathered = await asyncio.gather(*(client.cluster.members.get(n) for n in listed.names))
                assert [m.to_api() for m in gathered] == [m.to_api() for m in listed]
                groups = await client.cluster.groups.all()
                assert [g.to_api() for g in groups] == [g.to_api() for g in view.cluster.groups.all()]

    run(scenario())


def test_writes_through_a_follower_reach_every_member(backend):
    target = backend.target

    async def scenario():
        async with AsyncClient(backend.entry_socket, timeout=15) as client:
            first = await client.cluster.members.get(target)
            await first.evolve(description="async writer").save()
            with pytest.raises(pylxd_cluster.PreconditionFailed):
                await first.evolve(description="stale writer").save()
            operation = await client.cluster.members.evacuate(target, mode="stop")
            assert operation.status == "Success"
            return first

    run(scenario())
    backend.eventually(lambda c: (member(c, target).description, member(c, target).status)
                       == ("async writer", "Evacuated"), "saved and evacuated")

    async def restore():
        async with AsyncClient(backend.entry_socket, timeout=15) as client:
            assert (await client.cluster.members.restore(target)).status == "Success"

    run(restore())
    backend.eventually(lambda c: member(c, target).status == "Online", "restored")


def test_tokens_groups_and_configuration(backend):
    target = backend.target

    async def scenario():
        async with AsyncClient(backend.entry_socket, timeout=15) as client:
            token = await client.cluster.tokens.create("node7")
            assert pylxd_cluster.JoinToken.decode(token.token).secret == token.secret
            await client.cluster.groups.create("rack1", description="first", members=[target])
            written = await client.cluster.config.set("AsyncCheck", port=80)
            return token, written

    token, written = run(scenario())
    backend.eventually(lambda c: [t.secret for t in c.cluster.tokens.all()] == [token.secret]
                       and list(c.cluster.groups.get("rack1").members) == [target]
                       and c.cluster.config.get().digest == written.digest, "token, group and configuration")

    async def undo():
        async with AsyncClient(backend.entry_socket, timeout=15) as client:
            await client.cluster.tokens.revoke("node7")
            await client.cluster.groups.update("rack1", members=[])
            await client.cluster.groups.delete("rack1")
            await client.cluster.config.unset("AsyncCheck")
            with pytest.raises(pylxd_cluster.NotFound):
                await client.cluster.groups.get("rack1")

    run(undo())
    backend.eventually(lambda c: c.cluster.tokens.all() == () and not c.cluster.groups.exists("rack1")
                       and "AsyncCheck" not in c.cluster.config.get().names, "undone")


def test_a_write_is_an_event_on_every_members_async_stream(backend):
    source = f"/1.0/cluster/members/{backend.target}"

    async def scenario():
        clients = [await AsyncClient.connect(view.endpoint, timeout=15) for view in backend.views()]
        streams = [await client.events().open() for client in clients]   # listening before the write
        try:
            await clients[0].cluster.members.update(backend.target, description="async event")
            events = await asyncio.gather(*(stream.wait_for(action="cluster-member-updated", source=source,
                                                            timeout=10) for stream in streams))
            assert [event.location for event in events] == [client.server_name for client in clients]
        finally:
            for stream in streams:
                await stream.close()
            for client in clients:
                await client.close()

    run(scenario())
