"""The request sequence of the live differential suite (tests/live/test_differential.py).

One sequence, the same for every server: it walks every route the mock serves
(mockserver/api/server.py ``build_router``) in an order that builds state as a user would,
then undoes what it changed, so that it can run again on the same cluster. Every request
goes to node1's unix socket; the clusters have two members, node1 (the database leader)
and node2.

Each :class:`Step` has a name, unique and safe as a file name: the recorded reply is
``tests/golden/live/<profile>/<name>.json``. A path or header may refer to an earlier
step's reply: ``{op:STEP}`` is the operation id STEP's reply named, ``{etag:STEP}`` the
ETag header it carried (quotes included). Where the earlier step gave none on a side (a
server that refused at once instead of starting an operation), that side skips the step.

What the sequence leaves out, on purpose:

- deleting a member and disabling clustering: they break the cluster for later steps (and
  deleting the only member is impossible with two);
- instances, images, storage, networks, profiles: the mock does not serve them;
- listing operations after an operation ended or was cancelled: a real server keeps
  finished operations for about 5 s, so such a list depends on timing; lists are taken
  while only running token operations exist.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Step", "SEQUENCE", "SENTINEL", "NOBODY", "check_sequence", "uncovered_routes"]

NOBODY: Any = None

#: ``{op:STEP}`` and ``{etag:STEP}`` in a path or header value.
REFERENCE = re.compile(r"\{(op|etag):([a-z0-9_]+)\}")
NAME = re.compile(r"[a-z0-9_]+")
WAIT = "?timeout=60"   # seconds a /wait may take: operations here end in well under one


@dataclass(frozen=True)
class Step:
    """One request. ``body``: JSON data, or ``bytes`` sent as they are (bad JSON);
    None sends no body. ``unordered``: the reply's lists have no defined order (the
    operations lists, a Go map): they are compared sorted."""

    name: str
    method: str
    path: str
    body: Any = NOBODY
    headers: dict[str, str] = field(default_factory=dict)
    unordered: bool = False
    note: str = ""

    def references(self) -> list[tuple[str, str]]:
        """The (kind, step) pairs this step's path and headers refer to."""
        text = self.path + "".join(self.headers.values())
        return REFERENCE.findall(text)


def get(name: str, path: str, **kw: Any) -> Step:
    return Step(name, "GET", path, **kw)


def put(name: str, path: str, body: Any, **kw: Any) -> Step:
    return Step(name, "PUT", path, body, **kw)


def patch(name: str, path: str, body: Any, **kw: Any) -> Step:
    return Step(name, "PATCH", path, body, **kw)


def post(name: str, path: str, body: Any, **kw: Any) -> Step:
    return Step(name, "POST", path, body, **kw)


def delete(name: str, path: str, **kw: Any) -> Step:
    return Step(name, "DELETE", path, **kw)


def wait(name: str, of: str) -> Step:
    """Wait for the operation that step ``of`` started."""
    return get(name, f"/1.0/operations/{{op:{of}}}/wait{WAIT}")


MEMBERS = "/1.0/cluster/members"
GROUPS = "/1.0/cluster/groups"
NODE1 = f"{MEMBERS}/node1"
NODE2 = f"{MEMBERS}/node2"
UNKNOWN_OP = "/1.0/operations/00000000-0000-0000-0000-000000000000"

# node1 is the database leader: its roles as a client sends them back.
NODE1_ROLES = ["database"]


def node1_put(**changes: Any) -> dict:
    """A full ClusterMemberPut for node1 (its baseline, with ``changes``)."""
    body = {"description": "", "config": {}, "failure_domain": "default", "groups": ["default"],
            "roles": NODE1_ROLES}
    body.update(changes)
    return body


