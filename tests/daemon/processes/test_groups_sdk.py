"""The SDK's ``client.cluster.service_groups`` and ``pylxd-cluster service-group`` / ``status``
against a running pack of three daemons: models as each member shows them, moves that wait
for the takeover (and the lifecycle event every member emits), refusals raised with the
server's message, and the VyOS-style status lines for Active, standby, evacuated, offline
and Down members."""
from __future__ import annotations

import json

import pytest

from pylxd_cluster import APIError, NotFound, ServiceGroup, ServiceGroupList, Timeout
from pylxd_cluster.cli.main import main
from pylxd_cluster.display import SERVICE_GROUP_COLOURS
from tests.daemon.processes.groups_pack import NAMES, pack_with_groups

# `true` ignores its arguments: the token stands for a credential no display may show.
SECRET_ARG = "--token=hunter2"
QUIET = {"exec": {"start": f"true {SECRET_ARG}", "stop": "true"}}
WEB = {"primary": "node1", "secondary": ["node2", "node3"], "service": [QUIET], "monitor": ["127.0.0.1"]}
DB = {"primary": "node2", "secondary": ["node3"], "service": [{"exec": {"start": "true", "stop": "true"}}],
      "auto-failback": True, "failback-delay": 0}
HOME = {"web": "node1", "db": "node2"}


@pytest.fixture(scope="module")
def pack():
    with pack_with_groups({"web": WEB, "db": DB}, at_home, "web active on node1 and db on node2, seen by all") as procs:
        yield procs


def groups(pack, name: str):
    return pack[name].client.cluster.service_groups


def at_home(pack, name: str) -> bool:
    """Every group Active on its primary, with no request, as ``name`` sees it."""
    return all((g.active_on, g.requested) == (HOME[g.name], "") for g in groups(pack, name).all())


@pytest.fixture(autouse=True)
def home(pack):
    """Each test starts with web on node1 and db on node2, no request, every member in."""
    manager = groups(pack, "node1")
    for name, member in HOME.items():
        group = manager.get(name)
        if (group.active_on, group.requested) != (member, ""):
            manager.move(name, member, wait=True, timeout=10)
            manager.clear_request(name)
    pack.wait_until(lambda: all(at_home(pack, n) for n in NAMES), 10, what="every group at home, seen by all")


def cli(capsys, pack, name: str, *argv: str) -> tuple[int, str, str]:
    """``pylxd-cluster --endpoint <name's socket> ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(["--endpoint", pack[name].socket_path, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def count_requests(client, monkeypatch) -> list:
    """The requests the client's managers send from now on: (method, path, params)."""
    sent = []
    send = client.transport.send

    def counting(request):
        sent.append((request.method, request.path, request.params))
        return send(request)

    monkeypatch.setattr(client.transport, "send", counting)
    return sent


def test_all_and_get_give_the_groups_as_each_member_sees_them(pack, monkeypatch):
    client = pack["node3"].client
    assert client.has_api_extension("pack_service_groups")
    sent = count_requests(client, monkeypatch)
    listed = client.cluster.service_groups.all()
    assert sent == [("GET", "/1.0/cluster/service-groups", {"recursion": 1})]   # one request, no GET /1.0
    assert isinstance(listed, ServiceGroupList) and sorted(listed.names) == ["db", "web"]
    web = listed.by_name("web")
    assert isinstance(web, ServiceGroup)
    assert (web.primary, web.secondary, web.monitors, web.auto_failback, web.failback_delay) == (
        "node1", ("node2", "node3"), ("127.0.0.1",), False, 10000)
    assert web.services == (f"exec:true {SECRET_ARG}",)
    assert (web.status, web.owner, web.active_on, web.requested, web.this_node) == (
        "Active", "node1", "node1", "", "node3")
    assert [(m.name, m.role, m.status, m.this_node) for m in web.members] == [
        ("node1", "primary", "Active", False), ("node2", "secondary", "Standby", False),
        ("node3", "secondary", "Standby", True)]
    assert set(web.member("node1").monitors) == {"127.0.0.1"}
    assert web.member("node1").monitors["127.0.0.1"] in ("Reachable", "Unreachable", "Unknown")
    db = client.cluster.service_groups.get("db")
    assert (db.active_on, db.auto_failback, db.failback_delay, db.member_names) == ("node2", True, 0,
                                                                                    ("node2", "node3"))
    assert db == listed.by_name("db")   # read alike (the model's manager and ETag do not count)
    # Every member shows the same owner and epoch; each says which member it is.
    shown = {name: groups(pack, name).get("web") for name in NAMES}
    assert {(g.owner, g.epoch) for g in shown.values()} == {("node1", web.epoch)}
    assert {name: g.this_node for name, g in shown.items()} == {name: name for name in NAMES}
    assert (web.refresh().owner, web.refresh().epoch) == ("node1", web.epoch)
    assert client.cluster.service_groups.exists("web") and not client.cluster.service_groups.exists("nope")


