"""Reading a daemon configuration: YAML text -> a validated :class:`DaemonConfig`.

The file is a YAML list of modules, each ``- ModuleName: {options}`` (the seed's style).
Known modules (:data:`~mockserver.daemon.config.modules.MODULES`) are validated against their
option tables; any other module is a user module, kept as given. A null option value means
"use the default", so a template with its required values filled in is a valid file.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import os
from typing import Any

import yaml

from mockserver.daemon.config.errors import ConfigError, Invalid
from mockserver.daemon.config.modules import (
    API,
    MODULES,
    PACK,
    PACK_CONFIGURATION,
    ApiConfig,
    PackConfig,
    PackConfigurationConfig,
)
from mockserver.daemon.config.options import ModuleSpec, show
from mockserver.daemon.groups.config import MODULE as GROUPS_MODULE
from mockserver.daemon.groups.config import GroupError, parse_groups
from mockserver.state.configuration import option_problem


@dataclasses.dataclass(frozen=True)
class DaemonConfig:
    """A validated configuration file.

    ``modules`` holds every module in file order as ``(name, options)``, the options as the
    file gave them (null -> ``{}``), known and user modules alike: this is what config sync
    carries and what clients read.
    """

    pack: PackConfig
    api: ApiConfig | None
    modules: tuple[tuple[str, dict[str, Any]], ...]
    source: str = "<config>"
    pack_configuration: PackConfigurationConfig | None = None

    @property
    def user_modules(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The modules that are not Pack, Api or PackConfiguration, in file order."""
        return tuple((name, options) for name, options in self.modules if name not in MODULES)

    def to_data(self) -> list[dict[str, Any]]:
        """The module list as YAML data (``yaml.safe_dump`` of it is an equivalent file)."""
        return [{name: copy.deepcopy(options)} for name, options in self.modules]


def load(path: os.PathLike[str] | str) -> DaemonConfig:
    """Read and validate the configuration file at ``path``; raise :class:`ConfigError`."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as stream:
            raw = stream.read()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the file: {exc.strerror or exc}", source=source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})", source=source) from None
    return parse(text, source)


def parse(text: str, source: str = "<config>") -> DaemonConfig:
    """Validate configuration text; ``source`` names it in error messages."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        where = f"line {line}: " if line is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{source}: {where}YAML syntax error: {problem}{column}",
                          source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML syntax error: {exc}", source=source) from None
    finally:
        loader.dispose()
    return _Validator(source, node).config(data)


def validate(data: Any, source: str = "<config>") -> DaemonConfig:
    """Validate already-parsed YAML data (e.g. a module list received by config sync)."""
    return _Validator(source, None).config(data)


def _suggest(word: Any, choices) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "an empty file"
    return show(value)


