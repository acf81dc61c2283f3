"""GroupManager, ClusterManager (enable, certificate) and OperationManager."""

import json

import pytest

from pylxd_cluster import APIError, ClusterGroup, Forbidden, OperationError
from tests.sdk.fakes import ENDPOINT, sync


def test_groups_all_is_one_request(client, lxd):
    lxd.reply("GET", "/1.0/cluster/groups", "GET_1.0_cluster_groups_recursion1_now")
    groups = client.cluster.groups.all()
    assert len(lxd.calls) == 1 and lxd.calls[0].request.url.endswith("/1.0/cluster/groups?recursion=1")
    assert all(isinstance(g, ClusterGroup) for g in groups)
    assert "default" in [g.name for g in groups]
    assert all(g.used_by is None for g in groups)  # 5.0.2 does not send used_by


def test_create_posts_then_reads_back(client, lxd):
    lxd.reply("POST", "/1.0/cluster/groups", "POST_1.0_cluster_groups_nomembers")
    lxd.reply("GET", "/1.0/cluster/groups/g3", "GET_1.0_cluster_groups_g3")
    group = client.cluster.groups.create("g3", description="", members=[])
    assert json.loads(lxd.requests("POST")[0].body) == {"name": "g3", "description": "", "members": []}
    assert (group.name, group.members) == ("g3", ())
    assert group.etag


def test_update_patches_only_given_fields(client, lxd):
    lxd.reply("PATCH", "/1.0/cluster/groups/g3", "PATCH_1.0_cluster_groups_g3_desc")
    client.cluster.groups.update("g3", description="patched")
    client.cluster.groups.update("g3", members=[])
    first, second = lxd.requests("PATCH")
    assert json.loads(first.body) == {"description": "patched"}
    assert json.loads(second.body) == {"members": []}


def test_replace_and_save_put_both_fields(client, lxd):
    lxd.reply("PUT", "/1.0/cluster/groups/g3", "PUT_1.0_cluster_groups_g3_members")
    lxd.reply("GET", "/1.0/cluster/groups/g3", "GET_1.0_cluster_groups_g3_after_put")
    client.cluster.groups.replace("g3", description="put", members=["node1"])
    group = client.cluster.groups.get("g3")
    group.evolve(description="z").save()
    first, second = lxd.requests("PUT")
    assert first.body == b'{"description":"put","members":["node1"]}'
    assert second.body == b'{"description":"z","members":["node1"]}'
    assert second.headers["If-Match"] == f'"{group.etag}"'


def test_rename_and_delete_default_are_forbidden(client, lxd):
    lxd.reply("POST", "/1.0/cluster/groups/default", "POST_1.0_cluster_groups_default_rename")
    lxd.reply("DELETE", "/1.0/cluster/groups/default", "DELETE_1.0_cluster_groups_default")
    with pytest.raises(Forbidden, match='The "default" group cannot be renamed'):
        client.cluster.groups.rename("default", "dflt")
    with pytest.raises(Forbidden, match="cannot be deleted"):
        client.cluster.groups.delete("default")
    assert json.loads(lxd.requests("POST")[0].body) == {"name": "dflt"}


def test_group_exists(client, lxd):
    lxd.reply("GET", "/1.0/cluster/groups/nope", "GET_1.0_cluster_groups_nope")
    assert client.cluster.groups.exists("nope") is False


def test_cluster_get_and_managers_from_the_model(client, lxd):
    lxd.reply("GET", "/1.0/cluster", "GET_1.0_cluster")
    cluster = client.cluster.get()
    assert (cluster.server_name, cluster.enabled, cluster.member_config) == ("node1", True, ())
    assert cluster.members is client.cluster.members
    assert cluster.groups is client.cluster.groups
    assert cluster.tokens is client.cluster.tokens
    assert cluster.refresh() == cluster


def test_enable_on_clustered_server_fails_with_server_text(client, lxd):
    lxd.reply("PUT", "/1.0/cluster", "PUT_1.0_cluster_already_clustered")
    lxd.reply("GET", "/1.0/operations/86323f5f-623c-4fe6-9d1a-088999455ef8/wait",
              "GET_1.0_operations_PUTCLUSTER_wait")
    with pytest.raises(OperationError, match="found leftover cluster certificate"):
        client.cluster.enable("node1")
    assert json.loads(lxd.requests("PUT")[0].body) == {"server_name": "node1", "enabled": True}


def test_certificate_put_uses_pylxd_spelling(client, lxd):
    lxd.reply_json("PUT", "/1.0/cluster/certificate", sync({}))
    client.cluster.certificate.put("CERT PEM", "KEY PEM")
    assert json.loads(lxd.requests("PUT")[0].body) == {
        "cluster_certificate": "CERT PEM", "cluster_certificate_key": "KEY PEM"}


def test_standalone_server_members_error(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members", "preenable_GET_1.0_cluster_members")
    with pytest.raises(APIError, match="500 Server is not clustered"):
        client.cluster.members.all()


def test_operations_all_get_cancel(client, lxd):
    lxd.reply("GET", "/1.0/operations", "GET_1.0_operations_recursion1")
    lxd.reply("GET", "/1.0/operations/28716655-0065-40c8-919f-b12a5aa1ecf0", "GET_1.0_operations_EVACID")
    lxd.reply_json("DELETE", "/1.0/operations/ecea77dc-fb99-42e7-a6dc-ea18927f35d2", sync({}))
    ops = client.operations.all()
    assert [op.class_ for op in ops] == ["token"]
    op = client.operations.get("/1.0/operations/28716655-0065-40c8-919f-b12a5aa1ecf0")
    assert op.status == "Success" and op.description == "Evacuating cluster member"
    ops[0].cancel()
    assert lxd.requests("DELETE")[0].url == ENDPOINT + "/1.0/operations/ecea77dc-fb99-42e7-a6dc-ea18927f35d2"


def test_client_host_info(client):
    assert client.trusted and client.server_clustered
    assert client.server_name == "node1"
    assert client.has_api_extension("clustering") and not client.has_api_extension("nope")
    assert "clustering_groups" in client.api_extensions
