"""The pack's shared configuration (``/1.0/cluster/config``, API extension ``pack_configuration``).

The configuration is a list of modules in the seed's style: on the wire
``[{"WebGui": {"port": 80}}, {"Names": {...}}]``, the order being the order of the
seed's YAML files. It is numbered (``version`` within the leader's ``term``) and
digested (``digest``: SHA-256 of the modules), so that two members can tell whether
they apply the same one.
"""

from __future__ import annotations

import html
import json
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from pylxd_cluster.models.base import (
    ServerModel,
    WireModel,
    as_int,
    as_str,
    as_tuple,
    copy_json,
    frozen_model,
    wire_field,
)

__all__ = ["ConfigModule", "ConfigurationVersion", "PackConfiguration", "describe_version"]

#: How many hex digits of a digest :func:`describe_version` shows.
SHORT_DIGEST = 8


class ConfigModule(NamedTuple):
    """One module of the configuration: its name and its options (``{"WebGui": {"port": 80}}``)."""

    name: str
    options: dict[str, Any]

    def to_api(self) -> dict[str, Any]:
        """The module as it goes on the wire: ``{name: options}``."""
        return {self.name: copy_json(self.options)}


def _decode_modules(value: Any) -> tuple[ConfigModule, ...]:
    """``[{"Name": {options}}, ...]`` (or null) -> a tuple of :class:`ConfigModule`."""
    modules: list[ConfigModule] = []
    for index, item in enumerate(value or (), 1):
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ValueError(f"item {index}: expected one {{\"ModuleName\": {{options}}}} mapping, got {item!r}")
        ((name, options),) = item.items()
        if options is not None and not isinstance(options, Mapping):
            raise ValueError(f"item {index}: module {name}: expected a mapping of options, got {options!r}")
        # A module written "- Name:" (null) in the seed's style has no options.
        modules.append(ConfigModule(str(name), copy_json(dict(options or {}))))
    return tuple(modules)


def _encode_modules(modules: tuple[ConfigModule, ...]) -> list[dict[str, Any]]:
    return [ConfigModule(*module).to_api() for module in modules]


def describe_version(version: int, term: int, digest: str) -> str:
    """``"configuration version 4 (term 1), digest ab12cd34..."``."""
    short = f"{digest[:SHORT_DIGEST]}..." if len(digest) > SHORT_DIGEST else (digest or "none")
    return f"configuration version {version} (term {term}), digest {short}"


@frozen_model
class ConfigurationVersion(WireModel):
    """What a write (``PUT``/``PATCH /1.0/cluster/config``) answers: the new configuration's
    ``version``, ``term`` and ``digest``. ``str()`` of it is :func:`describe_version`'s line."""

    version: int = wire_field(decode=as_int, default=0)
    term: int = wire_field(decode=as_int, default=0)
    digest: str = wire_field(decode=as_str, default="")

    def __str__(self) -> str:
        return describe_version(self.version, self.term, self.digest)


@frozen_model
class PackConfiguration(ServerModel):
    """``GET /1.0/cluster/config``: the modules the pack shares, numbered and digested.

    Attributes:
        modules: the shared modules as :class:`ConfigModule` ``(name, options)`` pairs, in
            wire order (iterate with ``for name, options in config.modules``).
        version: the configuration's number within the leader's ``term``.
        term: the leader term it was written in.
        digest: SHA-256 (hex) of the modules, the same on every member applying them.
        local_modules: the names of the modules the answering member keeps from its own
            file instead of the shared ones.
        etag: the ETag it was read with; :meth:`save` sends it back as If-Match.
    """

    modules: tuple[ConfigModule, ...] = wire_field(decode=_decode_modules, encode=_encode_modules,
                                                   factory=tuple, writable=True)
    version: int = wire_field(decode=as_int, default=0)
    term: int = wire_field(decode=as_int, default=0)
    digest: str = wire_field(decode=as_str, default="")
    local_modules: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple)

    @property
    def names(self) -> tuple[str, ...]:
        """The module names, in wire order."""
        return tuple(module.name for module in self.modules)

    @property
    def options(self) -> Mapping[str, Mapping[str, Any]]:
        """A read-only view ``{module name: options}`` in wire order (``config.options["WebGui"]["port"]``).

        The view and each module's options are read-only; :meth:`module` gives a copy to edit.
        """
        return MappingProxyType({name: MappingProxyType(options) for name, options in self.modules})

    def module(self, name: str) -> dict[str, Any]:
        """A copy of the options of the module called ``name`` (edit it and pass it to a write).

        Raises:
            KeyError: no module has that name (the message lists the modules there are).
        """
        for module_name, options in self.modules:
            if module_name == name:
                return copy_json(options)
        raise KeyError(f"no module {name!r} in the configuration (modules: {', '.join(self.names) or 'none'})")

    def modules_to_api(self) -> list[dict[str, Any]]:
        """The modules as the wire has them: ``[{"Name": {options}}, ...]``."""
        return _encode_modules(self.modules)

    def describe(self) -> str:
        """``"configuration version 3 (term 1), digest ab12cd34..."``."""
        return describe_version(self.version, self.term, self.digest)

    def refresh(self) -> PackConfiguration:
        """Read the configuration again; returns a NEW instance (models are frozen).

        Raises:
            NotImplementedByServer: the server lacks the ``pack_configuration`` extension.
            ClusterError: no manager, or any transport error.
        """
        return self.manager.get()

    def save(self) -> ConfigurationVersion:
        """PUT these modules, with If-Match of the ETag this instance was read with.

        Edit with :meth:`evolve` first, e.g.
        ``config.evolve(modules=config.modules + (ConfigModule("Names", {}),)).save()``.

        Raises:
            PreconditionFailed: the configuration changed on the server since it was read.
            APIError: 400 for a module the server refuses (Pack, PackConfiguration, Api, a
                name given twice); 503 on a pack without a leader.
        """
        return self.manager.save(self)

    def _repr_html_(self) -> str:
        return configuration_html(self)


def _summary(options: Mapping[str, Any], limit: int = 80) -> str:
    """``port=80, listen=['a', 'b']``, cut at ``limit`` characters."""
    text = ", ".join(f"{key}={_scalar(value)}" for key, value in options.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def configuration_html(config: PackConfiguration, caption: str | None = None) -> str:
    """The configuration as an HTML table (MODULE, OPTIONS), its version and digest as caption."""
    from pylxd_cluster.display import _html_table

    rows = [(html.escape(name), html.escape(_summary(options)) or "<i>no options</i>")
            for name, options in config.modules]
    caption = caption or f"Pack {config.describe()}"
    out = _html_table(("MODULE", "OPTIONS"), rows, caption=caption)
    if config.local_modules:
        out += ("<div>Kept from this member's own file: "
                f"{html.escape(', '.join(config.local_modules))}</div>")
    return out
