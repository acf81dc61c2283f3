"""The configuration template, generated from the option tables (the seed's comment style)."""
from __future__ import annotations

from typing import Iterable

from mockserver.daemon.config.modules import MODULES
from mockserver.daemon.config.options import ModuleSpec

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


def render_template(modules: Iterable[str] | None = None, *, help: bool = True) -> str:
    """Every known module's template (or those named in ``modules``), in the seed's style.

    With ``help=False`` only the option lines are printed, exactly as the seed's templates.
    """
    names = list(MODULES) if modules is None else list(modules)
    return "\n".join(render_module(MODULES[name], help=help) for name in names)
