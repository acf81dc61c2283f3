"""The status report, in the manner of VyOS's ``show cluster status``.

    === Status report on cluster member node1 ===
      Leader node1 (this node): Online
      Member node2: Online
      Member node3: Offline (No heartbeat for 20s ...)
      Configuration: version 12 (term 2), digest 9a356219d68e... applied here
      Groups:
        default: node1, node2, node3
"""
from __future__ import annotations

from typing import Any, Sequence

LEADER_ROLE = "database-leader"


def leader_of(members: Sequence[Any]) -> Any:
    return next((m for m in members if LEADER_ROLE in m.roles), None)


def status_data(local_name: str, members: Sequence[Any], groups: Sequence[Any], pack: dict | None = None) -> dict:
    """``pack`` is a pack daemon's view (its member state's ``pack`` part), when it has one."""
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
        lines.append(f"  Configuration: version {document['version']} (term {document['term']}), "
                     f"digest {str(document['digest'])[:12]}... applied here")
    if data["groups"]:
        lines.append("  Groups:")
        for name, members in data["groups"].items():
            lines.append(f"    {name}: {', '.join(members) if members else '(empty)'}")
    return "\n".join(lines)