SEQUENCE: list[Step] = [
    # ---- the server ------------------------------------------------------------------------
    get("root", "/"),
    get("server", "/1.0"),
    get("cluster", "/1.0/cluster"),
    get("projects", "/1.0/projects"),
    get("projects_recursion1", "/1.0/projects?recursion=1"),
    get("project_default", "/1.0/projects/default"),
    get("project_unknown", "/1.0/projects/nope"),
    get("operations_none", "/1.0/operations", unordered=True),

    # ---- members: reading ------------------------------------------------------------------
    get("members", MEMBERS),
    get("members_recursion0", f"{MEMBERS}?recursion=0"),
    get("members_recursion1", f"{MEMBERS}?recursion=1"),
    get("members_recursion2", f"{MEMBERS}?recursion=2"),
    get("members_filter_recursion1", f"{MEMBERS}?recursion=1&filter=server_name+eq+node2"),
    get("members_filter_names", f"{MEMBERS}?filter=server_name+eq+node1"),
    get("members_filter_none", f"{MEMBERS}?recursion=1&filter=server_name+eq+nope"),
    get("member_node1", NODE1),
    get("member_node2", NODE2),
    get("member_unknown", f"{MEMBERS}/nope"),
    get("member_state_node1", f"{NODE1}/state"),
    get("member_state_node2", f"{NODE2}/state"),
    get("member_state_unknown", f"{MEMBERS}/nope/state"),

    # ---- join tokens (first: no operation has ended yet, so the lists are stable) -----------
    post("token_node3", MEMBERS, {"server_name": "node3"}),
    get("operations_one_token", "/1.0/operations", unordered=True),
    get("operations_one_token_recursion1", "/1.0/operations?recursion=1", unordered=True),
    get("token_node3_operation", "/1.0/operations/{op:token_node3}"),
    get("token_node3_wait_timeout1", "/1.0/operations/{op:token_node3}/wait?timeout=1"),
    post("token_existing_member", MEMBERS, {"server_name": "node2"}),
    post("token_no_name", MEMBERS, {}),
    post("token_bad_json", MEMBERS, b"{bad"),
    get("operations_tokens", "/1.0/operations", unordered=True),
    post("token_node3_again", MEMBERS, {"server_name": "node3"},
         note="a second token for a name cancels the first"),
    get("token_node3_after_again", "/1.0/operations/{op:token_node3}"),
    delete("token_node3_again_delete", "/1.0/operations/{op:token_node3_again}"),
    get("token_node3_again_after_delete", "/1.0/operations/{op:token_node3_again}"),
    delete("token_node3_again_delete_twice", "/1.0/operations/{op:token_node3_again}"),
    delete("token_existing_member_delete", "/1.0/operations/{op:token_existing_member}"),
    delete("token_no_name_delete", "/1.0/operations/{op:token_no_name}"),
    get("operation_unknown", UNKNOWN_OP),
    get("operation_unknown_wait", f"{UNKNOWN_OP}/wait?timeout=1"),
    delete("operation_unknown_delete", UNKNOWN_OP),

    # ---- members: writing ------------------------------------------------------------------
    put("member_node1_put", NODE1, node1_put(description="first member", config={"user.rack": "r1"},
                                            failure_domain="fd1")),
    get("member_node1_after_put", NODE1),
    patch("member_node1_patch_config", NODE1, node1_put(description="first member", config={"user.row": "7"},
                                                       failure_domain="fd1")),
    get("member_node1_after_patch_config", NODE1),
    patch("member_node1_patch_description_only", NODE1, {"description": "only a description"}),
    get("member_node1_after_patch_description_only", NODE1),
    patch("member_node1_patch_no_failure_domain", NODE1,
          {"description": "x", "roles": NODE1_ROLES, "groups": ["default"]}),
    get("member_node1_after_patch_no_failure_domain", NODE1),
    put("member_node1_config_bad_key", NODE1, node1_put(config={"bogus.key": "1"})),
    put("member_node1_config_bad_value", NODE1, node1_put(config={"scheduler.instance": "sometimes"})),
    put("member_node1_config_scheduler", NODE1, node1_put(config={"scheduler.instance": "manual"})),
    put("member_node1_role_bogus", NODE1, node1_put(roles=["database", "bogus-role"])),
    put("member_node1_groups_unknown", NODE1, node1_put(groups=["nogroup"])),
    put("member_node1_bad_json", NODE1, b'{"description":'),
    put("member_node1_wrong_type", NODE1, {"description": 5}),
    put("member_unknown_put", f"{MEMBERS}/nope", node1_put()),
    patch("member_unknown_patch", f"{MEMBERS}/nope", {"description": "x"}),
    delete("member_unknown_delete", f"{MEMBERS}/nope"),
    put("member_node2_put", NODE2, {"description": "second member", "config": {"user.rack": "r2"},
                                    "failure_domain": "fd2", "groups": ["default"],
                                    "roles": ["database-standby"]}),
    get("member_node2_after_put", NODE2),
    put("member_node1_reset", NODE1, node1_put()),
    get("member_node1_after_reset", NODE1),

    # ---- members: ETags ---------------------------------------------------------------------
    get("member_node1_etag", NODE1),
    put("member_node1_if_match", NODE1, node1_put(description="etag"),
        headers={"If-Match": "{etag:member_node1_etag}"}),
    put("member_node1_if_match_stale", NODE1, node1_put(), headers={"If-Match": "{etag:member_node1_etag}"}),
    put("member_node1_if_match_wrong", NODE1, node1_put(), headers={"If-Match": '"deadbeef"'}),
    patch("member_node1_patch_if_match_wrong", NODE1, node1_put(), headers={"If-Match": '"deadbeef"'}),
    get("member_node1_etag_fresh", NODE1),
    patch("member_node1_patch_if_match_fresh", NODE1, node1_put(description="etag"),
          headers={"If-Match": "{etag:member_node1_etag_fresh}"}),
    get("member_node1_after_if_match", NODE1),
    put("member_node1_reset_after_etag", NODE1, node1_put()),

    # ---- members: renaming -----------------------------------------------------------------
    post("member_node2_rename", NODE2, {"server_name": "node2b"}),
    get("members_after_rename", MEMBERS),
    get("member_node2_after_rename", NODE2),
    get("member_node2b", f"{MEMBERS}/node2b"),
    post("member_node2b_rename_to_existing", f"{MEMBERS}/node2b", {"server_name": "node1"}),
    post("member_unknown_rename", f"{MEMBERS}/nope", {"server_name": "x"}),
    post("member_node2b_rename_back", f"{MEMBERS}/node2b", {"server_name": "node2"}),
    post("member_node1_rename", NODE1, {"server_name": "node1b"}),
    get("cluster_after_own_rename", "/1.0/cluster"),
    post("member_node1b_rename_back", f"{MEMBERS}/node1b", {"server_name": "node1"}),
    get("members_recursion1_after_renames", f"{MEMBERS}?recursion=1"),

    # ---- members: evacuation ---------------------------------------------------------------
    post("member_state_bogus_action", f"{NODE2}/state", {"action": "bogus"}),
    post("member_state_no_action", f"{NODE2}/state", {}),
    post("member_state_bad_json", f"{NODE2}/state", b"{x"),
    post("member_state_unknown_evacuate", f"{MEMBERS}/nope/state", {"action": "evacuate"}),
    post("evacuate_node2", f"{NODE2}/state", {"action": "evacuate"}),
    wait("evacuate_node2_wait", "evacuate_node2"),
    get("member_node2_evacuated", NODE2),
    get("members_recursion1_evacuated", f"{MEMBERS}?recursion=1"),
    get("member_state_node2_evacuated", f"{NODE2}/state"),
    post("evacuate_node2_again", f"{NODE2}/state", {"action": "evacuate"}),
    wait("evacuate_node2_again_wait", "evacuate_node2_again"),
    post("restore_node2", f"{NODE2}/state", {"action": "restore"}),
    wait("restore_node2_wait", "restore_node2"),
    get("member_node2_restored", NODE2),
    post("restore_node2_again", f"{NODE2}/state", {"action": "restore"}),
    wait("restore_node2_again_wait", "restore_node2_again"),
    post("evacuate_node2_bogus_mode", f"{NODE2}/state", {"action": "evacuate", "mode": "bogus"}),
    wait("evacuate_node2_bogus_mode_wait", "evacuate_node2_bogus_mode"),
    post("restore_node2_after_bogus_mode", f"{NODE2}/state", {"action": "restore"},
         note="puts node2 back if the bogus mode was ignored (else fails: already restored)"),
    wait("restore_node2_after_bogus_mode_wait", "restore_node2_after_bogus_mode"),
    post("evacuate_node1", f"{NODE1}/state", {"action": "evacuate"}),
    wait("evacuate_node1_wait", "evacuate_node1"),
    get("member_node1_evacuated", NODE1),
    post("restore_node1", f"{NODE1}/state", {"action": "restore"}),
    wait("restore_node1_wait", "restore_node1"),
    get("members_recursion1_restored", f"{MEMBERS}?recursion=1"),

    # ---- groups ----------------------------------------------------------------------------
    get("groups", GROUPS),
    get("groups_recursion0", f"{GROUPS}?recursion=0"),
    get("groups_recursion1", f"{GROUPS}?recursion=1"),
    get("group_default", f"{GROUPS}/default"),
    get("group_unknown", f"{GROUPS}/nope"),
    put("group_default_put_no_members", f"{GROUPS}/default", {"description": "Default cluster group", "members": []}),
    get("group_default_after_no_members", f"{GROUPS}/default"),
    get("members_recursion1_after_default_emptied", f"{MEMBERS}?recursion=1"),
    put("group_default_put_restore", f"{GROUPS}/default",
        {"description": "Default cluster group", "members": ["node1", "node2"]}),
    get("group_default_after_restore", f"{GROUPS}/default"),
    post("group_g1_create", GROUPS, {"name": "g1", "description": "first group", "members": ["node1"]}),
    get("group_g1", f"{GROUPS}/g1"),
    get("groups_after_create", GROUPS),
    get("groups_recursion1_after_create", f"{GROUPS}?recursion=1"),
    get("member_node1_in_g1", NODE1),
    post("group_create_duplicate", GROUPS, {"name": "g1", "description": "again", "members": ["node1"]}),
    post("group_create_unknown_member", GROUPS, {"name": "g2", "description": "", "members": ["nope"]}),
    get("group_g2_after_failed_create", f"{GROUPS}/g2"),
    post("group_create_no_name", GROUPS, {"description": "x"}),
    post("group_create_slash", GROUPS, {"name": "bad/name"}),
    post("group_create_bad_json", GROUPS, b"{"),
    post("group_g2_create", GROUPS, {"name": "g2"}),
    get("group_g2", f"{GROUPS}/g2"),
    put("group_g2_put", f"{GROUPS}/g2", {"description": "second group", "members": ["node2"]}),
    get("group_g2_after_put", f"{GROUPS}/g2"),
    patch("group_g2_patch_description", f"{GROUPS}/g2", {"description": "patched"}),
    get("group_g2_after_patch", f"{GROUPS}/g2"),
    patch("group_g2_patch_empty", f"{GROUPS}/g2", {}),
    get("group_g2_after_patch_empty", f"{GROUPS}/g2"),
    put("group_g2_put_unknown_member", f"{GROUPS}/g2", {"description": "x", "members": ["nope"]}),
    put("group_unknown_put", f"{GROUPS}/nope", {"description": "x", "members": []}),
    get("group_g2_etag", f"{GROUPS}/g2"),
    put("group_g2_put_if_match", f"{GROUPS}/g2", {"description": "etag", "members": ["node2"]},
        headers={"If-Match": "{etag:group_g2_etag}"}),
    put("group_g2_put_if_match_wrong", f"{GROUPS}/g2", {"description": "etag2", "members": ["node2"]},
        headers={"If-Match": '"bad"'}),
    patch("group_g2_patch_if_match_wrong", f"{GROUPS}/g2", {"description": "etag3"},
          headers={"If-Match": '"bad"'}),
    patch("group_g2_patch_if_match_stale", f"{GROUPS}/g2", {"description": "etag4"},
          headers={"If-Match": "{etag:group_g2_etag}"}),
    get("group_g2_etag_fresh", f"{GROUPS}/g2"),
    patch("group_g2_patch_if_match_fresh", f"{GROUPS}/g2", {"description": "etag2"},
          headers={"If-Match": "{etag:group_g2_etag_fresh}"},
          note="the ETag just read; the description unchanged, so that a refusal changes nothing either"),
    get("group_g2_after_if_match", f"{GROUPS}/g2"),
    put("member_node1_in_g2", NODE1, node1_put(groups=["default", "g1", "g2"])),
    get("member_node1_groups", NODE1),
    get("group_g2_with_node1", f"{GROUPS}/g2"),
    post("group_g2_rename", f"{GROUPS}/g2", {"name": "g3"}),
    get("group_g2_after_rename", f"{GROUPS}/g2"),
    get("group_g3", f"{GROUPS}/g3"),
    get("member_node1_after_group_rename", NODE1),
    post("group_g3_rename_to_existing", f"{GROUPS}/g3", {"name": "g1"}),
    post("group_default_rename", f"{GROUPS}/default", {"name": "dflt"}),
    post("group_unknown_rename", f"{GROUPS}/nope", {"name": "nope2"}),
    delete("group_default_delete", f"{GROUPS}/default"),
    delete("group_g1_delete_not_empty", f"{GROUPS}/g1"),
    delete("group_unknown_delete", f"{GROUPS}/nope"),
    put("member_node1_out_of_groups", NODE1, node1_put()),
    put("group_g1_put_empty", f"{GROUPS}/g1", {"description": "", "members": []}),
    patch("group_g3_patch_no_members", f"{GROUPS}/g3", {"members": []}),
    get("groups_recursion1_emptied", f"{GROUPS}?recursion=1"),
    delete("group_g1_delete", f"{GROUPS}/g1"),
    delete("group_g3_delete", f"{GROUPS}/g3"),
    get("group_g3_after_delete", f"{GROUPS}/g3"),
    delete("group_g3_delete_twice", f"{GROUPS}/g3"),
    get("groups_recursion1_final", f"{GROUPS}?recursion=1"),

    # ---- the cluster -----------------------------------------------------------------------
    put("cluster_enable_clustered", "/1.0/cluster", {"server_name": "node1", "enabled": True}),
    wait("cluster_enable_clustered_wait", "cluster_enable_clustered"),
    get("cluster_after_enable", "/1.0/cluster"),
    put("cluster_put_bad_json", "/1.0/cluster", b"{"),
    put("cluster_certificate_no_body", "/1.0/cluster/certificate", NOBODY),
    put("cluster_certificate_empty", "/1.0/cluster/certificate", {}),
    put("cluster_certificate_bad", "/1.0/cluster/certificate",
        {"cluster_certificate": "not a certificate", "cluster_certificate_key": "not a key"}),
    get("cluster_configuration", "/1.0/cluster/config",
        note="the mock's own extension (pack_configuration): not a route of LXD or Incus"),
    put("cluster_configuration_put_bad_json", "/1.0/cluster/config", b"{"),
    patch("cluster_configuration_patch_bad_json", "/1.0/cluster/config", b"{"),

    # ---- events over plain HTTP ------------------------------------------------------------
    get("events_no_upgrade", "/1.0/events"),

    # ---- unknown routes and unsupported methods ---------------------------------------------
    get("route_unknown_top", "/nope"),
    get("route_unknown_api", "/1.0/nope"),
    get("route_unknown_cluster", "/1.0/cluster/nope"),
    get("route_unknown_member_sub", f"{NODE1}/nope"),
    get("route_unknown_group_sub", f"{GROUPS}/default/nope"),
    delete("method_delete_server", "/1.0"),
    post("method_post_cluster", "/1.0/cluster", {}),
    delete("method_delete_members", MEMBERS),
    put("method_put_members", MEMBERS, {}),
    delete("method_delete_member_state", f"{NODE1}/state"),
    delete("method_delete_groups", GROUPS),
    put("method_put_groups", GROUPS, {}),
    post("method_post_operations", "/1.0/operations", {}),
    post("method_post_operation", UNKNOWN_OP, {}),
    get("method_get_certificate", "/1.0/cluster/certificate"),

    # ---- where it ends: the start again ----------------------------------------------------
    get("members_recursion1_final", f"{MEMBERS}?recursion=1"),
    get("cluster_final", "/1.0/cluster"),
    put("group_default_put_final", f"{GROUPS}/default",
        {"description": "Default cluster group", "members": ["node1", "node2"]},
        note="changes nothing; its lifecycle event marks the end of the event stream"),
]


