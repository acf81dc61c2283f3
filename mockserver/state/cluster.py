"""Cluster state: members, groups, join tokens and the cluster certificate.

Every method enforces LXD's rules and raises :class:`~mockserver.errors.ApiError` with
LXD's status and text. Methods that change state emit LXD's lifecycle events. The REST
layer only parses requests and renders replies around these methods.
"""
from __future__ import annotations

import datetime as _dt
import secrets
import threading
import time
from dataclasses import dataclass, field

from ..errors import ApiError, bad_request, conflict, forbidden, not_found
from ..wire import etag_of, lxd_url, go_duration, go_time_string, go_timestamp, now_utc, sorted_map
from . import certificate
from .configuration import ConfigDocument, ModuleListError, modules_to_wire, parse_modules, patched_modules
from .events import EventBus
from .operations import Operation, OperationTable
from .scheduler import DeferredScheduler, Scheduler
from .sysinfo import read_sysinfo

AUTOMATIC_ROLES = ("database-leader", "database", "database-standby")
MANUAL_ROLES = ("event-hub", "ovn-chassis")
EVACUATE_MODES = ("", "auto", "stop", "migrate", "live-migrate")
RESTORE_MODES = ("", "skip")
SCHEDULER_VALUES = ("all", "manual", "group")
DEFAULT_GROUP = "default"
MAX_VOTERS, MAX_STANDBYS = 3, 2
OFFLINE_THRESHOLD = 20.0  # seconds; LXD's cluster.offline_threshold default
NOT_CLUSTERED = "Server is not clustered"


def stored(text: str) -> str:
    """What LXD's database keeps of a string: dqlite passes text NUL-terminated, so a name
    or description is cut at its first NUL (a group created as "z\\x00z" is "z"), and a
    name looked up is cut likewise."""
    return text.split("\x00", 1)[0] if "\x00" in text else text


def stored_map(mapping: dict) -> dict:
    return {stored(key): stored(value) for key, value in mapping.items()}


@dataclass
class MemberSpec:
    """What a test says about a member it adds; everything but the name has LXD's default."""

    server_name: str
    address: str | None = None
    architecture: str = "x86_64"
    description: str = ""
    failure_domain: str = "default"
    roles: tuple = ()
    config: dict = field(default_factory=dict)


@dataclass
class Member:
    server_name: str
    address: str
    architecture: str = "x86_64"
    description: str = ""
    failure_domain: str = "default"
    roles: list = field(default_factory=list)
    config: dict = field(default_factory=dict)
    database: bool = False
    evacuated: bool = False
    heartbeat: _dt.datetime = field(default_factory=now_utc)
    offline: bool = False
    blocked_message: str | None = None
    offline_message: str | None = None   # why it is Offline, when that is known (it left)
    note: str | None = None              # said instead of "Fully operational" (a conflict)
    ident: str = ""                      # who it is to its back end (a pack name); kept across renames

    def __post_init__(self):
        self.ident = self.ident or self.server_name

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    def status(self) -> tuple[str, str]:
        """(status, message) as LXD derives them from heartbeat and state."""
        if self.offline:
            if self.offline_message:
                return "Offline", self.offline_message
            since = (now_utc() - self.heartbeat).total_seconds()
            return "Offline", f"No heartbeat for {go_duration(since)} ({go_time_string(self.heartbeat)})"
        if self.blocked_message is not None:
            return "Blocked", self.blocked_message
        if self.evacuated:
            return "Evacuated", "Unavailable due to maintenance"
        return "Online", self.note or "Fully operational"


@dataclass
class Group:
    name: str
    description: str = ""
    members: list = field(default_factory=list)

    def writable(self) -> dict:
        return {"description": self.description, "members": list(self.members)}

    def to_api(self) -> dict:
        return {"description": self.description, "members": list(self.members), "name": self.name}


