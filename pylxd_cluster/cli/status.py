"""The status report, in the manner of VyOS's ``show cluster status``.

    === Status report on cluster member node1 ===
      Leader node1 (this node): Online
      Member node2: Online
      Member node3: Offline (No heartbeat for 20s ...)
      Configuration: version 12 (term 2), digest 9a356219d68e... applied here
      Discovery hosts-file /etc/pylxd-cluster/hosts: 3 found (198.51.100.1:5252, ...)
      Groups:
        default: node1, node2, node3
      Service group web:
        Primary node1 (this node): Active
        Secondary node2: Active (standby)
        Secondary node3: Down
        Resources [198.51.100.10/24/eth0 exec:/usr/bin/web ...]: Active on primary node1 (this node)
        Monitor 198.51.100.1: Reachable

The service groups are shown when the server advertises the API extension
``pack_service_groups`` (a pack daemon).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from pylxd_cluster.models.service_group import service_label

LEADER_ROLE = "database-leader"

#: A member's status in a service group, in VyOS's words.
MEMBER_WORDS = {"Active": "Active", "Standby": "Active (standby)", "Offline": "Down", "Evacuated": "Down (evacuated)"}


def leader_of(members: Sequence[Any]) -> Any:
    return next((m for m in members if LEADER_ROLE in m.roles), None)


def status_data(local_name: str, members: Sequence[Any], groups: Sequence[Any], pack: dict | None = None,
                service_groups: Sequence[Any] | None = None) -> dict:
    """``pack`` is a pack daemon's view (its member state's ``pack`` part), when it has one;
    ``service_groups`` its service groups (models), when the server has them (the data then
    has ``service_groups``: ``{name: the group as the API gives it}``)."""
    leader = leader_of(members)
    heard = (pack or {}).get("members", {})
    data = {
        "this_node": local_name,
        "leader": leader.server_name if leader else None,
        "members": [{"name": m.server_name, "status": m.status, "message": m.message, "roles": list(m.roles),
                     "this_node": m.server_name == local_name,
                     "last_heartbeat_seconds": heard.get(m.server_name, {}).get("last_heard_seconds")}
                    for m in members],
        "groups": {g.name: list(g.members) for g in groups},
    }
    if pack is not None:
        data["term"] = pack.get("term")
        document = pack.get("document")
        if isinstance(document, dict):
            data["document"] = {"version": document.get("version"), "term": document.get("term"),
                                "digest": document.get("modules_digest") or document.get("digest")}
            if document.get("revision") is not None:   # an etcd-backed pack: etcd's revision of it
                data["document"]["revision"] = document["revision"]
        if isinstance(pack.get("etcd"), dict):
            data["etcd"] = {key: pack["etcd"].get(key) for key in ("endpoint", "prefix", "cut_off", "stale")}
        discovery = pack.get("discovery")
        if isinstance(discovery, list) and discovery:
            data["discovery"] = discovery
    if service_groups is not None:
        data["service_groups"] = {group.name: group.to_api() for group in service_groups}
    return data


def status_report(data: dict) -> str:
    lines = [f"=== Status report on cluster member {data['this_node']} ==="]
    if data["leader"] is None:
        lines.append("  Leader: none (no member holds the database-leader role)")
    # As VyOS orders it: this node, then the leader, then the others by name.
    ordered = sorted(data["members"], key=lambda m: (not m["this_node"], m["name"] != data["leader"], m["name"]))
    for member in ordered:
        kind = "Leader" if member["name"] == data["leader"] else "Member"
        here = " (this node)" if member["this_node"] else ""
        state = member["status"]
        if member["status"] != "Online" or member["message"] != "Fully operational":
            state += f" ({member['message']})"
        if member.get("last_heartbeat_seconds") is not None and member["status"] == "Online":
            state += f", last heartbeat {member['last_heartbeat_seconds']:.2f}s ago"
        lines.append(f"  {kind} {member['name']}{here}: {state}")
    online = sum(1 for m in data["members"] if m["status"] == "Online")
    lines.append(f"  Members online: {online} of {len(data['members'])}"
                 + (f"; leader term {data['term']}" if data.get("term") is not None else ""))
    document = data.get("document")
    if document:
        revision = f", etcd revision {document['revision']}" if document.get("revision") is not None else ""
        lines.append(f"  Configuration: version {document['version']} (term {document['term']}{revision}), "
                     f"digest {str(document['digest'])[:12]}... applied here")
    etcd = data.get("etcd")
    if etcd:
        reach = f"CUT OFF ({etcd['stale']}): serving the last view" if etcd.get("cut_off") else "reachable"
        lines.append(f"  Engine: etcd at {etcd.get('endpoint')}, keys under {etcd.get('prefix')}: {reach}")
    for strategy in data.get("discovery") or ():
        found = strategy.get("found") or []
        line = f"  Discovery {strategy.get('strategy')}: {len(found)} found"
        if found:
            line += f" ({', '.join(found)})"
        if strategy.get("error"):
            line += f"; failing since {strategy.get('error_at')}: {strategy['error']} (keeping what it found)"
        lines.append(line)
        lines.extend(f"    skipped: {problem}" for problem in strategy.get("problems") or ())
    if data["groups"]:
        lines.append("  Groups:")
        for name, members in data["groups"].items():
            lines.append(f"    {name}: {', '.join(members) if members else '(empty)'}")
    service_groups = data.get("service_groups")
    if service_groups is not None:
        if not service_groups:
            lines.append("  Service groups: none")
        for group in service_groups.values():
            lines.extend(service_group_lines(group, indent="  "))
    return "\n".join(lines)


def _here(member: Mapping[str, Any] | None) -> str:
    return " (this node)" if member and member.get("this_node") else ""


def service_group_lines(group: Mapping[str, Any], indent: str = "", details: bool = False) -> list[str]:
    """A service group (as the API gives it) in the manner of VyOS's ``show cluster status``:
    each member's state, where the resources run, what the owner reports of each monitor.
    ``details`` adds the request, epoch, message and failback (``service-group show``)."""
    inner = indent + "  "
    members = list(group.get("members") or ())
    lines = [f"{indent}Service group {group.get('name', '')}:"]
    for member in members:
        word = MEMBER_WORDS.get(member.get("status", ""), member.get("status", ""))
        lines.append(f"{inner}{str(member.get('role', 'member')).capitalize()} {member.get('name')}{_here(member)}: "
                     f"{word}")
    services = " ".join(service_label(str(service)) for service in group.get("services") or ())
    lines.append(f"{inner}Resources [{services}]: {resources_state(group)}")
    if group.get("requested"):
        lines.append(f"{inner}Requested by an operator: {group['requested']}")
    for monitor in group.get("monitors") or ():
        lines.append(f"{inner}Monitor {monitor}: {monitor_word(group, monitor)}")
    if details:
        failback = (f"on, after {int(group.get('failback_delay') or 0) / 1000:g} s" if group.get("auto_failback")
                    else "off")
        lines.append(f"{inner}Auto-failback: {failback}")
        lines.append(f"{inner}Epoch: {group.get('epoch', 0)}")
        if group.get("message"):
            lines.append(f"{inner}Message: {group['message']}")
    return lines


def resources_state(group: Mapping[str, Any]) -> str:
    """``Active on primary node1 (this node)``, ``Starting on secondary node2``, ``Down (why)``."""
    status, owner, message = group.get("status", ""), group.get("owner", ""), group.get("message", "")
    if status in ("Active", "Starting") and owner:
        member = next((m for m in group.get("members") or () if m.get("name") == owner), None)
        role = member.get("role", "member") if member else "member"
        return f"{status} on {role} {owner}{_here(member)}"
    return f"{status or 'Unknown'} ({message})" if message else (status or "Unknown")


def monitor_word(group: Mapping[str, Any], monitor: str) -> str:
    """What the owner reports of ``monitor`` (Reachable, Unreachable, Unknown); when no member
    reaches it, what the group's message says of it. Without an owner: Reachable if any
    member reports it so."""
    note = f"monitor {monitor}: no member reaches it"
    if note in str(group.get("message", "")).split("; "):
        return "Unreachable (no member reaches it)"
    members = list(group.get("members") or ())
    owner = next((m for m in members if m.get("name") == group.get("owner")), None)
    if owner is not None:
        return (owner.get("monitors") or {}).get(monitor, "Unknown")
    words = {(m.get("monitors") or {}).get(monitor, "Unknown") for m in members}
    return next((word for word in ("Reachable", "Unreachable") if word in words), "Unknown")
