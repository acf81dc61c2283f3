"""Which server the mock is: a profile per server and version (``--server``), with its API
extensions, its modes and statuses, and its answers to bad input.

Every profile answers as its server does, 500s included. For example, LXD 5.0.2 and Incus
6.0.4 answer ``500 This cluster group already exists`` to a duplicate group. A test that
expects a friendlier 409 would pass against the mock and fail against the server. The
friendlier answers exist, but only on request: :meth:`ServerProfile.friendly` returns a
profile that answers a 4xx wherever the server answers 500 for bad input.

Where each profile comes from:
- ``lxd-5.0``: captures of a real LXD 5.0.2 (``tests/golden``), checked live against the
  Debian package by ``tests/live``.
- ``incus-6.0``: checked live against Incus 6.0.4 (bookworm-backports) by ``tests/live``.
- ``lxd-5.21`` and ``lxd-6``: derived from LXD's source and its API extension history.
  ``docs/mockserver.rst`` names the source of each difference.
"""
from __future__ import annotations

import dataclasses
import json
import re
import string
from pathlib import Path
from typing import Mapping

from mockserver.errors import ApiError

# What the mock can be asked for (ApiError status, text): one name per situation of bad
# input whose answer differs between servers. Texts take str.format fields.
FRIENDLY: Mapping[str, tuple[int, str]] = {
    "group-exists": (409, 'Cluster group "{name}" already exists'),
    "group-create-unknown-member": (404, "Failed to get node info: Cluster member not found"),
    "group-rename-in-use": (409, 'Name "{name}" already in use'),
    "group-not-empty": (400, "Only empty cluster groups can be removed"),
    "group-delete-unknown": (404, "Cluster group not found"),
    "member-rename-unknown": (404, "Cluster member not found"),
    "member-config-bad-key": (400, 'Invalid cluster configuration key "{key}"'),
    "member-config-bad-value": (400, 'Invalid cluster configuration key "{key}" value'),
    "member-role-bogus": (400, 'Invalid cluster role "{role}"'),
    "member-delete-only": (400, "Member is the only member in the cluster"),
    "member-failure-domain-empty": (400, "Update failure domain: Failure domain name can't be empty"),
    "group-member-needs-group": (400, 'Cannot remove "{name}" from group as member needs to belong to at least'
                                      ' one group'),
    "token-existing-member": (409, "The cluster already has a member with name: {name}"),
    "member-rename-taken": (409, 'The cluster already has a member with name "{name}"'),
    "group-rename-unknown": (404, "Cluster group not found"),
    "group-not-found": (404, "Cluster group not found"),
}

# LXD 5.0.2's answers, as captured (tests/golden).
_LXD_50_ANSWERS = {
    "group-exists": (500, "This cluster group already exists"),
    "group-create-unknown-member": (500, "Insert nodes for cluster group: NOT NULL constraint failed: "
                                  "nodes_cluster_groups.node_id"),
    "group-rename-in-use": (500, 'Name "{name}" already in use'),
    "group-not-empty": (500, "Only empty cluster groups can be removed"),
    "group-delete-unknown": (500, "Query deleted 0 rows instead of 1"),
    "member-rename-unknown": (500, "expected to update one row, not 0"),
    "member-config-bad-key": (500, 'Invalid cluster configuration key "{key}"'),
    "member-config-bad-value": (500, 'Invalid cluster configuration key "{key}" value'),
    "member-role-bogus": (500, 'Update roles: Invalid cluster role "{role}"'),
    "member-delete-only": (500, "Member is the only member in the cluster"),
    "member-failure-domain-empty": (500, "Update failure domain: Failure domain name can't be empty"),
    "member-rename-taken": (409, "Conflict"),
    "group-rename-unknown": (500, "Query affected 0 rows instead of 1"),
    "group-not-found": (404, "Cluster group not found"),
    # 5.0.2 has no such check (members_left_groupless is "allow"): the text is 5.21's.
    "group-member-needs-group": (500, 'Cannot remove "{name}" from group as member needs to belong to at least'
                                      ' one group'),
}

