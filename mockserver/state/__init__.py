"""The one source of truth the REST layer reads: members, groups, operations and events.

Both back ends drive it: the scriptable mock and (later) the reference daemon.
"""
from .cluster import ClusterState, MemberSpec
from .events import EventBus
from .operations import Operation, OperationTable
from .scheduler import DeferredScheduler, LoopScheduler, Scheduler

__all__ = [
    "ClusterState", "MemberSpec", "EventBus", "Operation", "OperationTable",
    "Scheduler", "LoopScheduler", "DeferredScheduler",
]
