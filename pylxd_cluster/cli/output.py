"""Render command results as a table (people), JSON or YAML (scripts)."""
from __future__ import annotations

import json
from typing import Any, Callable

import yaml

FORMATS = ("table", "json", "yaml")


def to_data(value: Any) -> Any:
    """Models and lists of models as plain wire data (what the API sent)."""
    if hasattr(value, "to_api"):
        return value.to_api()
    if isinstance(value, (list, tuple)):
        return [to_data(item) for item in value]
    if isinstance(value, dict):
        return {key: to_data(item) for key, item in value.items()}
    return value


def render(value: Any, fmt: str, table: Callable[[Any], str]) -> str:
    if fmt == "json":
        return json.dumps(to_data(value), indent=2, default=str)
    if fmt == "yaml":
        return yaml.safe_dump(to_data(value), sort_keys=False, default_flow_style=False).rstrip("\n")
    return table(value)
