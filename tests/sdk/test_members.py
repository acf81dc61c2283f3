"""MemberManager and ClusterMember against golden replies."""

import json

import pytest

from pylxd_cluster import (
    ClusterMember,
    ExtensionMissing,
    MemberList,
    NotImplementedByServer,
    Operation,
    OperationError,
    PreconditionFailed,
    Timeout,
)
from tests.sdk.fakes import ENDPOINT, sync

NODE1_ETAG = "474196ecb7015d519187cd2664a6e08c65c2a64d163ac6986cfe81996d74fb42"


def test_all_makes_exactly_one_request(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members", "GET_1.0_cluster_members_recursion1_two_members")
    members = client.cluster.members.all()
    assert len(lxd.calls) == 1
    assert lxd.calls[0].request.url == ENDPOINT + "/1.0/cluster/members?recursion=1"
    assert isinstance(members, MemberList)
    assert members.names == ("node1", "node2")
    node2 = members.by_name("node2")
    assert (node2.roles, node2.url, node2.database) == (("database-standby",), "https://127.0.0.2:18443", True)
    # Reading attributes costs nothing more (pylxd makes N+1 requests here).
    assert [m.status for m in members] == ["Online", "Online"]
    assert len(lxd.calls) == 1


def test_by_name_unknown_lists_names(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members", "GET_1.0_cluster_members_recursion1_two_members")
    with pytest.raises(KeyError, match="node1, node2"):
        client.cluster.members.all().by_name("node9")


def test_get_keeps_etag_and_all_fields(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_now")
    member = client.cluster.members.get("node1")
    assert member.etag == NODE1_ETAG
    assert member.groups == ()  # JSON null
    assert member.roles == ("database-leader", "database")
    assert (member.description, member.status, member.message, member.architecture) == (
        "x3", "Online", "Fully operational", "x86_64")


def test_pylxd_crash_path_works(client, lxd):
    lxd.reply("GET", "/1.0/cluster", "GET_1.0_cluster")
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_now")
    member = client.cluster.get().members.get("node1")
    assert member.server_name == "node1"


def test_save_sends_if_match_and_writable_fields_in_wire_order(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_now")
    lxd.reply("PUT", "/1.0/cluster/members/node1", "PUT_1.0_cluster_members_node1_ifmatch_ok")
    member = client.cluster.members.get("node1")
    member.evolve(description="new", groups=("default",)).save()
    put = lxd.requests("PUT")[0]
    assert put.headers["If-Match"] == f'"{NODE1_ETAG}"'
    assert put.body == (b'{"roles":["database-leader","database"],"failure_domain":"default",'
                        b'"description":"new","config":{},"groups":["default"]}')


def test_save_with_stale_etag_raises_precondition_failed(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_now")
    lxd.reply("PUT", "/1.0/cluster/members/node1", "PUT_1.0_cluster_members_node1_ifmatch_wrong")
    member = client.cluster.members.get("node1")
    with pytest.raises(PreconditionFailed) as info:
        member.evolve(description="y").save()
    assert info.value.status_code == 412
    assert "PUT /1.0/cluster/members/node1" in str(info.value)


def test_refresh_returns_a_new_instance(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_now")
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_final")
    first = client.cluster.members.get("node1")
    second = first.refresh()
    assert second is not first
    assert first.description == "x3" and second.description == ""
    assert second.etag != first.etag


def test_update_merges_given_fields_over_a_fresh_read(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_now")
    lxd.reply("PUT", "/1.0/cluster/members/node1", "PUT_1.0_cluster_members_node1_ifmatch_ok")
    client.cluster.members.update("node1", description="d", groups=["default", "g1"])
    put = lxd.requests("PUT")[0]
    assert json.loads(put.body) == {
        "roles": ["database-leader", "database"], "failure_domain": "default",
        "description": "d", "config": {}, "groups": ["default", "g1"],
    }
    assert put.headers["If-Match"] == f'"{NODE1_ETAG}"'


def test_update_prefers_given_etag(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_now")
    lxd.reply("PUT", "/1.0/cluster/members/node1", "PUT_1.0_cluster_members_node1_ifmatch_wrong")
    with pytest.raises(PreconditionFailed):
        client.cluster.members.update("node1", config={"scheduler.instance": "manual"}, etag="deadbeef")
    assert lxd.requests("PUT")[0].headers["If-Match"] == '"deadbeef"'


def test_rename_and_forced_delete(client, lxd):
    lxd.reply("POST", "/1.0/cluster/members/node1", "POST_1.0_cluster_members_node1_rename")
    lxd.reply("DELETE", "/1.0/cluster/members/node2", "DELETE_1.0_cluster_members_node2")
    client.cluster.members.rename("node1", "node1b")
    client.cluster.members.delete("node2", force=True)
    post, delete = lxd.requests()
    assert json.loads(post.body) == {"server_name": "node1b"}
    assert delete.url == ENDPOINT + "/1.0/cluster/members/node2?force=1"


def test_exists(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_now")
    lxd.reply("GET", "/1.0/cluster/members/nope", "GET_1.0_cluster_members_nope")
    assert client.cluster.members.exists("node1") is True
    assert client.cluster.members.exists("nope") is False


def test_evacuate_waits_and_returns_final_operation(client, lxd):
    op = "28716655-0065-40c8-919f-b12a5aa1ecf0"
    lxd.reply("POST", "/1.0/cluster/members/node1/state", "POST_1.0_cluster_members_node1_state_evacuate")
    lxd.reply("GET", f"/1.0/operations/{op}/wait", "GET_1.0_operations_EVACID_wait")
    final = client.cluster.members.evacuate("node1", mode="stop", timeout=10)
    assert isinstance(final, Operation)
    assert (final.id, final.status, final.status_code) == (op, "Success", 200)
    post, wait = lxd.requests()
    assert json.loads(post.body) == {"action": "evacuate", "mode": "stop", "force": False}
    assert wait.url == ENDPOINT + f"/1.0/operations/{op}/wait?timeout=10"


def test_evacuate_without_wait_returns_running_operation(client, lxd):
    lxd.reply("POST", "/1.0/cluster/members/node1/state", "POST_1.0_cluster_members_node1_state_evacuate")
    op = client.cluster.members.evacuate("node1", wait=False)
    assert op.status == "Running" and op.description == "Evacuating cluster member"
    assert len(lxd.calls) == 1


def test_failed_evacuation_raises_operation_error(client_as, lxd):
    client = client_as(version="6.9", add=("clustering_evacuation_force",))
    op = "4402deb2-5db9-4c1d-9fe5-edd6fda733ae"
    lxd.reply("POST", "/1.0/cluster/members/node1/state", "POST_1.0_cluster_members_node1_state_evacuate_again")
    lxd.reply("GET", f"/1.0/operations/{op}/wait", "GET_1.0_operations_EVACID_again_wait")
    with pytest.raises(OperationError) as info:
        client.cluster.members.evacuate("node1", force=True)
    assert info.value.err == "Cluster member is already evacuated"
    assert info.value.operation.status == "Failure"
    assert "Cluster member is already evacuated" in str(info.value)
    assert json.loads(lxd.requests("POST")[0].body)["force"] is True


def test_restore_member_method(client_as, lxd):
    client = client_as(version="6.4", add=("clustering_restore_skip_mode",))
    op = "4a148447-d41f-4138-8b8c-0969506a1713"
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_evacuated")
    lxd.reply("POST", "/1.0/cluster/members/node1/state", "POST_1.0_cluster_members_node1_state_restore")
    lxd.reply("GET", f"/1.0/operations/{op}/wait", "GET_1.0_operations_RESTOREID_wait")
    member = client.cluster.members.get("node1")
    assert member.status == "Evacuated"
    final = member.restore(mode="skip")
    assert final.description == "Restoring cluster member" and final.succeeded
    assert json.loads(lxd.requests("POST")[0].body) == {"action": "restore", "mode": "skip", "force": False}


def test_wait_still_running_raises_timeout(client, lxd):
    op = "45ccbaf5-f4d0-484a-a5b4-8aade035f686"
    lxd.reply("GET", f"/1.0/operations/{op}/wait", "GET_1.0_operations_TOKEN_running_wait_timeout1")
    with pytest.raises(Timeout) as info:
        client.operations.wait(op, timeout=1)
    assert isinstance(info.value, TimeoutError)
    assert op in str(info.value) and "Running" in str(info.value)


def test_state_on_lxd_5_0_is_refused_before_sending(client, lxd):
    """LXD 5.0.2 lacks cluster_member_state (and answers 501): the client knows, sends nothing."""
    with pytest.raises(NotImplementedByServer) as info:
        client.cluster.members.state("node1")
    assert isinstance(info.value, ExtensionMissing) and info.value.extension == "cluster_member_state"
    assert "cluster.members.state() needs the API extension 'cluster_member_state'" in str(info.value)
    assert "LXD 5.0.2 at http://127.0.0.1:9" in str(info.value) and "LXD 5.11 or later" in str(info.value)
    assert len(lxd.calls) == 0


def test_state_a_server_refuses_is_still_not_implemented(client_as, lxd):
    """A server that advertises the extension but answers 501 (the golden reply of 5.0.2):
    the server's NotImplementedByServer, not ExtensionMissing."""
    client = client_as(add=("cluster_member_state",))
    lxd.reply("GET", "/1.0/cluster/members/node1/state", "GET_1.0_cluster_members_node1_state")
    with pytest.raises(NotImplementedByServer, match="501 not implemented") as info:
        client.cluster.members.state("node1")
    assert not isinstance(info.value, ExtensionMissing) and len(lxd.calls) == 1


def test_state_parses_sysinfo(client_as, lxd):
    client = client_as(version="5.21.0", add=("cluster_member_state",))
    lxd.reply_json("GET", "/1.0/cluster/members/node1/state", sync({
        "sysinfo": {"uptime": 120, "load_averages": [0.5, 0.25, 0.1], "total_ram": 8, "free_ram": 4,
                    "shared_ram": 1, "buffered_ram": 2, "total_swap": 0, "free_swap": 0,
                    "processes": 99, "logical_cpus": 4},
        "storage_pools": {"default": {"path": "/x"}},
    }))
    state = client.cluster.members.state("node1")
    assert state.sysinfo.uptime == 120
    assert state.sysinfo.load_averages == (0.5, 0.25, 0.1)
    assert state.sysinfo.logical_cpus == 4
    assert state.storage_pools == {"default": {"path": "/x"}}
    assert state.pack is None and "pack" not in state.to_api()     # LXD has no pack part


def test_member_state_of_a_pack_daemon_reads_discovery_and_the_barrier(client_as, lxd):
    client = client_as(add=("cluster_member_state", "pack_membership"))
    lxd.reply_json("GET", "/1.0/cluster/members/node1/state", sync({
        "sysinfo": {}, "storage_pools": {},
        "pack": {"incarnation": 7, "leader": "node2", "term": 3, "conflict": [], "members": {}, "counters": {},
                 "pid": 42, "document": {}, "groups": {}, "monitors": {},
                 "discovery": [{"strategy": "dns pack.example", "found": ["198.51.100.2:5252"],
                                "updated_at": "2026-11-30T21:04:05.123456Z", "error": "pack.example A: no answer"
                                " within 5 s", "error_at": "2026-11-30T21:05:05Z", "problems": [], "polls": 9,
                                "failures": 2}],
                 "barrier": {"status": "waiting", "members": 3, "timeout": 60000, "online": 1, "waited_ms": None},
                 "future_key": 1},
    }))
    pack = client.cluster.members.state("node1").pack
    assert (pack.leader, pack.term, pack.extra) == ("node2", 3, {"future_key": 1})
    [dns] = pack.discovery
    assert dns.found == ("198.51.100.2:5252",) and dns.failing and dns.failures == 2
    assert dns.updated_at.isoformat() == "2026-11-30T21:04:05.123456+00:00"
    assert (pack.barrier.status, pack.barrier.members, pack.barrier.online) == ("waiting", 3, 1)


def test_member_built_without_client_explains(client):
    member = ClusterMember.from_api({"server_name": "n"})
    with pytest.raises(Exception, match="built without a client"):
        member.refresh()


def test_wait_for_status_polls_when_events_unavailable(client, lxd):
    # ENDPOINT refuses real connections, so the event websocket fails and polling is used.
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_evacuated")
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_restored")
    member = client.cluster.members.wait_for_status("node1", "online", timeout=5, poll_interval=0.05)
    assert member.status == "Online"
    assert len(lxd.calls) == 2


def test_wait_for_status_times_out_with_last_status(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1_evacuated")
    with pytest.raises(Timeout, match="last status: 'Evacuated'"):
        client.cluster.members.wait_for_status("node1", "Online", timeout=0.2, poll_interval=0.05)
