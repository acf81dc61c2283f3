"""pytest fixtures that start a mock LXD cluster (registered through the ``pytest11`` entry point).

- ``mock_cluster``: a MockCluster on a free loopback port and a unix socket, stopped after
  the test. Configure it with ``@pytest.mark.mock_cluster(members=5, tls=True, ...)``
  (any MockCluster keyword).
- ``mock_cluster_factory``: call it to start more clusters; all are stopped afterwards.
- ``inprocess_mock``: an InProcessMock (no sockets) answering ``http://127.0.0.1:8443``.
- ``mock_client``: a ``pylxd_cluster.Client`` connected to ``mock_cluster``.
"""
from __future__ import annotations

import importlib

import pytest

SERVER_EXTRA = "pip install 'pylxd-cluster[server]'"


def _mock_class(module: str, name: str):
    """The mock's classes are imported when a fixture is used, so that the plugin loads
    (pytest starts) in an environment with only the SDK installed."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        pytest.fail(f"the {name} fixture needs the server extra, which is not installed ({exc}): "
                    f"{SERVER_EXTRA}", pytrace=False)


def pytest_configure(config):
    config.addinivalue_line("markers", "mock_cluster(**options): options for the mock_cluster fixture "
                                       "(members, server, friendly_errors, tls, strict, operation_delay, "
                                       "name_prefix, ...)")


@pytest.fixture
def mock_cluster_factory():
    mock_cluster_class = _mock_class("mockserver.mock.cluster", "MockCluster")
    started: list = []

    def start(members: int = 3, **options):
        cluster = mock_cluster_class(members, **options).start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def mock_cluster(request, mock_cluster_factory):
    marker = request.node.get_closest_marker("mock_cluster")
    options = dict(marker.kwargs) if marker else {}
    return mock_cluster_factory(**options)


@pytest.fixture
def inprocess_mock(request):
    marker = request.node.get_closest_marker("mock_cluster")
    options = {k: v for k, v in (marker.kwargs if marker else {}).items()
               if k in ("members", "strict", "name_prefix", "server", "friendly_errors")}
    with _mock_class("mockserver.mock.inprocess", "InProcessMock")(**options) as mock:
        yield mock


@pytest.fixture
def mock_client(mock_cluster):
    from pylxd_cluster import Client

    return Client(mock_cluster.endpoint)
