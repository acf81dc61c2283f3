"""What server the client speaks to, and calls refused before sending when an API extension is missing."""

from __future__ import annotations

import json

import pytest

import pylxd_cluster
from pylxd_cluster import ClusterError, ClusterMember, ExtensionMissing, NotImplementedByServer
from pylxd_cluster.managers import (
    CertificateManager,
    ClusterManager,
    ConfigurationManager,
    GroupManager,
    MemberManager,
    OperationManager,
    ServiceGroupManager,
    TokenManager,
)
from pylxd_cluster.managers.base import required_extensions
from pylxd_cluster.server import EXTENSIONS, version_at_least
from pylxd_cluster.transport import Transport
from tests.sdk.fakes import ENDPOINT, golden, sync

# Which extension each public manager method needs, unconditionally (the declared table,
# written out once more: a method added without its declaration fails here).
ALWAYS = {
    ClusterManager: {"get": ["clustering"], "enable": ["clustering"], "disable": ["clustering"]},
    CertificateManager: {"put": ["clustering_update_cert"]},
    MemberManager: {**{name: ["clustering"] for name in ("all", "get", "exists", "save", "update", "rename",
                                                          "delete", "wait_for_status")},
                    "evacuate": ["clustering", "clustering_evacuation"],
                    "restore": ["clustering", "clustering_evacuation"],
                    "state": ["clustering", "cluster_member_state"],
                    "wait_for_members": []},            # through all()
    GroupManager: {name: ["clustering_groups"] for name in ("all", "get", "exists", "create", "update",
                                                            "replace", "save", "rename", "delete")},
    TokenManager: {name: ["clustering_join_token"] for name in ("create", "all", "revoke")},
    ConfigurationManager: {name: ["pack_configuration"] for name in ("get", "replace", "patch", "save", "set",
                                                                     "unset")},
    ServiceGroupManager: {name: ["pack_service_groups"] for name in ("all", "get", "exists", "move",
                                                                     "clear_request", "wait_active")},
    OperationManager: {name: [] for name in ("get", "all", "wait", "cancel")},
}


def public_methods(cls):
    return sorted(name for name, value in vars(cls).items() if callable(value) and not name.startswith("_"))


@pytest.mark.parametrize("cls", list(ALWAYS), ids=lambda cls: cls.__name__)
def test_every_method_declares_its_extensions(cls):
    assert public_methods(cls) == sorted(ALWAYS[cls])
    for name, wanted in ALWAYS[cls].items():
        declared = [r.extension for r in required_extensions(getattr(cls, name)) if r.when is None]
        assert declared == wanted, name
        for requirement in required_extensions(getattr(cls, name)):
            assert requirement.extension in EXTENSIONS, requirement      # every one explained


def test_conditional_requirements():
    [force] = [r for r in required_extensions(MemberManager.evacuate) if r.when is not None]
    assert force.extension == "clustering_evacuation_force" and force.versions == ()
    [skip] = [r for r in required_extensions(MemberManager.restore) if r.when is not None]
    assert skip.extension == "clustering_restore_skip_mode" and skip.versions == (("incus", "6.22"),)


def test_version_at_least():
    assert version_at_least("6.22", "6.22") and version_at_least("6.22.1", "6.22")
    assert version_at_least("7.0", "6.22") and not version_at_least("6.0.4", "6.22")
    assert not version_at_least("", "6.22") and not version_at_least("6.22-rc1", "6.22")


def test_the_client_knows_its_server_without_a_request(client, lxd):
    assert (client.server, client.server_version) == ("lxd", "5.0.2")
    assert client.has_api_extension("clustering_groups") and not client.has_api_extension("cluster_member_state")
    assert client.server_info.label == "LXD 5.0.2" and client.cluster.members.server_info is client.server_info
    assert client.server_info.host_info is client.host_info
    assert len(lxd.calls) == 0


def test_incus_and_an_untrusted_client(client_as, lxd):
    incus = client_as(server="incus", version="6.0.4")
    assert (incus.server, incus.server_version, incus.server_info.label) == ("incus", "6.0.4", "Incus 6.0.4")
    lxd.reply_json("GET", "/1.0", json.loads(golden("HTTPS_untrusted_GET_1.0")[2]))
    untrusted = pylxd_cluster.Client(ENDPOINT)
    assert (untrusted.server, untrusted.server_version, untrusted.server_info.label) == ("", "", "the server")
    assert untrusted.has_api_extension("clustering")


CALLS = {
    "clustering_groups": [lambda c: c.cluster.groups.all(), lambda c: c.cluster.groups.get("g"),
                          lambda c: c.cluster.groups.exists("g"), lambda c: c.cluster.groups.create("g"),
                          lambda c: c.cluster.groups.update("g", description="x"),
                          lambda c: c.cluster.groups.replace("g"), lambda c: c.cluster.groups.rename("g", "h"),
                          lambda c: c.cluster.groups.delete("g")],
    "clustering_join_token": [lambda c: c.cluster.tokens.create("n"), lambda c: c.cluster.tokens.all(),
                              lambda c: c.cluster.tokens.revoke("n")],
    "clustering_update_cert": [lambda c: c.cluster.certificate.put("cert", "key")],
    "clustering_evacuation": [lambda c: c.cluster.members.evacuate("node1"),
                              lambda c: c.cluster.members.restore("node1")],
    "clustering": [lambda c: c.cluster.get(), lambda c: c.cluster.members.all(),
                   lambda c: c.cluster.members.get("node1"), lambda c: c.cluster.members.delete("node1"),
                   lambda c: c.cluster.enable("solo")],
}


