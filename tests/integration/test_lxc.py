"""The real ``lxc`` CLI (Debian lxd-client 5.0.2) against the mock, through LXD_SOCKET.

Each test starts a mock (the plugin's ``mock_cluster`` fixture), runs ``lxc`` as a
subprocess with its own HOME and LXD_CONF and a timeout, and compares what lxc prints
(table, json, csv, yaml) and what it did with the mock's state and request log. The
request sequences asserted here are the ones a real LXD 5.0.2 logged
(/work/shared/reference/golden/cli/lxc_api_requests.txt).
"""
from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re

import pytest
import yaml

from tests.support.lxc import Lxc, lxc_binary, one, parse_table

OFFLINE_MESSAGE = re.compile(r"^No heartbeat for \d[\dhms.]*s \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC\)$")
TOKEN_KEYS = ["server_name", "fingerprint", "addresses", "secret", "expires_at"]


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
    assert [key for key, _ in decoded] == TOKEN_KEYS, decoded  # lxc's field order
    return dict(decoded)


# ---- the CLI is there (or the run fails, never skips) ----------------------------------------

def test_missing_lxc_fails_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"make system-deps"):
        lxc_binary()


def test_lxc_is_installed(lxc_path):
    assert lxc_path.endswith("lxc")


# ---- cluster list ------------------------------------------------------------------------------

def test_cluster_list_table(lxc, mock_cluster):
    mock_cluster.clear_requests()
    rows = parse_table(lxc.ok("cluster", "list"))
    assert requests_of(mock_cluster) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster", {}),
                                         ("GET", "/1.0/cluster/members", {"recursion": "1"})]
    expected = mock_cluster.state.members_to_api()
    assert [one(row["NAME"]) for row in rows] == [m["server_name"] for m in expected] == ["node1", "node2", "node3"]
    for row, member in zip(rows, expected):
        assert one(row["URL"]) == member["url"]
        assert row["ROLES"] == member["roles"]  # one role per line
        assert one(row["ARCHITECTURE"]) == member["architecture"]
        assert one(row["FAILURE DOMAIN"]) == member["failure_domain"]
        assert one(row["DESCRIPTION"]) == member["description"]
        assert one(row["STATE"]) == member["status"].upper() == "ONLINE"
        assert one(row["MESSAGE"]) == member["message"] == "Fully operational"
    assert rows[0]["ROLES"] == ["database-leader", "database"]
    assert rows[0]["URL"] == ["https://" + mock_cluster.url.split("://", 1)[1]]


@pytest.mark.mock_cluster(members=5)
def test_cluster_list_json(lxc, mock_cluster):
    mock_cluster.state.members["node4"].description = "rack 4"
    listed = json.loads(lxc.ok("cluster", "list", "-f", "json"))
    assert listed == mock_cluster.state.members_to_api()
    assert [m["server_name"] for m in listed] == [f"node{i}" for i in range(1, 6)]
    assert listed[3]["description"] == "rack 4"
    assert [m["roles"] for m in listed] == [["database-leader", "database"], ["database"], ["database"],
                                            ["database-standby"], ["database-standby"]]


def test_cluster_list_csv(lxc, mock_cluster):
    rows = list(csv.reader(io.StringIO(lxc.ok("cluster", "list", "-f", "csv"))))
    expected = [[m["server_name"], m["url"], ",".join(m["roles"]), m["architecture"], m["failure_domain"],
                 m["description"], m["status"].upper(), m["message"]] for m in mock_cluster.state.members_to_api()]
    assert rows == expected
    assert rows[0][2] == "database-leader,database"


def test_cluster_list_yaml(lxc, mock_cluster):
    assert yaml.safe_load(lxc.ok("cluster", "list", "-f", "yaml")) == mock_cluster.state.members_to_api()


