"""The mock back end: a scriptable LXD cluster for integration tests.

- ``cluster``: ``MockCluster``, the front end on real sockets (TCP, TLS, unix) in a thread.
- ``inprocess``: ``InProcessMock``, the same answers through ``responses`` (no sockets).
- ``scripting``: injected faults, latency and the request log (the API core's hooks).
- ``routes``: the ``/mock`` control routes, and ``mock_api`` that assembles the API core.
- ``cli``: the ``pylxd-cluster-mock`` command.
- ``pytest_plugin``: the fixtures registered through the ``pytest11`` entry point.
"""
