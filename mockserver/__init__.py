"""A server that speaks LXD's cluster REST API, with a scriptable mock back end.

``MockCluster`` serves it on real sockets; ``InProcessMock`` answers through ``responses``.
"""
from .inprocess import InProcessMock
from .mock import MockCluster, MockClusterError
from .scripting import Fault
from .state import ClusterState, MemberSpec

__all__ = ["MockCluster", "MockClusterError", "InProcessMock", "Fault", "ClusterState", "MemberSpec"]
