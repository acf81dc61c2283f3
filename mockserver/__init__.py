"""A server that speaks LXD's cluster REST API, with two back ends.

- ``mockserver.mock``: the scriptable mock cluster (``MockCluster`` on real sockets,
  ``InProcessMock`` through ``responses``), its ``/mock`` routes and pytest plugin.
- ``mockserver.daemon``: the reference daemon, whose members form a pack.

The front end they share is this package's ``api``, ``state``, ``http``, ``wire``,
``errors``, ``tls`` and ``godecode``. The names below are imported when first used, so that
importing the package (the pytest plugin does) needs none of the server extra.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "MockCluster": "mockserver.mock.cluster",
    "MockClusterError": "mockserver.mock.cluster",
    "InProcessMock": "mockserver.mock.inprocess",
    "Fault": "mockserver.mock.scripting",
    "ClusterState": "mockserver.state",
    "MemberSpec": "mockserver.state",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
