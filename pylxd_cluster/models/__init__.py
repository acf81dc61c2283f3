"""Frozen models of LXD's cluster objects. They never touch HTTP."""

from pylxd_cluster.models.base import ModelList, ServerModel, WireModel
from pylxd_cluster.models.cluster import Cluster, MemberConfigKey
from pylxd_cluster.models.configuration import ConfigModule, ConfigurationVersion, PackConfiguration
from pylxd_cluster.models.event import Event, EventList
from pylxd_cluster.models.group import ClusterGroup, GroupList
from pylxd_cluster.models.member import ClusterMember, MemberList
from pylxd_cluster.models.operation import Operation, OperationList
from pylxd_cluster.models.pack_state import BarrierStatus, DiscoveryStatus, PackState
from pylxd_cluster.models.service_group import ServiceGroup, ServiceGroupList, ServiceGroupMember
from pylxd_cluster.models.state import MemberState, MemberSysInfo
from pylxd_cluster.models.token import JoinToken, TokenList

__all__ = [
    "Cluster",
    "ClusterGroup",
    "ClusterMember",
    "ConfigModule",
    "ConfigurationVersion",
    "Event",
    "EventList",
    "GroupList",
    "ModelList",
    "OperationList",
    "TokenList",
    "JoinToken",
    "MemberConfigKey",
    "MemberList",
    "MemberState",
    "MemberSysInfo",
    "PackState",
    "DiscoveryStatus",
    "BarrierStatus",
    "Operation",
    "PackConfiguration",
    "ServerModel",
    "ServiceGroup",
    "ServiceGroupList",
    "ServiceGroupMember",
    "WireModel",
]
