"""The configuration template, generated from the option tables (the seed's comment style)."""
from __future__ import annotations

from typing import Iterable

from mockserver.daemon.config.modules import MODULES
from mockserver.daemon.config.options import ModuleSpec
from mockserver.daemon.groups.config import DEFAULT_FAILBACK_DELAY_MS, DEFAULT_NOTIFY_TIMEOUT_MS

#: The column of the ``# <...>`` comments, as in the seed's Pack template.
COMMENT_COLUMN = 42


def render_module(spec: ModuleSpec, *, help: bool = True) -> str:
    """One module's template: ``- Name:`` then each option with its ``# <...>`` comment."""
    width = max([COMMENT_COLUMN] + [4 + len(option.key) + 2 for option in spec.options])
    lines = []
    if help:
        lines.append(f"# {spec.name}: {spec.help}")
    lines.append(f"- {spec.name}:")
    for option in spec.options:
        if help:
            lines.append(f"    # {option.help}")
        lines.append(f"    {option.key}:".ljust(width) + option.comment())
    return "\n".join(lines) + "\n"


# The shared ServiceGroups module, as comments: a group names members, so a template cannot
# hold a valid one (and the filled-in template must stay a valid file).
GROUPS_TEMPLATE = (
    ("# ServiceGroups: addresses and services that fail over between members (VyOS: cluster group);", None),
    ("# shared by every member (PackConfiguration syncs it). Remove the leading '# ' to use it.", None),
    ("# - ServiceGroups:", None),
    ("#     GROUP:", "<a group name, without '/'>"),
    ("#       primary:", "<type: string; is: required> the member that owns it when it can"),
    ("#       secondary:", "<type: list; is: required> members that take over, in order"),
    ("#       service:", "<type: list; is: required> address/prefix/interface, a systemd unit,"),
    ("#", "  or exec: {start: CMD, stop: CMD, check: CMD}; addresses come up first"),
    ("#       monitor:", "<default: []; type: list; is: optional> addresses the owner must reach"),
    ("#       auto-failback:", "<default: false; type: boolean; is: optional> back to the primary"),
    ("#       failback-delay:", f"<default: {DEFAULT_FAILBACK_DELAY_MS}; type: integer; is: optional> ms the"),
    ("#", "  primary must be healthy before the group moves back"),
    ("#       notify:", "<type: string or list; is: optional> a command run after each transition"),
    ("#", "  here (active, standby, reannounce), in order, one at a time; arguments"),
    ("#", "  GROUP EVENT TERM SEQ, and PACK_GROUP, PACK_EVENT, PACK_TERM, PACK_SEQ,"),
    ("#", "  PACK_MEMBER, PACK_REASON in its environment"),
    ("#       notify-timeout:", f"<default: {DEFAULT_NOTIFY_TIMEOUT_MS}; type: integer; is: optional> ms before"),
    ("#", "  a notify command is killed (counted as failed)"),
)


def render_groups_template() -> str:
    lines = []
    for text, comment in GROUPS_TEMPLATE:
        lines.append(text if comment is None else text.ljust(COMMENT_COLUMN) + "# " + comment)
    return "\n".join(lines) + "\n"


def render_template(modules: Iterable[str] | None = None, *, help: bool = True) -> str:
    """Every known module's template (or those named in ``modules``), in the seed's style,
    then the shared ServiceGroups module as a commented example (when every module is asked).

    With ``help=False`` only the option lines are printed, exactly as the seed's templates.
    """
    names = list(MODULES) if modules is None else list(modules)
    text = "\n".join(render_module(MODULES[name], help=help) for name in names)
    return text + "\n" + render_groups_template() if modules is None and help else text
