"""The real CLIs against the mock, through their unix socket variable: ``lxc`` (Debian
lxd-client 5.0.2, ``LXD_SOCKET``) against the mock's default LXD profile, and ``incus``
(incus-client 6.0.4, ``INCUS_SOCKET``) against its ``incus-6.0`` profile.

Each test takes the ``cli`` fixture (tests/support/lxc.py), so it runs once per client:
the fixture starts a mock of that client's server flavour (``cli_mock``, configured with
``@pytest.mark.mock_cluster``) and runs the client as a subprocess with its own HOME and
configuration directory and a timeout. The tests compare what the client prints (table,
json, csv, yaml) and what it did with the mock's state and request log. The request
sequences asserted here are the ones a real LXD 5.0.2 logged
(/work/shared/reference/golden/cli/lxc_api_requests.txt); incus 6.0.4 sends the same ones.

Where the clients differ, each one's own output is asserted: the status column (lxc's
STATE, incus's STATUS), incus's ``cluster evacuate --action`` (lxc 5.0.2 has no way to
choose an evacuation mode) and ``cluster group create --description``, and their words for
a server that is not clustered. Where the servers differ, the answer is each server's, as
the live suite saw it (tests/live/test_clients.py).
"""
from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
import subprocess

import pytest
import yaml

from tests.support.lxc import CLIS, Cli, cli_binary, one, parse_table

OFFLINE_MESSAGE = re.compile(r"^No heartbeat for \d[\dhms.]*s \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC\)$")
TOKEN_KEYS = ["server_name", "fingerprint", "addresses", "secret", "expires_at"]
VERSIONS = {"lxc": "5.0.2", "incus": "6.0.4"}  # the clients as packaged (Debian 12, bookworm-backports)
#: The servers' words for a group that does not exist, in a member PUT (LXD 5.0.2 and Incus
#: 6.0.4 live: Incus names the table).
UNKNOWN_GROUP = {
    "lxd": "Error: Update cluster groups: Failed to add member to cluster group: Failed to get cluster group ID: "
           "Cluster group not found",
    "incus": "Error: Update cluster groups: Failed to add member to cluster group: Failed to get cluster group ID: "
             "Cluster_group not found",
}
#: Incus 6.0.4's evacuation modes (``incus cluster evacuate --action``), in its validator's order.
INCUS_MODES = ("auto", "migrate", "live-migrate", "stop", "stateful-stop", "force-stop")


def requests_of(mock) -> list[tuple]:
    return [(r.method, r.path, r.query) for r in mock.requests]


def without_message(member: dict) -> dict:
    return {key: value for key, value in member.items() if key != "message"}


def parse_go_time(text: str) -> dt.datetime:
    """RFC3339Nano (``2026-11-22T05:47:19.282148343Z``) to an aware datetime."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", text)
    assert match, f"not an RFC3339 UTC timestamp: {text!r}"
    base = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return base + dt.timedelta(microseconds=int((match.group(2) or "0").ljust(9, "0")[:6]))


def decode_token(token: str) -> dict:
    raw = base64.b64decode(token, validate=True)
    decoded = json.loads(raw, object_pairs_hook=lambda pairs: pairs)
    assert [key for key, _ in decoded] == TOKEN_KEYS, decoded  # the server's field order
    return dict(decoded)


def status_of(cli: Cli, row: dict) -> str:
    """A member's status in a table row: lxc's STATE column, incus's STATUS."""
    return one(row[cli.flavour.status_column])


def posted(mock) -> list[dict]:
    return [json.loads(r.body) for r in mock.requests if r.method == "POST"]


# ---- the CLIs are there (or the run fails, never skips) ----------------------------------------

@pytest.mark.parametrize("name", sorted(CLIS))
def test_missing_cli_fails_with_instructions(monkeypatch, tmp_path, name):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=rf"`{name}` CLI \(Debian package .*make system-deps"):
        cli_binary(name)


