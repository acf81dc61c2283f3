"""Service groups through LXD's REST API on a running pack of three daemons: every member
lists and shows them alike, a move by hand goes through any member and lasts, refusals are
LXD error envelopes that change nothing, and every member emits a lifecycle event per move.
On both engines of record (the pack's protocol, etcd)."""
from __future__ import annotations

import pytest

from mockserver.daemon.harness import hold_for, write
from mockserver.daemon.harness.unixhttp import raw_request
from tests.daemon.processes.groups_pack import ENGINES, NAMES, pack_with_groups

QUIET = {"exec": {"start": "true", "stop": "true"}}
WEB = {"primary": "node1", "secondary": ["node2", "node3"], "service": [QUIET]}
DB = {"primary": "node2", "secondary": ["node3"], "service": [QUIET], "auto-failback": True,
      "failback-delay": 0}


@pytest.fixture(scope="module", params=ENGINES)
def pack(request):
    def ready(procs, name):
        return (active_on(procs, name, "web"), active_on(procs, name, "db")) == ("node1", "node2")

    with pack_with_groups({"web": WEB, "db": DB}, ready, "web active on node1 and db on node2, seen by all",
                          engine=request.param) as procs:
        yield procs


def group(pack, name: str, group_name: str) -> dict:
    return write(pack[name], "GET", f"/1.0/cluster/service-groups/{group_name}")["metadata"]


def active_on(pack, name: str, group_name: str) -> str | None:
    shown = group(pack, name, group_name)
    return shown["owner"] if shown["status"] == "Active" else None


def test_every_member_lists_and_shows_the_groups_alike(pack):
    assert "pack_service_groups" in pack["node3"].client.api_extensions
    urls = write(pack["node2"], "GET", "/1.0/cluster/service-groups")["metadata"]
    assert sorted(urls) == ["/1.0/cluster/service-groups/db", "/1.0/cluster/service-groups/web"]
    listed = write(pack["node3"], "GET", "/1.0/cluster/service-groups?recursion=1")["metadata"]
    assert sorted(g["name"] for g in listed) == ["db", "web"]
    web = group(pack, "node3", "web")
    assert {k: web[k] for k in ("primary", "secondary", "services", "owner", "status", "auto_failback")} == {
        "primary": "node1", "secondary": ["node2", "node3"], "services": ["exec:true"], "owner": "node1",
        "status": "Active", "auto_failback": False}
    assert [(m["name"], m["role"], m["status"]) for m in web["members"]] == [
        ("node1", "primary", "Active"), ("node2", "secondary", "Standby"), ("node3", "secondary", "Standby")]
    assert [m["this_node"] for m in web["members"]] == [False, False, True]
    assert {(group(pack, n, "web")["owner"], group(pack, n, "web")["epoch"]) for n in NAMES} == {
        ("node1", web["epoch"])}


def test_a_move_through_a_follower_lasts_and_every_member_tells_of_it(pack):
    follower = next(n for n in NAMES if n != pack.leader())
    before = group(pack, "node1", "web")["epoch"]
    with pack["node3"].new_client() as watcher, watcher.events() as stream:
        write(pack[follower], "POST", "/1.0/cluster/service-groups/web", {"member": "node3"})
        event = stream.wait_for(action="cluster-service-group-moved", source="/1.0/cluster/service-groups/web",
                                timeout=10)
    assert event.context["owner"] == "node3" and event.context["previous"] == "node1", event.context
    assert event.context["epoch"] == before + 1 and "operator" in event.context["reason"], event.context
    pack.wait_until(lambda: all(active_on(pack, n, "web") == "node3" for n in NAMES), 10,
                    what="web active on node3, seen by all")
    shown = group(pack, "node1", "web")
    assert shown["requested"] == "node3" and shown["epoch"] == before + 1
    assert [m["status"] for m in shown["members"]] == ["Standby", "Standby", "Active"]

    # db fails back at once (failback-delay 0): a move by hand is kept all the same.
    write(pack["node1"], "POST", "/1.0/cluster/service-groups/db", {"member": "node3"})
    pack.wait_until(lambda: active_on(pack, "node2", "db") == "node3", 10, what="db active on node3")
    hold_for(lambda: group(pack, "node2", "db")["owner"] == "node3", 0.5, what="db stays on node3")

    # Handing it back to the rules: auto-failback brings db home, web (no failback) stays.
    write(pack["node2"], "POST", "/1.0/cluster/service-groups/db", {"member": ""})
    write(pack["node2"], "POST", "/1.0/cluster/service-groups/web", {"member": ""})
    pack.wait_until(lambda: active_on(pack, "node1", "db") == "node2", 10, what="db back on node2")
    web = group(pack, "node2", "web")
    assert (web["owner"], web["requested"], web["epoch"]) == ("node3", "", before + 1), web


@pytest.mark.parametrize("path, body, status, text", [
    ("/1.0/cluster/service-groups/nope", {"member": "node1"}, 404, "Service group not found"),
    ("/1.0/cluster/service-groups/db", {"member": "node1"}, 400, "neither its primary"),
    ("/1.0/cluster/service-groups/db", {"member": "node9"}, 400, "neither its primary"),
    ("/1.0/cluster/service-groups/db", {"member": 3}, 400, "cannot unmarshal number"),
    ("/1.0/cluster/service-groups/db", b"{", 400, ""),
    ("/1.0/cluster/service-groups/db", {"membr": "node3"}, 400, 'The request needs "member"'),
])
def test_a_refused_move_is_an_lxd_error_and_changes_nothing(pack, path, body, status, text):
    before = {n: (group(pack, n, "db")["owner"], group(pack, n, "db")["epoch"]) for n in NAMES}
    code, reply = raw_request(pack["node3"].socket_path, "POST", path, body, timeout=10)
    assert code == status and reply["type"] == "error" and reply["error_code"] == status, reply
    assert text in reply["error"], reply
    assert {n: (group(pack, n, "db")["owner"], group(pack, n, "db")["epoch"]) for n in NAMES} == before


def test_unknown_group_reads_are_lxd_404s(pack):
    code, reply = raw_request(pack["node2"].socket_path, "GET", "/1.0/cluster/service-groups/nope", None)
    assert (code, reply["error"]) == (404, "Service group not found"), reply


@pytest.mark.parametrize("engine", ENGINES)
def test_every_member_shows_what_each_member_reaches(engine):
    """Members tell each other which monitor addresses they reach (on etcd through
    ``reach/<name>`` keys): a group's status through any member shows every member's pings,
    which is what the leader places the group by."""
    monitored = {**WEB, "monitor": ["127.0.0.1"]}

    def ready(procs, name):
        return active_on(procs, name, "web") == "node1"

    with pack_with_groups({"web": monitored}, ready, "web active on node1", engine=engine) as procs:
        procs.wait_until(lambda: all(m["monitors"] == {"127.0.0.1": "Reachable"}
                                     for n in NAMES for m in group(procs, n, "web")["members"]),
                         15, what="every member shows every member reaching 127.0.0.1")