# The order of GET /1.0's keys (Go serialises struct fields in declaration order):
# LXD 5.0.2's from the captures; 5.21 and 6.x add fields (shared/api/server.go at their tags).
ENVIRONMENT_50 = ("addresses", "architectures", "certificate", "certificate_fingerprint", "driver", "driver_version",
                  "firewall", "kernel", "kernel_architecture", "kernel_features", "kernel_version", "lxc_features",
                  "os_name", "os_version", "project", "server", "server_clustered", "server_event_mode",
                  "server_name", "server_pid", "server_version", "storage", "storage_version",
                  "storage_supported_drivers")
ENVIRONMENT_521 = ("addresses", "architectures", "backup_metadata_version_range", "certificate",
                   "certificate_fingerprint", "driver", "driver_version", "instance_types", "firewall", "kernel",
                   "kernel_architecture", "kernel_features", "kernel_version", "lxc_features", "os_name", "os_version",
                   "project", "server", "server_clustered", "server_event_mode", "server_name", "server_pid",
                   "server_version", "server_lts", "storage", "storage_version", "storage_supported_drivers")
SERVER_50 = ("config", "api_extensions", "api_status", "api_version", "auth", "public", "auth_methods", "environment")
SERVER_INCUS = ("config", "api_extensions", "api_status", "api_version", "auth", "public", "auth_methods",
                "auth_user_name", "auth_user_method", "environment")
SERVER_521 = ("config", "api_extensions", "api_status", "api_version", "auth", "public", "auth_methods",
              "client_certificate", "auth_user_name", "auth_user_method", "environment")

_EXTENSIONS = Path(__file__).with_name("extensions")


def _extensions(name: str) -> tuple[str, ...]:
    """A server's API extensions, in its order (``mockserver/extensions/<name>.json``)."""
    return tuple(json.loads((_EXTENSIONS / f"{name}.json").read_text())["api_extensions"])


@dataclasses.dataclass(frozen=True)
class ServerProfile:
    """What one server and version answers, where the servers differ.

    - ``answers``: for each situation of :data:`FRIENDLY`, the server's (status, text).
    - ``member_state``: ``GET /1.0/cluster/members/<name>/state`` is implemented (False: 501).
    - ``group_if_match``: a group PUT or PATCH checks If-Match (False: the ETag is ignored).
    - ``members_left_groupless``: what a group write that would leave a member in no group
      does: ``allow`` it (LXD 5.0.2), ``keep`` the member in the group silently (Incus 6.0),
      or ``refuse`` (LXD 5.21.5 and later).
    - ``enable_when_clustered``: ``PUT /1.0/cluster {"enabled": true}`` on a clustered
      server is refused at once (400), or starts an operation that fails (5.0.2).
    - ``evacuation_events`` / ``group_deleted_event``: the lifecycle events it emits.
    - ``evacuate_modes`` / ``restore_modes``: the modes it takes ("" is the default).
    - ``evacuating_statuses``: the member shows Evacuating / Restoring while it works.
    """
    name: str
    server: str                       # GET /1.0 environment.server
    version: str                      # environment.server_version
    extensions: tuple[str, ...]
    answers: Mapping[str, tuple[int, str]]
    member_state: bool
    group_if_match: bool
    enable_when_clustered: str        # "refuse" or "failing-operation"
    evacuation_events: bool
    group_deleted_event: bool
    evacuate_modes: tuple[str, ...]
    restore_modes: tuple[str, ...]
    evacuate_force: bool
    evacuating_statuses: bool = False
    members_left_groupless: str = "allow"
    group_members_sorted: bool = False     # LXD 5.0.2 lists a group's members by name
    rename_event_on_target: bool = True    # cluster-member-renamed comes from the renamed member (not 5.0.2)
    stale_name_after_rename: bool = False  # GET /1.0/cluster keeps the old server_name (5.0.2)
    operation_resources: dict | None = None   # an evacuation's resources: null (LXD) or {} (Incus)
    wait_nosniff: bool = False             # Incus sends X-Content-Type-Options on /wait replies
    # A cluster group's keys, in the server's order: LXD 5.21 and 6 put the name first and
    # add used_by (clustering_groups_used_by); LXD 5.0.2 and Incus 6.0 embed the writable
    # part first.
    group_keys: tuple[str, ...] = ("description", "members", "name")
    project_description: str = "Default LXD project"
    project_config: tuple = (("features.images", "true"), ("features.networks", "true"),
                             ("features.profiles", "true"), ("features.storage.buckets", "true"),
                             ("features.storage.volumes", "true"))
    wait_errors_as_envelope: bool = False  # Incus: /wait answers 200 with an error envelope (timeout, failure)
    token_for_existing_member: bool = True  # LXD grants a join token for a member's own name; Incus refuses
    evacuate_mode_check: str = "lenient"   # "ignore" (5.0.2), "lenient" (checked per instance: none here), "strict"
    restore_mode_check: str = "ignore"     # "ignore", or "skip-only" (400 for any other)
    leader_roles: tuple[str, ...] = ("database-leader", "database")
    voter_role: str = "database"
    manual_roles: tuple[str, ...] = ("event-hub", "ovn-chassis")
    environment_keys: tuple[str, ...] = ENVIRONMENT_50
    server_keys: tuple[str, ...] = SERVER_50
    source: str = ""
    friendly_errors: bool = False

    def refuse(self, situation: str, **values: str) -> ApiError:
        """The ApiError this server answers in ``situation``."""
        status, text = self.answers[situation]
        return ApiError(status, text.format(**values))

    def friendly(self) -> ServerProfile:
        """This profile, answering a 4xx where the server answers 500 for bad input."""
        return dataclasses.replace(self, name=f"{self.name}+friendly", answers=dict(FRIENDLY), friendly_errors=True,
                                   enable_when_clustered="refuse")

    def has(self, extension: str) -> bool:
        return extension in self.extensions

    def answers_so(self, status: int, text: str) -> bool:
        """True if (``status``, ``text``) is one of this server's own answers to bad input
        (how a test tells the server's faithful 500s from a crash)."""
        return any(own_status == status and _template_matches(template, text)
                   for own_status, template in self.answers.values())


