"""``pylxd-cluster config``, run as a process against a mock cluster (the editor through a pty)."""
from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli.test_cli import CLI, run

HEADER = re.compile(r"^# configuration version (\d+) \(term (\d+)\), digest ([0-9a-f]{64})$")

WEBGUI = {"WebGui": {"port": 80, "listen": "0.0.0.0"}}
NAMES = {"Names": {"hosts": ["a", "b"]}}

# A stand-in for $EDITOR: each call takes the next step of $FAKE_EDITOR_STEPS (the last one
# repeats), records the file it was given, runs a command if asked (someone else's change
# while "editing"), then rewrites the file.
EDITOR_SCRIPT = r'''
import json, os, subprocess, sys
path = sys.argv[1]
record = os.environ["FAKE_EDITOR_RECORD"]
calls = len(os.listdir(record))
steps = json.loads(os.environ["FAKE_EDITOR_STEPS"])
step = steps[min(calls, len(steps) - 1)]
with open(path) as stream:
    text = stream.read()
with open(os.path.join(record, "call%d.json" % calls), "w") as stream:
    json.dump({"path": path, "text": text}, stream)
if "run" in step:
    subprocess.run(step["run"], check=True)
if "replace" in step:
    text = text.replace(*step["replace"])
if "write" in step:
    text = step["write"]
with open(path, "w") as stream:
    stream.write(text)
'''


def seed(mock, *modules):
    return mock.state.update_configuration(list(modules), patch=False, requestor=None)


def server_modules(mock):
    return mock.state.configuration_to_api()["modules"]


def version_line(mock) -> str:
    document = mock.state.configuration
    return f"configuration version {document.version} (term {document.term}), digest {document.digest[:8]}..."


def run_with_input(*args, endpoint, text):
    return subprocess.run(CLI + ["--endpoint", endpoint] + list(args), input=text, capture_output=True,
                          text=True, timeout=30, env={**os.environ})


class FakeEditor:
    def __init__(self, tmp_path: Path):
        self.script = tmp_path / "editor.py"
        self.script.write_text(EDITOR_SCRIPT)
        self.record = tmp_path / "editor-calls"
        self.record.mkdir()

    @property
    def calls(self) -> list:
        return [json.loads((self.record / f"call{index}.json").read_text())
                for index in range(len(list(self.record.iterdir())))]

    def run(self, *args, endpoint, steps, keys=b""):
        """Run the CLI with a terminal on stdin (so `config edit` opens the editor); ``keys``
        is what is typed on that terminal."""
        env = {**os.environ, "EDITOR": f"{sys.executable} {self.script}", "FAKE_EDITOR_STEPS": json.dumps(steps),
               "FAKE_EDITOR_RECORD": str(self.record)}
        env.pop("VISUAL", None)
        master, slave = pty.openpty()
        try:
            process = subprocess.Popen(CLI + ["--endpoint", endpoint] + list(args), stdin=slave,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            os.close(slave)
            slave = None
            if keys:
                os.write(master, keys)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture
def editor(tmp_path):
    return FakeEditor(tmp_path)


@pytest.fixture
def sock(mock_cluster):
    return mock_cluster.unix_socket


# ---- show ----------------------------------------------------------------------------


def test_show_is_seed_style_yaml_under_a_version_header(mock_cluster, sock):
    document = seed(mock_cluster, WEBGUI, NAMES)
    result = run("config", "show", endpoint=sock)
    assert result.returncode == 0, result.stderr
    first, rest = result.stdout.split("\n", 1)
    assert HEADER.match(first).groups() == (str(document.version), str(document.term), document.digest)
    assert rest.startswith("- WebGui:\n    port: 80\n    listen: 0.0.0.0\n- Names:\n")
    assert yaml.safe_load(result.stdout) == [WEBGUI, NAMES]
    # --format yaml, before or after the command, is the same output
    assert run("-f", "yaml", "config", "show", endpoint=sock).stdout == result.stdout
    assert run("config", "show", "--format", "yaml", endpoint=sock).stdout == result.stdout


def test_show_empty_configuration(sock):
    result = run("config", "show", endpoint=sock)
    assert result.returncode == 0, result.stderr
    assert HEADER.match(result.stdout.splitlines()[0])
    assert yaml.safe_load(result.stdout) == []


def test_show_json_is_the_whole_object(mock_cluster, sock):
    document = seed(mock_cluster, WEBGUI, NAMES)
    result = run("config", "show", "--format", "json", endpoint=sock)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["modules"] == [WEBGUI, NAMES]
    assert (data["version"], data["term"], data["digest"]) == (document.version, document.term, document.digest)
    assert data["local_modules"] == []


def test_show_table_has_a_row_per_module(mock_cluster, sock):
    seed(mock_cluster, WEBGUI, NAMES)
    result = run("-f", "table", "config", "show", endpoint=sock)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == version_line(mock_cluster)
    assert [cell.strip() for cell in lines[2].split("|")[1:-1]] == ["MODULE", "OPTIONS"]
    rows = [line.split("|")[1:-1] for line in lines if line.startswith("|")][1:]
    cells = [(name.strip(), option.strip()) for name, option in rows]
    assert cells == [("WebGui", "port: 80"), ("", "listen: 0.0.0.0"), ("Names", "hosts: [a, b]")]


# ---- set and unset -------------------------------------------------------------------


def test_set_reads_values_as_yaml_and_prints_the_new_version(mock_cluster, sock):
    seed(mock_cluster, WEBGUI)
    result = run("config", "set", "WebGui", "port=8080", "tls=true", "name=web", "peers=[a, b]", "empty=",
                 endpoint=sock)
    assert result.returncode == 0, result.stderr
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 8080, "listen": "0.0.0.0", "tls": True,
                                                         "name": "web", "peers": ["a", "b"], "empty": None}}]
    assert result.stdout.strip() == version_line(mock_cluster)


