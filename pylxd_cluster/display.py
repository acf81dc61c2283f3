"""Text and HTML renderings of cluster models. Pure functions: no HTTP.

The text tables reproduce ``lxc cluster list`` (Go's tablewriter with row
lines): headers centred, cells left-aligned, a multi-line cell (a member's
roles) makes its row several lines high, rows sorted naturally by name.
The HTML tables colour each member status, for notebooks (``_repr_html_``).

Every HTML rendering goes through :func:`html_table`, which escapes each cell unless it is
:class:`Html` (markup built here, from escaped parts): a description containing ``<script>``
shows as text. Secrets (a join token's, or one in an operation's or event's metadata) are
shown as ``<hidden>``.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import attrs

from pylxd_cluster.models.base import SECRET_MASK, hide_secrets
from pylxd_cluster.models.service_group import service_label

__all__ = [
    "STATUS_COLOURS",
    "display_width",
    "natural_key",
    "pad",
    "text_table",
    "members_table",
    "groups_table",
    "cluster_table",
    "service_group_rows",
    "status_colour",
    "status_html",
    "members_html",
    "member_html",
    "groups_html",
    "cluster_html",
    "SERVICE_GROUP_COLOURS",
    "service_groups_table",
    "service_groups_html",
    "service_group_html",
    "Html",
    "html_table",
    "model_html",
    "models_html",
    "token_html",
    "tokens_html",
    "operation_html",
    "operations_html",
    "event_html",
    "events_html",
    "member_state_html",
    "pack_state_html",
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


def display_width(text: str) -> int:
    # Wide (CJK) characters take two terminal columns, as in Go's runewidth.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def natural_key(text: str) -> tuple[Any, ...]:
    """"node2" sorts before "node10", as lxc sorts its tables."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def pad(text: str, width: int, centre: bool) -> str:
    gap = width - display_width(text)
    if not centre:
        return text + " " * gap
    left = gap // 2
    return " " * left + text + " " * (gap - left)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A ``+---+`` bordered table; a cell containing newlines spans several lines."""
    split_rows = [[str(cell).split("\n") for cell in row] for row in rows]
    widths = [display_width(header) for header in headers]
    for row in split_rows:
        for column, lines in enumerate(row):
            widths[column] = max([widths[column]] + [display_width(line) for line in lines])
    border = "+" + "+".join("-" * (width + 2) for width in widths) + "+"

    def line(cells: Sequence[str], centre: bool) -> str:
        return "|" + "|".join(
            f" {pad(cell, width, centre)} " for cell, width in zip(cells, widths)
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
        for member in sorted(members, key=lambda m: natural_key(m.server_name))
    ]
    return text_table(MEMBER_HEADERS, rows)


def groups_table(groups: Iterable[Any]) -> str:
    """Groups as ``lxc cluster group list`` prints them (MEMBERS is a count)."""
    rows = [
        (group.name, group.description, str(len(group.members)))
        for group in sorted(groups, key=lambda g: natural_key(g.name))
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


def service_group_rows(groups: Iterable[Any]) -> list[tuple[Any, ...]]:
    """The rows of :func:`service_groups_table` (:data:`SERVICE_GROUP_HEADERS`), sorted by name:
    a cell with several values (SECONDARY, SERVICES, MONITORS) is a list of them, one line each
    in a table (the CLI's csv joins them with commas, as lxc's csv joins a member's roles)."""
    return [
        (
            group.name,
            group.status.upper(),
            group.owner,
            group.requested,
            group.primary,
            list(group.secondary),
            [service_label(service) for service in group.services],
            [f"{monitor}: {word}" for monitor, word in _owner_monitors(group).items()],
            group.message,
        )
        for group in sorted(groups, key=lambda g: natural_key(g.name))
    ]


def service_groups_table(groups: Iterable[Any]) -> str:
    """Service groups as ``pylxd-cluster service-group list`` prints them: STATUS upper-case
    (as ``lxc`` prints states), one secondary, service and monitor per line, a monitor with
    what the owner reports of it; ``exec`` services by their program only (see
    :func:`~pylxd_cluster.models.service_group.service_label`)."""
    rows = [tuple("\n".join(cell) if isinstance(cell, list) else cell for cell in row)
            for row in service_group_rows(groups)]
    return text_table(SERVICE_GROUP_HEADERS, rows)


# --- HTML -------------------------------------------------------------------

_TABLE_STYLE = "border-collapse:collapse;font-family:sans-serif;font-size:0.9em"
_CELL_STYLE = "border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top"


def _cell(content: str, tag: str = "td", style: str = _CELL_STYLE) -> str:
    return f'<{tag} style="{style}">{content}</{tag}>'


def status_colour(status: str, colours: Mapping[str, str] = STATUS_COLOURS) -> str:
    """The colour of a status (``#rrggbb``), a dark grey for one ``colours`` does not know."""
    return colours.get(status, _UNKNOWN_STATUS_COLOUR)


def status_html(status: str, colours: Mapping[str, str] = STATUS_COLOURS) -> str:
    """A member status as a coloured label (``colours``: e.g. :data:`SERVICE_GROUP_COLOURS`)."""
    colour = status_colour(status, colours)
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
        for m in sorted(members, key=lambda m: natural_key(m.server_name))
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
        for g in sorted(groups, key=lambda g: natural_key(g.name))
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
        for g in sorted(groups, key=lambda g: natural_key(g.name))
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


# --- Shared HTML tables for every other model ---------------------------------


class Html(str):
    """Markup that :func:`html_table` puts in a cell as it is (built from escaped parts)."""

    __slots__ = ()


def _plain(value: Any) -> str:
    """A value as display text: None empty, booleans yes/no, lists one item a line, mappings
    as compact JSON with secrets hidden, timestamps ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)) and all(not isinstance(item, (Mapping, list, tuple)) for item in value):
        return "\n".join(_plain(item) for item in value)
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(hide_secrets(value), separators=(", ", ": "), default=str, ensure_ascii=False)
    return str(value)


def escape_cell(value: Any) -> Html:
    """A cell's HTML: :class:`Html` as it is, anything else as escaped text (lines kept)."""
    if isinstance(value, Html):
        return value
    return Html("<br>".join(html.escape(line) for line in _plain(value).split("\n")))


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = "") -> Html:
    """An HTML table; every cell is escaped unless it is :class:`Html`."""
    return Html(_html_table(headers, [[escape_cell(cell) for cell in row] for row in rows], caption))