class _Validator:
    """One run of validation over a file; knows the YAML nodes to tell lines."""

    def __init__(self, source: str, node: yaml.Node | None):
        self.source = source
        self.node = node

    # -- errors and lines --

    def error(self, text: str, *, module: str | None = None, key: Any = None, line: int | None = None,
              unknown: bool = False, named: bool = True) -> ConfigError:
        """``named=False``: the text names the module itself (the attribute is still set)."""
        if module is None or not named:
            message = f"{self.source}: {text}"
        elif key is None:
            message = f"{self.source}: module {module}: {text}"
        elif unknown:
            message = f"{self.source}: module {module}, unknown key {key!r}{text}"
        else:
            message = f"{self.source}: module {module}, key {key!r}: {text}"
        return ConfigError(message, source=self.source, module=module,
                           key=key if isinstance(key, str) else None, line=line)

    def _item_node(self, index: int) -> yaml.Node | None:
        if isinstance(self.node, yaml.SequenceNode) and index < len(self.node.value):
            return self.node.value[index]
        return None

    def _options_node(self, index: int) -> yaml.Node | None:
        item = self._item_node(index)
        if isinstance(item, yaml.MappingNode) and len(item.value) == 1:
            return item.value[0][1]
        return None

    def item_line(self, index: int) -> int | None:
        item = self._item_node(index)
        return item.start_mark.line + 1 if item is not None else None

    def key_line(self, index: int, key: Any) -> int | None:
        options = self._options_node(index)
        if isinstance(options, yaml.MappingNode):
            for key_node, _ in options.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
                    return key_node.start_mark.line + 1
        return self.item_line(index)

    def check_duplicates(self, index: int, module: str) -> None:
        """PyYAML keeps the last of duplicate keys silently; refuse them instead."""
        item = self._item_node(index)
        if item is None:
            return
        stack = [item]
        visited = set()
        while stack:
            node = stack.pop()
            if id(node) in visited:     # an alias of a node already seen (maybe recursive)
                continue
            visited.add(id(node))
            if isinstance(node, yaml.MappingNode):
                seen: dict[str, int] = {}
                for key_node, value_node in node.value:
                    stack.append(value_node)
                    if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    line = key_node.start_mark.line + 1
                    if key_node.value in seen:
                        raise self.error(f"given twice (lines {seen[key_node.value]} and {line})",
                                         module=module, key=key_node.value, line=line)
                    seen[key_node.value] = line
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)

    # -- the file --

    def config(self, data: Any) -> DaemonConfig:
        if not isinstance(data, list):
            raise self.error(f"expected a list of modules (- ModuleName: {{...}}), got {_kind(data)}", line=1)
        modules: list[tuple[str, dict[str, Any]]] = []
        first_at: dict[str, int] = {}
        built: dict[str, Any] = {}
        for index, item in enumerate(data):
            name, options = self.module_item(index, item)
            if name in MODULES:
                if name in first_at:
                    raise self.error(f"module {name} given twice (items {first_at[name] + 1} and {index + 1})",
                                     module=name, named=False, line=self.item_line(index))
                first_at[name] = index
            else:
                known = {n.lower(): n for n in MODULES}
                if name.lower() in known:
                    raise self.error(f"did you mean {known[name.lower()]!r}? (module names are case-sensitive)",
                                     module=name, line=self.item_line(index))
            modules.append((name, options))
        for name, index in first_at.items():
            built[name] = self.module(MODULES[name], index, modules[index][1])
        if PACK.name not in built:
            present = [name for name, _ in modules]
            raise self.error(f"missing required module {PACK.name}{_suggest(PACK.name, present)}", line=1)
        return DaemonConfig(
            pack=built[PACK.name],
            api=built.get(API.name),
            modules=tuple(modules),
            source=self.source,
            pack_configuration=built.get(PACK_CONFIGURATION.name),
        )

    def module_item(self, index: int, item: Any) -> tuple[str, dict[str, Any]]:
        line = self.item_line(index)
        where = f"item {index + 1}"
        if not isinstance(item, dict) or not item:
            raise self.error(f"{where}: expected '- ModuleName: {{options}}', got {_kind(item)}", line=line)
        if len(item) > 1:
            keys = ", ".join(repr(k) for k in item)
            raise self.error(f"{where}: expected one module per list item, got keys {keys}"
                             " (are the options indented under the module name?)", line=line)
        ((name, options),) = item.items()
        if not isinstance(name, str) or not name:
            raise self.error(f"{where}: expected a module name, got {show(name)}", line=line)
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise self.error(f"expected a mapping of options, got {_kind(options)}", module=name, line=line)
        self.check_duplicates(index, name)
        # Config sync hashes, stores and sends user modules as JSON: refuse what JSON cannot
        # carry here, where the file can still be fixed.
        problem = option_problem(options) if name not in MODULES else None
        if problem is None and name == GROUPS_MODULE:
            try:
                parse_groups(options)
            except GroupError as exc:
                key = exc.group if exc.group is not None else None
                raise self.error(exc.text if exc.group is None else
                                 f"group {exc.group!r}" + (f", key {exc.key!r}" if exc.key else "") + f": {exc.text}",
                                 module=name, line=self.key_line(index, key) if key else line) from None
        if problem:
            path, reason = problem
            key = path.split(".")[0].split("[")[0] or None
            where = f"at {path}: " if path and path != key else ""
            raise self.error(where + reason, module=name, key=key, line=self.key_line(index, key) if key else line)
        return name, copy.deepcopy(options)

    # -- one known module --

    def module(self, spec: ModuleSpec, index: int, options: dict[str, Any]) -> Any:
        name = spec.name
        known = [option.key for option in spec.options] + [a for option in spec.options for a in option.aliases]
        for key in options:
            if key not in known:
                raise self.error(_suggest(key, known) or f" (known keys: {', '.join(spec.keys)})",
                                 module=name, key=key, unknown=True, line=self.key_line(index, key))
        # Keys set to something: null and an empty list are as good as absent.
        given = frozenset(key for key, value in options.items() if value is not None and value != [])
        values: dict[str, Any] = {}
        for option in spec.options:
            present = [k for k in (option.key,) + option.aliases if options.get(k) is not None]
            if not present:
                if option.required and not any(k in given for k in option.required_unless):
                    alternatives = ""
                    if option.required_unless:
                        alternatives = " (or give " + " or ".join(repr(k) for k in option.required_unless) + ")"
                    raise self.error(f"missing required key {option.key!r}{alternatives}", module=name,
                                     line=self.item_line(index))
                values[option.attr] = option.default_value()
                continue
            converted = []
            for key in present:
                try:
                    converted.append((key, option.convert(options[key])))
                except Invalid as exc:
                    raise self.error(exc.text, module=name, key=key, line=self.key_line(index, key)) from None
            (first_key, first), rest = converted[0], converted[1:]
            for key, value in rest:
                if value != first:
                    raise self.error(f"conflicts with {first_key!r} (give one of them, or the same value)",
                                     module=name, key=key, line=self.key_line(index, key))
            values[option.attr] = first
        if spec.check is not None:
            try:
                values = spec.check(values, given)
            except Invalid as exc:
                line = self.key_line(index, exc.key) if exc.key else self.item_line(index)
                raise self.error(exc.text, module=name, key=exc.key, line=line) from None
        return spec.cls(**values)