def test_set_adds_a_module_and_answers_json(mock_cluster, sock):
    seed(mock_cluster, WEBGUI)
    result = run("config", "set", "Names", "hosts=x", "--format", "json", endpoint=sock)
    assert result.returncode == 0, result.stderr
    document = mock_cluster.state.configuration
    assert json.loads(result.stdout) == {"version": document.version, "term": document.term,
                                         "digest": document.digest}
    assert server_modules(mock_cluster) == [WEBGUI, {"Names": {"hosts": "x"}}]


def test_set_needs_key_equals_value(sock):
    result = run("config", "set", "WebGui", "port", endpoint=sock)
    assert result.returncode == 2 and "expected KEY=VALUE" in result.stderr


def test_set_of_a_per_member_module_is_refused(mock_cluster, sock):
    result = run("config", "set", "Pack", "name=lab", endpoint=sock)
    assert result.returncode == 1
    assert "400" in result.stderr and "never shared" in result.stderr and "Traceback" not in result.stderr
    assert server_modules(mock_cluster) == []


def test_unset_a_key_then_the_module(mock_cluster, sock):
    seed(mock_cluster, WEBGUI, NAMES)
    result = run("config", "unset", "WebGui", "listen", endpoint=sock)
    assert result.returncode == 0, result.stderr
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 80}}, NAMES]
    assert result.stdout.strip() == version_line(mock_cluster)
    result = run("config", "unset", "Names", endpoint=sock)
    assert result.returncode == 0, result.stderr
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 80}}]


def test_unset_of_what_is_not_there_fails(mock_cluster, sock):
    seed(mock_cluster, WEBGUI)
    missing = run("config", "unset", "Nope", endpoint=sock)
    assert missing.returncode == 1 and "no module 'Nope'" in missing.stderr and "WebGui" in missing.stderr
    missing_key = run("config", "unset", "WebGui", "nope", endpoint=sock)
    assert missing_key.returncode == 1 and "no option 'nope'" in missing_key.stderr
    assert server_modules(mock_cluster) == [WEBGUI]


# ---- edit from stdin -----------------------------------------------------------------


def test_edit_from_stdin_applies_what_show_printed_after_a_change(mock_cluster, sock):
    seed(mock_cluster, WEBGUI)
    shown = run("config", "show", endpoint=sock).stdout
    edited = shown.replace("port: 80", "port: 81") + "\n- Names:\n    hosts: [a, b]\n"
    result = run_with_input("config", "edit", endpoint=sock, text=edited)
    assert result.returncode == 0, result.stderr
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 81, "listen": "0.0.0.0"}}, NAMES]
    assert result.stdout.strip() == version_line(mock_cluster)


