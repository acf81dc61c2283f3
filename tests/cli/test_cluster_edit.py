"""``cluster edit MEMBER`` and ``cluster group edit GROUP``, as lxc does them: the YAML from
stdin (compared with what the real ``lxc`` sends for the same file), and the editor on a
terminal (a pty; the editor is tests/cli/test_config.py's stand-in, each call one step)."""
from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pylxd_cluster.cli.edit import parse_member_yaml
from pylxd_cluster.cli.editor import EditError
from pylxd_cluster.cli.main import main
from tests.cli.test_cli import CLI
from tests.cli.test_config import FakeEditor

# What lxc's ClusterMemberPut decoding makes of it: scalars are text, keys that are not
# writable ignored, a field left out (description here) sent empty.
MEMBER_YAML = """\
roles:
- database
- event-hub
failure_domain: 2024
config:
  scheduler.instance: manual
  user.flag: true
groups:
- default
server_name: ignored
status: ignored
"""
MEMBER_FIELDS = {"roles": ["database", "event-hub"], "failure_domain": "2024", "description": "",
                 "config": {"scheduler.instance": "manual", "user.flag": "true"}, "groups": ["default"]}


@pytest.fixture
def editor(tmp_path):
    return FakeEditor(tmp_path)


def puts(mock, path: str) -> list[dict]:
    return [json.loads(r.body) for r in mock.requests if r.method == "PUT" and r.path == path]


def member(mock, name: str) -> dict:
    return mock.state.member_to_api(name)


