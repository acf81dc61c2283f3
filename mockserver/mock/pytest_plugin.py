"""pytest fixtures that start a mock LXD cluster (registered through the ``pytest11`` entry point).

- ``mock_cluster``: a MockCluster on a free loopback port and a unix socket, stopped after
  the test. Configure it with ``@pytest.mark.mock_cluster(members=5, tls=True, ...)``
  (any MockCluster keyword).
- ``mock_cluster_factory``: call it to start more clusters; all are stopped afterwards.
- ``inprocess_mock``: an InProcessMock (no sockets) answering ``http://127.0.0.1:8443``.
- ``mock_client``: a ``pylxd_cluster.Client`` connected to ``mock_cluster``, closed after the test.
- ``mock_cluster_session``: ONE MockCluster for the whole session (started once, much
  faster for large suites); options from the ``mock_cluster_session_options`` fixture.
- ``shared_mock_cluster``: ``mock_cluster_session`` reset to its initial state before the test
  (members, faults, request log, operations, events): the fixture for suites that share one
  mock and reset between tests.
- ``shared_mock_client``: a ``pylxd_cluster.Client`` to ``shared_mock_cluster``, closed after the test.

``pytest --fixtures`` shows each one's documentation.
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
    """Start mock LXD clusters: ``mock_cluster_factory(members=3, **options)`` returns a
    started ``MockCluster`` (options: any MockCluster keyword, e.g. ``tls=True``,
    ``server="incus-6.0"``); every cluster started is stopped after the test."""
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
    """A mock LXD cluster (``MockCluster``) of 3 members on a free loopback port and a unix
    socket, stopped after the test. Give it ``.endpoint`` (or ``.url``) as a client's endpoint;
    script it with ``set_offline()``, ``inject_error()``, ``requests`` ...

    Configure it with ``@pytest.mark.mock_cluster(members=5, tls=True, ...)`` (any
    MockCluster keyword)."""
    marker = request.node.get_closest_marker("mock_cluster")
    options = dict(marker.kwargs) if marker else {}
    return mock_cluster_factory(**options)


@pytest.fixture
def inprocess_mock(request):
    """A mock LXD cluster with no socket at all (``InProcessMock``): requests to
    ``http://127.0.0.1:8443`` through ``requests`` are answered in process, by the same handlers.
    No event websockets. ``@pytest.mark.mock_cluster(members=..., strict=..., name_prefix=...,
    server=..., friendly_errors=...)`` configures it."""
    marker = request.node.get_closest_marker("mock_cluster")
    options = {k: v for k, v in (marker.kwargs if marker else {}).items()
               if k in ("members", "strict", "name_prefix", "server", "friendly_errors")}
    with _mock_class("mockserver.mock.inprocess", "InProcessMock")(**options) as mock:
        yield mock


@pytest.fixture
def mock_client(mock_cluster):
    """A ``pylxd_cluster.Client`` connected to ``mock_cluster`` (its unix socket), closed
    after the test."""
    from pylxd_cluster import Client

    client = Client(mock_cluster.endpoint)
    yield client
    client.close()


@pytest.fixture(scope="session")
def mock_cluster_session_options():
    """The ``MockCluster`` keywords of ``mock_cluster_session`` (default: none, i.e. 3
    members, TCP and a unix socket). Override this fixture in a ``conftest.py`` to change
    them, e.g. ``return {"members": 5, "server": "incus-6.0"}``."""
    return {}


@pytest.fixture(scope="session")
def mock_cluster_session(mock_cluster_session_options):
    """ONE mock LXD cluster (``MockCluster``) for the whole test session, started on first
    use and stopped at the end. What a test changes stays for the next ones: use
    ``shared_mock_cluster`` to get it reset before each test, or call its ``reset()`` (or
    ``POST /mock/reset``) yourself. Options: ``mock_cluster_session_options``."""
    options = dict(mock_cluster_session_options)
    members = options.pop("members", 3)
    cluster = _mock_class("mockserver.mock.cluster", "MockCluster")(members, **options).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def shared_mock_cluster(mock_cluster_session):
    """``mock_cluster_session``, reset before the test to the cluster it started as: its
    members, and no faults, recorded requests, operations or events left by earlier tests.
    For suites that share one mock and reset between tests."""
    mock_cluster_session.reset()
    return mock_cluster_session


@pytest.fixture
def shared_mock_client(shared_mock_cluster):
    """A ``pylxd_cluster.Client`` connected to ``shared_mock_cluster`` (reset before the
    test), closed after the test."""
    from pylxd_cluster import Client

    client = Client(shared_mock_cluster.endpoint)
    yield client
    client.close()
