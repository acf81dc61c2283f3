"""AsyncClient: the same managers, models and errors as Client, over asyncio (aiohttp).

Against the mock server on its unix socket and over HTTPS, and against scripted loopback
servers for retries and timeouts (the same scripts as the sync client's tests).
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

import pylxd_cluster
from mockserver import MockCluster
from mockserver.daemon.harness import async_wait_until
from pylxd_cluster import (
    APIError,
    AsyncClient,
    Client,
    ClientConnectionError,
    ClusterError,
    ExtensionMissing,
    NotFound,
    OperationError,
    OutcomeUnknown,
    PreconditionFailed,
    Timeout,
)
from pylxd_cluster.aio import AsyncEventStream, AsyncTransport
from tests.sdk.test_retries import BUSY, CLUSTER, DROP, ScriptedServer


def run(coroutine):
    return asyncio.run(coroutine)


def record_sleeps(client: AsyncClient) -> list[float]:
    """The pauses the transport makes, recorded instead of waited out."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client.transport.sleep = sleep
    return slept


# ---- the same answers as the sync client ---------------------------------------------------

def test_every_read_gives_what_the_sync_client_gives(mock_cluster):
    sync = Client(mock_cluster.unix_socket)

    async def scenario():
        async with AsyncClient(mock_cluster.unix_socket) as client:
            assert (client.server, client.server_version, client.api_extensions) == (
                sync.server, sync.server_version, sync.api_extensions)
            assert client.trusted and client.server_clustered and client.server_name == sync.server_name
            members = await client.cluster.members.all()
            assert type(members) is pylxd_cluster.MemberList and members == sync.cluster.members.all()
            assert await client.cluster.members.get("node2") == sync.cluster.members.get("node2")
            assert await client.cluster.members.exists("node2") and not await client.cluster.members.exists("x")
            assert await client.cluster.groups.all() == sync.cluster.groups.all()
            assert (await client.cluster.get()).to_api() == sync.cluster.get().to_api()
            assert await client.cluster.members.state("node1") == sync.cluster.members.state("node1")
            assert await client.operations.all() == sync.operations.all()

    run(scenario())
    sync.close()


def test_writes_models_and_operations_are_awaited(mock_cluster):
    sync = Client(mock_cluster.unix_socket)

    async def scenario():
        async with AsyncClient(mock_cluster.unix_socket) as client:
            member = await client.cluster.members.get("node2")
            await member.evolve(description="async writer").save()
            assert sync.cluster.members.get("node2").description == "async writer"
            with pytest.raises(PreconditionFailed):
                await member.evolve(description="stale").save()       # the ETag read before the save
            fresh = await member.sync()
            assert fresh.description == "async writer"

            operation = await fresh.evacuate()
            assert operation.status == "Success" and sync.cluster.members.get("node2").status == "Evacuated"
            with pytest.raises(OperationError, match="already evacuated"):
                await client.cluster.members.evacuate("node2")
            running = await client.cluster.members.restore("node2", wait=False)
            assert running.status == "Running" and (await running).status == "Success"
            with pytest.raises(TypeError, match="operation.wait"):
                await sync.cluster.members.evacuate("node2", wait=False)

            group = await client.cluster.groups.create("rack1", description="r", members=["node1"])
            assert group.members == ("node1",) and sync.cluster.groups.exists("rack1")
            await client.cluster.groups.update("rack1", members=[])
            await group.delete()
            assert not sync.cluster.groups.exists("rack1")

            token = await client.cluster.tokens.create("node9")
            assert [t.server_name for t in await client.cluster.tokens.all()] == ["node9"]
            assert "secret" not in repr(token) or token.secret not in repr(token)
            await token.revoke()
            assert list(sync.cluster.tokens.all()) == []

            await client.cluster.members.update("node3", description="merged", config={"user.rack": "b"})
            assert sync.cluster.members.get("node3").config == {"user.rack": "b"}

    run(scenario())
    sync.close()


def test_errors_are_the_sync_clients(mock_cluster):
    async def scenario():
        async with AsyncClient(mock_cluster.unix_socket) as client:
            with pytest.raises(NotFound) as caught:
                await client.cluster.members.get("nope")
            error = caught.value
            assert (error.status_code, error.http_status, error.method) == (404, 404, "GET")
            assert error.path == "/1.0/cluster/members/nope" and error.endpoint == client.endpoint
            with pytest.raises(NotFound):
                await (await client.cluster.members.get("node1")).evolve(server_name="gone").sync()

    run(scenario())