def test_offline_member_shows_as_offline(lxc, mock_cluster):
    mock_cluster.set_offline("node2")
    rows = {one(row["NAME"]): row for row in parse_table(lxc.ok("cluster", "list"))}
    assert [one(rows[name]["STATE"]) for name in ("node1", "node2", "node3")] == ["ONLINE", "OFFLINE", "ONLINE"]
    message = one(rows["node2"]["MESSAGE"])
    assert message.startswith("No heartbeat for ") and OFFLINE_MESSAGE.match(message), message

    listed = {m["server_name"]: m for m in json.loads(lxc.ok("cluster", "list", "-f", "json"))}
    assert listed["node2"]["status"] == "Offline"
    assert without_message(listed["node2"]) == without_message(mock_cluster.state.member_to_api("node2"))
    shown = yaml.safe_load(lxc.ok("cluster", "show", "node2"))
    assert shown["status"] == "Offline" and OFFLINE_MESSAGE.match(shown["message"])

    mock_cluster.set_online("node2")
    rows = {one(row["NAME"]): row for row in parse_table(lxc.ok("cluster", "list"))}
    assert (one(rows["node2"]["STATE"]), one(rows["node2"]["MESSAGE"])) == ("ONLINE", "Fully operational")


# ---- cluster show ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["node1", "node3"])
def test_cluster_show(lxc, mock_cluster, name):
    mock_cluster.clear_requests()
    text = lxc.ok("cluster", "show", name)
    assert requests_of(mock_cluster) == [("GET", "/1.0", {}), ("GET", f"/1.0/cluster/members/{name}", {})]
    shown = yaml.safe_load(text)
    assert shown == mock_cluster.state.member_to_api(name)
    assert list(shown) == ["roles", "failure_domain", "description", "config", "groups", "server_name", "url",
                           "database", "status", "message", "architecture"]  # LXD's field order


def test_cluster_show_unknown_member_fails(lxc, mock_cluster):
    result = lxc.run("cluster", "show", "nope")
    assert result.returncode != 0
    assert "Cluster member not found" in result.stderr
    assert result.stderr.strip() == "Error: Cluster member not found"
    assert result.stdout == ""
    assert requests_of(mock_cluster)[-1] == ("GET", "/1.0/cluster/members/nope", {})
    assert mock_cluster.requests[-1].status == 404


# ---- join tokens -------------------------------------------------------------------------------

def test_add_list_and_revoke_join_token(lxc, mock_cluster):
    mock_cluster.clear_requests()
    out = lxc.ok("cluster", "add", "node9")
    lines = out.splitlines()
    assert lines[0] == "Member node9 join token:" and len(lines) == 2, out
    token = lines[1]
    assert [(m, p) for m, p, _ in requests_of(mock_cluster)][-1] == ("POST", "/1.0/cluster/members")

    fields = decode_token(token)
    assert fields["server_name"] == "node9"
    assert fields["fingerprint"] == mock_cluster.fingerprint
    assert fields["addresses"] == mock_cluster.state.online_addresses()
    assert fields["addresses"][0] == mock_cluster.url.split("://", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{64}", fields["secret"]), fields["secret"]
    expires = parse_go_time(fields["expires_at"])
    now = dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=2, minutes=55) < expires - now <= dt.timedelta(hours=3, minutes=1)
    assert "node9" not in mock_cluster.state.members  # a token is not a member

    mock_cluster.clear_requests()
    rows = parse_table(lxc.ok("cluster", "list-tokens"))
    assert requests_of(mock_cluster) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster", {}),
                                         ("GET", "/1.0/operations", {"project": "default", "recursion": "1"})]
    assert [(one(r["NAME"]), one(r["TOKEN"])) for r in rows] == [("node9", token)]
    assert one(rows[0]["EXPIRES AT"]) == expires.strftime("%Y/%m/%d %H:%M UTC")
    csv_rows = list(csv.reader(io.StringIO(lxc.ok("cluster", "list-tokens", "-f", "csv"))))
    assert csv_rows == [["node9", token, expires.strftime("%Y/%m/%d %H:%M UTC")]]

    [operation] = mock_cluster.state.operations.running("token")
    mock_cluster.clear_requests()
    assert lxc.ok("cluster", "revoke-token", "node9") == "Cluster join token for local:node9 deleted\n"
    assert requests_of(mock_cluster)[-1] == ("DELETE", f"/1.0/operations/{operation.id}", {})
    assert mock_cluster.requests[-1].status == 200
    assert mock_cluster.state.operations.running("token") == []
    assert parse_table(lxc.ok("cluster", "list-tokens")) == []

    result = lxc.run("cluster", "revoke-token", "node9")
    assert result.returncode != 0 and "node9" in result.stderr