def test_cli_is_installed_in_the_expected_version(cli_name):
    path = cli_binary(cli_name)
    assert path.endswith(f"/{cli_name}")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
    assert (version.returncode, version.stdout.strip()) == (0, VERSIONS[cli_name])


def test_each_cli_meets_its_own_server(cli, cli_mock):
    info = json.loads(cli.ok("query", "/1.0"))
    assert info["environment"]["server"] == cli.flavour.server
    assert cli.env[cli.flavour.socket_env] == cli_mock.unix_socket and cli.flavour.conf_env in cli.env
    assert not any(key.lower().endswith("_proxy") and key != "NO_PROXY" for key in cli.env)


# ---- cluster list ------------------------------------------------------------------------------

def test_cluster_list_table(cli, cli_mock):
    cli_mock.clear_requests()
    rows = parse_table(cli.ok("cluster", "list"))
    assert requests_of(cli_mock) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster", {}),
                                     ("GET", "/1.0/cluster/members", {"recursion": "1"})]
    assert list(rows[0]) == ["NAME", "URL", "ROLES", "ARCHITECTURE", "FAILURE DOMAIN", "DESCRIPTION",
                             cli.flavour.status_column, "MESSAGE"]
    expected = cli_mock.state.members_to_api()
    assert [one(row["NAME"]) for row in rows] == [m["server_name"] for m in expected] == ["node1", "node2", "node3"]
    for row, member in zip(rows, expected):
        assert one(row["URL"]) == member["url"]
        assert row["ROLES"] == member["roles"]  # one role per line
        assert one(row["ARCHITECTURE"]) == member["architecture"]
        assert one(row["FAILURE DOMAIN"]) == member["failure_domain"]
        assert one(row["DESCRIPTION"]) == member["description"]
        assert status_of(cli, row) == member["status"].upper() == "ONLINE"
        assert one(row["MESSAGE"]) == member["message"] == "Fully operational"
    assert rows[0]["ROLES"] == ["database-leader", "database"]
    assert rows[0]["URL"] == ["https://" + cli_mock.url.split("://", 1)[1]]


@pytest.mark.mock_cluster(members=5)
def test_cluster_list_json(cli, cli_mock):
    cli_mock.state.members["node4"].description = "rack 4"
    listed = json.loads(cli.ok("cluster", "list", "-f", "json"))
    assert listed == cli_mock.state.members_to_api()
    assert [m["server_name"] for m in listed] == [f"node{i}" for i in range(1, 6)]
    assert listed[3]["description"] == "rack 4"
    assert [m["roles"] for m in listed] == [["database-leader", "database"], ["database"], ["database"],
                                            ["database-standby"], ["database-standby"]]


def test_cluster_list_csv(cli, cli_mock):
    rows = list(csv.reader(io.StringIO(cli.ok("cluster", "list", "--format", "csv"))))
    expected = [[m["server_name"], m["url"], ",".join(m["roles"]), m["architecture"], m["failure_domain"],
                 m["description"], m["status"].upper(), m["message"]] for m in cli_mock.state.members_to_api()]
    assert rows == expected
    assert rows[0][2] == "database-leader,database"


def test_cluster_list_yaml(cli, cli_mock):
    assert yaml.safe_load(cli.ok("cluster", "list", "-f", "yaml")) == cli_mock.state.members_to_api()


def test_offline_member_shows_as_offline(cli, cli_mock):
    cli_mock.set_offline("node2")
    rows = {one(row["NAME"]): row for row in parse_table(cli.ok("cluster", "list"))}
    assert [status_of(cli, rows[name]) for name in ("node1", "node2", "node3")] == ["ONLINE", "OFFLINE", "ONLINE"]
    message = one(rows["node2"]["MESSAGE"])
    assert message.startswith("No heartbeat for ") and OFFLINE_MESSAGE.match(message), message

    listed = {m["server_name"]: m for m in json.loads(cli.ok("cluster", "list", "-f", "json"))}
    assert listed["node2"]["status"] == "Offline"
    assert without_message(listed["node2"]) == without_message(cli_mock.state.member_to_api("node2"))
    shown = yaml.safe_load(cli.ok("cluster", "show", "node2"))
    assert shown["status"] == "Offline" and OFFLINE_MESSAGE.match(shown["message"])

    cli_mock.set_online("node2")
    rows = {one(row["NAME"]): row for row in parse_table(cli.ok("cluster", "list"))}
    assert (status_of(cli, rows["node2"]), one(rows["node2"]["MESSAGE"])) == ("ONLINE", "Fully operational")


