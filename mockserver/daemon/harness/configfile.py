"""Daemon configuration files, written from module lists."""
from __future__ import annotations

import json

DEFAULTS = {"keepalive-interval": 200, "dead-interval": 1000}


def yaml_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return "'" + text.replace("'", "''") + "'"


def render_yaml(modules: list[tuple]) -> str:
    """``[("Pack", {...}), ("Api", {...})]`` as the daemon's YAML list of modules."""
    lines = []
    for name, options in modules:
        lines.append(f"- {name}:")
        for key, value in options.items():
            if isinstance(value, dict) or (isinstance(value, (list, tuple))
                                           and any(isinstance(item, (dict, list, tuple)) for item in value)):
                lines.append(f"    {key}: {json.dumps(value)}")   # JSON is YAML: nested values as flow
            elif isinstance(value, (list, tuple)):
                lines.append(f"    {key}:")
                lines.extend(f"      - {yaml_scalar(item)}" for item in value)
            else:
                lines.append(f"    {key}: {yaml_scalar(value)}")
    return "\n".join(lines) + "\n"