def _template_matches(template: str, text: str) -> bool:
    """``text`` is ``template`` with its ``{fields}`` filled in."""
    pattern = "".join(re.escape(literal) + (".*" if field is not None else "")
                      for literal, field, _, _ in string.Formatter().parse(template))
    return re.fullmatch(pattern, text, re.DOTALL) is not None


# LXD 5.21.7's answers (canonical/lxd at tag lxd-5.21.7; docs/mockserver.rst names the change
# behind each).
_LXD_521_ANSWERS = {
    **_LXD_50_ANSWERS,
    "group-exists": (409, 'Cluster group "{name}" already exists'),
    "group-create-unknown-member": (404, "Failed to get node info: Cluster member not found"),
    "group-not-empty": (400, "Only empty cluster groups can be removed"),
    "group-delete-unknown": (404, "ClusterGroup not found"),
    "member-rename-unknown": (404, "Cluster member not found"),
}
# LXD 6.9's (tag lxd-6.9): member configuration and roles are checked as bad input (6.7).
_LXD_6_ANSWERS = {
    **_LXD_521_ANSWERS,
    "group-create-unknown-member": (404, "Failed getting node info: Cluster member not found"),
    "member-config-bad-key": (400, 'Invalid cluster configuration key "{key}"'),
    "member-config-bad-value": (400, 'Invalid cluster configuration key "{key}" value'),
    "member-role-bogus": (400, 'Invalid cluster role "{role}"'),
    "member-failure-domain-empty": (500, "Update failure domain: Failure domain name cannot be empty"),
}

# Incus 6.0.4's, as the live suite saw them (tests/golden/live/incus-6.0).
_INCUS_60_ANSWERS = {
    **_LXD_50_ANSWERS,
    "group-exists": (500, 'Failed to create "cluster_groups" entry: UNIQUE constraint failed: cluster_groups.name'),
    "group-create-unknown-member": (500, 'Failed to create "nodes_clusters_groups" entry: NOT NULL constraint'
                                         ' failed: nodes_cluster_groups.node_id'),
    "group-delete-unknown": (404, "Cluster_group not found"),
    "group-not-found": (404, "Cluster_group not found"),
    "member-rename-unknown": (404, "Cluster member not found"),
    "token-existing-member": (500, "The cluster already has a member with name: {name}"),
}