def test_fifty_concurrent_gets_share_one_session(mock_cluster):
    async def scenario():
        async with AsyncClient(mock_cluster.unix_socket) as client:
            names = ["node1", "node2", "node3"] * 17
            members = await asyncio.gather(*(client.cluster.members.get(name) for name in names[:50]))
            assert [m.server_name for m in members] == names[:50]
            return client.transport.session

    session = run(scenario())
    assert session is None or session.closed


def test_a_missing_extension_is_refused_before_anything_is_sent():
    with MockCluster(3, server="lxd-5.0", listen=None) as mock:
        async def scenario():
            async with AsyncClient(mock.unix_socket) as client:
                mock.clear_requests()
                with pytest.raises(ExtensionMissing, match="cluster_member_state") as caught:
                    await client.cluster.members.state("node1")
                assert "LXD 5.0.2" in str(caught.value)
            assert mock.requests == []

        run(scenario())


def test_building_sends_nothing_and_the_first_call_reads_the_server(mock_cluster):
    async def scenario():
        client = AsyncClient(mock_cluster.unix_socket)
        mock_cluster.clear_requests()
        with pytest.raises(ClusterError, match="await client.open"):
            client.server  # noqa: B018 - the property is what is tested
        assert mock_cluster.requests == []
        assert (await client.cluster.members.get("node1")).server_name == "node1"
        assert [r.path for r in mock_cluster.requests][:2] == ["/1.0", "/1.0/cluster/members/node1"]
        assert client.server == "lxd"
        await client.close()
        await client.close()  # idempotent

    run(scenario())


def test_project_and_version_as_in_the_sync_client(mock_cluster):
    with pytest.raises(ValueError, match="1.0"):
        AsyncClient(mock_cluster.unix_socket, version="2.0")

    async def scenario():
        async with AsyncClient(mock_cluster.unix_socket, project="default") as client:
            mock_cluster.clear_requests()
            await client.operations.all()
            assert mock_cluster.requests[-1].query.get("project") == "default"

    run(scenario())


def test_connect_and_repr(mock_cluster):
    async def scenario():
        client = await AsyncClient.connect(mock_cluster.unix_socket, timeout=(2, 5))
        assert repr(client) == (f"<AsyncClient endpoint='unix://{mock_cluster.unix_socket}' server_name='node1' "
                                "server='LXD 5.21.7'>")
        await client.close()

    run(scenario())


# ---- HTTPS, pinned ---------------------------------------------------------------------

def test_https_with_a_pinned_fingerprint_and_a_client_certificate(tmp_path):
    from tests.sdk.tls import make_certificate

    cert, key, client_fingerprint = make_certificate(tmp_path, "client")
    with MockCluster(3, tls=True, unix=None, trusted_certs=[cert.read_text()]) as mock:
        async def scenario():
            async with AsyncClient(mock.url, verify=mock.fingerprint, cert=(str(cert), str(key))) as client:
                assert client.trusted
                assert len(await client.cluster.members.all()) == 3
                async with client.events() as stream:
                    await client.cluster.members.update("node2", description="over tls")
                    event = await stream.wait_for(action="cluster-member-updated", timeout=10)
                    assert event.source == "/1.0/cluster/members/node2"
            async with AsyncClient(mock.url, verify=False) as anonymous:
                assert not anonymous.trusted
            mock.clear_requests()
            with pytest.raises(ClientConnectionError, match="TLS failure") as caught:
                await AsyncClient.connect(mock.url, verify="11" * 32, cert=(str(cert), str(key)))
            assert "ingerprint" in str(caught.value)
            with pytest.raises(ClientConnectionError, match="TLS failure"):
                await AsyncClient.connect(mock.url, verify=True)   # self-signed: the CA check fails
            assert mock.requests == []                            # nothing reached the server

        run(scenario())


# ---- a real network: retries, timeouts, failures ------------------------------------------

