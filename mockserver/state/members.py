"""Cluster members: what LXD keeps of each, its status, and the rules of
/1.0/cluster/members (update, rename, delete, evacuate and restore)."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from mockserver.errors import ApiError, bad_request, conflict, not_found, not_implemented
from mockserver.state.groups import DEFAULT_GROUP
from mockserver.state.names import stored, stored_map
from mockserver.state.operations import Operation
from mockserver.state.sysinfo import read_sysinfo
from mockserver.wire import etag_of, go_duration, go_time_string, lxd_url, now_utc, sorted_map

# Every server's automatic roles (LXD 6.7 renamed "database" to "database-voter"), and the
# manual roles of LXD 5.x and Incus (each profile says which it takes).
AUTOMATIC_ROLES = ("database-leader", "database", "database-voter", "database-standby")
MANUAL_ROLES = ("event-hub", "ovn-chassis", "control-plane")
SCHEDULER_VALUES = ("all", "manual", "group")
MAX_VOTERS, MAX_STANDBYS = 3, 2
OFFLINE_THRESHOLD = 20.0  # seconds; LXD's cluster.offline_threshold default


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


class MemberRules:
    """ClusterState's members (a part of ClusterState; see cluster.py for the attributes)."""

    def _insert(self, member: Member) -> None:
        self.members[member.server_name] = member
        self.groups[DEFAULT_GROUP].members.append(member.server_name)
        if self.backend.orders_by_ident:
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
        if self.backend.assigns_roles:
            return
        count = len(self.members)
        voters = MAX_VOTERS if count >= MAX_VOTERS else 1
        profile = self.profile
        ordered = list(self.members.values())
        chosen = self.scripted_leader
        if chosen is not None and any(member is chosen for member in ordered):
            # set_leader: the chosen member leads, the others keep their order behind it.
            ordered = [chosen] + [member for member in ordered if member is not chosen]
        for index, member in enumerate(ordered):
            manual = [r for r in member.roles if r not in AUTOMATIC_ROLES]
            if index == 0:
                automatic = list(profile.leader_roles)
            elif index < voters:
                automatic = [profile.voter_role]
            elif index < voters + MAX_STANDBYS:
                automatic = ["database-standby"]
            else:
                automatic = []
            member.roles, member.database = automatic + manual, bool(automatic)

    def add_member(self, spec: MemberSpec, requestor: dict | None = None) -> dict:
        """Add a member as if it had joined (emits cluster-member-added).

        Raises:
            ApiError: 400 on a standalone server; 409 if the name is taken.
        """
        spec = MemberSpec(
            stored(spec.server_name),
            spec.address,
            stored(spec.architecture),
            stored(spec.description),
            stored(spec.failure_domain),
            tuple(stored(role) for role in spec.roles),
            stored_map(spec.config),
        )
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
                    raise bad_request(
                        f"No heartbeat for {since!r} seconds is not a time this server can show"
                    ) from None
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

    def set_leader(self, name: str) -> dict:
        """Script a leader election: ``name`` takes the leader's roles (``database-leader``),
        the previous leader becomes a voter, as after LXD's database elects another member.
        The choice holds until another ``set_leader``, the member's removal, or a reset.

        Raises:
            ApiError: 404 unknown member; 400 an Offline member (it cannot lead), or a back
                end that elects its own leader (a pack daemon).
        """
        name = stored(name)
        with self.lock:
            self._require_clustered()
            member = self._get_member(name)
            if self.backend.assigns_roles:
                raise bad_request("The leader is elected by this server's back end, not scripted")
            if member.offline:
                raise bad_request(f'Cluster member "{name}" is offline and cannot lead')
            self.scripted_leader = member
            self._rebalance_roles()
            self._lifecycle("cluster-member-updated", self._member_source(name), None)
            return self.member_to_api(name)

    @staticmethod
    def _member_source(name: str) -> str:
        return lxd_url("1.0", "cluster", "members", name)

    def _get_member(self, name: str) -> Member:
        member = self.members.get(stored(name))
        if member is None:
            raise not_found("Cluster member not found")
        return member

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
                raise self.profile.refuse("member-failure-domain-empty")
            for group in groups:
                if group not in self.groups:
                    status, text = self.profile.answers["group-not-found"]
                    raise ApiError(status, "Update cluster groups: Failed to add member to cluster group: "
                                           f"Failed to get cluster group ID: {text}")
            member.roles, member.config = roles, config
            member.description, member.failure_domain = stored(put.get("description") or ""), failure_domain
            for group in self.groups.values():
                if group.name in groups and name not in group.members:
                    group.members.append(name)
                elif group.name not in groups and name in group.members:
                    group.members.remove(name)
            self._lifecycle("cluster-member-updated", self._member_source(name), requestor)

    def _validate_roles(self, current: list, requested: list) -> list:
        seen = set()
        for role in requested:
            if role in seen:
                raise bad_request(f'Duplicate role "{role}" in request')
            seen.add(role)
            if role not in AUTOMATIC_ROLES and role not in self.profile.manual_roles:
                raise self.profile.refuse("member-role-bogus", role=role)
        for role in (self.profile.voter_role, "database-standby"):
            if role in current and role not in requested:
                raise bad_request(f'The "{role}" role cannot be dropped at this time')
            if role in requested and role not in current:
                raise bad_request(f'The automatically assigned "{role}" role cannot be added manually')
        # Automatic roles are the server's to assign: keep them, take the manual ones asked for.
        return [r for r in current if r in AUTOMATIC_ROLES] + [r for r in requested if r in self.profile.manual_roles]

    def _validate_member_config(self, config: dict) -> None:
        for key, value in config.items():
            if key == "scheduler.instance":
                if value not in SCHEDULER_VALUES + ("",):
                    raise self.profile.refuse("member-config-bad-value", key=key)
            elif not key.startswith("user."):
                raise self.profile.refuse("member-config-bad-key", key=key)

    def rename_member(self, name: str, new_name: str, requestor: dict | None) -> None:
        """Raises: ApiError 404 unknown; 400 empty or slashed name; 409 name taken."""
        name, new_name = stored(name), stored(new_name)
        with self.lock:
            if name not in self.members:
                raise self.profile.refuse("member-rename-unknown")
            member = self.members[name]
            if not new_name:
                raise bad_request("No name provided")
            if "/" in new_name:
                raise bad_request("Cluster member names may not contain slashes")
            if new_name in self.members or any(m.ident == new_name for m in self.members.values() if m is not member):
                raise self.profile.refuse("member-rename-taken", name=new_name)
            member.server_name = new_name
            self.members = {(new_name if key == name else key): value for key, value in self.members.items()}
            for group in self.groups.values():
                group.members = [new_name if m == name else m for m in group.members]
            if self.local_name == name:
                if self.profile.stale_name_after_rename and self.stale_local_name is None:
                    self.stale_local_name = name   # LXD 5.0.2 goes on calling itself by the old name
                self.local_name = new_name
            self._lifecycle("cluster-member-renamed", self._member_source(new_name), requestor, {"old_name": name},
                            location=new_name if self.profile.rename_event_on_target else None)

    def delete_member(self, name: str, force: bool, requestor: dict | None) -> None:
        """Remove a member. An Offline one needs ``force``, since it cannot be told to leave.

        Raises:
            ApiError: 404 unknown; 400 only member, or offline without force.
        """
        name = stored(name)
        with self.lock:
            member = self._get_member(name)
            if len(self.members) == 1:
                raise self.profile.refuse("member-delete-only")
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
        if not self.backend.members_elsewhere:
            return None
        with self.lock:
            member = self._get_member(name)
            if name == self.local_name:
                return None
            if member.offline:
                raise ApiError(503, f'Cluster member "{name}" is offline')
        address = self.backend.member_api(member.ident)
        if not address:
            raise ApiError(503, f'Cluster member "{name}" serves no TCP API to forward the request to')
        return address

    def member_state(self, name: str) -> dict:
        """ClusterMemberState with this host's real sysinfo.

        Raises:
            ApiError: 404 unknown; 503 offline (it cannot be asked).
        """
        if not self.profile.member_state:
            raise not_implemented()
        name = stored(name)
        with self.lock:
            member = self._get_member(name)
            if member.offline:
                raise ApiError(503, f'Cluster member "{name}" is offline')
        sysinfo = read_sysinfo()
        if not self.profile.has("state_logical_cpus"):   # LXD 5.21 and 6 have it, Incus 6.0 not
            del sysinfo["logical_cpus"]
        if not self.backend.members_elsewhere:
            return {"sysinfo": sysinfo, "storage_pools": {}}
        extra = self.backend.member_state(member.ident)
        if extra is None:
            raise ApiError(503, f'The state of cluster member "{name}" is served by that member: '
                                f"ask its API at {member.url}")
        return {"sysinfo": sysinfo, "storage_pools": {}, "pack": extra}

    def _check_mode(self, action: str, mode: str) -> None:
        """As the profile's server checks an evacuate or restore mode. LXD 5.0.2 ignores it;
        LXD 5.21 and 6 check an evacuation mode per instance (this mock has none) and allow
        only ``skip`` to restore; Incus checks evacuation modes at once.

        Raises:
            ApiError: 400 for a mode the server refuses up front.
        """
        profile = self.profile
        if action == "evacuate" and profile.evacuate_mode_check == "strict" and mode not in profile.evacuate_modes:
            known = " ".join(m for m in profile.evacuate_modes if m)
            raise bad_request(f'Invalid value "{mode}" (not one of [{known}])')     # Incus's validator's words
        if action == "restore" and profile.restore_mode_check == "skip-only" and mode not in profile.restore_modes:
            raise bad_request(f'Invalid mode: "{mode}"')

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
            self._check_mode(action, mode)
            if member.offline:
                raise ApiError(503, f'Cluster member "{name}" is offline')
            description = "Evacuating cluster member" if action == "evacuate" else "Restoring cluster member"
            resources = self.profile.operation_resources
            op = self.operations.start(Operation("task", description, location=name,
                                                 resources=None if resources is None else dict(resources)))

        def run():
            with self.lock:
                target = self.members.get(name)
                if target is None:
                    self.operations.finish(op, "Cluster member not found")
                elif target.evacuated == (action == "evacuate"):
                    self.operations.finish(
                        op, f"Cluster member is already {'evacuated' if target.evacuated else 'restored'}"
                    )
                else:
                    target.evacuated = action == "evacuate"
                    self._lifecycle(f"cluster-member-{'evacuated' if target.evacuated else 'restored'}",
                                    self._member_source(name), requestor, emit=self.profile.evacuation_events,
                                    location=name)
                    # Done once the back end has made the change durable.
                    self.backend.after_write(lambda error=None: self.operations.finish(op, error))

        self.scheduler.call_later(self.operation_delay, run)
        return op
