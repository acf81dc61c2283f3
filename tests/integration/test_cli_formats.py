"""``pylxd-cluster``'s listings against the real ``lxc`` and ``incus`` on the same mock:
``--format csv`` must be byte for byte what the client prints (and ``--format compact``
what ``lxc`` 5.0.2 prints). Our CLI runs in-process (``main([...])``) against the mock's
unix socket; the client runs as a subprocess (tests/support/lxc.py)."""
from __future__ import annotations

import csv
import io

import pytest

from pylxd_cluster.cli.main import main


def ours(capsys, socket_path: str, *args: str) -> str:
    capsys.readouterr()
    assert main(["--endpoint", socket_path, *args]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


@pytest.fixture
def shaped(cli_mock):
    """A cluster with what csv has to quote: several roles, a description with a comma and
    quotes, a group's description with a comma; and an evacuated member."""
    cli_mock.set_status("node2", "Evacuated")
    cli_mock.state.members["node3"].description = 'rack 3, "top"'
    cli_mock.state.create_group("rack1", "first, rack", ["node1", "node3"], None)
    return cli_mock


@pytest.mark.parametrize("command", [("cluster", "list"), ("cluster", "group", "list")])
def test_csv_is_what_the_client_prints(cli, shaped, capsys, command):
    theirs = cli.ok(*command, "--format", "csv")
    mine = ours(capsys, shaped.unix_socket, *command, "--format", "csv")
    assert mine == theirs
    rows = list(csv.reader(io.StringIO(mine)))
    assert len(rows) == (3 if command[1] == "list" else 2)  # not empty: the comparison compared something
    if command[1] == "list":
        assert rows[0][2] == "database-leader,database" and rows[1][6] == "EVACUATED"
        assert rows[2][5] == 'rack 3, "top"' and '"rack 3, ""top"""' in mine
    else:
        assert rows == [["default", "Default cluster group", "3"], ["rack1", "first, rack", "2"]]


@pytest.mark.parametrize("command", [("cluster", "list"), ("cluster", "group", "list"), ("cluster", "list-tokens")])
def test_compact_is_what_lxc_prints(lxc, mock_cluster, capsys, command):
    mock_cluster.set_status("node2", "Evacuated")
    mock_cluster.state.create_group("rack1", "first rack", ["node1"], None)
    lxc.ok("cluster", "add", "node9")
    theirs = lxc.ok(*command, "--format", "compact")
    mine = ours(capsys, mock_cluster.unix_socket, *command, "--format", "compact")
    assert mine == theirs
    assert len(mine.splitlines()) >= 2


def test_table_is_what_lxc_prints(lxc, mock_cluster, capsys):
    mock_cluster.set_status("node2", "Evacuated")
    for command in (("cluster", "list"), ("cluster", "group", "list")):
        assert ours(capsys, mock_cluster.unix_socket, *command) == lxc.ok(*command)