def _coloured(word: str, colours: Mapping[str, str] = STATUS_COLOURS) -> Html:
    return Html(status_html(word, colours)) if word else Html("")


#: Colours of an operation's status (and of a member's as the pack hears it).
OPERATION_COLOURS: Mapping[str, str] = {
    "Success": "#2e7d32", "Running": "#1565c0", "Pending": "#6a1b9a", "Failure": "#c62828",
    "Cancelled": "#757575", "Cancelling": "#757575",
    "alive": "#2e7d32", "suspect": "#ef6c00", "dead": "#c62828", "left": "#757575",
    "met": "#2e7d32", "waiting": "#1565c0", "timed out": "#c62828", "none": "#757575",
}


def _fields(model: Any, hidden: Iterable[str] = ()) -> list[tuple[str, Any]]:
    """(field name, value) of every field attrs shows in repr, ``hidden`` ones masked."""
    hidden = set(hidden)
    rows: list[tuple[str, Any]] = []
    for field in attrs.fields(type(model)):
        if field.repr is False:
            continue
        value = getattr(model, field.name)
        if field.name in hidden and value:
            value = SECRET_MASK
        rows.append((field.name.rstrip("_").replace("_", " "), value))
    return rows


def model_html(model: Any, caption: str | None = None) -> Html:
    """Any model as a (FIELD, VALUE) table, nested models and mappings as compact JSON, any
    ``secret`` hidden."""
    rows = [(name, value.to_api() if hasattr(value, "to_api") else value)
            for name, value in _fields(model, hidden=("secret",))]
    return html_table(("FIELD", "VALUE"), rows, caption=type(model).__name__ if caption is None else caption)


def models_html(models: Iterable[Any]) -> Html:
    """Models of one kind as a table, one column per field (secrets hidden)."""
    models = list(models)
    if not models:
        return html_table(("(none)",), [])
    headers = [name.upper() for name, _ in _fields(models[0])]
    rows = [[value.to_api() if hasattr(value, "to_api") else value for _, value in _fields(m, hidden=("secret",))]
            for m in models]
    return html_table(headers, rows)


TOKEN_HEADERS = ("NAME", "FINGERPRINT", "ADDRESSES", "EXPIRES AT", "OPERATION")


def _token_row(token: Any) -> tuple[Any, ...]:
    return (token.server_name, token.fingerprint, token.addresses, token.expires_at, token.operation_id)


def tokens_html(tokens: Iterable[Any]) -> Html:
    """Join tokens as an HTML table. Neither the secret nor the token string is shown."""
    rows = [_token_row(t) for t in sorted(tokens, key=lambda t: natural_key(t.server_name))]
    return html_table(TOKEN_HEADERS, rows, caption="Join tokens (secrets hidden)")


def token_html(token: Any) -> Html:
    """One join token, field by field, its secret hidden."""
    rows = list(zip(("name", "fingerprint", "addresses", "expires at", "operation"), _token_row(token)))
    rows.insert(3, ("secret", SECRET_MASK if token.secret else ""))
    return html_table(("FIELD", "VALUE"), rows, caption=f"Join token for {token.server_name}")


