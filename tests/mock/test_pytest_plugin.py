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
