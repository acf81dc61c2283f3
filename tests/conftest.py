"""The one conftest: fixtures live in modules of their own, loaded here as plugins.

Helpers are imported by their package path (``tests.support.netns``); pytest puts the
repository on ``sys.path`` because ``tests`` is a package.
"""
pytest_plugins = [
    "tests.support.mockhttp",    # mock, http: a MockCluster and a plain requests session
    "tests.support.lxc",         # lxc_path, lxc, short_tmp: the real lxc client
    "tests.support.netns",       # netns_factory, bridged_factory: network namespaces
    "tests.support.backends",    # backend, backend4, cluster3: the parity suite's two back ends
    "tests.sdk.fixtures",        # lxd, client: a fake LXD through responses
    "tests.daemon.config.examples",  # refused: a configuration file that must be refused
    "tests.fuzz.profile",        # the hypothesis profile (short and fixed, or long: make fuzz)
]