def test_repr_and_html_show_statuses_and_no_secrets(pack):
    listed = groups(pack, "node2").all()
    web = listed.by_name("web")
    text = repr(web)
    assert text.startswith(f"<ServiceGroup web: Active on node1 (epoch {web.epoch})")
    assert "node1=Active node2=Standby node3=Standby" in text
    page, table = web._repr_html_(), listed._repr_html_()
    for shown in (text, repr(listed), page, table, listed.table()):
        assert "hunter2" not in shown and pack.secret not in shown
        assert "socket" not in shown   # nothing of the client's transport
    assert "exec:true ..." in page and "exec:true ..." in table and "exec:true ..." in listed.table()
    for word in ("Active", "Standby"):
        assert f'background:{SERVICE_GROUP_COLOURS[word]};color:#fff;padding:1px 6px;border-radius:3px">{word}<' \
               in page, word
    assert "node2 (this node)" in page and "127.0.0.1" in page
    assert ">web<" in table and ">db<" in table


def test_move_waits_for_the_takeover_and_every_member_tells_of_it(pack):
    manager = groups(pack, "node2")
    before = manager.get("web").epoch
    with pack["node3"].new_client() as watcher, watcher.events() as stream:
        moved = manager.move("web", "node3", wait=True, timeout=10)
        event = stream.wait_for(action="cluster-service-group-moved", source="/1.0/cluster/service-groups/web",
                                timeout=10)
    assert isinstance(moved, ServiceGroup)
    assert (moved.status, moved.owner, moved.requested, moved.epoch) == ("Active", "node3", "node3", before + 1)
    assert moved.member("node3").status == "Active" and moved.member("node1").status == "Standby"
    assert event.context["owner"] == "node3" and event.context["previous"] == "node1", event.context
    assert event.context["epoch"] == before + 1 and "operator" in event.context["reason"], event.context
    pack.wait_until(lambda: all(groups(pack, n).get("web").active_on == "node3" for n in NAMES), 10,
                    what="web active on node3, seen by all")

    # No wait: nothing returned; the request is the group's at once on the member asked.
    assert manager.move("web", "node2") is None
    assert manager.get("web").requested == "node2"
    assert manager.wait_active("web", "node2", timeout=10).owner == "node2"

    # Handed back to the rules (move(name, None) waits for that): web has no auto-failback, stays.
    back = manager.move("web", None, wait=True, timeout=10)
    assert (back.owner, back.requested, back.status) == ("node2", "", "Active")


def test_clear_request_lets_auto_failback_bring_a_group_home(pack):
    manager = groups(pack, "node1")
    db = manager.get("db")
    assert db.move("node3", wait=True, timeout=10).active_on == "node3"
    manager.get("db").clear_request()
    assert manager.wait_active("db", "node2", timeout=10).requested == ""   # failback-delay 0: home at once


@pytest.mark.parametrize("group, member, error, status, text", [
    ("nope", "node1", NotFound, 404, "Service group not found"),
    ("db", "node1", APIError, 400, "Member 'node1' cannot own service group 'db': it is neither its primary (node2) "
                                   "nor one of its secondaries (node3)"),
    ("web", "node9", APIError, 400, "it is neither its primary (node1)"),
])
def test_a_refused_move_raises_with_the_servers_message_and_changes_nothing(pack, group, member, error, status,
                                                                            text):
    manager = groups(pack, "node3")
    before = {g.name: (g.owner, g.epoch, g.requested) for g in manager.all()}
    with pytest.raises(error) as caught:
        manager.move(group, member, wait=True, timeout=5)
    assert caught.value.status_code == status and text in caught.value.error, caught.value
    assert f"/1.0/cluster/service-groups/{group}" in str(caught.value)
    assert {g.name: (g.owner, g.epoch, g.requested) for g in manager.all()} == before
    with pytest.raises(NotFound, match="Service group not found"):
        manager.get("nope")


def test_waiting_for_what_does_not_happen_raises_timeout_saying_what_was_seen(pack):
    manager = groups(pack, "node1")
    with pytest.raises(Timeout, match=r"'web' .* was not Active on node3 within 0.3 s \(last seen: status Active, "
                                      r"owner node1, epoch \d+, requested none"):
        manager.wait_active("web", "node3", timeout=0.3)