# ---- cluster show / edit -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["node1", "node3"])
def test_cluster_show(cli, cli_mock, name):
    cli_mock.clear_requests()
    text = cli.ok("cluster", "show", name)
    assert requests_of(cli_mock) == [("GET", "/1.0", {}), ("GET", f"/1.0/cluster/members/{name}", {})]
    shown = yaml.safe_load(text)
    assert shown == cli_mock.state.member_to_api(name)
    assert list(shown) == ["roles", "failure_domain", "description", "config", "groups", "server_name", "url",
                           "database", "status", "message", "architecture"]  # the servers' field order


def test_cluster_show_unknown_member_fails(cli, cli_mock):
    assert cli.fails("cluster", "show", "nope") == "Error: Cluster member not found\n"
    assert requests_of(cli_mock)[-1] == ("GET", "/1.0/cluster/members/nope", {})
    assert cli_mock.requests[-1].status == 404


def test_cluster_edit_from_stdin(cli, cli_mock):
    """Not a terminal: the client reads the new member from stdin and PUTs it as it is."""
    edited = ("description: rack two\nfailure_domain: rack2\nconfig:\n  scheduler.instance: manual\n"
              "roles:\n- database\ngroups:\n- default\n")
    cli_mock.clear_requests()
    assert cli.ok("cluster", "edit", "node2", input=edited) == ""
    assert requests_of(cli_mock) == [("GET", "/1.0", {}), ("PUT", "/1.0/cluster/members/node2", {})]
    assert json.loads(cli_mock.requests[-1].body) == {"roles": ["database"], "failure_domain": "rack2",
                                                      "description": "rack two",
                                                      "config": {"scheduler.instance": "manual"},
                                                      "groups": ["default"]}
    shown = yaml.safe_load(cli.ok("cluster", "show", "node2"))
    assert (shown["description"], shown["failure_domain"], shown["config"]) == (
        "rack two", "rack2", {"scheduler.instance": "manual"})

    cli_mock.clear_requests()
    assert cli.fails("cluster", "edit", "node2", input="not: [valid") == \
        "Error: yaml: line 1: did not find expected ',' or ']'\n"
    assert [r.method for r in cli_mock.requests] == ["GET"]  # nothing written
    assert cli_mock.state.member_to_api("node2")["description"] == "rack two"


# ---- join tokens -------------------------------------------------------------------------------

def test_add_list_and_revoke_join_token(cli, cli_mock):
    cli_mock.clear_requests()
    out = cli.ok("cluster", "add", "node9")
    lines = out.splitlines()
    assert lines[0] == "Member node9 join token:" and len(lines) == 2, out
    token = lines[1]
    assert [(m, p) for m, p, _ in requests_of(cli_mock)][-1] == ("POST", "/1.0/cluster/members")

    fields = decode_token(token)
    assert fields["server_name"] == "node9"
    assert fields["fingerprint"] == cli_mock.fingerprint
    assert fields["addresses"] == cli_mock.state.online_addresses()
    assert fields["addresses"][0] == cli_mock.url.split("://", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{64}", fields["secret"]), fields["secret"]
    expires = parse_go_time(fields["expires_at"])
    now = dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=2, minutes=55) < expires - now <= dt.timedelta(hours=3, minutes=1)
    assert "node9" not in cli_mock.state.members  # a token is not a member

    cli_mock.clear_requests()
    rows = parse_table(cli.ok("cluster", "list-tokens"))
    assert requests_of(cli_mock) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster", {}),
                                     ("GET", "/1.0/operations", {"project": "default", "recursion": "1"})]
    assert [(one(r["NAME"]), one(r["TOKEN"])) for r in rows] == [("node9", token)]
    assert one(rows[0]["EXPIRES AT"]) == expires.strftime("%Y/%m/%d %H:%M UTC")
    csv_rows = list(csv.reader(io.StringIO(cli.ok("cluster", "list-tokens", "-f", "csv"))))
    assert csv_rows == [["node9", token, expires.strftime("%Y/%m/%d %H:%M UTC")]]

    [operation] = cli_mock.state.operations.running("token")
    cli_mock.clear_requests()
    assert cli.ok("cluster", "revoke-token", "node9") == "Cluster join token for local:node9 deleted\n"
    assert requests_of(cli_mock)[-1] == ("DELETE", f"/1.0/operations/{operation.id}", {})
    assert cli_mock.requests[-1].status == 200
    assert cli_mock.state.operations.running("token") == []
    assert parse_table(cli.ok("cluster", "list-tokens")) == []
    assert json.loads(cli.ok("cluster", "list-tokens", "-f", "json")) == []

    assert cli.fails("cluster", "revoke-token", "node9") == \
        "Error: No cluster join token for member node9 on remote: local\n"


