"""The SDK's calls, each scenario run against the mock server and a 3-daemon pack.

Writes go through ``backend.entry_client`` (a follower on the pack); every effect is then
checked on every member's view, waiting for it to arrive (see conftest.py).
"""
from __future__ import annotations

import contextlib

import pytest

import pylxd_cluster
from tests.support.backends import assert_left, own_name


def names(client) -> list:
    return sorted(client.cluster.members.all().names)


def member(client, name: str):
    return client.cluster.members.get(name)


def test_client_facts(backend):
    for client in backend.views():
        assert client.trusted and client.server_clustered, client.host_info
        assert client.server_name in client.cluster.members.all().names
        assert client.has_api_extension("clustering_groups") and client.has_api_extension("pack_configuration")
        # The profile's server's own list (lxd-5.21 by default), then the back end's own.
        assert client.host_info["environment"]["server_version"] == "5.21.7"
        assert client.has_api_extension("cluster_member_state")


def test_members_all_is_what_each_member_get_returns(backend):
    for client in backend.views():
        listed = client.cluster.members.all()
        assert sorted(listed.names) == sorted(backend.baseline["members"])
        assert [m.to_api() for m in listed] == [client.cluster.members.get(n).to_api() for n in listed.names]
        assert [m.server_name for m in listed if "database-leader" in m.roles] == [backend.leader]


def test_every_member_lists_the_members_in_the_same_order(backend):
    """As LXD (its database order) and the mock do: ``lxc cluster list`` on any member
    prints the same rows in the same order."""
    orders = {client.server_name: list(client.cluster.members.all().names) for client in backend.views()}
    groups = {client.server_name: [list(g.members) for g in client.cluster.groups.all()]
              for client in backend.views()}
    assert len({tuple(order) for order in orders.values()}) == 1, orders
    assert len({str(group) for group in groups.values()}) == 1, groups


def test_save_with_etag_and_lost_update_refused(backend):
    members = backend.entry_client.cluster.members
    first = members.get(backend.target)
    first.evolve(description="first writer").save()
    backend.eventually(lambda c: member(c, backend.target).description == "first writer", "first save")
    with pytest.raises(pylxd_cluster.PreconditionFailed) as caught:
        first.evolve(description="stale writer").save()
    assert "412" in str(caught.value) and "refresh()" in str(caught.value)
    first.refresh().evolve(description="second writer", config={"user.rack": "a"}).save()
    backend.eventually(lambda c: (member(c, backend.target).description, dict(member(c, backend.target).config))
                       == ("second writer", {"user.rack": "a"}), "second save")


def knows_itself(client) -> bool | str:
    """A fresh ``GET /1.0`` names the member as its member list does (a renamed member
    answers with its new name, as LXD's does)."""
    own, listed = own_name(client), client.cluster.members.all().names
    return own in listed or f"GET /1.0 names it {own!r}, its members are {listed}"


def test_rename_and_rename_back(backend):
    members, old, new = backend.entry_client.cluster.members, backend.target, backend.target + "b"
    url = members.get(old).url
    members.rename(old, new)
    backend.eventually(lambda c: c.cluster.members.exists(new) and not c.cluster.members.exists(old)
                       and member(c, new).url == url and knows_itself(c), "renamed")
    backend.eventually(lambda c: new in c.cluster.groups.get("default").members, "renamed in its group")
    members.rename(new, old)
    backend.eventually(lambda c: names(c) == sorted(backend.baseline["members"]) and knows_itself(c),
                       "renamed back")


def test_evacuate_and_restore(backend):
    members, target = backend.entry_client.cluster.members, backend.target
    operation = members.evacuate(target, mode="stop")
    assert operation.status == "Success"
    backend.eventually(lambda c: member(c, target).status == "Evacuated", "evacuated")
    with pytest.raises(pylxd_cluster.OperationError) as caught:
        members.evacuate(target)
    assert "already evacuated" in str(caught.value)
    assert members.restore(target).status == "Success"
    backend.eventually(lambda c: (member(c, target).status, member(c, target).message)
                       == ("Online", "Fully operational"), "restored")


def test_member_state_of_every_member_on_every_member(backend):
    for client in backend.views():
        for name in client.cluster.members.all().names:
            state = client.cluster.members.state(name)
            assert state.sysinfo.logical_cpus >= 1 and state.sysinfo.total_ram > 0, (client.server_name, name)