def test_a_503_to_a_get_is_retried_with_backoff():
    with ScriptedServer([(503, {}, BUSY), (503, {}, BUSY), (200, {}, CLUSTER)]) as server:
        async def scenario():
            async with AsyncClient(server.url) as client:
                slept = record_sleeps(client)
                assert (await client.cluster.get()).server_name == "node1"
                return slept

        slept = run(scenario())
    assert server.seen == [("GET", "/1.0/cluster")] * 3
    assert len(slept) == 2 and 0.2 <= slept[0] < slept[1] <= 2.0 + 0.05


@pytest.mark.parametrize(("retry_after", "paused"), [("3", 3.0), ("3600", 10.0)])
def test_retry_after_is_honoured_and_capped(retry_after, paused):
    with ScriptedServer([(503, {"Retry-After": retry_after}, BUSY), (200, {}, CLUSTER)]) as server:
        async def scenario():
            async with AsyncClient(server.url) as client:
                slept = record_sleeps(client)
                await client.cluster.get()
                return slept

        assert run(scenario()) == [paused]


def test_a_503_to_a_write_is_not_retried():
    with ScriptedServer([(503, {}, BUSY), (200, {}, CLUSTER)]) as server:
        async def scenario():
            async with AsyncClient(server.url) as client:
                slept = record_sleeps(client)
                with pytest.raises(APIError) as caught:
                    await client.transport.request("PUT", "/1.0/cluster", json={"enabled": True})
                assert caught.value.status_code == 503 and "retry in a moment" in caught.value.error
                return slept

        assert run(scenario()) == []
    assert server.seen == [("PUT", "/1.0/cluster")]


def test_a_dropped_connection_is_retried_for_a_get_and_never_for_a_write():
    with ScriptedServer([DROP, (200, {}, CLUSTER)]) as server:
        async def scenario():
            async with AsyncClient(server.url) as client:
                record_sleeps(client)
                assert (await client.cluster.get()).enabled is True

        run(scenario())
    assert server.seen == [("GET", "/1.0/cluster")] * 2

    with ScriptedServer([DROP, (200, {}, CLUSTER)]) as server:
        async def write():
            async with AsyncClient(server.url) as client:
                with pytest.raises(OutcomeUnknown):
                    await client.transport.request("POST", "/1.0/cluster/members", json={"server_name": "x"})

        run(write())
    assert server.seen == [("POST", "/1.0/cluster/members")]


def test_a_refused_connection_is_retried_then_reported():
    with socket.socket() as probe:          # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario():
        client = AsyncClient(f"http://127.0.0.1:{port}", retries=2)
        slept = record_sleeps(client)
        with pytest.raises(ClientConnectionError, match="cannot connect"):
            await client.open()
        await client.close()
        return slept

    assert len(run(scenario())) == 2


def test_a_read_timeout_of_a_pair_is_a_timeout(tmp_path):
    path = tmp_path / "slow.socket"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)  # accepts the connection, never answers
    try:
        async def scenario():
            with pytest.raises(Timeout) as caught:
                await AsyncClient.connect(str(path), timeout=(1, 0.2))
            assert isinstance(caught.value, TimeoutError) and "0.2 s (connect 1 s)" in str(caught.value)

        run(scenario())
    finally:
        listener.close()


def test_a_missing_socket_is_a_connection_error(tmp_path):
    async def scenario():
        with pytest.raises(ClientConnectionError, match="is the server running"):
            await AsyncClient.connect(str(tmp_path / "gone.socket"))

    run(scenario())


def test_each_request_is_logged_at_debug_level(mock_cluster, caplog):
    async def scenario():
        async with AsyncClient(mock_cluster.unix_socket) as client:
            await client.transport.request("GET", "/1.0/operations", params={"secret": "s3cr3t-value"})

    with caplog.at_level(logging.DEBUG, logger="pylxd_cluster"):
        run(scenario())
    lines = [r.getMessage() for r in caplog.records if r.name == "pylxd_cluster.transport"]
    assert any(line.startswith("GET /1.0 -> 200 in ") for line in lines), lines
    assert any("/1.0/operations?secret=%2A%2A%2A -> 200" in line for line in lines), lines
    assert "s3cr3t" not in caplog.text


# ---- events ------------------------------------------------------------------------