def test_two_tokens_are_listed(cli, cli_mock):
    first = cli.ok("cluster", "add", "node8").splitlines()[1]
    second = cli.ok("cluster", "add", "node9").splitlines()[1]
    assert first != second
    rows = {one(r["NAME"]): one(r["TOKEN"]) for r in parse_table(cli.ok("cluster", "list-tokens"))}
    assert rows == {"node8": first, "node9": second}
    assert decode_token(first)["secret"] != decode_token(second)["secret"]


# ---- cluster groups ----------------------------------------------------------------------------

def group_rows(cli: Cli) -> dict:
    return {
        one(r["NAME"]): (one(r["DESCRIPTION"]), one(r["MEMBERS"]))
        for r in parse_table(cli.ok("cluster", "group", "list"))
    }


def test_group_lifecycle(cli, cli_mock):
    state = cli_mock.state
    cli_mock.clear_requests()
    assert group_rows(cli) == {"default": ("Default cluster group", "3")}
    assert requests_of(cli_mock) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster", {}),
                                     ("GET", "/1.0/cluster/groups", {"recursion": "1"})]

    assert cli.ok("cluster", "group", "create", "g8") == "Cluster group g8 created\n"
    assert {k: v for k, v in state.group_to_api("g8").items() if k != "used_by"} == {
        "description": "", "members": [], "name": "g8"}      # used_by: LXD 5.21's, not Incus 6.0's
    assert group_rows(cli) == {"default": ("Default cluster group", "3"), "g8": ("", "0")}
    assert list(csv.reader(io.StringIO(cli.ok("cluster", "group", "list", "--format", "csv")))) == [
        ["default", "Default cluster group", "3"], ["g8", "", "0"]]
    # lxc 5.0.2 and incus 6.0 re-encode groups with their own struct: no used_by (LXD 5.21's).
    assert json.loads(cli.ok("cluster", "group", "list", "--format", "json")) == \
        yaml.safe_load(cli.ok("cluster", "group", "list", "--format", "yaml")) == \
        [{k: v for k, v in state.group_to_api(g).items() if k != "used_by"} for g in ("default", "g8")]

    cli_mock.clear_requests()
    out = cli.ok("cluster", "group", "assign", "node1", "default,g8")
    assert out == "Cluster member node1 added to cluster groups default,g8\n"
    assert requests_of(cli_mock) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster/members/node1", {}),
                                     ("PUT", "/1.0/cluster/members/node1", {})]
    assert state.group_to_api("g8")["members"] == ["node1"]
    assert state.member_to_api("node1")["groups"] == ["default", "g8"]
    assert group_rows(cli)["g8"] == ("", "1")
    assert yaml.safe_load(cli.ok("cluster", "group", "show", "g8")) == {"description": "", "members": ["node1"],
                                                                        "name": "g8"}

    assert cli.ok("cluster", "group", "remove", "node1", "g8") == "Cluster member node1 removed from group g8\n"
    assert state.group_to_api("g8")["members"] == []
    assert state.member_to_api("node1")["groups"] == ["default"]

    assert cli.ok("cluster", "group", "rename", "g8", "g9") == "Cluster group g8 renamed to g9\n"
    assert "g8" not in state.groups and "g9" in state.groups

    cli_mock.clear_requests()
    assert cli.ok("cluster", "group", "edit", "g9", input="description: edited\nmembers:\n- node2\n") == ""
    assert requests_of(cli_mock) == [("GET", "/1.0", {}), ("PUT", "/1.0/cluster/groups/g9", {})]
    assert (state.group_to_api("g9")["description"], state.group_to_api("g9")["members"]) == ("edited", ["node2"])
    assert cli.ok("cluster", "group", "edit", "g9", input="description: edited\nmembers: []\n") == ""

    assert cli.ok("cluster", "group", "delete", "g9") == "Cluster group g9 deleted\n"
    assert list(state.groups) == ["default"]
    assert group_rows(cli) == {"default": ("Default cluster group", "3")}


