"""The real ``lxc`` CLI, each scenario run against the mock server and a 3-daemon pack.

Commands are run against ``backend.entry_socket`` (a follower on the pack); what they did is
checked with ``lxc`` on every member and compared with the SDK's view of that member (the
expectations of tests/integration/test_lxc.py, with the SDK in place of the mock's state).
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
               "status", "message", "architecture"]  # LXD's


def paired(backend):
    """(lxc, SDK client) of each member endpoint."""
    return list(zip(backend.lxc_views(), backend.views()))


def listed(lxc) -> dict:
    return {m["server_name"]: m for m in json.loads(lxc.ok("cluster", "list", "-f", "json"))}


def table_rows(lxc, *args) -> dict:
    return {one(row["NAME"]): row for row in parse_table(lxc.ok("cluster", *args))}


def test_cluster_list_in_every_format_is_the_sdk_view(backend):
    for lxc, client in paired(backend):
        expected = [m.to_api() for m in client.cluster.members.all()]
        assert json.loads(lxc.ok("cluster", "list", "-f", "json")) == expected
        assert yaml.safe_load(lxc.ok("cluster", "list", "-f", "yaml")) == expected
        by_name = sorted(expected, key=lambda m: m["server_name"])  # lxc sorts table and csv rows
        rows = list(csv.reader(io.StringIO(lxc.ok("cluster", "list", "-f", "csv"))))
        assert rows == [[m["server_name"], m["url"], ",".join(m["roles"]), m["architecture"], m["failure_domain"],
                         m["description"], m["status"].upper(), m["message"]] for m in by_name]
        table = parse_table(lxc.ok("cluster", "list"))
        assert [(one(r["NAME"]), one(r["URL"]), r["ROLES"], one(r["STATE"]), one(r["MESSAGE"])) for r in table] == [
            (m["server_name"], m["url"], m["roles"], m["status"].upper(), m["message"]) for m in by_name]
        assert {one(r["STATE"]) for r in table} == {"ONLINE"}


def test_cluster_show_is_the_sdk_view(backend):
    for lxc, client in paired(backend):
        for name in client.cluster.members.all().names:
            shown = yaml.safe_load(lxc.ok("cluster", "show", name))
            assert shown == client.cluster.members.get(name).to_api()
            assert list(shown) == FIELD_ORDER


def test_cluster_show_unknown_member_fails(backend):
    for lxc in backend.lxc_views():
        result = lxc.run("cluster", "show", "nope")
        assert (result.returncode, result.stdout, result.stderr.strip()) == (1, "", "Error: Cluster member not found")


def test_add_list_and_revoke_join_token(backend):
    lxc = backend.lxc()
    lines = lxc.ok("cluster", "add", "node9").splitlines()
    assert lines[0] == "Member node9 join token:" and len(lines) == 2, lines
    token = lines[1]
    fields = json.loads(base64.b64decode(token, validate=True))
    assert list(fields) == ["server_name", "fingerprint", "addresses", "secret", "expires_at"]
    assert fields["server_name"] == "node9"
    online = {m.url.split("://", 1)[1] for m in backend.entry_client.cluster.members.all() if m.status == "Online"}
    assert set(fields["addresses"]) == online

    def listed_once(lxc):
        return [(one(r["NAME"]), one(r["TOKEN"])) for r in parse_table(lxc.ok("cluster", "list-tokens"))] == [
            ("node9", token)]

    backend.eventually(listed_once, "token listed", backend.lxc_views())
    assert "node9" not in listed(lxc)  # a token is not a member
    assert lxc.ok("cluster", "revoke-token", "node9") == "Cluster join token for local:node9 deleted\n"
    backend.eventually(lambda lxc: parse_table(lxc.ok("cluster", "list-tokens")) == [], "token revoked",
                       backend.lxc_views())
    again = lxc.run("cluster", "revoke-token", "node9")
    assert again.returncode != 0 and "node9" in again.stderr


def group_rows(lxc) -> dict:
    return {
        name: (one(row["DESCRIPTION"]), one(row["MEMBERS"])) for name, row in table_rows(lxc, "group", "list").items()
    }


def test_group_lifecycle(backend):
    lxc, target, size = backend.lxc(), backend.target, str(len(backend.baseline["members"]))
    assert lxc.ok("cluster", "group", "create", "g8") == "Cluster group g8 created\n"
    backend.eventually(lambda v: group_rows(v) == {"default": ("Default cluster group", size), "g8": ("", "0")},
                       "group created", backend.lxc_views())
    assert lxc.ok("cluster", "group", "assign", target, "default,g8") == \
        f"Cluster member {target} added to cluster groups default,g8\n"
    backend.eventually(lambda v: yaml.safe_load(v.ok("cluster", "group", "show", "g8"))
                       == {"description": "", "members": [target], "name": "g8"}
                       and listed(v)[target]["groups"] == ["default", "g8"], "member assigned", backend.lxc_views())
    assert lxc.ok("cluster", "group", "rename", "g8", "g9") == "Cluster group g8 renamed to g9\n"
    backend.eventually(lambda v: set(group_rows(v)) == {"default", "g9"} and listed(v)[target]["groups"]
                       == ["default", "g9"], "group renamed", backend.lxc_views())
    assert lxc.ok("cluster", "group", "remove", target, "g9") == f"Cluster member {target} removed from group g9\n"
    backend.eventually(lambda v: group_rows(v)["g9"] == ("", "0"), "member removed", backend.lxc_views())
    assert lxc.ok("cluster", "group", "delete", "g9") == "Cluster group g9 deleted\n"
    backend.eventually(lambda v: group_rows(v) == {"default": ("Default cluster group", size)}, "group deleted",
                       backend.lxc_views())


def test_group_errors(backend):
    lxc, target = backend.lxc(), backend.target
    refused = lxc.run("cluster", "group", "delete", "default")
    assert refused.returncode != 0
    assert refused.stderr.strip() == "Error: The 'default' cluster group cannot be deleted"
    unknown = lxc.run("cluster", "group", "assign", target, "default,nosuch")
    assert unknown.returncode != 0 and "Cluster group not found" in unknown.stderr
    for view in backend.lxc_views():
        assert listed(view)[target]["groups"] == ["default"] and list(group_rows(view)) == ["default"]


def test_evacuate_and_restore(backend):
    lxc, target = backend.lxc(), backend.target
    assert lxc.ok("cluster", "evacuate", target, "--force") == ""
    # lxc waited for the operation: the leader, which ran it, shows the change at once.
    on_leader = listed(backend.lxc(backend.leader_socket))[target]
    assert (on_leader["status"], on_leader["message"]) == ("Evacuated", "Unavailable due to maintenance")
    backend.eventually(lambda v: one(table_rows(v, "list")[target]["STATE"]) == "EVACUATED"
                       and yaml.safe_load(v.ok("cluster", "show", target))["status"] == "Evacuated",
                       "evacuated", backend.lxc_views())
    assert lxc.ok("cluster", "restore", target, "--force") == ""
    assert listed(backend.lxc(backend.leader_socket))[target]["status"] == "Online"
    backend.eventually(
        lambda v: (
            (one(table_rows(v, "list")[target]["STATE"]), one(table_rows(v, "list")[target]["MESSAGE"]))
            == ("ONLINE", "Fully operational")
        ),
        "restored",
        backend.lxc_views(),
    )
    unknown = lxc.run("cluster", "evacuate", "nope", "--force")
    assert unknown.returncode != 0 and "Cluster member not found" in unknown.stderr


def test_set_get_unset_member_config(backend):
    lxc, target = backend.lxc(), backend.target
    assert lxc.ok("cluster", "set", target, "user.owner", "ops") == ""
    backend.eventually(lambda v: v.ok("cluster", "get", target, "user.owner") == "ops\n"
                       and yaml.safe_load(v.ok("cluster", "show", target))["config"] == {"user.owner": "ops"},
                       "set", backend.lxc_views())
    assert lxc.ok("cluster", "unset", target, "user.owner") == ""

    def gone(view):  # LXD stores no empty values: the key is gone, and `lxc cluster get` says so
        missing = view.run("cluster", "get", target, "user.owner")
        return missing.returncode == 1 and \
            f'The key "user.owner" does not exist on cluster member "{target}"' in missing.stderr

    backend.eventually(gone, "unset", backend.lxc_views())
    bad = lxc.run("cluster", "set", target, "scheduler.instance", "sometimes")
    assert bad.returncode != 0 and 'Invalid cluster configuration key "scheduler.instance" value' in bad.stderr


def knows_itself(lxc) -> bool | str:
    """``lxc query /1.0`` names the member it asked as the member list does (a renamed
    member answers with its new name, as LXD's does)."""
    own, members = json.loads(lxc.ok("query", "/1.0"))["environment"]["server_name"], sorted(listed(lxc))
    return own in members or f"`lxc query /1.0` names it {own!r}, `lxc cluster list` shows {members}"


def test_rename_member(backend):
    lxc, old = backend.lxc(), backend.target
    new = old + "b"
    assert lxc.ok("cluster", "rename", old, new) == f"Member {old} renamed to {new}\n"
    backend.eventually(lambda v: new in table_rows(v, "list") and old not in listed(v)
                       and yaml.safe_load(v.ok("cluster", "show", new))["server_name"] == new
                       and v.run("cluster", "show", old).returncode != 0 and knows_itself(v), "renamed",
                       backend.lxc_views())
    taken = lxc.run("cluster", "rename", new, backend.leader)
    assert taken.returncode != 0 and backend.leader in taken.stderr
    assert lxc.ok("cluster", "rename", new, old) == f"Member {new} renamed to {old}\n"
    backend.eventually(lambda v: sorted(listed(v)) == sorted(backend.baseline["members"]) and knows_itself(v),
                       "renamed back", backend.lxc_views())


def test_remove_member(backend4):
    lxc, gone = backend4.lxc(), backend4.target
    assert gone == "node4"
    assert lxc.ok("cluster", "remove", gone, "--force", "--yes") == f"Member {gone} removed\n"
    assert_left(backend4, gone)
    backend4.eventually(lambda v: sorted(listed(v)) == ["node1", "node2", "node3"]
                        and gone not in yaml.safe_load(v.ok("cluster", "group", "show", "default"))["members"],
                        "member removed", backend4.lxc_views())
    again = lxc.run("cluster", "remove", gone, "--force", "--yes")
    assert again.returncode != 0 and "Cluster member not found" in again.stderr
