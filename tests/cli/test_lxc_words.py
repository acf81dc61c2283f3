"""``pylxd-cluster cluster ...``: lxc's command names (today's short verbs as aliases),
``--format csv | compact``, ``--force`` as "no confirmation prompt", and the editor order.

The CLI runs in-process (``main([...])``) against the mock's unix socket."""
from __future__ import annotations

import csv
import io
import json

import pytest
import yaml

from pylxd_cluster.cli import config as config_cli
from pylxd_cluster.cli.main import main, parse_args


class Terminal(io.StringIO):
    """A stdin that is a terminal, with the answers typed on it."""

    def isatty(self) -> bool:
        return True


class NoQuestions(Terminal):
    def readline(self, *args) -> str:
        raise AssertionError("a question was asked")


@pytest.fixture
def sock(mock_cluster):
    return mock_cluster.unix_socket


@pytest.fixture
def cli(sock, capsys):
    """``cli(*args)`` -> (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--endpoint", sock, *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


def member(mock, name: str) -> dict:
    return mock.state.member_to_api(name)


def state_posts(mock) -> list[dict]:
    return [json.loads(r.body) for r in mock.requests if r.method == "POST" and r.path.endswith("/state")]


# ---- lxc's names and today's aliases -----------------------------------------------------------


@pytest.mark.parametrize("alias,name", [
    (["members"], ["cluster", "list"]), (["show", "node1"], ["cluster", "show", "node1"]),
    (["groups"], ["cluster", "group", "list"]), (["tokens"], ["cluster", "list-tokens"]),
    (["revoke", "x"], ["cluster", "revoke-token", "x"]), (["add", "x"], ["cluster", "add", "x"]),
    (["evacuate", "x"], ["cluster", "evacuate", "x"]), (["restore", "x"], ["cluster", "restore", "x"]),
    (["cluster", "ls"], ["cluster", "list"]), (["cluster", "evac", "x"], ["cluster", "evacuate", "x"]),
    (["cluster", "group", "ls"], ["cluster", "group", "list"]),
])
def test_short_verbs_are_aliases_of_lxc_names(alias, name):
    assert parse_args(alias).action == parse_args(name).action


def test_list_and_show_print_the_same_as_the_aliases(cli, mock_cluster):
    for fmt in ("table", "csv", "compact", "json"):
        code, out, _ = cli("cluster", "list", "-f", fmt)
        assert code == 0 and "node3" in out
        assert cli("members", "--format", fmt)[1] == out
    code, out, _ = cli("cluster", "show", "node2")
    assert code == 0 and yaml.safe_load(out) == member(mock_cluster, "node2")


def test_csv_has_no_header_and_joins_roles(cli, mock_cluster):
    rows = list(csv.reader(io.StringIO(cli("cluster", "list", "-f", "csv")[1])))
    assert [row[0] for row in rows] == ["node1", "node2", "node3"]
    assert rows[0][2] == "database-leader,database" and rows[0][6] == "ONLINE"


def test_compact_has_no_borders(cli):
    lines = cli("cluster", "group", "list", "-f", "compact")[1].splitlines()
    assert lines == ["   NAME         DESCRIPTION       MEMBERS  ", "  default  Default cluster group  3        "]


def test_csv_of_a_result_that_is_not_a_listing_is_refused(cli):
    code, out, err = cli("cluster", "show", "node1", "-f", "csv")
    assert (code, out) == (1, "") and "--format csv is for listings" in err


def test_tokens_add_list_revoke_by_lxc_names(cli, mock_cluster):
    code, out, _ = cli("cluster", "add", "node9")
    token = out.splitlines()[1]
    rows = list(csv.reader(io.StringIO(cli("cluster", "list-tokens", "-f", "csv")[1])))
    assert [row[:2] for row in rows] == [["node9", token]]
    assert cli("cluster", "revoke-token", "node9")[0] == 0
    assert cli("cluster", "list-tokens", "-f", "csv")[1] == ""


def test_set_get_unset_a_member_config_key(cli, mock_cluster):
    assert cli("cluster", "set", "node2", "scheduler.instance=manual")[0] == 0
    assert member(mock_cluster, "node2")["config"] == {"scheduler.instance": "manual"}
    assert cli("cluster", "get", "node2", "scheduler.instance")[1] == "manual\n"
    assert cli("cluster", "unset", "node2", "scheduler.instance")[0] == 0
    assert member(mock_cluster, "node2")["config"] == {}
    assert cli("cluster", "get", "node2", "scheduler.instance") == (0, "", "")


def test_role_add_and_remove(cli, mock_cluster):
    assert cli("cluster", "role", "add", "node2", "event-hub")[0] == 0
    assert member(mock_cluster, "node2")["roles"] == ["database", "event-hub"]
    code, _, err = cli("cluster", "role", "add", "node2", "event-hub")
    assert code == 1 and "already has role(s) event-hub" in err
    assert cli("cluster", "role", "remove", "node2", "event-hub")[0] == 0
    assert member(mock_cluster, "node2")["roles"] == ["database"]


def test_rename_and_remove(cli, mock_cluster):
    assert cli("cluster", "rename", "node3", "node7") == (0, "Member node3 renamed to node7\n", "")
    assert "node7" in mock_cluster.state.members and "node3" not in mock_cluster.state.members
    assert cli("cluster", "remove", "node7")[0] == 0
    assert "node7" not in mock_cluster.state.members


def test_remove_force_asks_on_a_terminal_unless_yes(cli, mock_cluster, monkeypatch):
    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    code, _, err = cli("cluster", "remove", "node3", "--force")
    assert code == 1 and "force removing node3? (yes/no)" in err and "aborted" in err
    assert "node3" in mock_cluster.state.members
    monkeypatch.setattr("sys.stdin", NoQuestions())
    assert cli("cluster", "remove", "node3", "--force", "--yes")[0] == 0
    assert "node3" not in mock_cluster.state.members


def test_groups_by_lxc_names(cli, mock_cluster):
    assert cli("cluster", "group", "create", "rack1", "--description", "first") == \
        (0, "Cluster group rack1 created\n", "")
    assert cli("cluster", "group", "assign", "node2", "default,rack1")[0] == 0
    assert member(mock_cluster, "node2")["groups"] == ["default", "rack1"]
    assert yaml.safe_load(cli("cluster", "group", "show", "rack1")[1])["members"] == ["node2"]
    assert cli("cluster", "group", "remove", "node2", "rack1")[0] == 0
    assert member(mock_cluster, "node2")["groups"] == ["default"]
    assert cli("cluster", "group", "rename", "rack1", "rack2")[0] == 0
    assert cli("cluster", "group", "delete", "rack2")[0] == 0
    assert cli("groups", "-f", "csv")[1] == "default,Default cluster group,3\n"


# ---- --force: no confirmation prompt ----------------------------------------------------------


def test_evacuate_asks_on_a_terminal_and_no_does_nothing(cli, mock_cluster, monkeypatch):
    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    code, out, err = cli("cluster", "evacuate", "node2")
    assert (code, out) == (1, "")
    assert "Are you sure you want to evacuate cluster member 'node2'? (yes/no) [default=no]: " in err
    assert "evacuation of node2 aborted" in err
    assert member(mock_cluster, "node2")["status"] == "Online" and state_posts(mock_cluster) == []


def test_evacuate_yes_on_a_terminal(cli, mock_cluster, monkeypatch):
    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    code, out, err = cli("cluster", "evacuate", "node2")
    assert code == 0 and out == "node2: Evacuated (Unavailable due to maintenance)\n"
    assert "(yes/no)" in err


@pytest.mark.parametrize("args", [("cluster", "evacuate", "node2", "--force"), ("evacuate", "node2", "--force")])
def test_evacuate_force_does_not_ask_nor_force_the_server(cli, mock_cluster, monkeypatch, args):
    monkeypatch.setattr("sys.stdin", NoQuestions())
    code, out, err = cli(*args)
    assert code == 0 and "(yes/no)" not in err
    assert member(mock_cluster, "node2")["status"] == "Evacuated"
    assert [body["force"] for body in state_posts(mock_cluster)] == [False]   # not LXD's quorum force


def test_evacuate_without_a_terminal_does_not_ask(cli, mock_cluster, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli("cluster", "evacuate", "node2")[0] == 0
    assert member(mock_cluster, "node2")["status"] == "Evacuated"


def test_restore_asks_too_unless_force(cli, mock_cluster, monkeypatch):
    mock_cluster.set_status("node2", "Evacuated")
    monkeypatch.setattr("sys.stdin", Terminal("\n"))   # Enter: the default, no
    code, _, err = cli("cluster", "restore", "node2")
    assert code == 1 and "restore cluster member 'node2'?" in err
    assert member(mock_cluster, "node2")["status"] == "Evacuated"
    monkeypatch.setattr("sys.stdin", NoQuestions())
    assert cli("cluster", "restore", "node2", "--force")[0] == 0
    assert member(mock_cluster, "node2")["status"] == "Online"


@pytest.mark.mock_cluster(server="lxd-6")
def test_force_quorum_is_lxds_evacuation_force(cli, mock_cluster):
    code, _, err = cli("cluster", "evacuate", "node2", "--force", "--force-quorum", "--action", "stop")
    assert code == 0, err
    assert state_posts(mock_cluster) == [{"action": "evacuate", "mode": "stop", "force": True}]


def test_force_quorum_without_the_extension_sends_nothing(cli, mock_cluster):
    code, _, err = cli("cluster", "evacuate", "node2", "--force", "--force-quorum")
    assert code == 1 and "clustering_evacuation_force" in err
    assert state_posts(mock_cluster) == []


# ---- the editor: $VISUAL, $EDITOR, editor, vi -------------------------------------------------


def test_editor_order(monkeypatch, tmp_path):
    monkeypatch.setenv("VISUAL", "visual-editor")
    monkeypatch.setenv("EDITOR", "plain-editor")
    assert config_cli.find_editor() == "visual-editor"
    monkeypatch.delenv("VISUAL")
    assert config_cli.find_editor() == "plain-editor"
    monkeypatch.delenv("EDITOR")
    (tmp_path / "editor").write_text("#!/bin/sh\n")
    (tmp_path / "editor").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert config_cli.find_editor() == "editor"
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert config_cli.find_editor() == "vi"