def test_edit_from_stdin_takes_plain_yaml_json_and_null_modules(mock_cluster, sock):
    result = run_with_input("config", "edit", endpoint=sock, text="- WebGui:\n    port: 80\n- Bare:\n")
    assert result.returncode == 0, result.stderr
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 80}}, {"Bare": {}}]
    as_json = json.dumps({"modules": [NAMES], "version": 99})  # no digest: not checked
    result = run_with_input("config", "edit", endpoint=sock, text=as_json)
    assert result.returncode == 0, result.stderr
    assert server_modules(mock_cluster) == [NAMES]


def test_edit_from_stdin_without_change_writes_nothing(mock_cluster, sock):
    seed(mock_cluster, WEBGUI)
    version = mock_cluster.state.configuration.version
    shown = run("config", "show", endpoint=sock).stdout
    result = run_with_input("config", "edit", endpoint=sock, text=shown)
    assert result.returncode == 0 and result.stdout.startswith("No change:")
    assert mock_cluster.state.configuration.version == version


def test_edit_from_stdin_refuses_a_configuration_that_changed_since_it_was_shown(mock_cluster, sock):
    seed(mock_cluster, WEBGUI)
    shown = run("config", "show", endpoint=sock).stdout
    seed(mock_cluster, NAMES)  # someone else's change
    result = run_with_input("config", "edit", endpoint=sock, text=shown.replace("port: 80", "port: 81"))
    assert result.returncode == 1
    assert "changed on the server meanwhile" in result.stderr and "config show` again" in result.stderr
    assert server_modules(mock_cluster) == [NAMES]


def test_edit_from_stdin_checks_the_digest_of_shown_json_too(mock_cluster, sock):
    seed(mock_cluster, WEBGUI)
    shown = json.loads(run("config", "show", "-f", "json", endpoint=sock).stdout)
    shown["modules"][0]["WebGui"]["port"] = 81
    seed(mock_cluster, NAMES)  # someone else's change
    result = run_with_input("config", "edit", endpoint=sock, text=json.dumps(shown))
    assert result.returncode == 1 and "changed on the server meanwhile" in result.stderr
    assert server_modules(mock_cluster) == [NAMES]


@pytest.mark.parametrize("text,expected", [
    ("- WebGui: [\n", "line 2"),
    ("WebGui: {port: 80}\n", "expected a YAML list of modules"),
    ("- WebGui: 80\n", "expected a mapping of options"),
    ("", "empty"),
])
def test_edit_from_stdin_says_what_is_wrong_with_the_yaml(mock_cluster, sock, text, expected):
    seed(mock_cluster, WEBGUI)
    result = run_with_input("config", "edit", endpoint=sock, text=text)
    assert result.returncode == 1
    assert "cannot read the configuration from stdin" in result.stderr and expected in result.stderr
    assert "config edit < FILE" in result.stderr and "Traceback" not in result.stderr
    assert server_modules(mock_cluster) == [WEBGUI]


def test_edit_from_stdin_reports_a_refusal_by_the_server(mock_cluster, sock):
    seed(mock_cluster, WEBGUI)
    result = run_with_input("config", "edit", endpoint=sock, text="- Api:\n    listen: 127.0.0.1:8443\n")
    assert result.returncode == 1
    assert "the server refused the configuration" in result.stderr and "never shared" in result.stderr
    assert server_modules(mock_cluster) == [WEBGUI]


# ---- edit in $EDITOR -----------------------------------------------------------------


def test_edit_opens_the_editor_and_applies_the_change(mock_cluster, sock, editor):
    seed(mock_cluster, WEBGUI)
    result = editor.run("config", "edit", endpoint=sock, steps=[{"replace": ["port: 80", "port: 81"]}])
    assert result.returncode == 0, result.stderr
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 81, "listen": "0.0.0.0"}}]
    assert result.stdout.strip() == version_line(mock_cluster)
    (call,) = editor.calls
    assert HEADER.match(call["text"].splitlines()[0]) and "- WebGui:\n    port: 80\n" in call["text"]
    assert not os.path.exists(call["path"])  # the temporary file is removed