def test_cli_list_show_move_and_clear(pack, capsys):
    code, out, err = cli(capsys, pack, "node2", "service-group", "list")
    assert code == 0, err
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in out.splitlines() if line.startswith("|")]
    assert rows[0][:5] == ["NAME", "STATUS", "OWNER", "REQUESTED", "PRIMARY"]
    assert [row[:5] for row in rows[1:] if row[0]] == [["db", "ACTIVE", "node2", "", "node2"],
                                                      ["web", "ACTIVE", "node1", "", "node1"]]
    assert "hunter2" not in out and "exec:true ..." in out

    code, out, err = cli(capsys, pack, "node2", "service-group", "list", "--format", "json")
    assert code == 0, err
    assert sorted(json.loads(out), key=lambda g: g["name"]) == sorted(
        (g.to_api() for g in groups(pack, "node2").all()), key=lambda g: g["name"])

    code, out, err = cli(capsys, pack, "node2", "service-group", "show", "web")
    assert code == 0, err
    assert out.splitlines()[:5] == ["Service group web:", "  Primary node1: Active",
                                    "  Secondary node2 (this node): Active (standby)",
                                    "  Secondary node3: Active (standby)",
                                    "  Resources [exec:true ...]: Active on primary node1"]
    assert "  Auto-failback: off" in out.splitlines()

    code, out, err = cli(capsys, pack, "node3", "service-group", "move", "web", "node3")
    assert code == 0, err
    assert out.strip().startswith("web: Active on node3 (epoch") and "moved to node3 by an operator" in out
    assert "Moving service group web to node3" in err and "Active on node3 in" in err
    assert groups(pack, "node3").get("web").active_on == "node3"

    code, out, err = cli(capsys, pack, "node1", "service-group", "move", "web", "node9")
    assert code == 1 and out == ""
    assert "400 Member 'node9' cannot own service group 'web': it is neither its primary" in err

    code, out, err = cli(capsys, pack, "node1", "service-group", "clear", "web", "--format", "json")
    assert code == 0, err
    assert (json.loads(out)["requested"], json.loads(out)["owner"]) == ("", "node3")


def test_status_shows_each_group_as_vyos_did(pack, capsys):
    code, out, err = cli(capsys, pack, "node1", "status")
    assert code == 0, err
    lines = out.splitlines()
    web = lines.index("  Service group web:")
    monitor = groups(pack, "node1").get("web").member("node1").monitors["127.0.0.1"]
    assert lines[web:web + 6] == [
        "  Service group web:",
        "    Primary node1 (this node): Active",
        "    Secondary node2: Active (standby)",
        "    Secondary node3: Active (standby)",
        "    Resources [exec:true ...]: Active on primary node1 (this node)",
        f"    Monitor 127.0.0.1: {monitor}",
    ]
    db = lines.index("  Service group db:")
    assert lines[db + 1:db + 4] == ["    Primary node2: Active", "    Secondary node3: Active (standby)",
                                    "    Resources [exec:true]: Active on primary node2"]
    assert "hunter2" not in out

    code, out, err = cli(capsys, pack, "node1", "status", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data["service_groups"]) == {"web", "db"}
    assert data["service_groups"]["web"]["owner"] == "node1" and set(data["groups"]["default"]) == set(NAMES)
    assert data["service_groups"]["db"]["members"][0] == {"name": "node2", "role": "primary", "status": "Active",
                                                          "this_node": False, "monitors": {}}


def test_status_of_evacuated_and_down_members(pack, capsys):
    members = pack["node1"].client.cluster.members
    manager = groups(pack, "node1")
    members.evacuate("node3")
    try:
        pack.wait_until(lambda: manager.get("db").member("node3").status == "Evacuated", 10, what="node3 evacuated")
        with pytest.raises(APIError, match=r"400 Member 'node3' cannot own service group 'db' now: it is evacuated"):
            manager.move("db", "node3")
        members.evacuate("node2")
        pack.wait_until(lambda: manager.get("db").status == "Down", 10, what="db down")
        code, out, err = cli(capsys, pack, "node1", "status")
        assert code == 0, err
        lines = out.splitlines()
        db = lines.index("  Service group db:")
        message = manager.get("db").message
        assert lines[db + 1:db + 4] == ["    Primary node2: Down (evacuated)", "    Secondary node3: Down (evacuated)",
                                        f"    Resources [exec:true]: Down ({message})"]
        assert "no member of the group is alive and available" in message.lower()
    finally:
        members.restore("node2")
        members.restore("node3")
    assert manager.wait_active("db", "node2", timeout=10).member("node3").status == "Standby"


def test_status_of_an_offline_member(pack, capsys):
    manager = groups(pack, "node1")
    pack.kill9("node3")
    try:
        pack.wait_until(lambda: manager.get("web").member("node3").status == "Offline", 10, what="node3 offline")
        code, out, err = cli(capsys, pack, "node1", "status")
        assert code == 0, err
        assert "    Secondary node3: Down" in out.splitlines()
        pack.wait_until(lambda: pack.leader(["node1", "node2"]), 10, what="a leader without node3")
        with pytest.raises(APIError, match="it is not alive"):
            manager.move("web", "node3")
    finally:
        pack.restart("node3")
        pack.wait_until(lambda: pack.all_online(), 15, what="node3 back")