class ClusterState:
    """The in-memory cluster one server shows. ``members=0`` is a standalone server.

    All reads and writes take ``self.lock`` so that a test thread may script the state
    while the server's loop serves it.
    """

    def __init__(self, members: int = 3, *, name_prefix: str = "node", local_address: str = "127.0.0.1:8443",
                 scheduler: Scheduler | None = None, operation_delay: float = 0.0,
                 token_expiry: float = 3 * 3600.0, operation_retention: float = 5.0, clock=time.monotonic):
        self.lock = threading.RLock()
        self.events = EventBus(location=lambda: self.local_name if self.clustered else "none")
        self.operations = OperationTable(self.events, self.lock, retention=operation_retention, clock=clock)
        self.scheduler: Scheduler = scheduler or DeferredScheduler()
        self.operation_delay = operation_delay
        self.token_expiry = token_expiry
        # LXD assigns database roles itself; a back end that manages roles (a pack) turns this off.
        self.auto_roles = True
        self.ordered_by_ident = False   # a pack member's view: see _insert
        # A back end may add to member state (a pack daemon: its counters), given the name;
        # returning None for a member means "not known here" (another host's member).
        self.member_state_extra = None
        # A back end whose members run elsewhere says where to forward reads about them.
        self.member_api = None
        self._initial = (members, name_prefix, local_address)
        self.certificate_pem, self.key_pem = certificate.generate()
        self.fingerprint = certificate.fingerprint(self.certificate_pem)
        # Moves on every change; readers cache what they render per revision.
        self.revision = 0
        # The shared configuration (our extension pack_configuration), and the names of the
        # modules this member keeps from its own file instead (a pack daemon's local modules).
        self.configuration = ConfigDocument()
        self.local_modules: tuple = ()
        self.effective_modules: tuple | None = None  # what this member runs with; None: the shared ones
        # Members removed from the cluster, by ident: what their back end still reports of
        # them is not shown (a removed pack node that keeps running stays out).
        self.removed: set = set()
        # Called with a callback once a write made outside a request (an evacuation's
        # operation) is applied; the back end calls it when the write is durable. None: at once.
        self.after_write = None
        self._build(members, name_prefix, local_address)

    # ---- construction and scripting ---------------------------------------------------

    def _build(self, count: int, prefix: str, local_address: str) -> None:
        self.revision += 1
        self.members: dict[str, Member] = {}
        self.groups: dict[str, Group] = {}
        self.local_address = local_address
        self.clustered = count > 0
        self.local_name = ""
        if not self.clustered:
            return
        self.groups[DEFAULT_GROUP] = Group(DEFAULT_GROUP, "Default cluster group")
        host, _, port = local_address.rpartition(":")
        for index in range(count):
            address = local_address if index == 0 else f"127.0.0.{index + 1}:{port or 8443}"
            self._insert(Member(f"{prefix}{index + 1}", address))
        self.local_name = f"{prefix}1"

    def _insert(self, member: Member) -> None:
        self.members[member.server_name] = member
        self.groups[DEFAULT_GROUP].members.append(member.server_name)
        if self.ordered_by_ident:
            # Every member of a pack meets the others in its own order; listing them by
            # their pack identity (kept across renames, like LXD's database ids) gives one
            # order on every member.
            self.members = dict(sorted(self.members.items(), key=lambda item: item[1].ident))
            position = {name: index for index, name in enumerate(self.members)}
            self.groups[DEFAULT_GROUP].members.sort(key=lambda name: position.get(name, len(position)))
        self._rebalance_roles()

    def _rebalance_roles(self) -> None:
        """Assign database roles as LXD does: an odd number of voters (up to 3), then up
        to 2 standbys, the first member leading. Manual roles are kept."""
        if not self.auto_roles:
            return
        count = len(self.members)
        voters = MAX_VOTERS if count >= MAX_VOTERS else 1
        for index, member in enumerate(self.members.values()):
            manual = [r for r in member.roles if r not in AUTOMATIC_ROLES]
            if index == 0:
                automatic = ["database-leader", "database"]
            elif index < voters:
                automatic = ["database"]
            elif index < voters + MAX_STANDBYS:
                automatic = ["database-standby"]
            else:
                automatic = []
            member.roles, member.database = automatic + manual, bool(automatic)

    # ---- driven by a live back end (the pack daemon) -----------------------------------

    def adopt_pack(self, local_name: str, local_address: str) -> None:
        """Become one member's view of a pack: clustered, itself the only member known so
        far, roles set by the back end (see set_roles)."""
        with self.lock:
            self.auto_roles = False
            self.ordered_by_ident = True
            self.clustered = True
            self.groups = {DEFAULT_GROUP: Group(DEFAULT_GROUP, "Default cluster group")}
            self.members = {}
            self.local_address = local_address
            self.local_name = local_name
            self._insert(Member(local_name, local_address, roles=[], database=False))
            self.revision += 1

    def member_by_ident(self, ident: str) -> Member | None:
        with self.lock:
            for member in self.members.values():
                if member.ident == ident:
                    return member
            return None

    def observe_member(self, ident: str, *, address: str, online: bool, heartbeat: _dt.datetime,
                       offline_message: str | None = None) -> None:
        """What the back end knows of the member it calls ``ident`` now. A new member emits
        cluster-member-added; a change of status or message emits cluster-member-updated.
        A removed member is not shown."""
        with self.lock:
            if ident in self.removed:
                return
            member = self.member_by_ident(ident)
            if member is None:
                member = Member(ident, address, roles=[], database=False, heartbeat=heartbeat, offline=not online,
                                offline_message=offline_message)
                self._insert(member)
                self._lifecycle("cluster-member-added", self._member_source(ident), None)
                return
            name = member.server_name
            def visible():  # what a reader sees change (not the heartbeat age, which always moves)
                return member.status()[0], member.offline_message, member.address

            before = visible()
            member.address, member.offline, member.offline_message = address, not online, offline_message
            member.heartbeat = heartbeat
            if visible() != before:
                self._lifecycle("cluster-member-updated", self._member_source(name), None)

    def set_roles(self, ident: str, roles: list, database: bool, note: str | None = None) -> bool:
        """Set the automatic roles of the member the back end calls ``ident`` (and an optional
        note in its message); manual roles (written through the API) are kept. True if it changed."""
        with self.lock:
            member = self.member_by_ident(ident)
            if member is None:
                return False
            roles = list(roles) + [r for r in member.roles if r in MANUAL_ROLES and r not in roles]
            if (member.roles, member.database, member.note) == (roles, database, note):
                return False
            member.roles, member.database, member.note = roles, database, note
            self._lifecycle("cluster-member-updated", self._member_source(member.server_name), None)
            return True

    def emit(self, action: str, source: str, context: dict | None = None, requestor: dict | None = None) -> None:
        """A lifecycle event of the back end's own (a leader change, a conflict, a write the
        leader of a pack made, replayed here)."""
        with self.lock:
            self._lifecycle(action, source, requestor, context)

    def set_local_address(self, address: str) -> None:
        """Where this server really listens; the local member's url follows it."""
        with self.lock:
            self.local_address = address
            self.revision += 1
            self._initial = (self._initial[0], self._initial[1], address)
            member = self.members.get(self.local_name)
            if member is not None:
                member.address = address

    def reset(self) -> None:
        """Back to the cluster this state was created with; operations and events cleared."""
        with self.lock:
            self.operations.clear()
            self.events.clear()
            self.configuration, self.local_modules, self.effective_modules = ConfigDocument(), (), None
            self.removed = set()
            self._build(*self._initial)

    def add_member(self, spec: MemberSpec, requestor: dict | None = None) -> dict:
        """Add a member as if it had joined (emits cluster-member-added).

        Raises:
            ApiError: 400 on a standalone server; 409 if the name is taken.
        """
        spec = MemberSpec(stored(spec.server_name), spec.address, stored(spec.architecture), stored(spec.description),
                          stored(spec.failure_domain), tuple(stored(role) for role in spec.roles), stored_map(spec.config))
        with self.lock:
            self._require_clustered("This server is not clustered: enable clustering first (PUT /1.0/cluster)", 400)
            if not spec.server_name or "/" in spec.server_name:
                raise bad_request("A member needs a server_name without slashes")
            if spec.server_name in self.members:
                raise conflict(f'The cluster already has a member with name "{spec.server_name}"')
            address = spec.address or f"127.0.0.{len(self.members) + 1}:8443"
            self.removed.discard(spec.server_name)
            self._insert(Member(spec.server_name, address, spec.architecture, spec.description,
                                spec.failure_domain, list(spec.roles), dict(spec.config)))
            self._lifecycle("cluster-member-added", self._member_source(spec.server_name), requestor)
            return self.member_to_api(spec.server_name)

    def remove_member(self, name: str, requestor: dict | None = None) -> None:
        """Drop a member without LXD's checks (as when a test removes a host)."""
        name = stored(name)
        with self.lock:
            self._get_member(name)
            self._drop_member(name)
            self._lifecycle("cluster-member-removed", self._member_source(name), requestor)

    def set_member_status(self, name: str, status: str, *, message: str | None = None,
                          since: float | None = None) -> dict:
        """Script a member's status: Online, Offline (no heartbeat for ``since`` s), Evacuated or Blocked.

        Raises:
            ApiError: 404 unknown member; 400 unknown status.
        """
        name = stored(name)
        with self.lock:
            member = self._get_member(name)
            if status == "Online":
                member.offline, member.blocked_message, member.evacuated = False, None, False
                member.heartbeat = now_utc()
            elif status == "Offline":
                try:  # before anything changes: a since too large for a date changes nothing
                    heartbeat = now_utc() - _dt.timedelta(seconds=OFFLINE_THRESHOLD if since is None else since)
                except (OverflowError, ValueError, TypeError):
                    raise bad_request(f"No heartbeat for {since!r} seconds is not a time this server can show") from None
                member.offline, member.heartbeat = True, heartbeat
            elif status == "Evacuated":
                member.offline, member.blocked_message, member.evacuated = False, None, True
            elif status == "Blocked":
                member.offline = False
                member.blocked_message = message or "Upgrade needed: this member's version is older than other members"
            else:
                raise bad_request(f'Unknown member status "{status}" (expected Online, Offline, Evacuated or Blocked)')
            self._lifecycle("cluster-member-updated", self._member_source(name), None)
            return self.member_to_api(name)

    # ---- helpers ----------------------------------------------------------------------

    def _lifecycle(self, action: str, source: str, requestor: dict | None, context: dict | None = None) -> None:
        # Every change emits a lifecycle event, so this is also where the revision moves.
        self.revision += 1
        self.events.lifecycle(action, source, requestor, context)

    @property
    def time_dependent(self) -> bool:
        """True when a read depends on the clock (an Offline member's heartbeat age)."""
        return any(member.offline for member in self.members.values())

    @staticmethod
    def _member_source(name: str) -> str:
        return lxd_url("1.0", "cluster", "members", name)

    def _require_clustered(self, message: str = NOT_CLUSTERED, status: int = 500) -> None:
        if not self.clustered:
            raise ApiError(status, message)

    def _get_member(self, name: str) -> Member:
        member = self.members.get(stored(name))
        if member is None:
            raise not_found("Cluster member not found")
        return member

    def _get_group(self, name: str) -> Group:
        group = self.groups.get(stored(name))
        if group is None:
            raise not_found("Cluster group not found")
        return group

    def _drop_member(self, name: str) -> None:
        del self.members[name]
        for group in self.groups.values():
            if name in group.members:
                group.members.remove(name)
        if name == self.local_name and self.members:
            self.local_name = next(iter(self.members))
        self._rebalance_roles()

    def member_groups(self, name: str):
        groups = [g.name for g in self.groups.values() if name in g.members]
        return groups or None  # LXD serialises a member in no group as null

    def online_addresses(self) -> list[str]:
        return [m.address for m in self.members.values() if m.status()[0] == "Online"]

    # ---- /1.0/cluster -----------------------------------------------------------------

    def cluster_to_api(self) -> dict:
        with self.lock:
            return {"server_name": self.local_name, "enabled": self.clustered, "member_config": []}

    def enable(self, server_name: str, requestor: dict | None) -> Operation:
        """Bootstrap a cluster on a standalone server (PUT /1.0/cluster enabled=true).

        Raises:
            ApiError: 400 already clustered or no server name.
        """
        with self.lock:
            if self.clustered:
                raise bad_request("This server is already clustered")
            if not server_name:
                raise bad_request("ServerName may not be empty")
            op = self.operations.start(Operation("task", "Creating bootstrap node", location="none",
                                                 resources={"cluster": None}))

        def bootstrap():
            with self.lock:
                self.clustered = True
                self.groups = {DEFAULT_GROUP: Group(DEFAULT_GROUP, "Default cluster group")}
                self.members = {}
                self._insert(Member(server_name, self.local_address))
                self.local_name = server_name
                op.location = server_name
                self._lifecycle("cluster-enabled", lxd_url("1.0", "cluster", server_name), requestor)
                self.operations.finish(op)

        self.scheduler.call_later(self.operation_delay, bootstrap)
        return op

    def disable(self, server_name: str, requestor: dict | None) -> None:
        """Leave the cluster and become standalone (PUT /1.0/cluster enabled=false)."""
        with self.lock:
            self._require_clustered(NOT_CLUSTERED, 400)
            self._lifecycle("cluster-disabled", lxd_url("1.0", "cluster", server_name), requestor)
            self.clustered, self.members, self.groups, self.local_name = False, {}, {}, ""
            self.revision += 1

    def update_certificate(self, cert_pem: str, key_pem: str, requestor: dict | None) -> None:
        """Replace the cluster certificate.

        Raises:
            ApiError: 400 if either PEM does not parse.
        """
        fingerprint = certificate.fingerprint(cert_pem)
        certificate.check_key(key_pem)
        with self.lock:
            self.certificate_pem, self.key_pem, self.fingerprint = cert_pem, key_pem, fingerprint
            self._lifecycle("cluster-certificate-updated", "/1.0/cluster/certificate", requestor)

    # ---- members ----------------------------------------------------------------------

    def member_names(self) -> list[str]:
        with self.lock:
            self._require_clustered()
            return list(self.members)

    def member_to_api(self, name: str) -> dict:
        """The ClusterMember object, in LXD's field order."""
        name = stored(name)
        with self.lock:
            member = self._get_member(name)
            status, message = member.status()
            return {
                "roles": list(member.roles), "failure_domain": member.failure_domain,
                "description": member.description, "config": sorted_map(member.config),
                "groups": self.member_groups(name), "server_name": member.server_name, "url": member.url,
                "database": member.database, "status": status, "message": message,
                "architecture": member.architecture,
            }

    def members_to_api(self) -> list[dict]:
        with self.lock:
            self._require_clustered()
            return [self.member_to_api(name) for name in self.members]

    def member_etag(self, name: str) -> str:
        name = stored(name)
        with self.lock:
            member = self.member_to_api(name)
            return etag_of({key: member[key] for key in ("roles", "failure_domain", "description", "config", "groups")})

    def update_member(self, name: str, put: dict, *, patch: bool, requestor: dict | None) -> None:
        """Apply a ClusterMemberPut (PUT replaces; PATCH merges ``config`` only, as LXD does).

        Raises:
            ApiError: 404 unknown member or group; 400 invalid roles, config, groups or failure domain.
        """
        name = stored(name)
        with self.lock:
            member = self._get_member(name)
            roles = self._validate_roles(member.roles, [stored(role) for role in put.get("roles") or []])
            config = stored_map(put.get("config") or {})
            if patch:
                config = {**member.config, **config}
            self._validate_member_config(config)
            # An empty value unsets the key (`lxc cluster unset` sends one).
            config = {key: value for key, value in config.items() if value != ""}
            groups = [stored(group) for group in put.get("groups") or []]
            if not groups:
                raise bad_request("Cluster members need to belong to at least one group")
            failure_domain = stored(put.get("failure_domain") or "")
            if not failure_domain:
                raise bad_request("Update failure domain: Failure domain name can't be empty")
            for group in groups:
                if group not in self.groups:
                    raise not_found("Update cluster groups: Failed to add member to cluster group: "
                                    "Failed to get cluster group ID: Cluster group not found")
            member.roles, member.config = roles, config
            member.description, member.failure_domain = stored(put.get("description") or ""), failure_domain
            for group in self.groups.values():
                if group.name in groups and name not in group.members:
                    group.members.append(name)
                elif group.name not in groups and name in group.members:
                    group.members.remove(name)
            self._lifecycle("cluster-member-updated", self._member_source(name), requestor)

    @staticmethod
    def _validate_roles(current: list, requested: list) -> list:
        seen = set()
        for role in requested:
            if role in seen:
                raise bad_request(f'Duplicate role "{role}" in request')
            seen.add(role)
            if role not in AUTOMATIC_ROLES and role not in MANUAL_ROLES:
                raise bad_request(f'Invalid cluster role "{role}"')
        for role in ("database", "database-standby"):
            if role in current and role not in requested:
                raise bad_request(f'The "{role}" role cannot be dropped at this time')
            if role in requested and role not in current:
                raise bad_request(f'The automatically assigned "{role}" role cannot be added manually')
        # Automatic roles are the server's to assign: keep them, take the manual ones asked for.
        return [r for r in current if r in AUTOMATIC_ROLES] + [r for r in requested if r in MANUAL_ROLES]

    @staticmethod
    def _validate_member_config(config: dict) -> None:
        for key, value in config.items():
            if key == "scheduler.instance":
                if value not in SCHEDULER_VALUES + ("",):
                    raise bad_request(f'Invalid cluster configuration key "{key}" value')
            elif not key.startswith("user."):
                raise bad_request(f'Invalid cluster configuration key "{key}"')

    def rename_member(self, name: str, new_name: str, requestor: dict | None) -> None:
        """Raises: ApiError 404 unknown; 400 empty or slashed name; 409 name taken."""
        name, new_name = stored(name), stored(new_name)
        with self.lock:
            member = self._get_member(name)
            if not new_name:
                raise bad_request("No name provided")
            if "/" in new_name:
                raise bad_request("Cluster member names may not contain slashes")
            if new_name in self.members or any(m.ident == new_name for m in self.members.values() if m is not member):
                raise conflict(f'The cluster already has a member with name "{new_name}"')
            member.server_name = new_name
            self.members = {(new_name if key == name else key): value for key, value in self.members.items()}
            for group in self.groups.values():
                group.members = [new_name if m == name else m for m in group.members]
            if self.local_name == name:
                self.local_name = new_name
            self._lifecycle("cluster-member-renamed", self._member_source(new_name), requestor, {"old_name": name})

    def delete_member(self, name: str, force: bool, requestor: dict | None) -> None:
        """Remove a member. An Offline one needs ``force``, since it cannot be told to leave.

        Raises:
            ApiError: 404 unknown; 400 only member, or offline without force.
        """
        name = stored(name)
        with self.lock:
            member = self._get_member(name)
            if len(self.members) == 1:
                raise bad_request("Member is the only member in the cluster")
            if member.offline and not force:
                raise bad_request(f'Cluster member "{name}" is offline and cannot be asked to leave: '
                                  "delete it with force=1")
            self.removed.add(member.ident)
            self._drop_member(name)
            self._lifecycle("cluster-member-removed", self._member_source(name), requestor)

    def forward_address(self, name: str) -> str | None:
        """The API address (host:port) that answers for ``name``, if not this server.

        Raises:
            ApiError: 404 unknown; 503 offline (it cannot be asked).
        """
        name = stored(name)
        if self.member_api is None:
            return None
        with self.lock:
            member = self._get_member(name)
            if name == self.local_name:
                return None
            if member.offline:
                raise ApiError(503, f'Cluster member "{name}" is offline')
        address = self.member_api(member.ident)
        if not address:
            raise ApiError(503, f'Cluster member "{name}" serves no TCP API to forward the request to')
        return address

    def member_state(self, name: str) -> dict:
        """ClusterMemberState with this host's real sysinfo.

        Raises:
            ApiError: 404 unknown; 503 offline (it cannot be asked).
        """
        name = stored(name)
        with self.lock:
            member = self._get_member(name)
            if member.offline:
                raise ApiError(503, f'Cluster member "{name}" is offline')
        if self.member_state_extra is None:
            return {"sysinfo": read_sysinfo(), "storage_pools": {}}
        extra = self.member_state_extra(member.ident)
        if extra is None:
            raise ApiError(503, f'The state of cluster member "{name}" is served by that member: '
                                f"ask its API at {member.url}")
        return {"sysinfo": read_sysinfo(), "storage_pools": {}, "pack": extra}

    def change_member_state(self, name: str, action: str, mode: str, force: bool,
                            requestor: dict | None) -> Operation:
        """Start an evacuate or restore operation; a no-op one fails, as in LXD.

        Raises:
            ApiError: 404 unknown member; 400 unknown action or mode; 503 member offline.
        """
        name = stored(name)
        with self.lock:
            member = self._get_member(name)
            if action not in ("evacuate", "restore"):
                raise bad_request(f'Unknown action "{action}"')
            modes = EVACUATE_MODES if action == "evacuate" else RESTORE_MODES
            if mode not in modes:
                raise bad_request(f'Invalid {action} mode "{mode}" (expected one of: {", ".join(m for m in modes if m)})')
            if member.offline:
                raise ApiError(503, f'Cluster member "{name}" is offline')
            description = "Evacuating cluster member" if action == "evacuate" else "Restoring cluster member"
            op = self.operations.start(Operation("task", description, location=name))

        def run():
            with self.lock:
                target = self.members.get(name)
                if target is None:
                    self.operations.finish(op, "Cluster member not found")
                elif target.evacuated == (action == "evacuate"):
                    self.operations.finish(op, f"Cluster member is already {'evacuated' if target.evacuated else 'restored'}")
                else:
                    target.evacuated = action == "evacuate"
                    self._lifecycle(f"cluster-member-{'evacuated' if target.evacuated else 'restored'}",
                                    self._member_source(name), requestor)
                    if self.after_write is None:
                        self.operations.finish(op)
                    else:  # done once the back end has made the change durable
                        self.after_write(lambda error=None: self.operations.finish(op, error))

        self.scheduler.call_later(self.operation_delay, run)
        return op

    # ---- join tokens ------------------------------------------------------------------

    def create_token(self, server_name: str, requestor: dict | None) -> Operation:
        """Create a join token operation; an older token for the same name is cancelled.

        Raises:
            ApiError: 400 standalone or reserved name; 503 no online member to join through.
        """
        with self.lock:
            self._require_clustered("This server is not clustered", 400)
            if server_name == "none":
                raise bad_request('Join token name cannot be "none"')
            addresses = self.online_addresses()
            if not addresses:
                raise ApiError(503, "There are no online cluster members")
            for op in self.operations.running("token"):
                if op.metadata.get("serverName") == server_name:
                    self.operations.cancel(op.id, requestor)
            self.removed.discard(server_name)
            expires = now_utc() + _dt.timedelta(seconds=self.token_expiry)
            metadata = {"addresses": addresses, "expiresAt": go_timestamp(expires), "fingerprint": self.fingerprint,
                        "secret": secrets.token_hex(32), "serverName": server_name}
            op = Operation("token", "Executing operation", location=self.local_name, resources={"cluster": None},
                           metadata=metadata, may_cancel=True, project="default")
            self.operations.start(op)
            self._lifecycle("cluster-token-created", "/1.0/cluster/members", requestor)
            return op

    # ---- groups -----------------------------------------------------------------------

    def _require_groups(self) -> None:
        self._require_clustered("This server is not clustered", 400)

    def group_names(self) -> list[str]:
        with self.lock:
            self._require_groups()
            return list(self.groups)

    def groups_to_api(self) -> list[dict]:
        with self.lock:
            self._require_groups()
            return [g.to_api() for g in self.groups.values()]

    def group_to_api(self, name: str) -> dict:
        name = stored(name)
        with self.lock:
            self._require_groups()
            return self._get_group(name).to_api()

    def group_etag(self, name: str) -> str:
        name = stored(name)
        with self.lock:
            return etag_of(self._get_group(name).writable())

    @staticmethod
    def _validate_group_name(name: str) -> None:
        if not name:
            raise bad_request("No name provided")
        if "/" in name:
            raise bad_request("Cluster group names may not contain slashes")

    def _check_known_members(self, members) -> None:
        for member in members or []:
            if member not in self.members:
                raise not_found("Failed to get node info: Cluster member not found")

    def create_group(self, name: str, description: str, members: list | None, requestor: dict | None) -> None:
        """Raises: ApiError 400 bad name; 409 exists; 404 unknown member (nothing created)."""
        name, description, members = stored(name), stored(description), [stored(m) for m in members or []]
        with self.lock:
            self._require_groups()
            self._validate_group_name(name)
            if name in self.groups:
                raise conflict(f'Cluster group "{name}" already exists')
            self._check_known_members(members)
            self.groups[name] = Group(name, description, list(dict.fromkeys(members or [])))
            self._lifecycle("cluster-group-created", lxd_url("1.0", "cluster", "groups", name), requestor)

    def update_group(self, name: str, description: str, members: list | None, requestor: dict | None) -> None:
        """Set a group's description and members.

        Raises:
            ApiError: 404 unknown group or member; 400 if a member would be left in no group.
        """
        name, description, members = stored(name), stored(description), [stored(m) for m in members or []]
        with self.lock:
            group = self._get_group(name)
            members = list(dict.fromkeys(members or []))
            self._check_known_members(members)
            for removed in [m for m in group.members if m not in members]:
                if all(removed not in g.members for g in self.groups.values() if g.name != name):
                    raise bad_request(f'Cannot remove "{removed}" from group as member needs to belong to at least one group')
            group.description, group.members = description, members
            self._lifecycle("cluster-group-updated", lxd_url("1.0", "cluster", "groups", name), requestor,
                            {"description": description, "members": list(members)})

    def rename_group(self, name: str, new_name: str, requestor: dict | None) -> None:
        """Raises: ApiError 403 default; 404 unknown; 400 bad name; 409 name in use."""
        name, new_name = stored(name), stored(new_name)
        with self.lock:
            if name == DEFAULT_GROUP:
                raise forbidden('The "default" group cannot be renamed')
            group = self._get_group(name)
            self._validate_group_name(new_name)
            if new_name in self.groups:
                raise conflict(f'Name "{new_name}" already in use')
            group.name = new_name
            self.groups = {(new_name if key == name else key): value for key, value in self.groups.items()}
            self._lifecycle("cluster-group-renamed", lxd_url("1.0", "cluster", "groups", new_name), requestor, {"old_name": name})

    def delete_group(self, name: str, requestor: dict | None) -> None:
        """Raises: ApiError 403 default; 404 unknown; 400 not empty."""
        name = stored(name)
        with self.lock:
            if name == DEFAULT_GROUP:
                raise forbidden("The 'default' cluster group cannot be deleted")
            group = self._get_group(name)
            if group.members:
                raise bad_request("Only empty cluster groups can be removed")
            del self.groups[name]
            self._lifecycle("cluster-group-deleted", lxd_url("1.0", "cluster", "groups", name), requestor)

    # ---- the shared configuration (our extension pack_configuration) --------------------

    def configuration_to_api(self) -> dict:
        with self.lock:
            document = self.configuration
            effective = document.modules if self.effective_modules is None else self.effective_modules
            return {"modules": modules_to_wire(document.modules), "version": document.version,
                    "term": document.term, "digest": document.digest, "local_modules": list(self.local_modules),
                    "effective": modules_to_wire(effective)}

    def configuration_etag(self) -> str:
        with self.lock:
            return etag_of({"modules": modules_to_wire(self.configuration.modules)})

    def update_configuration(self, raw_modules, *, patch: bool, requestor: dict | None) -> ConfigDocument:
        """Replace (PUT) or merge (PATCH: modules by name, null removes one) the shared modules.

        Raises:
            ApiError: 400 for a module list that is not ``[{"Name": {options}}, ...]`` or that
            names a per-member module (Pack, PackConfiguration, Api).
        """
        try:
            modules = parse_modules(raw_modules, removals=patch)
        except ModuleListError as exc:
            raise bad_request(str(exc)) from None
        with self.lock:
            if patch:
                modules = patched_modules(self.configuration.modules, modules)
            document = self.configuration.changed(modules)
            if document is not self.configuration:
                self.configuration = document
                self._lifecycle("cluster-configuration-updated", "/1.0/cluster/config", requestor,
                                self._configuration_context())
            return document

    def _configuration_context(self) -> dict:
        document = self.configuration
        return {"version": document.version, "term": document.term, "digest": document.digest}

    def set_configuration(self, document: ConfigDocument, local_modules=(), effective=None,
                          announce: bool = True) -> bool:
        """A back end applies a configuration (a pack member: the synced one, merged with its
        own file into ``effective``). Emits cluster-configuration-updated when the shared
        modules or what this member runs with changed; True if so."""
        with self.lock:
            before = (self.configuration.digest, self.effective_modules)
            self.configuration, self.local_modules = document, tuple(local_modules)
            self.effective_modules = None if effective is None else tuple(effective)
            self.revision += 1
            if (document.digest, self.effective_modules) == before or not announce:
                return False
            self._lifecycle("cluster-configuration-updated", "/1.0/cluster/config", None,
                            self._configuration_context())
            return True

    # ---- what a back end replicates (a pack daemon) -------------------------------------

    def export_shared(self) -> dict:
        """Everything API writes change, keyed by the members' idents, as JSON data."""
        with self.lock:
            members = {m.ident: {"server_name": m.server_name, "description": m.description,
                                 "failure_domain": m.failure_domain, "config": dict(sorted(m.config.items())),
                                 "roles": [r for r in m.roles if r in MANUAL_ROLES], "evacuated": m.evacuated}
                       for m in self.members.values()}
            idents = {m.server_name: m.ident for m in self.members.values()}
            groups = [{"name": g.name, "description": g.description,
                       "members": [idents[name] for name in g.members if name in idents]}
                      for g in self.groups.values()]
            tokens = [{"operation": op.id, "created_at": op.created_at, "metadata": op.metadata}
                      for op in self.operations.running("token")]
            return {"members": members, "groups": groups, "removed": sorted(self.removed), "tokens": tokens}

    def import_shared(self, shared: dict) -> None:
        """Take what the leader wrote (see export_shared), without emitting events: the
        back end emits the events the leader recorded. Members the document does not know
        yet keep their defaults; live facts (address, status, automatic roles) stay."""
        with self.lock:
            # Who we are, by pack identity, before the renames below change our name.
            local_ident = self._local_ident()
            self.removed = set(shared.get("removed", ()))
            for ident in self.removed:
                member = self.member_by_ident(ident)
                if member is not None:
                    self._drop_member(member.server_name)
            written = shared.get("members", {})
            renamed = {}
            for member in list(self.members.values()):
                entry = written.get(member.ident)
                if entry is None:
                    continue
                renamed[member.server_name] = entry["server_name"]
                member.server_name = entry["server_name"]
                member.description, member.failure_domain = entry["description"], entry["failure_domain"]
                member.config = dict(entry["config"])
                member.roles = [r for r in member.roles if r in AUTOMATIC_ROLES] + list(entry["roles"])
                member.evacuated = entry["evacuated"]
            if renamed:
                self.members = {renamed.get(key, key): value for key, value in self.members.items()}
                local = self.member_by_ident(local_ident)
                self.local_name = local.server_name if local is not None else self.local_name
            names = {m.ident: m.server_name for m in self.members.values()}
            groups = {}
            for entry in shared.get("groups", ()):
                groups[entry["name"]] = Group(entry["name"], entry["description"],
                                              [names[ident] for ident in entry["members"] if ident in names])
            if DEFAULT_GROUP in groups:
                grouped = {name for group in groups.values() for name in group.members}
                # Members the writer had not met yet belong to the default group, as on joining.
                groups[DEFAULT_GROUP].members += [m.server_name for m in self.members.values()
                                                  if m.server_name not in grouped and m.ident not in written]
                self.groups = groups
            self._import_tokens(shared.get("tokens", ()))
            self.revision += 1

    def _local_ident(self) -> str:
        member = self.members.get(self.local_name)
        return member.ident if member is not None else self.local_name

    def _import_tokens(self, tokens) -> None:
        """Show the cluster's join tokens as Running token operations here too (same ids);
        one that is gone from the document was used or revoked, and ends."""
        wanted = {token["operation"]: token for token in tokens}
        for op in self.operations.running("token"):
            if op.id not in wanted:
                self.operations.finish(op)
        known = {op.id for op in self.operations.all()}
        for op_id, token in wanted.items():
            if op_id in known:
                continue
            op = Operation("token", "Executing operation", location=self.local_name, resources={"cluster": None},
                           metadata=dict(token["metadata"]), may_cancel=True, project="default")
            op.id, op.created_at = op_id, token["created_at"]
            self.operations.start(op)

    def find_join_token(self, server_name: str) -> Operation | None:
        """The running join token for ``server_name``, if any (expired ones included)."""
        with self.lock:
            for op in self.operations.running("token"):
                if op.metadata.get("serverName") == server_name:
                    return op
            return None

    def consume_join_token(self, op: Operation) -> None:
        """A token was used to join: it ends (single use). LXD emits no event for this; the
        new member's cluster-member-added follows when it appears."""
        with self.lock:
            self.operations.finish(op)
            self.revision += 1