def _profiles() -> dict[str, ServerProfile]:
    lxd_50 = ServerProfile(
        name="lxd-5.0", server="lxd", version="5.0.2", extensions=_extensions("lxd-5.0"),
        answers=_LXD_50_ANSWERS, member_state=False, group_if_match=False,
        enable_when_clustered="failing-operation", evacuation_events=False, group_deleted_event=False,
        evacuate_modes=("", "auto", "stop", "migrate", "live-migrate"), restore_modes=("",), evacuate_force=False,
        evacuate_mode_check="ignore", restore_mode_check="ignore", group_members_sorted=True,
        rename_event_on_target=False, stale_name_after_rename=True,
        project_config=(("features.images", "true"), ("features.networks", "true"), ("features.profiles", "true"),
                        ("features.storage.volumes", "true")),
        source="captures of LXD 5.0.2 (tests/golden), checked live")
    lxd_521 = dataclasses.replace(
        lxd_50, name="lxd-5.21", version="5.21.7", extensions=_extensions("lxd-5.21"), answers=_LXD_521_ANSWERS,
        member_state=True, members_left_groupless="refuse", evacuation_events=True,
        group_deleted_event=True, group_members_sorted=False, rename_event_on_target=True,
        stale_name_after_rename=False,
        project_config=(("features.images", "true"), ("features.networks", "true"), ("features.profiles", "true"),
                        ("features.storage.buckets", "true"), ("features.storage.volumes", "true")),
        evacuate_modes=("", "stop", "migrate", "live-migrate"), restore_modes=("", "skip"),
        group_keys=("name", "description", "members", "used_by"),
        evacuate_mode_check="lenient", restore_mode_check="skip-only",
        environment_keys=ENVIRONMENT_521, server_keys=SERVER_521,
        source="derived: canonical/lxd at tag lxd-5.21.7 (docs/mockserver.rst)")
    lxd_6 = dataclasses.replace(
        lxd_521, name="lxd-6", version="6.9", extensions=_extensions("lxd-6"), answers=_LXD_6_ANSWERS,
        evacuate_force=True, leader_roles=("database-leader",), voter_role="database-voter",
        manual_roles=("ovn-chassis", "control-plane"),
        source="derived: canonical/lxd at tag lxd-6.9 (docs/mockserver.rst)")
    incus_60 = dataclasses.replace(
        lxd_50, name="incus-6.0", server="incus", version="6.0.4", extensions=_extensions("incus-6.0"),
        member_state=True, evacuation_events=True, group_deleted_event=False, members_left_groupless="keep",
        group_members_sorted=False, rename_event_on_target=True, stale_name_after_rename=False,
        operation_resources={}, wait_nosniff=True, project_description="Default Incus project",
        project_config=(("features.images", "true"), ("features.networks", "true"),
                        ("features.networks.zones", "true"), ("features.profiles", "true"),
                        ("features.storage.buckets", "true"), ("features.storage.volumes", "true")),
        evacuate_modes=("", "auto", "migrate", "live-migrate", "stop", "stateful-stop", "force-stop"),
        evacuate_mode_check="strict", restore_mode_check="ignore", server_keys=SERVER_INCUS,
        wait_errors_as_envelope=True, token_for_existing_member=False,
        answers=_INCUS_60_ANSWERS,
        source="Incus 6.0.4 (bookworm-backports), checked live")
    return {profile.name: profile for profile in (lxd_50, lxd_521, lxd_6, incus_60)}


PROFILES: dict[str, ServerProfile] = _profiles()
DEFAULT = "lxd-5.21"   # the current LTS: what most users run (docs/mockserver.rst)


def profile(name: str, *, friendly: bool = False) -> ServerProfile:
    """The profile called ``name`` (``lxd-5.0``, ...), friendlier if asked.

    Raises:
        ValueError: an unknown name (the known ones named).
    """
    try:
        chosen = PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown server profile {name!r}; known: {', '.join(PROFILES)}") from None
    return chosen.friendly() if friendly else chosen
