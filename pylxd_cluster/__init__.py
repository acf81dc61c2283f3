"""pylxd_cluster: a client SDK for LXD's cluster API.

    >>> from pylxd_cluster import Client
    >>> client = Client()                       # the local unix socket (LXD's or Incus's)
    >>> client = Client.from_remote("prod")     # a remote of lxc's or incus's configuration
    >>> client.cluster.members.all()            # one request
    >>> async with AsyncClient() as client:     # the same over asyncio (the ``async`` extra)
    ...     await client.cluster.members.all()
"""

from pylxd_cluster.client import Client
from pylxd_cluster.events import EventStream
from pylxd_cluster.exceptions import (
    APIError,
    ClientConnectionError,
    ClientConnectionFailed,
    ClusterError,
    Conflict,
    ExtensionMissing,
    Forbidden,
    FrozenModelError,
    InvalidJoinToken,
    LXDAPIException,
    LXDAPIExtensionNotAvailable,
    NotFound,
    NotImplementedByServer,
    OperationError,
    OutcomeUnknown,
    PreconditionFailed,
    RemoteConfigError,
    Timeout,
)
from pylxd_cluster.models import (
    BarrierStatus,
    Cluster,
    ClusterGroup,
    ClusterMember,
    ConfigModule,
    ConfigurationVersion,
    DiscoveryStatus,
    Event,
    EventList,
    GroupList,
    JoinToken,
    MemberConfigKey,
    MemberList,
    MemberState,
    MemberSysInfo,
    Operation,
    OperationList,
    PackConfiguration,
    PackState,
    ServiceGroup,
    ServiceGroupList,
    ServiceGroupMember,
    TokenList,
)
from pylxd_cluster.server import ServerInfo
from pylxd_cluster.timestamps import Timestamp, format_timestamp, parse_timestamp

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "EventStream",
    "ServerInfo",
    "APIError",
    "ClientConnectionError",
    "ClusterError",
    "Conflict",
    "Forbidden",
    "InvalidJoinToken",
    "NotFound",
    "NotImplementedByServer",
    "ExtensionMissing",
    "OperationError",
    "OutcomeUnknown",
    "PreconditionFailed",
    "RemoteConfigError",
    "Timeout",
    "FrozenModelError",
    "LXDAPIException",
    "ClientConnectionFailed",
    "LXDAPIExtensionNotAvailable",
    "Cluster",
    "ClusterGroup",
    "ClusterMember",
    "ConfigModule",
    "ConfigurationVersion",
    "Event",
    "JoinToken",
    "MemberConfigKey",
    "MemberList",
    "GroupList",
    "TokenList",
    "OperationList",
    "EventList",
    "MemberState",
    "MemberSysInfo",
    "PackState",
    "DiscoveryStatus",
    "BarrierStatus",
    "Operation",
    "PackConfiguration",
    "ServiceGroup",
    "ServiceGroupList",
    "ServiceGroupMember",
    "Timestamp",
    "format_timestamp",
    "parse_timestamp",
]


def __getattr__(name: str):
    """``AsyncClient`` comes from :mod:`pylxd_cluster.aio` on first use, so that the sync SDK
    imports without aiohttp (the ``async`` extra)."""
    if name in ("AsyncClient", "AsyncEventStream", "AsyncTransport"):
        from pylxd_cluster import aio

        return getattr(aio, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