def test_join_tokens(backend):
    tokens = backend.entry_client.cluster.tokens
    token = tokens.create("node7")
    decoded = pylxd_cluster.JoinToken.decode(token.token)
    assert token.server_name == decoded.server_name == "node7"
    assert decoded.secret == token.secret and decoded.addresses == token.addresses
    online = {m.url.split("://", 1)[1] for m in backend.entry_client.cluster.members.all() if m.status == "Online"}
    assert set(token.addresses) == online
    backend.eventually(lambda c: [(t.server_name, t.secret) for t in c.cluster.tokens.all()]
                       == [("node7", token.secret)], "token listed")
    assert not backend.entry_client.cluster.members.exists("node7")  # a token is not a member
    tokens.revoke("node7")
    backend.eventually(lambda c: c.cluster.tokens.all() == (), "token revoked")
    with pytest.raises(pylxd_cluster.NotFound) as missing:
        tokens.revoke("node7")
    assert "no running join token matches 'node7'" in str(missing.value)


def test_groups(backend):
    groups, target = backend.entry_client.cluster.groups, backend.target
    groups.create("rack1", description="first", members=[target])
    groups.update("rack1", description="changed")
    groups.rename("rack1", "rack2")
    backend.eventually(
        lambda c: (
            (
                c.cluster.groups.get("rack2").description,
                list(c.cluster.groups.get("rack2").members),
                c.cluster.groups.exists("rack1"),
            )
            == ("changed", [target], False)
        ),
        "group renamed",
    )
    backend.eventually(lambda c: "rack2" in member(c, target).groups, "the member's groups")
    with pytest.raises(pylxd_cluster.Forbidden) as refused:
        groups.delete("default")
    assert "cannot be deleted" in str(refused.value)
    with pytest.raises(pylxd_cluster.Conflict):
        groups.create("rack2")
    groups.update("rack2", members=[])
    groups.delete("rack2")
    backend.eventually(lambda c: [g.name for g in c.cluster.groups.all()] == ["default"], "group deleted")


def test_not_found_names_the_request(backend):
    for client in backend.views():
        with pytest.raises(pylxd_cluster.NotFound) as caught:
            client.cluster.members.get("ghost")
        assert "GET /1.0/cluster/members/ghost" in str(caught.value)


def test_a_member_update_is_an_event_on_every_member(backend):
    views, source = backend.views(), f"/1.0/cluster/members/{backend.target}"
    with contextlib.ExitStack() as stack:
        streams = [stack.enter_context(client.events()) for client in views]  # listening before the write
        backend.entry_client.cluster.members.update(backend.target, description="event")
        for client, stream in zip(views, streams):
            event = stream.wait_for(action="cluster-member-updated", source=source, timeout=10)
            assert event.location == client.server_name, (client.server_name, event)


def test_cluster_configuration_get_set_unset(backend):
    config, before = backend.entry_client.cluster.config, backend.baseline["config"]
    written = config.set("ParityCheck", port=80, mode="fast")
    assert written.version > 0 and written.digest

    def shows(modules: list, digest: str):
        def check(client) -> bool:
            current = client.cluster.config.get()
            return (current.modules_to_api(), current.digest) == (before + modules, digest)
        return check

    backend.eventually(shows([{"ParityCheck": {"port": 80, "mode": "fast"}}], written.digest), "set")
    unset = config.unset("ParityCheck", "mode")
    assert unset.version > written.version
    backend.eventually(shows([{"ParityCheck": {"port": 80}}], unset.digest), "option unset")
    with pytest.raises(pylxd_cluster.NotFound):
        config.unset("ParityCheck", "mode")
    removed = config.unset("ParityCheck")
    backend.eventually(shows([], removed.digest), "module unset")


def test_delete_a_member_with_force(backend4):
    members, gone = backend4.entry_client.cluster.members, backend4.target
    assert gone == "node4"
    members.delete(gone, force=True)
    assert_left(backend4, gone)
    backend4.eventually(lambda c: names(c) == ["node1", "node2", "node3"]
                        and gone not in c.cluster.groups.get("default").members, "member gone")
    with pytest.raises(pylxd_cluster.NotFound):
        members.delete(gone, force=True)
