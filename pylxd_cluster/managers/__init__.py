"""Managers: one explicit class per collection of the cluster API."""

from pylxd_cluster.managers.base import Manager
from pylxd_cluster.managers.cluster import CertificateManager, ClusterManager
from pylxd_cluster.managers.configuration import ConfigurationManager
from pylxd_cluster.managers.groups import GroupManager
from pylxd_cluster.managers.members import MemberManager
from pylxd_cluster.managers.operations import OperationManager
from pylxd_cluster.managers.service_groups import ServiceGroupManager
from pylxd_cluster.managers.tokens import TokenManager

__all__ = [
    "CertificateManager",
    "ClusterManager",
    "ConfigurationManager",
    "GroupManager",
    "Manager",
    "MemberManager",
    "OperationManager",
    "ServiceGroupManager",
    "TokenManager",
]
