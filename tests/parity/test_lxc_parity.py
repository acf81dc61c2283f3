"""The real CLIs, each scenario run against the mock server and a 3-daemon pack: ``lxc``
against the mock's default LXD profile and the pack, ``incus`` against the mock's
``incus-6.0`` profile and the pack (``cli_backend``, tests/support/backends.py).

Commands are run against ``backend.entry_socket`` (a follower on the pack); what they did is
checked with the same client on every member and compared with the SDK's view of that
member (the expectations of tests/integration/test_lxc.py, with the SDK in place of the
mock's state). Where the clients differ (the status column: lxc's STATE, incus's STATUS),
each one's own output is asserted; where the servers differ, each server's answer.
"""
from __future__ import annotations

import base64
import csv
import io
import json

import yaml

from tests.support.backends import assert_left
from tests.support.lxc import one, parse_table

FIELD_ORDER = ["roles", "failure_domain", "description", "config", "groups", "server_name", "url", "database",
               "status", "message", "architecture"]  # LXD's and Incus's
#: A member PUT naming a group that does not exist (LXD 5.0.2 and Incus 6.0.4, live).
UNKNOWN_GROUP = {"lxd": "Error: Update cluster groups: Failed to add member to cluster group: Failed to get "
                        "cluster group ID: Cluster group not found\n",
                 "incus": "Error: Update cluster groups: Failed to add member to cluster group: Failed to get "
                          "cluster group ID: Cluster_group not found\n"}


def paired(backend):
    """(CLI, SDK client) of each member endpoint."""
    return list(zip(backend.cli_views(), backend.views()))


def listed(cli) -> dict:
    return {m["server_name"]: m for m in json.loads(cli.ok("cluster", "list", "-f", "json"))}


def table_rows(cli, *args) -> dict:
    return {one(row["NAME"]): row for row in parse_table(cli.ok("cluster", *args))}


def status_of(cli, row: dict) -> str:
    return one(row[cli.flavour.status_column])


def test_the_pair_is_the_client_and_the_server_it_says(cli_backend):
    cli = cli_backend.cli()
    assert cli.name == cli_backend.cli_name
    server = json.loads(cli.ok("query", "/1.0"))["environment"]["server"]
    assert server == cli_backend.server == ("incus" if cli_backend.name == "mock-incus-6.0" else "lxd")


def test_cluster_list_in_every_format_is_the_sdk_view(cli_backend):
    for cli, client in paired(cli_backend):
        expected = [m.to_api() for m in client.cluster.members.all()]
        assert json.loads(cli.ok("cluster", "list", "-f", "json")) == expected
        assert yaml.safe_load(cli.ok("cluster", "list", "-f", "yaml")) == expected
        by_name = sorted(expected, key=lambda m: m["server_name"])  # the clients sort table and csv rows
        rows = list(csv.reader(io.StringIO(cli.ok("cluster", "list", "-f", "csv"))))
        assert rows == [[m["server_name"], m["url"], ",".join(m["roles"]), m["architecture"], m["failure_domain"],
                         m["description"], m["status"].upper(), m["message"]] for m in by_name]
        table = parse_table(cli.ok("cluster", "list"))
        assert [(one(r["NAME"]), one(r["URL"]), r["ROLES"], status_of(cli, r), one(r["MESSAGE"])) for r in table] == [
            (m["server_name"], m["url"], m["roles"], m["status"].upper(), m["message"]) for m in by_name]
        assert {status_of(cli, r) for r in table} == {"ONLINE"}


def test_cluster_show_is_the_sdk_view(cli_backend):
    for cli, client in paired(cli_backend):
        for name in client.cluster.members.all().names:
            shown = yaml.safe_load(cli.ok("cluster", "show", name))
            assert shown == client.cluster.members.get(name).to_api()
            assert list(shown) == FIELD_ORDER


def test_cluster_show_unknown_member_fails(cli_backend):
    for cli in cli_backend.cli_views():
        result = cli.run("cluster", "show", "nope")
        assert (result.returncode, result.stdout, result.stderr.strip()) == (1, "", "Error: Cluster member not found")