def test_two_tokens_are_listed(lxc, mock_cluster):
    first = lxc.ok("cluster", "add", "node8").splitlines()[1]
    second = lxc.ok("cluster", "add", "node9").splitlines()[1]
    assert first != second
    rows = {one(r["NAME"]): one(r["TOKEN"]) for r in parse_table(lxc.ok("cluster", "list-tokens"))}
    assert rows == {"node8": first, "node9": second}
    assert decode_token(first)["secret"] != decode_token(second)["secret"]


# ---- cluster groups ----------------------------------------------------------------------------

def group_rows(lxc: Lxc) -> dict:
    return {
        one(r["NAME"]): (one(r["DESCRIPTION"]), one(r["MEMBERS"]))
        for r in parse_table(lxc.ok("cluster", "group", "list"))
    }


def test_group_lifecycle(lxc, mock_cluster):
    state = mock_cluster.state
    mock_cluster.clear_requests()
    assert group_rows(lxc) == {"default": ("Default cluster group", "3")}
    assert requests_of(mock_cluster) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster", {}),
                                         ("GET", "/1.0/cluster/groups", {"recursion": "1"})]

    assert lxc.ok("cluster", "group", "create", "g8") == "Cluster group g8 created\n"
    assert state.group_to_api("g8") == {"description": "", "members": [], "name": "g8"}
    assert group_rows(lxc) == {"default": ("Default cluster group", "3"), "g8": ("", "0")}

    mock_cluster.clear_requests()
    out = lxc.ok("cluster", "group", "assign", "node1", "default,g8")
    assert out == "Cluster member node1 added to cluster groups default,g8\n"
    assert requests_of(mock_cluster) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster/members/node1", {}),
                                         ("PUT", "/1.0/cluster/members/node1", {})]
    assert state.group_to_api("g8")["members"] == ["node1"]
    assert state.member_to_api("node1")["groups"] == ["default", "g8"]
    assert group_rows(lxc)["g8"] == ("", "1")

    assert lxc.ok("cluster", "group", "remove", "node1", "g8") == "Cluster member node1 removed from group g8\n"
    assert state.group_to_api("g8")["members"] == []
    assert state.member_to_api("node1")["groups"] == ["default"]

    assert lxc.ok("cluster", "group", "rename", "g8", "g9") == "Cluster group g8 renamed to g9\n"
    assert "g8" not in state.groups and "g9" in state.groups

    assert lxc.ok("cluster", "group", "delete", "g9") == "Cluster group g9 deleted\n"
    assert list(state.groups) == ["default"]
    assert group_rows(lxc) == {"default": ("Default cluster group", "3")}


def test_group_errors(lxc, mock_cluster):
    refused = lxc.run("cluster", "group", "delete", "default")
    assert refused.returncode != 0
    assert refused.stderr.strip() == "Error: The 'default' cluster group cannot be deleted"
    unknown = lxc.run("cluster", "group", "assign", "node1", "default,nosuch")
    assert unknown.returncode != 0 and "Cluster group not found" in unknown.stderr
    assert mock_cluster.state.member_to_api("node1")["groups"] == ["default"]
    assert list(mock_cluster.state.groups) == ["default"]


# ---- evacuate / restore ------------------------------------------------------------------------

