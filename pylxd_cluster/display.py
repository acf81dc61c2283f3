"""Text and HTML renderings of cluster models. Pure functions: no HTTP.

The text tables reproduce ``lxc cluster list`` (Go's tablewriter with row
lines): headers centred, cells left-aligned, a multi-line cell (a member's
roles) makes its row several lines high, rows sorted naturally by name.
The HTML tables colour each member status, for notebooks (``_repr_html_``).
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any, Iterable, Mapping, Sequence

from pylxd_cluster.models.service_group import service_label

__all__ = [
    "STATUS_COLOURS",
    "text_table",
    "members_table",
    "groups_table",
    "cluster_table",
    "status_html",
    "members_html",
    "member_html",
    "groups_html",
    "cluster_html",
    "SERVICE_GROUP_COLOURS",
    "service_groups_table",
    "service_groups_html",
    "service_group_html",
]

#: Background colour of each member status in HTML tables.
STATUS_COLOURS: Mapping[str, str] = {
    "Online": "#2e7d32",  # green
    "Offline": "#c62828",  # red
    "Evacuated": "#ef6c00",  # orange
    "Blocked": "#757575",  # grey
}
_UNKNOWN_STATUS_COLOUR = "#455a64"

#: Background colour of each service-group word in HTML: the group's status (Active,
#: Starting, Down), a member's status in it (Active, Standby, Offline, Evacuated) and what a
#: member reports of a monitor address (Reachable, Unreachable, Unknown).
SERVICE_GROUP_COLOURS: Mapping[str, str] = {
    "Active": "#2e7d32",  # green
    "Starting": "#6a1b9a",  # purple
    "Down": "#c62828",  # red
    "Standby": "#1565c0",  # blue
    "Offline": "#c62828",  # red
    "Evacuated": "#ef6c00",  # orange
    "Reachable": "#2e7d32",  # green
    "Unreachable": "#c62828",  # red
    "Unknown": "#757575",  # grey
}

MEMBER_HEADERS = (
    "NAME", "URL", "ROLES", "ARCHITECTURE", "FAILURE DOMAIN", "DESCRIPTION", "STATE", "MESSAGE",
)
GROUP_HEADERS = ("NAME", "DESCRIPTION", "MEMBERS")
SERVICE_GROUP_HEADERS = ("NAME", "STATUS", "OWNER", "REQUESTED", "PRIMARY", "SECONDARY", "SERVICES", "MONITORS",
                         "MESSAGE")


def _display_width(text: str) -> int:
    # Wide (CJK) characters take two terminal columns, as in Go's runewidth.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _natural_key(text: str) -> tuple[Any, ...]:
    """"node2" sorts before "node10", as lxc sorts its tables."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _pad(text: str, width: int, centre: bool) -> str:
    gap = width - _display_width(text)
    if not centre:
        return text + " " * gap
    left = gap // 2
    return " " * left + text + " " * (gap - left)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A ``+---+`` bordered table; a cell containing newlines spans several lines."""
    split_rows = [[str(cell).split("\n") for cell in row] for row in rows]
    widths = [_display_width(header) for header in headers]
    for row in split_rows:
        for column, lines in enumerate(row):
            widths[column] = max([widths[column]] + [_display_width(line) for line in lines])
    border = "+" + "+".join("-" * (width + 2) for width in widths) + "+"

    def line(cells: Sequence[str], centre: bool) -> str:
        return "|" + "|".join(
            f" {_pad(cell, width, centre)} " for cell, width in zip(cells, widths)
        ) + "|"

    out: list[str] = [border, line(headers, centre=True), border]
    for row in split_rows:
        height = max(len(lines) for lines in row)
        for index in range(height):
            out.append(line([lines[index] if index < len(lines) else "" for lines in row],
                             centre=False))
        out.append(border)
    return "\n".join(out)


def members_table(members: Iterable[Any]) -> str:
    """Members as ``lxc cluster list`` prints them (STATE upper-case, one role per line)."""
    rows = [
        (
            member.server_name,
            member.url,
            "\n".join(member.roles),
            member.architecture,
            member.failure_domain,
            member.description,
            member.status.upper(),
            member.message,
        )
        for member in sorted(members, key=lambda m: _natural_key(m.server_name))
    ]
    return text_table(MEMBER_HEADERS, rows)


def groups_table(groups: Iterable[Any]) -> str:
    """Groups as ``lxc cluster group list`` prints them (MEMBERS is a count)."""
    rows = [
        (group.name, group.description, str(len(group.members)))
        for group in sorted(groups, key=lambda g: _natural_key(g.name))
    ]
    return text_table(GROUP_HEADERS, rows)


def cluster_table(cluster: Any) -> str:
    """The cluster object: server name and whether clustering is enabled, then member_config."""
    table = text_table(
        ("SERVER NAME", "ENABLED"), [(cluster.server_name, "YES" if cluster.enabled else "NO")]
    )
    if cluster.member_config:
        table += "\n" + text_table(
            ("ENTITY", "NAME", "KEY", "VALUE", "DESCRIPTION"),
            [(k.entity, k.name, k.key, k.value, k.description) for k in cluster.member_config],
        )
    return table


def _owner_monitors(group: Any) -> dict[str, str]:
    """``{monitor: word}`` as the owner reports it (every monitor "Unknown" without an owner)."""
    owner = next((m for m in group.members if m.name == group.owner), None)
    words = dict(owner.monitors) if owner is not None else {}
    return {monitor: words.get(monitor, "Unknown") for monitor in group.monitors}


def service_groups_table(groups: Iterable[Any]) -> str:
    """Service groups as ``pylxd-cluster service-group list`` prints them: STATUS upper-case
    (as ``lxc`` prints states), one secondary, service and monitor per line, a monitor with
    what the owner reports of it; ``exec`` services by their program only (see
    :func:`~pylxd_cluster.models.service_group.service_label`)."""
    rows = [
        (
            group.name,
            group.status.upper(),
            group.owner,
            group.requested,
            group.primary,
            "\n".join(group.secondary),
            "\n".join(service_label(service) for service in group.services),
            "\n".join(f"{monitor}: {word}" for monitor, word in _owner_monitors(group).items()),
            group.message,
        )
        for group in sorted(groups, key=lambda g: _natural_key(g.name))
    ]
    return text_table(SERVICE_GROUP_HEADERS, rows)


# --- HTML -------------------------------------------------------------------

_TABLE_STYLE = "border-collapse:collapse;font-family:sans-serif;font-size:0.9em"
_CELL_STYLE = "border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top"


def _cell(content: str, tag: str = "td", style: str = _CELL_STYLE) -> str:
    return f'<{tag} style="{style}">{content}</{tag}>'


def status_html(status: str, colours: Mapping[str, str] = STATUS_COLOURS) -> str:
    """A member status as a coloured label (``colours``: e.g. :data:`SERVICE_GROUP_COLOURS`)."""
    colour = colours.get(status, _UNKNOWN_STATUS_COLOUR)
    return (
        f'<span class="lxd-status lxd-status-{html.escape(status.lower())}" '
        f'style="background:{colour};color:#fff;padding:1px 6px;border-radius:3px">'
        f"{html.escape(status)}</span>"
    )


def _html_table(headers: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "") -> str:
    head = "".join(_cell(html.escape(h), "th") for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    caption_html = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table style="{_TABLE_STYLE}">{caption_html}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _lines_html(values: Iterable[str]) -> str:
    return "<br>".join(html.escape(value) for value in values)


def members_html(members: Iterable[Any]) -> str:
    """Members as an HTML table, the STATE column coloured per status."""
    rows = [
        (
            html.escape(m.server_name),
            html.escape(m.url),
            _lines_html(m.roles),
            html.escape(m.architecture),
            html.escape(m.failure_domain),
            html.escape(m.description),
            status_html(m.status),
            html.escape(m.message),
        )
        for m in sorted(members, key=lambda m: _natural_key(m.server_name))
    ]
    return _html_table(MEMBER_HEADERS, rows)


def member_html(member: Any) -> str:
    """One member as a two-column (field, value) HTML table."""
    config = ", ".join(f"{key}={value}" for key, value in sorted(member.config.items()))
    rows = [
        ("name", html.escape(member.server_name)),
        ("status", status_html(member.status)),
        ("message", html.escape(member.message)),
        ("url", html.escape(member.url)),
        ("roles", _lines_html(member.roles)),
        ("database", "yes" if member.database else "no"),
        ("architecture", html.escape(member.architecture)),
        ("failure domain", html.escape(member.failure_domain)),
        ("description", html.escape(member.description)),
        ("groups", _lines_html(member.groups)),
        ("config", html.escape(config)),
    ]
    return _html_table(("FIELD", "VALUE"), rows, caption=f"Cluster member {member.server_name}")


def groups_html(groups: Iterable[Any]) -> str:
    """Groups as an HTML table (members listed)."""
    rows = [
        (html.escape(g.name), html.escape(g.description), _lines_html(g.members))
        for g in sorted(groups, key=lambda g: _natural_key(g.name))
    ]
    return _html_table(GROUP_HEADERS, rows)


def cluster_html(cluster: Any) -> str:
    """The cluster object as HTML (members are not fetched: models make no requests)."""
    enabled = (
        '<span style="color:#2e7d32">enabled</span>' if cluster.enabled
        else '<span style="color:#c62828">not enabled</span>'
    )
    out = _html_table(
        ("SERVER NAME", "CLUSTERING"), [(html.escape(cluster.server_name), enabled)],
        caption="LXD cluster",
    )
    if cluster.member_config:
        out += _html_table(
            ("ENTITY", "NAME", "KEY", "VALUE", "DESCRIPTION"),
            [tuple(html.escape(v) for v in (k.entity, k.name, k.key, k.value, k.description))
             for k in cluster.member_config],
            caption="Configuration a joining member must provide",
        )
    return out


def _group_word_html(word: str) -> str:
    return status_html(word, SERVICE_GROUP_COLOURS)


def _group_members_html(group: Any) -> str:
    """``node1 [Active]<br>node2 [Standby]`` (primary first)."""
    return "<br>".join(f"{html.escape(m.name)}{' (this node)' if m.this_node else ''} {_group_word_html(m.status)}"
                       for m in group.members)


def _group_monitors_html(group: Any) -> str:
    return "<br>".join(f"{html.escape(monitor)} {_group_word_html(word)}"
                       for monitor, word in _owner_monitors(group).items())


def service_groups_html(groups: Iterable[Any]) -> str:
    """Service groups as an HTML table: each group's status, and each member's, coloured
    (:data:`SERVICE_GROUP_COLOURS`); a monitor with what the owner reports of it."""
    rows = [
        (
            html.escape(g.name),
            _group_word_html(g.status),
            html.escape(g.owner),
            html.escape(g.requested),
            _group_members_html(g),
            _lines_html(service_label(service) for service in g.services),
            _group_monitors_html(g),
            html.escape(g.message),
        )
        for g in sorted(groups, key=lambda g: _natural_key(g.name))
    ]
    return _html_table(("NAME", "STATUS", "OWNER", "REQUESTED", "MEMBERS", "SERVICES", "MONITORS", "MESSAGE"), rows,
                       caption="Service groups")


def service_group_html(group: Any) -> str:
    """One service group: its fields, then a row per member with its status and what it
    reports of each monitor address."""
    failback = (f"on, after {group.failback_delay / 1000:g} s" if group.auto_failback else "off")
    fields = [
        ("status", _group_word_html(group.status)),
        ("owner", html.escape(group.owner)),
        ("epoch", str(group.epoch)),
        ("requested", html.escape(group.requested)),
        ("message", html.escape(group.message)),
        ("primary", html.escape(group.primary)),
        ("secondary", _lines_html(group.secondary)),
        ("services", _lines_html(service_label(service) for service in group.services)),
        ("monitors", _lines_html(group.monitors)),
        ("auto-failback", failback),
    ]
    out = _html_table(("FIELD", "VALUE"), fields, caption=f"Service group {group.name}")
    members = [
        (
            html.escape(m.name) + (" (this node)" if m.this_node else ""),
            html.escape(m.role),
            _group_word_html(m.status),
            "<br>".join(f"{html.escape(monitor)} {_group_word_html(word)}" for monitor, word in m.monitors.items()),
        )
        for m in group.members
    ]
    return out + _html_table(("MEMBER", "ROLE", "STATUS", "MONITORS"), members)