def test_add_list_and_revoke_join_token(cli_backend):
    cli = cli_backend.cli()
    lines = cli.ok("cluster", "add", "node9").splitlines()
    assert lines[0] == "Member node9 join token:" and len(lines) == 2, lines
    token = lines[1]
    fields = json.loads(base64.b64decode(token, validate=True))
    assert list(fields) == ["server_name", "fingerprint", "addresses", "secret", "expires_at"]
    assert fields["server_name"] == "node9"
    online = {m.url.split("://", 1)[1] for m in cli_backend.entry_client.cluster.members.all() if m.status == "Online"}
    assert set(fields["addresses"]) == online

    def listed_once(view):
        return [(one(r["NAME"]), one(r["TOKEN"])) for r in parse_table(view.ok("cluster", "list-tokens"))] == [
            ("node9", token)]

    cli_backend.eventually(listed_once, "token listed", cli_backend.cli_views())
    assert "node9" not in listed(cli)  # a token is not a member
    assert cli.ok("cluster", "revoke-token", "node9") == "Cluster join token for local:node9 deleted\n"
    cli_backend.eventually(lambda view: parse_table(view.ok("cluster", "list-tokens")) == [], "token revoked",
                           cli_backend.cli_views())
    again = cli.run("cluster", "revoke-token", "node9")
    assert (again.returncode, again.stderr) == (1, "Error: No cluster join token for member node9 on remote: local\n")


def group_rows(cli) -> dict:
    return {
        name: (one(row["DESCRIPTION"]), one(row["MEMBERS"])) for name, row in table_rows(cli, "group", "list").items()
    }


def test_group_lifecycle(cli_backend):
    backend = cli_backend
    cli, target, size = backend.cli(), backend.target, str(len(backend.baseline["members"]))
    assert cli.ok("cluster", "group", "create", "g8") == "Cluster group g8 created\n"
    backend.eventually(lambda v: group_rows(v) == {"default": ("Default cluster group", size), "g8": ("", "0")},
                       "group created", backend.cli_views())
    assert cli.ok("cluster", "group", "assign", target, "default,g8") == \
        f"Cluster member {target} added to cluster groups default,g8\n"
    backend.eventually(lambda v: yaml.safe_load(v.ok("cluster", "group", "show", "g8"))
                       == {"description": "", "members": [target], "name": "g8"}
                       and listed(v)[target]["groups"] == ["default", "g8"], "member assigned", backend.cli_views())
    assert cli.ok("cluster", "group", "rename", "g8", "g9") == "Cluster group g8 renamed to g9\n"
    backend.eventually(lambda v: set(group_rows(v)) == {"default", "g9"} and listed(v)[target]["groups"]
                       == ["default", "g9"], "group renamed", backend.cli_views())
    assert cli.ok("cluster", "group", "remove", target, "g9") == f"Cluster member {target} removed from group g9\n"
    backend.eventually(lambda v: group_rows(v)["g9"] == ("", "0"), "member removed", backend.cli_views())
    assert list(csv.reader(io.StringIO(cli.ok("cluster", "group", "list", "--format", "csv")))) == [
        ["default", "Default cluster group", size], ["g9", "", "0"]]
    assert cli.ok("cluster", "group", "delete", "g9") == "Cluster group g9 deleted\n"
    backend.eventually(lambda v: group_rows(v) == {"default": ("Default cluster group", size)}, "group deleted",
                       backend.cli_views())


def test_group_errors(cli_backend):
    cli, target = cli_backend.cli(), cli_backend.target
    refused = cli.run("cluster", "group", "delete", "default")
    assert (refused.returncode, refused.stderr) == (1, "Error: The 'default' cluster group cannot be deleted\n")
    unknown = cli.run("cluster", "group", "assign", target, "default,nosuch")
    assert (unknown.returncode, unknown.stderr) == (1, UNKNOWN_GROUP[cli_backend.server])
    for view in cli_backend.cli_views():
        assert listed(view)[target]["groups"] == ["default"] and list(group_rows(view)) == ["default"]