@pytest.mark.parametrize("delay", [0.0, 0.5])
def test_evacuate_and_restore(lxc_path, mock_cluster_factory, tmp_path, delay):
    """lxc waits for the operation: with a slow operation the state has changed when it returns."""
    mock = mock_cluster_factory(3, operation_delay=delay)
    lxc = Lxc(lxc_path, mock.unix_socket, tmp_path / "home")

    mock.clear_requests()
    assert lxc.ok("cluster", "evacuate", "node2", "--force") == ""
    log = requests_of(mock)
    assert log[:3] == [
        ("GET", "/1.0", {}),
        ("GET", "/1.0/events", {}),
        ("POST", "/1.0/cluster/members/node2/state", {}),
    ]
    assert json.loads(mock.requests[2].body)["action"] == "evacuate"
    assert any(path.startswith("/1.0/operations/") for _, path, _ in log[3:])
    member = mock.state.member_to_api("node2")
    assert (member["status"], member["message"]) == ("Evacuated", "Unavailable due to maintenance")
    rows = {one(r["NAME"]): r for r in parse_table(lxc.ok("cluster", "list"))}
    assert one(rows["node2"]["STATE"]) == "EVACUATED"
    assert one(rows["node2"]["MESSAGE"]) == "Unavailable due to maintenance"
    assert yaml.safe_load(lxc.ok("cluster", "show", "node2"))["status"] == "Evacuated"

    assert lxc.ok("cluster", "restore", "node2", "--force") == ""
    assert json.loads([r for r in mock.requests if r.method == "POST"][-1].body)["action"] == "restore"
    member = mock.state.member_to_api("node2")
    assert (member["status"], member["message"]) == ("Online", "Fully operational")
    rows = {one(r["NAME"]): r for r in parse_table(lxc.ok("cluster", "list"))}
    assert one(rows["node2"]["STATE"]) == "ONLINE"


def test_evacuate_errors(lxc, mock_cluster):
    unknown = lxc.run("cluster", "evacuate", "nope", "--force")
    assert unknown.returncode != 0 and "Cluster member not found" in unknown.stderr
    mock_cluster.set_offline("node3")
    offline = lxc.run("cluster", "evacuate", "node3", "--force")
    assert offline.returncode != 0 and 'Cluster member "node3" is offline' in offline.stderr
    assert [m["status"] for m in mock_cluster.state.members_to_api()] == ["Online", "Online", "Offline"]


# ---- member config, rename, remove -------------------------------------------------------------

def test_set_get_unset_member_config(lxc, mock_cluster):
    state = mock_cluster.state
    mock_cluster.clear_requests()
    assert lxc.ok("cluster", "set", "node1", "scheduler.instance", "manual") == ""
    assert requests_of(mock_cluster) == [("GET", "/1.0", {}), ("GET", "/1.0/cluster/members/node1", {}),
                                         ("PUT", "/1.0/cluster/members/node1", {})]
    assert state.member_to_api("node1")["config"] == {"scheduler.instance": "manual"}
    assert lxc.ok("cluster", "get", "node1", "scheduler.instance") == "manual\n"
    assert yaml.safe_load(lxc.ok("cluster", "show", "node1"))["config"] == {"scheduler.instance": "manual"}

    # `unset` is `set KEY ""`: lxc PUTs config {"scheduler.instance": ""}, which LXD accepts
    # (the key's validator is validate.Optional(...)); the real 5.0.2 server exits 0 here.
    mock_cluster.clear_requests()
    result = lxc.run("cluster", "unset", "node1", "scheduler.instance")
    put = [r for r in mock_cluster.requests if r.method == "PUT"]
    assert put and json.loads(put[-1].body)["config"] == {"scheduler.instance": ""}
    assert result.returncode == 0, (
        f"`lxc cluster unset node1 scheduler.instance` failed: PUT /1.0/cluster/members/node1 with "
        f"config {{\"scheduler.instance\": \"\"}} answered {put[-1].status}; stderr={result.stderr!r}")
    # LXD stores no empty config values: the key is gone, and `lxc cluster get` says so.
    assert "scheduler.instance" not in state.member_to_api("node1")["config"]
    missing = lxc.run("cluster", "get", "node1", "scheduler.instance")
    assert missing.returncode == 1
    assert 'The key "scheduler.instance" does not exist on cluster member "node1"' in missing.stderr

    bad = lxc.run("cluster", "set", "node1", "scheduler.instance", "sometimes")
    assert bad.returncode != 0
    assert 'Invalid cluster configuration key "scheduler.instance" value' in bad.stderr


