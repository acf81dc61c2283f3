"""The SDK's own scenarios (tests/sdk/test_against_mock.py) against the real servers: LXD
5.0.2 (``real_lxd``) and Incus 6.0.4 (``real_incus``), each a two-member cluster
(tests/support/realservers.py), and, with the same test bodies, against the mock in the
matching profile (``lxd-5.0``, ``incus-6.0``) with two members, so that a scenario that
passes on one and fails on the other shows where the mock and the server part.

The SDK talks to ``node1``'s unix socket through a :class:`requests.Session` that records
what it sends: a call the server lacks the API extension for must raise
``ExtensionMissing`` having sent nothing, whatever the server. Each test leaves the real
cluster as it found it (``RealCluster.reset``); every mock is fresh.

Where the servers answer differently (each one's own words for a duplicate group, Incus's
refusal of a join token named after a member, Incus's evacuation modes), each one's answer
is asserted, keyed by ``target.flavour``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

import pylxd_cluster
from mockserver import MockCluster
from tests.support.realservers import FLAVOURS, unix_request

#: target id: (flavour, mock profile or None for the real server)
TARGETS = {"live-lxd": ("lxd", None), "live-incus": ("incus", None),
           "mock-lxd-5.0": ("lxd", "lxd-5.0"), "mock-incus-6.0": ("incus", "incus-6.0")}
EXTENSIONS = {"lxd": 318, "incus": 450}  # len(api_extensions) of LXD 5.0.2 and Incus 6.0.4 as packaged
#: POST /1.0/cluster/groups with a name in use: 500 with each server's own words (live).
GROUP_EXISTS = {"lxd": "This cluster group already exists",
                "incus": 'Failed to create "cluster_groups" entry: UNIQUE constraint failed: cluster_groups.name'}


class RecordingSession(requests.Session):
    """A session that notes every request the SDK sends, before sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else url
        params = kwargs.get("params")
        self.sent.append((method, path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")))
        return super().request(method, url, *args, **kwargs)


@dataclass
class Target:
    """One server under test, through the SDK."""

    name: str
    flavour: str                      # "lxd" or "incus"
    socket_path: str
    client: pylxd_cluster.Client
    session: RecordingSession
    mock: MockCluster | None = None   # the mock, if it is one
    extras: dict = field(default_factory=dict)

    @property
    def sent(self) -> list[tuple[str, str]]:
        return self.session.sent

    def clear(self) -> None:
        self.session.sent.clear()

    def raw(self, method: str, path: str, body: Any = None) -> Any:
        """The server's own answer's metadata (not through the SDK)."""
        status, _, reply = unix_request(self.socket_path, method, path, body)
        assert status in (200, 201, 202), (method, path, status, reply)
        return reply["metadata"]


@pytest.fixture(params=list(TARGETS))
def target(request):
    flavour, profile = TARGETS[request.param]
    with contextlib.ExitStack() as stack:
        if profile is None:
            real = request.getfixturevalue(f"real_{flavour}")
            stack.callback(real.reset)
            socket_path, mock = real.socket_path("node1"), None
        else:
            mock = stack.enter_context(MockCluster(2, server=profile))
            socket_path = mock.unix_socket
        session = RecordingSession()
        client = pylxd_cluster.Client(socket_path, timeout=30, session=session)
        stack.callback(client.close)
        session.sent.clear()
        yield Target(request.param, flavour, socket_path, client, session, mock)


# ---- what the client learned -------------------------------------------------------------------

def test_client_facts(target):
    client = target.client
    assert client.trusted and client.server_clustered and client.server_name == "node1"
    assert (client.server, client.server_version) == (target.flavour, FLAVOURS[target.flavour].version)
    assert client.has_api_extension("clustering") and client.has_api_extension("clustering_groups")
    assert client.has_api_extension("cluster_member_state") == (target.flavour == "incus")
    # the mock adds its own extension at the end of the server's list
    assert client.has_api_extension("pack_configuration") == (target.mock is not None)
    assert len(client.api_extensions) == EXTENSIONS[target.flavour] + (target.mock is not None)
    cluster = client.cluster.get()
    assert cluster.enabled and cluster.server_name == "node1"
    assert target.sent == [("GET", "/1.0/cluster")]


# ---- members -----------------------------------------------------------------------------------

def test_members_all_is_one_request_and_complete(target):
    members = target.client.cluster.members.all()
    assert target.sent == [("GET", "/1.0/cluster/members?recursion=1")]
    assert [m.to_api() for m in members] == target.raw("GET", "/1.0/cluster/members?recursion=1")
    assert members.names == ("node1", "node2")
    assert {m.status for m in members} == {"Online"}
    assert [m.roles for m in members] == [("database-leader", "database"), ("database-standby",)]


def test_get_and_exists(target):
    members = target.client.cluster.members
    node2 = members.get("node2")
    assert node2.to_api() == target.raw("GET", "/1.0/cluster/members/node2")
    assert node2.etag and node2.url.startswith("https://") and node2.groups == ("default",)
    assert members.exists("node2") and not members.exists("ghost")
    with pytest.raises(pylxd_cluster.NotFound) as caught:
        members.get("ghost")
    assert "GET /1.0/cluster/members/ghost" in str(caught.value)


def test_save_with_etag_and_lost_update_refused(target):
    members = target.client.cluster.members
    first = members.get("node2")
    first.evolve(description="first writer").save()
    with pytest.raises(pylxd_cluster.PreconditionFailed) as caught:
        first.evolve(description="stale writer").save()
    assert "412" in str(caught.value) and "refresh()" in str(caught.value)
    assert target.raw("GET", "/1.0/cluster/members/node2")["description"] == "first writer"
    fresh = first.refresh()
    fresh.evolve(description="second writer").save()
    assert target.raw("GET", "/1.0/cluster/members/node2")["description"] == "second writer"


def test_update_merges_the_given_fields(target):
    members = target.client.cluster.members
    before = members.get("node2")
    members.update("node2", description="rack two", failure_domain="rack2", config={"user.owner": "ops"})
    after = target.raw("GET", "/1.0/cluster/members/node2")
    assert (after["description"], after["failure_domain"], after["config"]) == ("rack two", "rack2",
                                                                                {"user.owner": "ops"})
    assert (tuple(after["roles"]), tuple(after["groups"])) == (before.roles, before.groups)
    members.update("node2", config={})
    assert target.raw("GET", "/1.0/cluster/members/node2")["config"] == {}
    with pytest.raises(pylxd_cluster.APIError) as bad:
        members.update("node2", config={"scheduler.instance": "sometimes"})
    assert bad.value.status_code == 500  # both servers, as their 500s are faithful in the mock
    assert 'Invalid cluster configuration key "scheduler.instance" value' in str(bad.value)


def test_rename_and_rename_back(target):
    members = target.client.cluster.members
    members.rename("node2", "node2b")
    assert members.exists("node2b") and not members.exists("node2")
    assert members.all().names == ("node1", "node2b")
    with pytest.raises(pylxd_cluster.Conflict) as taken:
        members.rename("node2b", "node1")
    assert taken.value.status_code == 409 and taken.value.error == "Conflict"
    members.rename("node2b", "node2")
    assert members.all().names == ("node1", "node2")


def test_evacuate_and_restore(target):
    members = target.client.cluster.members
    operation = members.evacuate("node2", mode="stop")
    assert operation.status == "Success" and members.get("node2").status == "Evacuated"
    assert members.get("node2").message == "Unavailable due to maintenance"
    with pytest.raises(pylxd_cluster.OperationError) as again:
        members.evacuate("node2")
    assert "already evacuated" in str(again.value)
    assert members.restore("node2").status == "Success"
    assert members.get("node2").status == "Online"
    with pytest.raises(pylxd_cluster.OperationError) as restored:
        members.restore("node2")
    assert "already restored" in str(restored.value)


def test_evacuate_without_waiting_then_wait_for_status(target):
    members = target.client.cluster.members
    members.evacuate("node2", wait=False)
    member = members.wait_for_status("node2", "Evacuated", timeout=30, poll_interval=0.2)
    assert member.message == "Unavailable due to maintenance"
    members.restore("node2")
    assert members.wait_for_status("node2", "Online", timeout=30, poll_interval=0.2).message == "Fully operational"


@pytest.mark.parametrize("mode", ["stateful-stop", "force-stop"])
def test_incus_evacuation_modes(target, mode):
    """Incus's own modes: Incus takes them; LXD 5.0.2 does not look at the mode when there
    is nothing to move, so it evacuates too."""
    members = target.client.cluster.members
    operation = members.evacuate("node2", mode=mode)
    assert operation.status == "Success" and members.get("node2").status == "Evacuated"
    members.restore("node2")
    assert members.get("node2").status == "Online"


def test_unknown_evacuation_mode(target):
    members = target.client.cluster.members
    if target.flavour == "incus":
        with pytest.raises(pylxd_cluster.APIError) as refused:
            members.evacuate("node2", mode="bogus")
        assert refused.value.status_code == 400
        assert refused.value.error == ('Invalid value "bogus" (not one of [auto migrate live-migrate stop '
                                       'stateful-stop force-stop])')
        assert members.get("node2").status == "Online"
    else:  # LXD 5.0.2 does not look at the mode when there is nothing to move
        assert members.evacuate("node2", mode="bogus").status == "Success"
        assert members.get("node2").status == "Evacuated"
        members.restore("node2")


def test_calls_the_server_lacks_an_extension_for_send_nothing(target):
    members = target.client.cluster.members
    with pytest.raises(pylxd_cluster.ExtensionMissing) as force:
        members.evacuate("node2", force=True)
    assert force.value.extension == "clustering_evacuation_force"
    assert (force.value.server, force.value.server_version) == (target.flavour, FLAVOURS[target.flavour].version)
    with pytest.raises(pylxd_cluster.ExtensionMissing) as skip:
        members.restore("node2", mode="skip")
    assert skip.value.extension == "clustering_restore_skip_mode"
    if target.mock is None:  # the pack's own configuration API: on neither real server
        with pytest.raises(pylxd_cluster.ExtensionMissing) as config:
            target.client.cluster.config.get()
        assert config.value.extension == "pack_configuration"
    assert target.sent == []


def test_member_state(target):
    members = target.client.cluster.members
    if target.client.has_api_extension("cluster_member_state"):
        state = members.state("node1")
        assert target.sent == [("GET", "/1.0/cluster/members/node1/state")]
        assert state.sysinfo.total_ram > 0 and state.sysinfo.processes > 0 and len(state.sysinfo.load_averages) == 3
        # Incus 6.0.4 has no logical_cpus (LXD's state_logical_cpus): its sysinfo's own keys
        raw = target.raw("GET", "/1.0/cluster/members/node2/state")
        assert list(raw) == ["sysinfo", "storage_pools"]
        assert list(raw["sysinfo"]) == ["uptime", "load_averages", "total_ram", "free_ram", "shared_ram",
                                        "buffered_ram", "total_swap", "free_swap", "processes"]
        assert members.state("node2").sysinfo.logical_cpus == 0
    else:  # LXD 5.0: refused before sending
        with pytest.raises(pylxd_cluster.ExtensionMissing, match="cluster_member_state") as caught:
            members.state("node1")
        assert caught.value.server == "lxd" and caught.value.server_version == "5.0.2"
        assert target.sent == []
        # and what the server itself answers, had it been sent (a NotImplementedByServer too)
        status, _, reply = unix_request(target.socket_path, "GET", "/1.0/cluster/members/node1/state")
        assert (status, reply["error"]) == (501, "not implemented")


def test_delete_unknown_member(target):
    with pytest.raises(pylxd_cluster.NotFound) as caught:
        target.client.cluster.members.delete("ghost", force=True)
    assert caught.value.status_code == 404 and caught.value.error == "Cluster member not found"
    assert target.client.cluster.members.all().names == ("node1", "node2")


# ---- join tokens -------------------------------------------------------------------------------

def test_join_tokens(target):
    tokens = target.client.cluster.tokens
    token = tokens.create("node7")
    assert token.server_name == "node7"
    assert token.fingerprint == target.client.environment["certificate_fingerprint"]
    urls = [m["url"].split("://", 1)[1] for m in target.raw("GET", "/1.0/cluster/members?recursion=1")]
    assert list(token.addresses) == urls
    decoded = pylxd_cluster.JoinToken.decode(token.token)
    assert decoded.secret == token.secret and decoded.addresses == token.addresses
    assert [t.server_name for t in tokens.all()] == ["node7"]
    tokens.revoke("node7")
    assert tokens.all() == ()
    with pytest.raises(pylxd_cluster.NotFound) as missing:
        tokens.revoke("node7")
    assert "no running join token matches 'node7'" in str(missing.value) and "%3C" not in str(missing.value)


def test_join_token_named_after_a_member(target):
    """LXD 5.0.2 grants it; Incus 6.0.4 refuses it (500)."""
    tokens = target.client.cluster.tokens
    if target.flavour == "incus":
        with pytest.raises(pylxd_cluster.APIError) as refused:
            tokens.create("node2")
        assert (refused.value.status_code, refused.value.error) == (
            500, "The cluster already has a member with name: node2")
        assert tokens.all() == ()
    else:
        assert tokens.create("node2").server_name == "node2"
        assert [t.server_name for t in tokens.all()] == ["node2"]
        tokens.revoke("node2")


# ---- groups ------------------------------------------------------------------------------------

def test_groups(target):
    groups = target.client.cluster.groups
    groups.create("rack1", description="first", members=["node1"])
    assert target.raw("GET", "/1.0/cluster/groups/rack1") == {"description": "first", "members": ["node1"],
                                                              "name": "rack1"}
    assert target.raw("GET", "/1.0/cluster/members/node1")["groups"] == ["default", "rack1"]
    groups.update("rack1", description="changed")
    groups.rename("rack1", "rack2")
    assert groups.get("rack2").description == "changed" and groups.get("rack2").members == ("node1",)
    assert not groups.exists("rack1")
    with pytest.raises(pylxd_cluster.Forbidden) as refused:
        groups.delete("default")
    assert "cannot be deleted" in str(refused.value) and "certificate" not in str(refused.value)
    with pytest.raises(pylxd_cluster.APIError) as duplicate:
        groups.create("rack2")
    assert (duplicate.value.status_code, duplicate.value.error) == (500, GROUP_EXISTS[target.flavour])
    groups.update("rack2", members=[])
    groups.delete("rack2")
    assert [g.name for g in groups.all()] == ["default"]
    assert groups.get("default").members == ("node1", "node2")


# ---- events ------------------------------------------------------------------------------------

def test_a_member_update_is_an_event(target):
    with target.client.events() as stream:
        target.client.cluster.members.update("node2", description="watched")
        event = stream.wait_for(action="cluster-member-updated", source="/1.0/cluster/members/node2", timeout=30)
    assert event.type == "lifecycle" and event.location in ("node1", "node2", "none")


# ---- the same over asyncio ---------------------------------------------------------------------

def test_the_async_client_reads_writes_waits_and_listens_as_the_sync_one(target):
    """AsyncClient against the real servers: the same answers, the operations awaited (an
    Incus /wait answers an error inside HTTP 200, LXD 5.0 the operation), the events."""
    import asyncio

    sync = target.client

    async def scenario():
        async with pylxd_cluster.AsyncClient(target.socket_path, timeout=30) as client:
            assert (client.server, client.server_version) == (sync.server, sync.server_version)
            assert [m.to_api() for m in await client.cluster.members.all()] == \
                [m.to_api() for m in sync.cluster.members.all()]
            async with client.events() as stream:
                await client.cluster.members.update("node2", description="async")
                event = await stream.wait_for(action="cluster-member-updated", timeout=10)
                assert event.source == "/1.0/cluster/members/node2"
            assert (await client.cluster.members.evacuate("node2", mode="stop")).status == "Success"
            with pytest.raises(pylxd_cluster.OperationError, match="already evacuated"):
                await client.cluster.members.evacuate("node2", mode="stop")
            assert (await client.cluster.members.restore("node2")).status == "Success"
            if not client.has_api_extension("cluster_member_state"):
                with pytest.raises(pylxd_cluster.ExtensionMissing):
                    await client.cluster.members.state("node1")

    asyncio.run(scenario())
    assert sync.cluster.members.get("node2").status == "Online"