def test_edit_reports_a_change_made_meanwhile(mock_cluster, sock, editor):
    seed(mock_cluster, WEBGUI)
    concurrent = CLI + ["--endpoint", sock, "config", "set", "Names", "hosts=x"]
    result = editor.run("config", "edit", endpoint=sock,
                        steps=[{"run": concurrent, "replace": ["port: 80", "port: 81"]}])
    assert result.returncode == 1
    assert "the configuration changed on the server meanwhile" in result.stderr and "ETag" in result.stderr
    assert "run `pylxd-cluster config edit` again" in result.stderr
    assert server_modules(mock_cluster) == [WEBGUI, {"Names": {"hosts": "x"}}]  # the other change stays


def test_edit_again_after_an_error(mock_cluster, sock, editor):
    seed(mock_cluster, WEBGUI)
    steps = [{"replace": ["- WebGui:", "- Pack:"]},     # refused by the server (400)
             {"write": "- WebGui:\n    port: 82\n"}]    # fixed on the second round
    result = editor.run("config", "edit", endpoint=sock, steps=steps, keys=b"\n")
    assert result.returncode == 0, result.stderr
    assert "the server refused the configuration" in result.stderr and "never shared" in result.stderr
    assert "Press Enter to open the editor again" in result.stderr
    first, second = editor.calls
    assert "- Pack:" in second["text"]  # the second round starts from the user's own text
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 82}}]


def test_edit_aborted_after_an_error_keeps_the_file(mock_cluster, sock, editor):
    seed(mock_cluster, WEBGUI)
    result = editor.run("config", "edit", endpoint=sock, steps=[{"write": "- WebGui: [\n"}], keys=b"\x04")
    assert result.returncode == 1
    assert "the YAML cannot be used" in result.stderr and "nothing was written" in result.stderr
    (call,) = editor.calls
    assert f"Your edit is kept in {call['path']}" in result.stderr
    try:
        assert Path(call["path"]).read_text() == "- WebGui: [\n"
    finally:
        os.unlink(call["path"])
    assert server_modules(mock_cluster) == [WEBGUI]


def test_edit_without_change_writes_nothing(mock_cluster, sock, editor):
    seed(mock_cluster, WEBGUI)
    version = mock_cluster.state.configuration.version
    result = editor.run("config", "edit", endpoint=sock, steps=[{}])
    assert result.returncode == 0 and result.stdout.startswith("No change:")
    assert mock_cluster.state.configuration.version == version


def test_emptying_the_file_aborts_the_edit(mock_cluster, sock, editor):
    seed(mock_cluster, WEBGUI)
    version = mock_cluster.state.configuration.version
    result = editor.run("config", "edit", endpoint=sock, steps=[{"write": "# nothing\n\n"}])
    assert result.returncode == 1 and "edit aborted, nothing was written" in result.stderr
    assert "Press Enter" not in result.stderr and len(editor.calls) == 1
    assert not os.path.exists(editor.calls[0]["path"])
    assert mock_cluster.state.configuration.version == version


def test_edit_with_a_failing_editor_writes_nothing(mock_cluster, sock, tmp_path):
    seed(mock_cluster, WEBGUI)
    master, slave = pty.openpty()
    try:
        result = subprocess.run(CLI + ["--endpoint", sock, "config", "edit"], stdin=slave, capture_output=True,
                                text=True, timeout=30, env={**{k: v for k, v in os.environ.items() if k != "VISUAL"},
                                                               "EDITOR": "false"})
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 1 and "exited with status 1" in result.stderr
    assert server_modules(mock_cluster) == [WEBGUI]


# ---- help ----------------------------------------------------------------------------


def test_help_texts_have_examples():
    top = run("--help")
    assert "config" in top.stdout
    config = run("config", "--help")
    assert config.returncode == 0
    for text in ("show", "set", "unset", "edit", "pylxd-cluster config set WebGui port=80", "Pack"):
        assert text in config.stdout
    assert "port='\"80\"'" in run("config", "set", "--help").stdout
    edit = run("config", "edit", "--help").stdout
    assert "$EDITOR" in edit and "If-Match" in edit and "config edit < pack.yaml" in edit
