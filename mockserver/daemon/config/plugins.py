"""Entry points other packages install for the daemon: discovery strategies and
membership hooks. The configuration names them; a name that is not installed is refused
at start, listing the ones that are."""
from __future__ import annotations

from importlib import metadata
from typing import Any

from mockserver.daemon.config import options as o
from mockserver.daemon.config.errors import Invalid

DISCOVERY_GROUP = "pylxd_cluster.discovery"
HOOK_GROUP = "pylxd_cluster.membership_hooks"


def names(group: str) -> list[str]:
    """The names installed packages offer in ``group``."""
    return sorted({entry.name for entry in metadata.entry_points(group=group)})


def installed(group: str) -> o.Converter:
    """A converter: the name of an installed entry point of ``group``."""
    def convert(value) -> str:
        name = o.string()(value)
        known = names(group)
        if name not in known:
            raise Invalid(f"no entry point {o.show(name)} in the group {group}; installed here:"
                          f" {', '.join(known) or 'none'}")
        return name
    return convert


def load(group: str, name: str) -> Any:
    """The object the installed entry point ``name`` of ``group`` names.

    Raises:
        ValueError: no such entry point, or it cannot be imported (what failed, named).
    """
    entries = [entry for entry in metadata.entry_points(group=group) if entry.name == name]
    if not entries:
        raise ValueError(f"no entry point {name!r} in the group {group} (is its package installed here?)")
    entry = entries[0]
    try:
        return entry.load()
    except Exception as exc:                       # an import error of any kind, in someone else's code
        raise ValueError(f"entry point {name!r} ({entry.value}) of {group} cannot be loaded:"
                         f" {type(exc).__name__}: {exc}") from None
