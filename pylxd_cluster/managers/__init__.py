"""Managers: one explicit class per collection of the cluster API."""

from .base import Manager
from .cluster import CertificateManager, ClusterManager
from .configuration import ConfigurationManager
from .groups import GroupManager
from .members import MemberManager
from .operations import OperationManager
from .tokens import TokenManager

__all__ = [
    "CertificateManager",
    "ClusterManager",
    "ConfigurationManager",
    "GroupManager",
    "Manager",
    "MemberManager",
    "OperationManager",
    "TokenManager",
]
