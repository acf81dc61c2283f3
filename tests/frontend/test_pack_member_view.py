"""ClusterState as one pack member's view (driven by the daemon): the same listing on every
member, and its own name kept through renames replicated from the leader."""
from __future__ import annotations

import datetime as dt

from mockserver.state import ClusterState, StaticBackend

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class PackLikeBackend(StaticBackend):
    """What a pack daemon's back end decides: its roles, its members' one order."""

    assigns_roles = True
    orders_by_ident = True


def member_view(local: str, met_in_order) -> ClusterState:
    state = ClusterState.member_view(local, f"127.0.0.1:{8443 + int(local[-1])}", backend=PackLikeBackend())
    for ident in met_in_order:
        state.observe_member(ident, address=f"127.0.0.1:{8443 + int(ident[-1])}", online=True, heartbeat=NOW)
    return state


def test_every_member_lists_the_pack_in_one_order_whatever_order_it_met_the_others_in():
    views = [member_view("node1", ["node3", "node2"]), member_view("node2", ["node3", "node1"]),
             member_view("node3", ["node1", "node2"])]
    listings = {tuple(m["server_name"] for m in view.members_to_api()) for view in views}
    assert listings == {("node1", "node2", "node3")}
    assert {tuple(view.group_to_api("default")["members"]) for view in views} == {("node1", "node2", "node3")}


def test_a_member_renamed_and_renamed_back_by_the_leader_keeps_its_own_name():
    leader, follower = member_view("node1", ["node2", "node3"]), member_view("node3", ["node1", "node2"])
    for old, new in (("node3", "node3b"), ("node3b", "node3")):
        leader.rename_member(old, new, None)
        follower.import_shared(leader.export_shared())
        assert follower.local_name == new
        assert [m["server_name"] for m in follower.members_to_api()] == ["node1", "node2", new]


def test_what_the_document_says_of_a_member_not_met_yet_is_kept_and_written_back():
    """A member restarted imports the document before it meets everyone: the others' written
    description, groups and configuration must not turn into defaults when it meets them,
    nor vanish from what it writes if it leads meanwhile (the Jepsen run found the loss)."""
    leader = member_view("node1", ["node2", "node3"])
    leader.create_group("g1", "", ["node2"], None)
    body = {"description": "kept", "roles": [], "groups": ["default", "g1"], "failure_domain": "rack2",
            "config": {"user.x": "1"}}
    leader.update_member("node2", body, patch=False, requestor=None)
    restarted = member_view("node3", [])          # has met no one yet
    restarted.import_shared(leader.export_shared())
    written = restarted.export_shared()            # it leads before it meets node2
    assert written["members"]["node2"]["description"] == "kept"
    assert {g["name"]: g["members"] for g in written["groups"]}["g1"] == ["node2"]
    restarted.observe_member("node2", address="127.0.0.1:8445", online=True, heartbeat=NOW)
    node2 = restarted.member_to_api("node2")
    assert (node2["description"], node2["failure_domain"], node2["config"]) == ("kept", "rack2", {"user.x": "1"})
    assert restarted.group_to_api("g1")["members"] == ["node2"]
