"""Frozen models of LXD's cluster objects. They never touch HTTP."""

from .base import ServerModel, WireModel
from .cluster import Cluster, MemberConfigKey
from .configuration import ConfigModule, ConfigurationVersion, PackConfiguration
from .event import Event
from .group import ClusterGroup
from .member import ClusterMember, MemberList
from .operation import Operation
from .state import MemberState, MemberSysInfo
from .token import JoinToken

__all__ = [
    "Cluster",
    "ClusterGroup",
    "ClusterMember",
    "ConfigModule",
    "ConfigurationVersion",
    "Event",
    "JoinToken",
    "MemberConfigKey",
    "MemberList",
    "MemberState",
    "MemberSysInfo",
    "Operation",
    "PackConfiguration",
    "ServerModel",
    "WireModel",
]
