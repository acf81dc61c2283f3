"""``pylxd-cluster completion bash|zsh|tcsh``: shtab's scripts from the parser, with member and
group names completed from the server (here: the mock, through $PYLXD_CLUSTER_ENDPOINT)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import run

# Complete the words of COMP_WORDS as bash would on TAB, and print what it offers.
COMPLETE = r'''
source "$1"; shift
fn=$(complete -p pylxd-cluster | awk '{print $(NF-1)}')
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$fn" pylxd-cluster "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


@pytest.fixture
def bash_script(tmp_path):
    result = run("completion", "bash")
    assert result.returncode == 0 and result.stderr == ""
    path = tmp_path / "pylxd-cluster.bash"
    path.write_text(result.stdout)
    return path


def complete(script: Path, *words: str, endpoint: str | None = None) -> list[str]:
    bin_dir = str(Path(sys.executable).parent)   # where the pylxd-cluster console script is
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
           "PYLXD_CLUSTER_ENDPOINT": endpoint or "/nonexistent/unix.socket"}
    result = subprocess.run([shutil.which("bash"), "-c", COMPLETE, "complete", str(script), "pylxd-cluster", *words],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    return sorted(line for line in result.stdout.splitlines() if line)


def test_bash_completes_commands_options_and_choices(bash_script):
    assert complete(bash_script, "cl") == ["cluster"]
    assert {"list", "edit", "update-certificate", "evacuate", "group"} <= set(complete(bash_script, "cluster", ""))
    assert complete(bash_script, "cluster", "evacuate", "--action", "") == sorted(
        ["auto", "stop", "migrate", "live-migrate", "stateful-stop", "force-stop"])
    assert complete(bash_script, "--format", "c") == ["compact", "csv"]
    assert complete(bash_script, "completion", "") == ["bash", "tcsh", "zsh"]


def test_bash_completes_names_from_the_server(bash_script, mock_cluster):
    mock_cluster.state.create_group("rack1", "", ["node1"], None)
    sock = mock_cluster.unix_socket
    assert complete(bash_script, "cluster", "show", "", endpoint=sock) == ["node1", "node2", "node3"]
    assert complete(bash_script, "evacuate", "node", endpoint=sock) == ["node1", "node2", "node3"]
    assert complete(bash_script, "cluster", "group", "edit", "", endpoint=sock) == ["default", "rack1"]
    assert complete(bash_script, "cluster", "show", "") == []   # no server: nothing, and no error


@pytest.mark.parametrize("shell,texts", [
    ("zsh", ["#compdef pylxd-cluster", "_pylxd_cluster_members()", "update-certificate"]),
    ("tcsh", ["complete pylxd-cluster", "update-certificate"]),
])
def test_zsh_and_tcsh_scripts(shell, texts):
    result = run("completion", shell)
    assert result.returncode == 0
    for text in texts:
        assert text in result.stdout, text


def test_completion_help_says_how_to_install():
    out = run("completion", "--help").stdout
    assert "source <(pylxd-cluster completion bash)" in out and "shtab" in out