OPERATION_HEADERS = ("ID", "CLASS", "DESCRIPTION", "STATUS", "CREATED AT", "UPDATED AT", "LOCATION", "ERROR")


def _operation_row(op: Any) -> tuple[Any, ...]:
    return (op.id, op.class_, op.description, _coloured(op.status, OPERATION_COLOURS), op.created_at,
            op.updated_at, op.location, op.err)


def operations_html(operations: Iterable[Any]) -> Html:
    """Operations as an HTML table, oldest first, the status coloured."""
    ordered = sorted(operations, key=lambda op: op.created_at.timestamp() if op.created_at else float("inf"))
    return html_table(OPERATION_HEADERS, [_operation_row(op) for op in ordered], caption="Operations")


def operation_html(op: Any) -> Html:
    """One operation, field by field; secrets in its metadata (a join token's) hidden."""
    rows = list(zip([h.lower() for h in OPERATION_HEADERS], _operation_row(op)))
    rows += [("may cancel", op.may_cancel), ("resources", op.resources), ("metadata", op.metadata)]
    return html_table(("FIELD", "VALUE"), rows, caption=f"Operation {op.id}")


EVENT_HEADERS = ("TIME", "TYPE", "LOCATION", "PROJECT", "ACTION", "NAME", "METADATA")


def _event_row(event: Any) -> tuple[Any, ...]:
    metadata = {k: v for k, v in event.metadata.items() if event.type != "lifecycle" or k not in ("action", "name")}
    return (event.timestamp, event.type, event.location, event.project, event.action, event.name, metadata)


def events_html(events: Iterable[Any]) -> Html:
    """Events as an HTML table, one row each, in the order given; secrets in metadata hidden."""
    return html_table(EVENT_HEADERS, [_event_row(e) for e in events], caption="Events")


def event_html(event: Any) -> Html:
    """One event, field by field; secrets in its metadata hidden."""
    return html_table(("FIELD", "VALUE"), list(zip([h.lower() for h in EVENT_HEADERS], _event_row(event))),
                      caption=f"Event {event.type}")


def _bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)  # pragma: no cover


def _duration(seconds: int) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"


def member_state_html(state: Any) -> Html:
    """A member's state: its system information and storage pools, then on a pack daemon the
    pack's own view (:func:`pack_state_html`)."""
    info = state.sysinfo
    rows = [
        ("uptime", _duration(info.uptime)),
        ("load averages", " ".join(f"{load:.2f}" for load in info.load_averages)),
        ("processes", info.processes),
        ("logical CPUs", info.logical_cpus),
        ("RAM", f"{_bytes(info.total_ram - info.free_ram)} used of {_bytes(info.total_ram)}"),
        ("swap", f"{_bytes(info.total_swap - info.free_swap)} used of {_bytes(info.total_swap)}"),
        ("storage pools", ", ".join(sorted(state.storage_pools)) or "none"),
    ]
    out = html_table(("FIELD", "VALUE"), rows, caption="Member state")
    if state.pack is not None:
        out = Html(out + pack_state_html(state.pack))
    return out


def pack_state_html(pack: Any) -> Html:
    """A pack daemon's view: leader and term, each member as heard (status coloured), each
    discovery strategy with what it found and its last error, and the start-up barrier."""
    summary = [
        ("leader", pack.leader), ("term", pack.term), ("incarnation", pack.incarnation),
        ("conflict", pack.conflict), ("pid", pack.pid),
        ("service groups", ", ".join(sorted(pack.groups)) or "none"),
    ]
    out = html_table(("FIELD", "VALUE"), summary, caption="Pack")
    heard = [
        (name, _coloured(str(info.get("status", "")), OPERATION_COLOURS), info.get("incarnation"),
         info.get("last_heard"), info.get("last_heard_seconds"))
        for name, info in sorted(pack.members.items(), key=lambda item: natural_key(item[0]))
        if isinstance(info, Mapping)
    ]
    out += html_table(("MEMBER", "STATUS", "INCARNATION", "LAST HEARD", "SECONDS AGO"), heard,
                      caption="Members as heard")
    discovery = [
        (d.strategy, d.found, d.updated_at,
         Html(f'<span style="color:#c62828">{html.escape(d.error)}</span>') if d.error is not None else "",
         d.problems, d.polls, d.failures)
        for d in pack.discovery
    ]
    out += html_table(("STRATEGY", "FOUND", "UPDATED AT", "ERROR", "PROBLEMS", "POLLS", "FAILURES"), discovery,
                      caption="Discovery")
    barrier = pack.barrier
    out += html_table(
        ("STATUS", "MEMBERS", "ONLINE", "TIMEOUT", "WAITED (ms)"),
        [(_coloured(barrier.status, OPERATION_COLOURS), barrier.members, barrier.online, barrier.timeout,
          barrier.waited_ms)],
        caption="Start-up barrier",
    )
    return Html(out)