def test_group_create_with_a_description(cli, cli_mock):
    """incus takes ``--description`` on create; lxc 5.0.2 does not know the flag."""
    result = cli.run("cluster", "group", "create", "g1", "--description", "rack one")
    if cli.name == "incus":
        assert (result.returncode, result.stdout, result.stderr) == (0, "Cluster group g1 created\n", "")
        assert json.loads(cli_mock.requests[-1].body) == {"description": "rack one", "members": None, "name": "g1"}
        assert cli_mock.state.group_to_api("g1") == {"description": "rack one", "members": [], "name": "g1"}
    else:
        assert (result.returncode, result.stdout, result.stderr) == (1, "", "Error: unknown flag: --description\n")
        assert list(cli_mock.state.groups) == ["default"]


def test_group_errors(cli, cli_mock):
    assert cli.fails("cluster", "group", "delete", "default") == \
        "Error: The 'default' cluster group cannot be deleted\n"
    assert cli.fails("cluster", "group", "assign", "node1", "default,nosuch") == \
        UNKNOWN_GROUP[cli.flavour.server] + "\n"
    assert cli_mock.state.member_to_api("node1")["groups"] == ["default"]
    assert list(cli_mock.state.groups) == ["default"]


# ---- evacuate / restore ------------------------------------------------------------------------

@pytest.mark.parametrize("delay", [0.0, 0.5])
def test_evacuate_and_restore(cli_name, mock_cluster_factory, tmp_path, delay):
    """The client waits for the operation: with a slow one the state has changed when it returns."""
    profile = CLIS[cli_name].mock_profile
    mock = mock_cluster_factory(3, operation_delay=delay, **({"server": profile} if profile else {}))
    cli = Cli(cli_name, mock.unix_socket, tmp_path / "home")

    mock.clear_requests()
    assert cli.ok("cluster", "evacuate", "node2", "--force") == ""
    log = requests_of(mock)
    assert log[:3] == [
        ("GET", "/1.0", {}),
        ("GET", "/1.0/events", {}),
        ("POST", "/1.0/cluster/members/node2/state", {}),
    ]
    assert json.loads(mock.requests[2].body) == {"action": "evacuate", "mode": ""}  # the server's default mode
    assert any(path.startswith("/1.0/operations/") for _, path, _ in log[3:])
    member = mock.state.member_to_api("node2")
    assert (member["status"], member["message"]) == ("Evacuated", "Unavailable due to maintenance")
    rows = {one(r["NAME"]): r for r in parse_table(cli.ok("cluster", "list"))}
    assert status_of(cli, rows["node2"]) == "EVACUATED"
    assert one(rows["node2"]["MESSAGE"]) == "Unavailable due to maintenance"
    assert yaml.safe_load(cli.ok("cluster", "show", "node2"))["status"] == "Evacuated"

    assert cli.ok("cluster", "restore", "node2", "--force") == ""
    assert posted(mock)[-1] == {"action": "restore", "mode": ""}
    member = mock.state.member_to_api("node2")
    assert (member["status"], member["message"]) == ("Online", "Fully operational")
    rows = {one(r["NAME"]): r for r in parse_table(cli.ok("cluster", "list"))}
    assert status_of(cli, rows["node2"]) == "ONLINE"


