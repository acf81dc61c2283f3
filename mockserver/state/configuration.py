"""The pack's shared configuration: a list of modules, numbered and digested.

This is what ``GET /1.0/cluster/config`` shows and ``PUT``/``PATCH`` change (our extension
``pack_configuration``). The mock keeps it in memory; a pack daemon replicates it from the
leader (``mockserver.daemon.sync``). A module is ``(name, options)``, on the wire
``{"Name": {options}}``, in the order of the seed's YAML files.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass

from mockserver.wire import SURROGATE

# Modules that describe one member (its discovery, its role, its listeners) and are never
# shared: the seed's Pack and PackConfiguration, and our Api (its addresses are the host's).
NEVER_SHARED = ("Pack", "PackConfiguration", "Api")


class ModuleListError(ValueError):
    """A module list that cannot be used; the message says where and why."""


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def modules_to_wire(modules) -> list:
    return [{name: options} for name, options in modules]


# How deep module options may nest: a configuration is a few levels deep, and every member
# hashes, stores and sends it (recursively): a hostile depth must not get that far.
MAX_OPTION_DEPTH = 64


def option_problem(options) -> tuple | None:
    """Why ``options`` cannot be shared as JSON, as ``(path, reason)`` (the path of the
    option at fault, as ``key.sub[2]``): nested too deep (a YAML alias to itself is
    infinitely deep), a number JSON cannot carry, a value that is not JSON (a YAML date).
    None when they can."""
    pending = [(options, 1, "")]
    while pending:   # depth first, so that a cycle is caught at the depth limit
        value, depth, path = pending.pop()
        if depth > MAX_OPTION_DEPTH:
            shown = path if len(path) <= 60 else path[:57] + "..."
            return shown, f"options nested deeper than {MAX_OPTION_DEPTH} levels (a YAML alias inside itself?)"
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or SURROGATE.search(key):
                    return path, f"option name {key!r} is not a string UTF-8 can carry"
                pending.append((item, depth + 1, f"{path}.{key}" if path else key))
        elif isinstance(value, str):
            if SURROGATE.search(value):
                return path, "a lone UTF-16 surrogate (such as \\ud800) cannot be carried in UTF-8"
        elif isinstance(value, list):
            pending.extend((item, depth + 1, f"{path}[{index}]") for index, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            return path, f"the number {getattr(value, 'literal', value)!s} cannot be carried in JSON"
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            return path, f"a {type(value).__name__} is not a JSON value (quote it to make it a string)"
    return None


def parse_modules(raw, *, removals: bool = False) -> tuple:
    """``[{"Name": {options}}, ...]`` -> ``((name, options), ...)``.

    With ``removals``, ``{"Name": null}`` is allowed and kept as ``(name, None)`` (PATCH:
    remove that module).

    Raises:
        ModuleListError: not a list of one-key mappings, a repeated name, or a per-member module.
    """
    if not isinstance(raw, list):
        raise ModuleListError(f"modules: expected a list of {{\"ModuleName\": {{options}}}}, got {type(raw).__name__}")
    modules, seen = [], set()
    for index, item in enumerate(raw, 1):
        if not isinstance(item, dict) or len(item) != 1:
            raise ModuleListError(f"modules: item {index}: expected one {{\"ModuleName\": {{options}}}} mapping")
        (name, options), = item.items()
        if not name:
            raise ModuleListError(f"modules: item {index}: empty module name")
        if name in NEVER_SHARED:
            raise ModuleListError(f"modules: item {index}: module {name} is configured per member in its own file "
                                  f"and is never shared ({', '.join(NEVER_SHARED)})")
        if name in seen:
            raise ModuleListError(f"modules: item {index}: module {name} given twice")
        if options is None and removals:
            pass
        elif not isinstance(options, dict):
            expected = "a mapping of options, or null to remove it" if removals else "a mapping of options"
            raise ModuleListError(f"modules: item {index}: module {name}: expected {expected}")
        else:
            problem = option_problem(options)
            if problem:
                path, reason = problem
                raise ModuleListError(f"modules: item {index}: module {name}: {path + ': ' if path else ''}{reason}")
        seen.add(name)
        modules.append((name, options))
    return tuple(modules)


def patched_modules(current, changes) -> tuple:
    """``current`` with each module of ``changes`` replaced in place (or appended), and
    modules given as None removed."""
    result = {name: options for name, options in current}
    for name, options in changes:
        if options is None:
            result.pop(name, None)
        else:
            result[name] = options
    return tuple(result.items())


@dataclass(frozen=True)
class ConfigDocument:
    """A configuration as a member applies it: ``modules``, numbered by ``version`` within
    the leader's ``term``. The digest covers the modules, so a copy can be checked."""

    modules: tuple = ()
    version: int = 0
    term: int = 0

    @functools.cached_property
    def digest(self) -> str:
        # Cached: a member applying a version looks at it several times (events, views).
        return hashlib.sha256(canonical_json(modules_to_wire(self.modules))).hexdigest()

    def changed(self, modules) -> ConfigDocument:
        """The next version with ``modules`` (the same document if nothing changed)."""
        modules = tuple(modules)
        if canonical_json(modules_to_wire(modules)) == canonical_json(modules_to_wire(self.modules)):
            return self
        return ConfigDocument(modules, self.version + 1, self.term)
