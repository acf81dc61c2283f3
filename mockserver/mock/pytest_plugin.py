"""pytest fixtures that start a mock LXD cluster (registered through the ``pytest11`` entry point).

- ``mock_cluster``: a MockCluster on a free loopback port and a unix socket, stopped after
  the test. Configure it with ``@pytest.mark.mock_cluster(members=5, tls=True, ...)``
  (any MockCluster keyword).
- ``mock_cluster_factory``: call it to start more clusters; all are stopped afterwards.
- ``inprocess_mock``: an InProcessMock (no sockets) answering ``http://127.0.0.1:8443``.
- ``mock_client``: a ``pylxd_cluster.Client`` connected to ``mock_cluster``.
"""
from __future__ import annotations

import pytest

from mockserver.mock.inprocess import InProcessMock
from mockserver.mock.cluster import MockCluster


def pytest_configure(config):
    config.addinivalue_line("markers", "mock_cluster(**options): options for the mock_cluster fixture "
                                       "(members, tls, strict, operation_delay, name_prefix, ...)")


@pytest.fixture
def mock_cluster_factory():
    started: list[MockCluster] = []

    def start(members: int = 3, **options) -> MockCluster:
        cluster = MockCluster(members, **options).start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def mock_cluster(request, mock_cluster_factory) -> MockCluster:
    marker = request.node.get_closest_marker("mock_cluster")
    options = dict(marker.kwargs) if marker else {}
    return mock_cluster_factory(**options)


@pytest.fixture
def inprocess_mock(request):
    marker = request.node.get_closest_marker("mock_cluster")
    options = {k: v for k, v in (marker.kwargs if marker else {}).items() if k in ("members", "strict", "name_prefix")}
    with InProcessMock(**options) as mock:
        yield mock


@pytest.fixture
def mock_client(mock_cluster):
    from pylxd_cluster import Client

    return Client(mock_cluster.endpoint)
