"""The one source of truth the REST layer reads: members, groups, operations and events.

Both back ends drive it: the scriptable mock and the reference daemon, each through the
StateBackend it gives at construction.
"""
from mockserver.state.backend import StateBackend, StaticBackend
from mockserver.state.cluster import ClusterState, MemberSpec
from mockserver.state.events import EventBus
from mockserver.state.operations import Operation, OperationTable
from mockserver.state.scheduler import DeferredScheduler, LoopScheduler, Scheduler

__all__ = [
    "ClusterState", "MemberSpec", "StateBackend", "StaticBackend", "EventBus", "Operation", "OperationTable",
    "Scheduler", "LoopScheduler", "DeferredScheduler",
]