def test_evacuate_and_restore(cli_backend):
    backend = cli_backend
    cli, target = backend.cli(), backend.target
    assert cli.ok("cluster", "evacuate", target, "--force") == ""
    # The client waited for the operation: the leader, which ran it, shows the change at once.
    on_leader = listed(backend.cli(backend.leader_socket))[target]
    assert (on_leader["status"], on_leader["message"]) == ("Evacuated", "Unavailable due to maintenance")
    backend.eventually(lambda v: status_of(v, table_rows(v, "list")[target]) == "EVACUATED"
                       and yaml.safe_load(v.ok("cluster", "show", target))["status"] == "Evacuated",
                       "evacuated", backend.cli_views())
    assert cli.ok("cluster", "restore", target, "--force") == ""
    assert listed(backend.cli(backend.leader_socket))[target]["status"] == "Online"
    backend.eventually(
        lambda v: (
            (status_of(v, table_rows(v, "list")[target]), one(table_rows(v, "list")[target]["MESSAGE"]))
            == ("ONLINE", "Fully operational")
        ),
        "restored",
        backend.cli_views(),
    )
    unknown = cli.run("cluster", "evacuate", "nope", "--force")
    assert (unknown.returncode, unknown.stderr) == (
        1, "Error: Failed to update cluster member state: Cluster member not found\n")


def test_set_get_unset_member_config(cli_backend):
    backend = cli_backend
    cli, target = backend.cli(), backend.target
    assert cli.ok("cluster", "set", target, "user.owner", "ops") == ""
    backend.eventually(lambda v: v.ok("cluster", "get", target, "user.owner") == "ops\n"
                       and yaml.safe_load(v.ok("cluster", "show", target))["config"] == {"user.owner": "ops"},
                       "set", backend.cli_views())
    assert cli.ok("cluster", "unset", target, "user.owner") == ""

    def gone(view):  # the servers store no empty values: the key is gone, and `cluster get` says so
        missing = view.run("cluster", "get", target, "user.owner")
        return missing.returncode == 1 and \
            f'The key "user.owner" does not exist on cluster member "{target}"' in missing.stderr

    backend.eventually(gone, "unset", backend.cli_views())
    bad = cli.run("cluster", "set", target, "scheduler.instance", "sometimes")
    assert (bad.returncode, bad.stderr) == (1, 'Error: Invalid cluster configuration key "scheduler.instance" value\n')


def knows_itself(cli) -> bool | str:
    """``query /1.0`` names the member it asked as the member list does (a renamed member
    answers with its new name, as LXD 5.21's and Incus's do)."""
    own, members = json.loads(cli.ok("query", "/1.0"))["environment"]["server_name"], sorted(listed(cli))
    return own in members or f"`{cli.name} query /1.0` names it {own!r}, `{cli.name} cluster list` shows {members}"


def test_rename_member(cli_backend):
    backend = cli_backend
    cli, old = backend.cli(), backend.target
    new = old + "b"
    assert cli.ok("cluster", "rename", old, new) == f"Member {old} renamed to {new}\n"
    backend.eventually(lambda v: new in table_rows(v, "list") and old not in listed(v)
                       and yaml.safe_load(v.ok("cluster", "show", new))["server_name"] == new
                       and v.run("cluster", "show", old).returncode != 0 and knows_itself(v), "renamed",
                       backend.cli_views())
    taken = cli.run("cluster", "rename", new, backend.leader)
    assert (taken.returncode, taken.stderr) == (1, "Error: Conflict\n")  # 409, as LXD 5.0.2 and Incus 6.0.4 say
    assert cli.ok("cluster", "rename", new, old) == f"Member {new} renamed to {old}\n"
    backend.eventually(lambda v: sorted(listed(v)) == sorted(backend.baseline["members"]) and knows_itself(v),
                       "renamed back", backend.cli_views())


def test_remove_member(cli_backend4):
    backend = cli_backend4
    cli, gone = backend.cli(), backend.target
    assert gone == "node4"
    assert cli.ok("cluster", "remove", gone, "--force", "--yes") == f"Member {gone} removed\n"
    assert_left(backend, gone)
    backend.eventually(lambda v: sorted(listed(v)) == ["node1", "node2", "node3"]
                       and gone not in yaml.safe_load(v.ok("cluster", "group", "show", "default"))["members"],
                       "member removed", backend.cli_views())
    again = cli.run("cluster", "remove", gone, "--force", "--yes")
    assert (again.returncode, again.stderr) == (1, "Error: Cluster member not found\n")
