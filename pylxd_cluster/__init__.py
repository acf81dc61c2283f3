"""pylxd_cluster: a client SDK for LXD's cluster API.

    >>> from pylxd_cluster import Client
    >>> client = Client()                       # the local unix socket
    >>> client.cluster.members.all()            # one request
"""

from .client import Client
from .events import EventStream
from .exceptions import (
    APIError,
    ClientConnectionError,
    ClusterError,
    Conflict,
    Forbidden,
    InvalidJoinToken,
    NotFound,
    NotImplementedByServer,
    OperationError,
    OutcomeUnknown,
    PreconditionFailed,
    Timeout,
)
from .models import (
    Cluster,
    ClusterGroup,
    ClusterMember,
    ConfigModule,
    ConfigurationVersion,
    Event,
    JoinToken,
    MemberConfigKey,
    MemberList,
    MemberState,
    MemberSysInfo,
    Operation,
    PackConfiguration,
)
from .timestamps import Timestamp, format_timestamp, parse_timestamp

__version__ = "0.1.0"

__all__ = [
    "Client",
    "EventStream",
    "APIError",
    "ClientConnectionError",
    "ClusterError",
    "Conflict",
    "Forbidden",
    "InvalidJoinToken",
    "NotFound",
    "NotImplementedByServer",
    "OperationError",
    "OutcomeUnknown",
    "PreconditionFailed",
    "Timeout",
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
    "Timestamp",
    "format_timestamp",
    "parse_timestamp",
]
