"""Render command results as lxc does: a table or a compact table (people), CSV, JSON or YAML (scripts).

A listing gives :func:`render` its rows (:class:`Rows`): ``table`` draws them in ``+---+``
borders, ``compact`` without borders (headers centred, as lxc's ``--format compact``), and
``csv`` writes them without a header line, a multi-line cell (ROLES) joined with commas, as
``lxc ... --format csv`` does. JSON and YAML are the wire data the API sent.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Callable, NamedTuple, Sequence

import yaml

from pylxd_cluster import display
from pylxd_cluster.exceptions import ClusterError

FORMATS = ("table", "csv", "json", "yaml", "compact")
#: The formats drawn from rows; a command without rows offers only table, json and yaml.
ROW_FORMATS = ("csv", "compact")

Cell = str | Sequence[str]


class FormatError(ClusterError):
    """The command has no output in the format asked for."""


class Rows(NamedTuple):
    """A listing: its column headers and its rows, each cell a string or a list of lines."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]


class GoStyleDumper(yaml.SafeDumper):
    """YAML as lxc writes it (Go's yaml.v2): a string that needs quotes gets double quotes
    (``description: ""``), where PyYAML would use single ones."""

    def choose_scalar_style(self) -> str | None:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def yaml_text(data: Any) -> str:
    """``data`` as lxc's YAML: keys in the given order, block style, strings quoted as Go quotes them."""
    return yaml.dump(data, Dumper=GoStyleDumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def to_data(value: Any) -> Any:
    """Models and lists of models as plain wire data (what the API sent)."""
    if hasattr(value, "to_api"):
        return value.to_api()
    if isinstance(value, (list, tuple)):
        return [to_data(item) for item in value]
    if isinstance(value, dict):
        return {key: to_data(item) for key, item in value.items()}
    return value


def _lines(cell: Cell) -> list[str]:
    return cell.split("\n") if isinstance(cell, str) else [str(line) for line in cell] or [""]


def table_text(rows: Rows) -> str:
    """The ``+---+`` bordered table."""
    return display.text_table(rows.headers, [["\n".join(_lines(cell)) for cell in row] for row in rows.rows])


def compact_text(rows: Rows) -> str:
    """lxc's ``--format compact``: no borders, two spaces between columns, headers centred."""
    split_rows = [[_lines(cell) for cell in row] for row in rows.rows]
    widths = [display.display_width(header) for header in rows.headers]
    for row in split_rows:
        for column, lines in enumerate(row):
            widths[column] = max([widths[column]] + [display.display_width(line) for line in lines])

    def line(cells: Sequence[str], centre: bool) -> str:
        return "  " + "  ".join(display.pad(cell, width, centre) for cell, width in zip(cells, widths)) + "  "

    out = [line(rows.headers, centre=True)]
    for row in split_rows:
        for index in range(max(len(lines) for lines in row)):
            out.append(line([lines[index] if index < len(lines) else "" for lines in row], centre=False))
    return "\n".join(out)


def csv_text(rows: Rows) -> str:
    """lxc's ``--format csv``: no header line, a multi-line cell joined with commas."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    for row in rows.rows:
        writer.writerow([",".join(_lines(cell)) if not isinstance(cell, str) else cell for cell in row])
    return stream.getvalue().rstrip("\n")


def render(value: Any, fmt: str, table: Callable[[Any], str] | None,
           rows: Callable[[Any], Rows] | None = None) -> str:
    """``value`` in ``fmt``: json and yaml from its wire data, table from ``table`` (or from
    ``rows``), csv and compact from ``rows``.

    Raises:
        FormatError: csv or compact for a result that is not a listing.
    """
    if fmt == "json":
        return json.dumps(to_data(value), indent=2, default=str)
    if fmt == "yaml":
        return yaml_text(to_data(value)).rstrip("\n")
    if fmt in ROW_FORMATS:
        if rows is None:
            raise FormatError(f"--format {fmt} is for listings; this command prints table, json or yaml")
        return csv_text(rows(value)) if fmt == "csv" else compact_text(rows(value))
    if table is None:
        if rows is None:
            raise AssertionError("a table or rows is needed")
        return table_text(rows(value))
    return table(value)


# ---- the listings, with lxc's columns ---------------------------------------------------------


def member_rows(members: Any) -> Rows:
    """``lxc cluster list``'s columns: STATE upper-case, one role per line (commas in csv)."""
    return Rows(display.MEMBER_HEADERS, [
        (m.server_name, m.url, list(m.roles), m.architecture, m.failure_domain, m.description, m.status.upper(),
         m.message)
        for m in sorted(members, key=lambda m: display.natural_key(m.server_name))])


def group_rows(groups: Any) -> Rows:
    """``lxc cluster group list``'s columns: MEMBERS is a count."""
    return Rows(display.GROUP_HEADERS, [(g.name, g.description, str(len(g.members)))
                                        for g in sorted(groups, key=lambda g: display.natural_key(g.name))])


def token_rows(tokens: Any) -> Rows:
    """``lxc cluster list-tokens``'s columns."""
    return Rows(("NAME", "TOKEN", "EXPIRES AT"), [
        (t.server_name, t.token, t.expires_at.strftime("%Y/%m/%d %H:%M UTC") if t.expires_at else "")
        for t in tokens])


def service_group_rows(groups: Any) -> Rows:
    """``service-group list``'s columns (:func:`pylxd_cluster.display.service_group_rows`): the
    table it draws, and in csv the secondaries, services and monitors joined with commas."""
    return Rows(display.SERVICE_GROUP_HEADERS, display.service_group_rows(groups))


#: ``service-group show``'s listing: the group's members as the answering member sees them.
SERVICE_GROUP_MEMBER_HEADERS = ("NAME", "ROLE", "STATUS", "MONITORS")


def service_group_member_rows(group: Any) -> Rows:
    """``service-group show NAME``'s csv and compact: one row per member of the group (primary
    first, as the API lists them), its role, its status upper-case (ACTIVE, STANDBY, OFFLINE,
    EVACUATED) and what it reports of each monitor address (commas between them in csv)."""
    return Rows(SERVICE_GROUP_MEMBER_HEADERS, [
        (m.name, m.role, m.status.upper(), [f"{address}: {word}" for address, word in m.monitors.items()])
        for m in group.members])