def test_rename_member(lxc, mock_cluster):
    mock_cluster.clear_requests()
    assert lxc.ok("cluster", "rename", "node2", "node2b") == "Member node2 renamed to node2b\n"
    assert requests_of(mock_cluster)[-1] == ("POST", "/1.0/cluster/members/node2", {})
    assert json.loads(mock_cluster.requests[-1].body) == {"server_name": "node2b"}
    assert list(mock_cluster.state.members) == ["node1", "node2b", "node3"]
    names = [one(r["NAME"]) for r in parse_table(lxc.ok("cluster", "list"))]
    assert names == ["node1", "node2b", "node3"]
    assert yaml.safe_load(lxc.ok("cluster", "show", "node2b"))["server_name"] == "node2b"
    assert lxc.run("cluster", "show", "node2").returncode != 0

    taken = lxc.run("cluster", "rename", "node2b", "node3")
    assert taken.returncode != 0 and "node3" in taken.stderr


@pytest.mark.mock_cluster(members=4)
def test_remove_member(lxc, mock_cluster):
    mock_cluster.clear_requests()
    assert lxc.ok("cluster", "remove", "node3", "--force", "--yes") == "Member node3 removed\n"
    assert requests_of(mock_cluster)[-1] == ("DELETE", "/1.0/cluster/members/node3", {"force": "1"})
    assert list(mock_cluster.state.members) == ["node1", "node2", "node4"]
    assert "node3" not in mock_cluster.state.group_to_api("default")["members"]
    listed = json.loads(lxc.ok("cluster", "list", "-f", "json"))
    assert [m["server_name"] for m in listed] == ["node1", "node2", "node4"]
    assert listed == mock_cluster.state.members_to_api()

    gone = lxc.run("cluster", "remove", "node3", "--force", "--yes")
    assert gone.returncode != 0 and "Cluster member not found" in gone.stderr


def test_remove_offline_member_with_force(lxc, mock_cluster):
    mock_cluster.set_offline("node3")
    assert lxc.ok("cluster", "remove", "node3", "--force", "--yes") == "Member node3 removed\n"
    assert list(mock_cluster.state.members) == ["node1", "node2"]


def test_token_addresses_skip_offline_and_evacuated_members(lxc, mock_cluster):
    mock_cluster.set_offline("node3")
    mock_cluster.set_status("node2", "Evacuated")
    token = lxc.ok("cluster", "add", "node9").splitlines()[1]
    assert decode_token(token)["addresses"] == [mock_cluster.state.member_to_api("node1")["url"][len("https://"):]]


# ---- a standalone server -----------------------------------------------------------------------

@pytest.mark.mock_cluster(members=0)
def test_standalone_server_then_cluster_enable(lxc, mock_cluster):
    refused = lxc.run("cluster", "list")
    assert refused.returncode != 0
    assert refused.stderr.strip() == "Error: LXD server isn't part of a cluster"

    assert lxc.ok("cluster", "enable", "solo") == "Clustering enabled\n"
    assert ("PUT", "/1.0/cluster", {}) in requests_of(mock_cluster)
    assert mock_cluster.state.cluster_to_api() == {"server_name": "solo", "enabled": True, "member_config": []}
    rows = parse_table(lxc.ok("cluster", "list"))
    assert [(one(r["NAME"]), one(r["STATE"]), r["ROLES"]) for r in rows] == [
        ("solo", "ONLINE", ["database-leader", "database"])]
