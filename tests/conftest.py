"""The one conftest: fixtures live in modules of their own, loaded here as plugins.

Helpers are imported by their package path (``tests.support.rawhttp``); pytest puts the
repository on ``sys.path`` because ``tests`` is a package.
"""
import pytest

pytest_plugins = [
    "tests.support.mockhttp",    # mock, http: a MockCluster and a plain requests session
    "tests.support.lxc",         # cli, cli_mock, lxc, short_tmp: the real lxc and incus clients
    "mockserver.daemon.harness.netns",  # netns_factory, bridged_factory: network namespaces
    "tests.support.backends",    # backend, backend4, cluster3: the parity suite's two back ends
    "tests.sdk.fixtures",        # lxd, client: a fake LXD through responses
    "tests.daemon.config.examples",  # refused: a configuration file that must be refused
    "tests.support.plugins",     # test_plugins, plugins_importable: a plug-in package, pip-installed
    "tests.fuzz.profile",        # the hypothesis profile (short and fixed, or long: make fuzz)
    "tests.support.realservers",  # real_lxd, real_incus, real_cluster: real LXD and Incus clusters in a netns
]

# The slow tier: real processes, network namespaces, real clients, installs. `make test-fast`
# leaves it out (`-m "not system"`); `make test` runs everything.
SYSTEM = ("tests/daemon/processes/", "tests/daemon/netns/", "tests/daemon/udp/test_multicast_lo.py",
          "tests/integration/", "tests/parity/", "tests/jepsen/", "tests/fuzz/", "tests/cli/", "tests/docs/",
          "tests/install/", "tests/mock/test_process.py", "tests/live/")


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        if path.startswith(SYSTEM):
            item.add_marker(pytest.mark.system)
