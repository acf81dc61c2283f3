"""The pytest plugin's fixtures, used here exactly as a user's test suite uses them."""
from __future__ import annotations

import pytest
import requests

import pylxd_cluster


def test_mock_cluster_fixture_defaults(mock_cluster):
    members = requests.get(mock_cluster.url + "/1.0/cluster/members", timeout=5).json()["metadata"]
    assert members == [f"/1.0/cluster/members/node{i}" for i in (1, 2, 3)]
    assert mock_cluster.unix_socket and mock_cluster.endpoint == mock_cluster.unix_socket


@pytest.mark.mock_cluster(members=5, name_prefix="lxd")
def test_marker_configures_the_cluster(mock_cluster):
    assert list(mock_cluster.state.members) == ["lxd1", "lxd2", "lxd3", "lxd4", "lxd5"]


def test_factory_starts_several_and_stops_them(mock_cluster_factory):
    first, second = mock_cluster_factory(2), mock_cluster_factory(0)
    assert first.url != second.url
    assert requests.get(second.url + "/1.0/cluster", timeout=5).json()["metadata"]["enabled"] is False


def test_mock_client_fixture(mock_client, mock_cluster):
    assert isinstance(mock_client, pylxd_cluster.Client)
    mock_cluster.set_offline("node3")
    assert mock_client.cluster.members.get("node3").status == "Offline"


@pytest.mark.mock_cluster(members=2)
def test_inprocess_fixture(inprocess_mock):
    reply = requests.get(inprocess_mock.url + "/1.0/cluster/members?recursion=1")
    assert [m["server_name"] for m in reply.json()["metadata"]] == ["node1", "node2"]


def test_plugin_is_registered_by_entry_point(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("pylxd_cluster_mock")


PLUGIN_FIXTURES = ("mock_cluster_factory", "mock_cluster", "inprocess_mock", "mock_client",
                   "mock_cluster_session_options", "mock_cluster_session", "shared_mock_cluster",
                   "shared_mock_client")


def test_pytest_fixtures_documents_every_fixture(tmp_path):
    """What a user sees: ``pytest --fixtures`` in a project of their own (not this repository's
    conftest), the plugin loaded by its entry point."""
    import re
    import subprocess
    import sys

    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    listing = subprocess.run([sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider",
                              "--rootdir", str(tmp_path), str(tmp_path)],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60).stdout
    section = listing[listing.index("fixtures defined from mockserver.mock.pytest_plugin"):]
    for name in PLUGIN_FIXTURES:
        found = re.search(rf"^{name}( \[session scope\])? -- .*\n    (\S.*)$", section, re.MULTILINE)
        assert found, f"{name} is not listed:\n{section}"
        assert "no docstring" not in found.group(2), f"{name} has no docstring"


def test_every_plugin_fixture_is_in_that_list():
    from mockserver.mock import pytest_plugin

    defined = {name for name, value in vars(pytest_plugin).items()
               if type(value).__name__ == "FixtureFunctionDefinition"}
    assert defined == set(PLUGIN_FIXTURES)


@pytest.fixture
def closed_after_teardown():
    """Set up before ``mock_client`` (list it first), so torn down after it: the test puts
    the client in the list, and this checks that its close() was called by then."""
    watched: list = []
    yield watched
    for client in watched:
        assert client.closed_for_test, "mock_client was not closed after the test"


def test_mock_client_is_closed_after_the_test(closed_after_teardown, mock_client):
    original = mock_client.close

    def close():
        mock_client.closed_for_test = True
        original()

    mock_client.closed_for_test = False
    mock_client.close = close
    closed_after_teardown.append(mock_client)
    assert mock_client.cluster.members.get("node1").status == "Online"
    assert not mock_client.closed_for_test


def test_shared_mock_cluster_is_the_session_cluster_reset(request, mock_cluster_session):
    mock_cluster_session.set_offline("node2")
    mock_cluster_session.inject_error("/1.0/cluster", 500, "broken")
    # What an earlier test left behind; the fixture, set up now, resets it.
    shared = request.getfixturevalue("shared_mock_cluster")
    client = request.getfixturevalue("shared_mock_client")
    assert shared is mock_cluster_session
    assert client.cluster.members.get("node2").status == "Online"
    assert client.cluster.get().enabled and not shared.script.faults


@pytest.mark.parametrize("round_", [1, 2])
def test_the_session_cluster_is_started_once(mock_cluster_session, round_):
    _session_urls.add(mock_cluster_session.url)
    assert len(_session_urls) == 1


_session_urls: set = set()