def ours(capsys, monkeypatch, socket_path: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsys.readouterr()
    code = main(["--endpoint", socket_path, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- from stdin, as `lxc cluster edit node2 < member.yaml` -------------------------------------


def test_stdin_sends_what_lxc_sends(lxc, mock_cluster, mock_cluster_factory, capsys, monkeypatch):
    """The same file through lxc (on one mock) and through us (on another): the same PUT body,
    the same member after it."""
    mine = mock_cluster_factory()
    theirs = lxc.run("cluster", "edit", "node2", input=MEMBER_YAML)
    assert (theirs.returncode, theirs.stdout, theirs.stderr) == (0, "", "")
    assert ours(capsys, monkeypatch, mine.unix_socket, "cluster", "edit", "node2", stdin=MEMBER_YAML) == (0, "", "")
    path = "/1.0/cluster/members/node2"
    (lxc_body,), (our_body,) = puts(mock_cluster, path), puts(mine, path)
    assert our_body == lxc_body
    assert our_body == MEMBER_FIELDS
    assert member(mine, "node2") == member(mock_cluster, "node2")


def test_group_from_stdin_as_lxc(lxc, mock_cluster, mock_cluster_factory, capsys, monkeypatch):
    text = "description: the first rack\nmembers:\n- node1\n- node3\nname: ignored\n"
    mine = mock_cluster_factory()
    for mock in (mock_cluster, mine):
        mock.state.create_group("rack1", "", ["node1"], None)
    theirs = lxc.run("cluster", "group", "edit", "rack1", input=text)
    assert (theirs.returncode, theirs.stderr) == (0, "")
    assert ours(capsys, monkeypatch, mine.unix_socket, "cluster", "group", "edit", "rack1", stdin=text) == (0, "", "")
    path = "/1.0/cluster/groups/rack1"
    assert puts(mine, path) == puts(mock_cluster, path) == [{"description": "the first rack",
                                                             "members": ["node1", "node3"]}]


def test_stdin_refuses_what_cannot_be_read(mock_cluster, capsys, monkeypatch):
    sock = mock_cluster.unix_socket
    for text, error in [("roles: [database\n", "yaml: line 2"), ("", "the member is empty"),
                        ("- a\n", "expected a YAML mapping"), ("roles: {a: 1}\n", "roles: expected a list"),
                        ("config: {a: [1]}\n", "config: a: expected a string")]:
        code, out, err = ours(capsys, monkeypatch, sock, "cluster", "edit", "node2", stdin=text)
        assert (code, out) == (1, "") and error in err, (text, err)
    assert puts(mock_cluster, "/1.0/cluster/members/node2") == []
    code, _, err = ours(capsys, monkeypatch, sock, "cluster", "edit", "ghost", stdin="description: x\n")
    assert code == 1 and "404" in err


def test_a_scalar_is_its_text_as_in_go():
    fields = parse_member_yaml("description: 1.50\nfailure_domain: yes\nconfig: {a: 2024-01-01, b: null, c: 0x1F}\n")
    assert fields["description"] == "1.50" and fields["failure_domain"] == "yes"
    assert fields["config"] == {"a": "2024-01-01", "b": "", "c": "0x1F"}
    with pytest.raises(EditError, match="the member is empty"):
        parse_member_yaml("# nothing\n")


# ---- in the editor, on a terminal --------------------------------------------------------------


def test_editor_shows_the_writable_fields_and_applies_the_change(mock_cluster, editor):
    result = editor.run("cluster", "edit", "node2", endpoint=mock_cluster.unix_socket,
                        steps=[{"replace": ['description: ""', "description: edited"]}])
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    (call,) = editor.calls
    assert call["text"].startswith("### This is a yaml representation of the cluster member.\n"
                                   "### Any line starting with a '# will be ignored.\n\n")
    assert list(yaml.safe_load(call["text"])) == ["roles", "failure_domain", "description", "config", "groups"]
    assert member(mock_cluster, "node2")["description"] == "edited"
    assert not os.path.exists(call["path"])


def test_editor_unchanged_writes_nothing(mock_cluster, editor):
    result = editor.run("cluster", "edit", "node2", endpoint=mock_cluster.unix_socket, steps=[{}])
    assert (result.returncode, result.stdout) == (0, "")
    assert puts(mock_cluster, "/1.0/cluster/members/node2") == []


def test_editor_again_after_an_error_in_lxcs_words(mock_cluster, editor):
    steps = [{"replace": ["failure_domain: default", "failure_domain: [x"]},   # not YAML
             {"replace": ["failure_domain: [x", "failure_domain: rack9"]}]    # fixed on the second round
    result = editor.run("cluster", "edit", "node2", endpoint=mock_cluster.unix_socket, steps=steps, keys=b"\n")
    assert result.returncode == 0, result.stderr
    assert "Config parsing error: yaml: line" in result.stderr
    assert "Press enter to open the editor again or ctrl+c to abort change" in result.stderr
    assert result.stdout == ""
    first, second = editor.calls
    assert "failure_domain: [x" in second["text"]   # the second round starts from the user's own text
    assert member(mock_cluster, "node2")["failure_domain"] == "rack9"


def test_editor_again_after_the_server_refuses(mock_cluster, editor):
    steps = [{"replace": ["- default\n", "- nogroup\n"]}, {"replace": ["- nogroup\n", "- default\n"]}]
    result = editor.run("cluster", "edit", "node2", endpoint=mock_cluster.unix_socket, steps=steps, keys=b"\n")
    assert result.returncode == 0, result.stderr
    assert "Config parsing error: PUT /1.0/cluster/members/node2" in result.stderr
    assert len(editor.calls) == 2


def test_editor_given_up_keeps_the_file(mock_cluster, editor):
    result = editor.run("cluster", "edit", "node2", endpoint=mock_cluster.unix_socket,
                        steps=[{"write": "roles: [\n"}], keys=b"\x04")
    assert result.returncode == 1
    (call,) = editor.calls
    try:
        assert Path(call["path"]).read_text() == "roles: [\n"
        assert f"Your edit is kept in {call['path']}" in result.stderr
        assert f"cluster edit node2 < {call['path']}" in result.stderr
    finally:
        os.unlink(call["path"])
    assert puts(mock_cluster, "/1.0/cluster/members/node2") == []


def test_editor_if_match_refuses_a_change_made_meanwhile(mock_cluster, editor):
    concurrent = CLI + ["--endpoint", mock_cluster.unix_socket, "cluster", "set", "node2", "scheduler.instance=manual"]
    result = editor.run("cluster", "edit", "node2", endpoint=mock_cluster.unix_socket,
                        steps=[{"run": concurrent, "replace": ['description: ""', "description: mine"]}])
    assert result.returncode == 1
    assert "member node2 changed on the server since it was read" in result.stderr
    assert "Press enter" not in result.stderr   # editing again could not help
    (call,) = editor.calls
    try:
        assert f"cluster edit node2 < {call['path']}" in result.stderr and os.path.exists(call["path"])
    finally:
        os.unlink(call["path"])
    assert member(mock_cluster, "node2")["config"] == {"scheduler.instance": "manual"}   # theirs stays
    assert member(mock_cluster, "node2")["description"] == ""


def test_editor_emptied_aborts(mock_cluster, editor):
    result = editor.run("cluster", "edit", "node2", endpoint=mock_cluster.unix_socket, steps=[{"write": "\n"}])
    assert result.returncode == 1 and "edit aborted, nothing was written" in result.stderr


def test_group_editor(mock_cluster, editor):
    mock_cluster.state.create_group("rack1", "first", ["node1"], None)
    result = editor.run("cluster", "group", "edit", "rack1", endpoint=mock_cluster.unix_socket,
                        steps=[{"replace": ["- node1\n", "- node1\n- node2\n"]}])
    assert result.returncode == 0, result.stderr
    (call,) = editor.calls
    assert call["text"].startswith("### This is a YAML representation of the cluster group.\n")
    assert yaml.safe_load(call["text"])["name"] == "rack1"
    assert mock_cluster.state.group_to_api("rack1")["members"] == ["node1", "node2"]


def test_help_explains_edit(capsys):
    for argv, texts in [(["cluster", "edit", "--help"], ["$VISUAL", "If-Match", "Press enter", "< member.yaml",
                                                         "prod:node2", "failure_domain"]),
                        (["cluster", "group", "edit", "--help"], ["description and members", "stdin"])]:
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
        out = capsys.readouterr().out
        for text in texts:
            assert text in out, (argv, text)


def _lxc_in_the_editor(lxc, editor, *args: str) -> subprocess.CompletedProcess:
    """The real lxc with a terminal on stdin and the stand-in editor (it saves unchanged)."""
    env = {**lxc.env, "EDITOR": f"{sys.executable} {editor.script}", "FAKE_EDITOR_STEPS": json.dumps([{}]),
           "FAKE_EDITOR_RECORD": str(editor.record)}
    env.pop("VISUAL", None)
    master, slave = pty.openpty()
    try:
        return subprocess.run([lxc.binary, *args], stdin=slave, capture_output=True, text=True, timeout=60, env=env)
    finally:
        os.close(slave)
        os.close(master)


@pytest.mark.parametrize("args", [("cluster", "edit", "node2"), ("cluster", "group", "edit", "rack1")])
def test_the_editor_shows_what_lxc_shows(lxc, mock_cluster, tmp_path, args):
    mock_cluster.state.create_group("rack1", "first, rack", ["node1", "node2"], None)
    assert lxc.ok("cluster", "set", "node2", "scheduler.instance=manual") == ""
    (tmp_path / "lxc").mkdir()
    (tmp_path / "ours").mkdir()
    theirs, mine = FakeEditor(tmp_path / "lxc"), FakeEditor(tmp_path / "ours")
    result = _lxc_in_the_editor(lxc, theirs, *args)
    assert result.returncode == 0, result.stderr
    result = mine.run(*args, endpoint=mock_cluster.unix_socket, steps=[{}])
    assert result.returncode == 0, result.stderr
    assert mine.calls[0]["text"] == theirs.calls[0]["text"]
