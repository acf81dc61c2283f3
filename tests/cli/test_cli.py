"""The pylxd-cluster command line, run as a process against a mock cluster."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
import yaml

from mockserver import MockCluster

CLI = [sys.executable, "-m", "pylxd_cluster.cli.main"]


def run(*args, endpoint=None, env=None, timeout=30):
    command = CLI + (["--endpoint", endpoint] if endpoint else []) + list(args)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def mock():
    with MockCluster(4) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def clean(mock):
    mock.reset()


def test_members_table_matches_state(mock):
    mock.set_offline("node3")
    result = run("members", endpoint=mock.unix_socket)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split("|")[1:-1] == [" NAME  ", "           URL           ", "      ROLES       ",
                                         " ARCHITECTURE ", " FAILURE DOMAIN ", " DESCRIPTION ", "  STATE  ",
                                         lines[1].split("|")[-2]]
    rows = [line for line in lines if line.startswith("| node")]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == ["node1", "node2", "node3", "node4"]
    states = {row.split("|")[1].strip(): row.split("|")[7].strip() for row in rows}
    assert states == {"node1": "ONLINE", "node2": "ONLINE", "node3": "OFFLINE", "node4": "ONLINE"}


@pytest.mark.parametrize("fmt,parse", [("json", json.loads), ("yaml", yaml.safe_load)])
def test_members_as_data(mock, fmt, parse):
    result = run("members", "--format", fmt, endpoint=mock.url)
    assert result.returncode == 0, result.stderr
    assert parse(result.stdout) == mock.state.members_to_api()


def test_status_report_names_leader_and_states(mock):
    mock.set_offline("node2", since=5)
    result = run("status", endpoint=mock.unix_socket)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "=== Status report on cluster member node1 ==="
    assert lines[1] == "  Leader node1 (this node): Online"
    assert lines[2].startswith("  Member node2: Offline (No heartbeat for 5")
    assert "  Members online: 3 of 4" in lines
    data = json.loads(run("status", "-f", "json", endpoint=mock.unix_socket).stdout)
    assert data["leader"] == "node1" and data["this_node"] == "node1"
    assert [m["status"] for m in data["members"]] == ["Online", "Offline", "Online", "Online"]


def test_show_is_yaml_like_lxc(mock):
    result = run("show", "node2", endpoint=mock.unix_socket)
    assert yaml.safe_load(result.stdout) == mock.state.member_to_api("node2")
    assert result.stdout.startswith("roles:\n")


def test_tokens_add_list_revoke(mock):
    added = run("add", "node9", endpoint=mock.unix_socket)
    assert added.returncode == 0 and added.stdout.startswith("Member node9 join token:\n")
    token = added.stdout.splitlines()[1]
    listed = run("tokens", endpoint=mock.unix_socket)
    assert token in listed.stdout and "| node9 |" in listed.stdout
    revoked = run("revoke", "node9", endpoint=mock.unix_socket)
    assert revoked.returncode == 0 and "node9" in revoked.stdout
    assert mock.state.operations.running("token") == []


def test_evacuate_and_restore_show_progress(mock):
    result = run("evacuate", "node2", "--mode", "stop", endpoint=mock.unix_socket)
    assert result.returncode == 0, result.stderr
    assert "Evacuating node2 ..." in result.stderr and "Evacuating node2: Success" in result.stderr
    assert result.stdout.strip() == "node2: Evacuated (Unavailable due to maintenance)"
    again = run("evacuate", "node2", endpoint=mock.unix_socket)
    assert again.returncode == 1 and "Cluster member is already evacuated" in again.stderr
    restored = run("restore", "node2", endpoint=mock.unix_socket)
    assert restored.stdout.strip() == "node2: Online (Fully operational)"


def test_groups(mock):
    mock.state.create_group("rack1", "first rack", ["node1"], None)
    result = run("groups", endpoint=mock.unix_socket)
    assert "| rack1   | first rack            | 1       |" in result.stdout


def test_events_prints_what_happens(mock):
    timer = threading.Timer(1.0, lambda: mock.set_offline("node4"))
    timer.start()
    result = run("events", "--count", "1", endpoint=mock.unix_socket, timeout=30)
    timer.join()
    assert result.returncode == 0, result.stderr
    assert "lifecycle cluster-member-updated /1.0/cluster/members/node4" in result.stdout


def test_endpoint_from_environment(mock):
    result = run("members", env={"LXD_SOCKET": mock.unix_socket, "PYLXD_CLUSTER_ENDPOINT": ""})
    assert result.returncode == 0 and "node1" in result.stdout


def test_errors_say_what_failed_and_what_to_do(mock, tmp_path):
    missing = run("show", "ghost", endpoint=mock.unix_socket)
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith("404 Cluster member not found") and "Traceback" not in missing.stderr
    down = run("members", endpoint=str(tmp_path / "nothing.socket"))
    assert down.returncode == 1 and "is the server running?" in down.stderr
    half = run("--cert", "only.crt", "members", endpoint=mock.url)
    assert half.returncode != 0 and "--cert and --key go together" in half.stderr


def test_help_explains_commands_and_endpoint():
    result = run("--help")
    assert result.returncode == 0
    for text in ("members", "status", "evacuate", "--format", "$LXD_SOCKET", "--verify"):
        assert text in result.stdout