def test_events_are_an_async_iterator(mock_cluster):
    async def scenario():
        async with AsyncClient(mock_cluster.unix_socket) as client:
            async with client.events(timeout=10) as stream:
                await client.cluster.members.update("node2", description="one")
                await client.cluster.members.update("node3", description="two")
                seen = []
                async for event in stream:
                    seen.append(event.source)
                    if len(seen) == 2:
                        break
                assert seen == ["/1.0/cluster/members/node2", "/1.0/cluster/members/node3"]
            with pytest.raises(ClusterError, match="closed"):
                await stream.wait_for(timeout=1)
            with pytest.raises(Timeout, match="no event"):
                await client.wait_for_event(action="never", timeout=0.2)
            with pytest.raises(APIError) as caught:
                async with client.events(types=["nonsense"]):
                    pass
            assert caught.value.status_code == 400

    run(scenario())


def test_the_stream_reconnects_when_the_server_comes_back(tmp_path):
    path = str(tmp_path / "lxd.socket")

    async def scenario():
        first = MockCluster(3, unix=path, listen=None).start()
        client = await AsyncClient.connect(path)
        stream = await client.events(timeout=10, reconnect_timeout=30).open()
        try:
            first.stop()
            with MockCluster(3, unix=path, listen=None):
                await async_wait_until(lambda: stream.reconnects == 1, 15, what="the stream reconnected")
                second_client = Client(path)
                second_client.cluster.members.update("node2", description="after the restart")
                second_client.close()
                event = await stream.wait_for(action="cluster-member-updated", timeout=10)
                assert event.source == "/1.0/cluster/members/node2"
        finally:
            first.stop()
            await stream.close()
            await client.close()

    run(scenario())


def test_without_reconnect_a_drop_ends_the_stream(tmp_path):
    path = str(tmp_path / "lxd.socket")

    async def scenario():
        with MockCluster(3, unix=path, listen=None) as mock:
            client = await AsyncClient.connect(path)
            stream = await client.events(reconnect=False).open()
            mock.stop()
            with pytest.raises(ClientConnectionError, match="ended"):
                await stream.wait_for(timeout=10)
            assert stream.reconnects == 0
            await stream.close()
            await client.close()

    run(scenario())


def test_waiting_for_a_status_and_for_members(mock_cluster):
    async def scenario():
        async with AsyncClient(mock_cluster.unix_socket) as client:
            mock_cluster.clear_requests()
            waiting = asyncio.ensure_future(client.cluster.members.wait_for_status("node3", "Offline", timeout=20,
                                                                                   poll_interval=5))
            # Once the wait has read node3 (Online), the change must reach it through its events.
            await async_wait_until(lambda: any(r.path == "/1.0/cluster/members/node3" for r in mock_cluster.requests),
                                   5, what="the wait to read node3")
            mock_cluster.set_offline("node3")
            member = await waiting
            assert member.status == "Offline"
            mock_cluster.set_online("node3")
            members = await client.cluster.members.wait_for_members(3, timeout=20, poll_interval=0.05)
            assert len(members) == 3

    run(scenario())


def test_a_cancelled_wait_closes_its_stream(mock_cluster):
    async def scenario():
        async with AsyncClient(mock_cluster.unix_socket) as client:
            opened: list[AsyncEventStream] = []
            original = AsyncEventStream.open

            async def spy(stream):
                opened.append(stream)
                return await original(stream)

            AsyncEventStream.open = spy
            try:
                task = asyncio.ensure_future(client.cluster.members.wait_for_status("node3", "Offline", timeout=60))
                await async_wait_until(lambda: bool(opened), 10, what="the wait opened its stream")
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            finally:
                AsyncEventStream.open = original
            assert "(closed)" in repr(opened[0])

    run(scenario())


def test_the_transport_is_an_asyncio_one():
    transport = AsyncTransport("/tmp/nothing.socket", timeout=(1, 2))
    assert transport.is_async and transport.endpoint == "unix:///tmp/nothing.socket"
    timeout = transport.client_timeout((1, 2))
    assert (timeout.connect, timeout.sock_read, timeout.total) == (1, 2, None)
    assert str(transport.url("/1.0/operations", {"recursion": 1, "project": "a b"})) == \
        "http://lxd/1.0/operations?recursion=1&project=a+b"


def test_a_client_belongs_to_the_loop_it_was_opened_in(mock_cluster):
    client = AsyncClient(mock_cluster.unix_socket)

    async def first():
        await client.open()

    async def second():
        with pytest.raises(ClusterError, match="another event loop"):
            await client.cluster.members.all()

    run(first())
    run(second())