@pytest.mark.parametrize("mode", ["stop", "stateful-stop", "force-stop"])
def test_evacuation_mode(cli, cli_mock, mode):
    """incus chooses the mode with ``--action`` (``stateful-stop`` and ``force-stop`` are
    Incus's own); lxc 5.0.2 has no such flag and sends nothing."""
    cli_mock.clear_requests()
    result = cli.run("cluster", "evacuate", "node2", "--force", "--action", mode)
    if cli.name == "incus":
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert posted(cli_mock) == [{"action": "evacuate", "mode": mode}]
        assert cli_mock.state.member_to_api("node2")["status"] == "Evacuated"
        assert cli.ok("cluster", "restore", "node2", "--force") == ""
        assert cli_mock.state.member_to_api("node2")["status"] == "Online"
    else:
        assert (result.returncode, result.stdout, result.stderr) == (1, "", "Error: unknown flag: --action\n")
        assert cli_mock.requests == []
        assert cli_mock.state.member_to_api("node2")["status"] == "Online"


def test_unknown_evacuation_mode_is_refused(cli, cli_mock):
    """Incus checks the mode against its list (its validator's words, as Incus 6.0.4 says them)."""
    if cli.name == "lxc":
        assert cli.fails("cluster", "evacuate", "node2", "--force", "--action", "bogus") == \
            "Error: unknown flag: --action\n"
    else:
        assert cli.fails("cluster", "evacuate", "node2", "--force", "--action", "bogus") == (
            'Error: Failed to update cluster member state: Invalid value "bogus" (not one of '
            f'[{" ".join(INCUS_MODES)}])\n')
        assert cli_mock.requests[-1].status == 400
    assert cli_mock.state.member_to_api("node2")["status"] == "Online"


def test_evacuate_errors(cli, cli_mock):
    assert cli.fails("cluster", "evacuate", "nope", "--force") == \
        "Error: Failed to update cluster member state: Cluster member not found\n"
    cli_mock.set_offline("node3")
    assert cli.fails("cluster", "evacuate", "node3", "--force") == \
        'Error: Failed to update cluster member state: Cluster member "node3" is offline\n'
    assert [m["status"] for m in cli_mock.state.members_to_api()] == ["Online", "Online", "Offline"]


# ---- member config, rename, remove -------------------------------------------------------------

def test_set_get_unset_member_config(cli, cli_mock):
    state = cli_mock.state
    cli_mock.clear_requests()
    assert cli.ok("cluster", "set", "node1", "scheduler.instance", "manual") == ""
    assert requests_of(cli_mock) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster/members/node1", {}),
                                     ("PUT", "/1.0/cluster/members/node1", {})]
    assert state.member_to_api("node1")["config"] == {"scheduler.instance": "manual"}
    assert cli.ok("cluster", "get", "node1", "scheduler.instance") == "manual\n"
    assert yaml.safe_load(cli.ok("cluster", "show", "node1"))["config"] == {"scheduler.instance": "manual"}

    # `unset` is `set KEY ""`: the client PUTs config {"scheduler.instance": ""}, which the
    # servers accept (the key's validator is validate.Optional(...)); LXD 5.0.2 exits 0 here.
    cli_mock.clear_requests()
    result = cli.run("cluster", "unset", "node1", "scheduler.instance")
    put = [r for r in cli_mock.requests if r.method == "PUT"]
    assert put and json.loads(put[-1].body)["config"] == {"scheduler.instance": ""}
    assert result.returncode == 0, (
        f"`{cli.name} cluster unset node1 scheduler.instance` failed: PUT /1.0/cluster/members/node1 with "
        f"config {{\"scheduler.instance\": \"\"}} answered {put[-1].status}; stderr={result.stderr!r}")
    # The servers store no empty config values: the key is gone, and `cluster get` says so.
    assert "scheduler.instance" not in state.member_to_api("node1")["config"]
    assert cli.fails("cluster", "get", "node1", "scheduler.instance") == \
        'Error: The key "scheduler.instance" does not exist on cluster member "node1"\n'

    assert cli.fails("cluster", "set", "node1", "scheduler.instance", "sometimes") == \
        'Error: Invalid cluster configuration key "scheduler.instance" value\n'