@pytest.mark.parametrize("extension", list(CALLS))
def test_a_missing_extension_is_refused_before_sending(client_as, lxd, extension):
    client = client_as(remove=(extension,))
    for call in CALLS[extension]:
        with pytest.raises(ExtensionMissing) as info:
            call(client)
        assert info.value.extension == extension
        assert isinstance(info.value, NotImplementedByServer) and isinstance(info.value, ClusterError)
    assert len(lxd.calls) == 0


def test_the_message_says_what_where_and_what_to_do(client_as, lxd):
    client = client_as(server="incus", version="6.0.4", remove=("clustering_groups",))
    with pytest.raises(ExtensionMissing) as info:
        client.cluster.groups.all()
    error = info.value
    assert (error.call, error.server, error.server_version, error.status_code) == (
        "cluster.groups.all()", "incus", "6.0.4", 501)
    assert (error.method, error.path, error.response, error.endpoint) == ("", "", None, ENDPOINT)
    assert str(error) == (
        "cluster.groups.all() needs the API extension 'clustering_groups' (cluster groups, /1.0/cluster/groups), "
        f"but Incus 6.0.4 at {ENDPOINT} does not advertise the API extension 'clustering_groups', so nothing was "
        "sent; it is available on LXD 5.0 or later, and Incus. Use a server that has it, or check "
        "client.has_api_extension('clustering_groups') first")


def test_a_model_method_goes_through_the_same_check(client, lxd):
    member = ClusterMember.from_api({"server_name": "node1"}, manager=client.cluster.members)
    with pytest.raises(ExtensionMissing, match=r"cluster\.members\.state\(\)"):
        member.state()
    assert len(lxd.calls) == 0


def test_force_needs_its_extension_only_when_asked_for(client, lxd):
    with pytest.raises(ExtensionMissing, match="clustering_evacuation_force") as info:
        client.cluster.members.evacuate("node1", force=True, wait=False)
    assert "LXD 6.9 or later" in str(info.value) and len(lxd.calls) == 0
    lxd.reply("POST", "/1.0/cluster/members/node1/state", "POST_1.0_cluster_members_node1_state_evacuate")
    client.cluster.members.evacuate("node1", wait=False)      # force=False: 5.0.2 takes it
    assert len(lxd.calls) == 1


def test_restore_skip_needs_the_extension_on_lxd_and_incus_6_22(client, client_as, lxd):
    with pytest.raises(ExtensionMissing, match="clustering_restore_skip_mode"):
        client.cluster.members.restore("node1", mode="skip", wait=False)
    assert len(lxd.calls) == 0
    old_incus = client_as(server="incus", version="6.0.4")
    with pytest.raises(ExtensionMissing) as info:     # it would ignore the mode: a full restore
        old_incus.cluster.members.restore("node1", mode="skip", wait=False)
    assert "Incus 6.0.4 at" in str(info.value) and "Incus 6.22 or later" in str(info.value)
    assert len(lxd.calls) == 0
    incus = client_as(server="incus", version="6.22")
    lxd.reply("POST", "/1.0/cluster/members/node1/state", "POST_1.0_cluster_members_node1_state_restore")
    incus.cluster.members.restore("node1", mode="skip", wait=False)   # without the extension
    assert [c.request.method for c in lxd.calls] == ["POST"]


def test_a_manager_on_its_own_reads_get_1_0_once(lxd):
    lxd.reply("GET", "/1.0", "GET_1.0")
    lxd.reply("GET", "/1.0/cluster", "GET_1.0_cluster")
    manager = ClusterManager(Transport(ENDPOINT))
    assert len(lxd.calls) == 0                                # building it sends nothing
    assert manager.get().server_name == "node1"
    with pytest.raises(ExtensionMissing, match="LXD 5.0.2"):
        manager.members.state("node1")
    assert [c.request.url for c in lxd.calls] == [ENDPOINT + "/1.0", ENDPOINT + "/1.0/cluster"]


def test_extensions_given_as_a_function_are_still_taken(lxd):
    manager = ConfigurationManager(Transport(ENDPOINT), api_extensions=lambda: ("clustering",))
    with pytest.raises(ExtensionMissing) as info:
        manager.get()
    assert info.value.server_label == "the server" and len(lxd.calls) == 0
    lxd.reply_json("GET", "/1.0/cluster/config", sync({"modules": [], "version": 1, "term": 1, "digest": "d"}))
    manager = ConfigurationManager(Transport(ENDPOINT), api_extensions=lambda: ("pack_configuration",))
    assert manager.get().version == 1