#: The last step, and the lifecycle event it makes: once that event arrived, every event of
#: the sequence has (the engine waits for it, then closes the event stream).
SENTINEL = ("group_default_put_final", "cluster-group-updated", "/1.0/cluster/groups/default")


def uncovered_routes(steps: list[Step], routes: list[tuple[str, str]]) -> list[str]:
    """The (method, pattern) pairs of ``routes`` that no step requests."""
    def matches(pattern: str, path: str) -> bool:
        parts = [p for p in pattern.strip("/").split("/") if p]
        segments = [s for s in path.split("?", 1)[0].strip("/").split("/") if s]
        return len(parts) == len(segments) and all(
            p.startswith("{") or p == s for p, s in zip(parts, segments))
    return [f"{method} {pattern}" for method, pattern in routes
            if not any(step.method == method and matches(pattern, step.path) for step in steps)]


def check_sequence(steps: list[Step]) -> list[str]:
    """What is wrong with ``steps`` (names not unique or not file-safe, references to
    steps that come later or not at all)."""
    problems = []
    seen: set[str] = set()
    for step in steps:
        if not NAME.fullmatch(step.name):
            problems.append(f"{step.name!r}: a name must be lower-case letters, digits and _")
        if step.name in seen:
            problems.append(f"{step.name!r}: named twice")
        for kind, ref in step.references():
            if ref not in seen:
                problems.append(f"{step.name!r}: {{{kind}:{ref}}} refers to no earlier step")
        seen.add(step.name)
    return problems