def test_rename_member(cli, cli_mock):
    cli_mock.clear_requests()
    assert cli.ok("cluster", "rename", "node2", "node2b") == "Member node2 renamed to node2b\n"
    assert requests_of(cli_mock)[-1] == ("POST", "/1.0/cluster/members/node2", {})
    assert json.loads(cli_mock.requests[-1].body) == {"server_name": "node2b"}
    assert list(cli_mock.state.members) == ["node1", "node2b", "node3"]
    names = [one(r["NAME"]) for r in parse_table(cli.ok("cluster", "list"))]
    assert names == ["node1", "node2b", "node3"]
    assert yaml.safe_load(cli.ok("cluster", "show", "node2b"))["server_name"] == "node2b"
    assert cli.fails("cluster", "show", "node2") == "Error: Cluster member not found\n"

    # A name in use: 409. LXD 5.0.2 and Incus 6.0.4 both say only "Conflict".
    assert cli.fails("cluster", "rename", "node2b", "node3") == "Error: Conflict\n"
    assert (cli_mock.requests[-1].method, cli_mock.requests[-1].status) == ("POST", 409)
    assert list(cli_mock.state.members) == ["node1", "node2b", "node3"]


@pytest.mark.mock_cluster(members=4)
def test_remove_member(cli, cli_mock):
    cli_mock.clear_requests()
    assert cli.ok("cluster", "remove", "node3", "--force", "--yes") == "Member node3 removed\n"
    assert requests_of(cli_mock)[-1] == ("DELETE", "/1.0/cluster/members/node3", {"force": "1"})
    assert list(cli_mock.state.members) == ["node1", "node2", "node4"]
    assert "node3" not in cli_mock.state.group_to_api("default")["members"]
    listed = json.loads(cli.ok("cluster", "list", "-f", "json"))
    assert [m["server_name"] for m in listed] == ["node1", "node2", "node4"]
    assert listed == cli_mock.state.members_to_api()

    assert cli.fails("cluster", "remove", "node3", "--force", "--yes") == "Error: Cluster member not found\n"


def test_remove_offline_member_with_force(cli, cli_mock):
    cli_mock.set_offline("node3")
    assert cli.ok("cluster", "remove", "node3", "--force", "--yes") == "Member node3 removed\n"
    assert list(cli_mock.state.members) == ["node1", "node2"]


def test_token_addresses_skip_offline_and_evacuated_members(cli, cli_mock):
    cli_mock.set_offline("node3")
    cli_mock.set_status("node2", "Evacuated")
    token = cli.ok("cluster", "add", "node9").splitlines()[1]
    assert decode_token(token)["addresses"] == [cli_mock.state.member_to_api("node1")["url"][len("https://"):]]


# ---- a standalone server -----------------------------------------------------------------------

@pytest.mark.mock_cluster(members=0)
def test_standalone_server_then_cluster_enable(cli, cli_mock):
    assert cli.fails("cluster", "list") == cli.flavour.not_clustered + "\n"  # each client's own words

    assert cli.ok("cluster", "enable", "solo") == "Clustering enabled\n"
    assert ("PUT", "/1.0/cluster", {}) in requests_of(cli_mock)
    assert cli_mock.state.cluster_to_api() == {"server_name": "solo", "enabled": True, "member_config": []}
    rows = parse_table(cli.ok("cluster", "list"))
    assert [(one(r["NAME"]), status_of(cli, r), r["ROLES"]) for r in rows] == [
        ("solo", "ONLINE", ["database-leader", "database"])]
