"""The pack's shared configuration: ``/1.0/cluster/config`` (API extension ``pack_configuration``).

This endpoint is an extension of this project (the mock server and the pack daemons serve
it), not of LXD: the manager checks once, on its first call, that the server advertises
``pack_configuration``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from pylxd_cluster.exceptions import NotFound
from pylxd_cluster.managers.base import Manager, api_call, api_path, plan_of, requires
from pylxd_cluster.models.base import copy_json
from pylxd_cluster.models.configuration import ConfigurationVersion, PackConfiguration
from pylxd_cluster.protocol import Plan, Result

__all__ = ["ConfigurationManager", "EXTENSION"]

#: The API extension a server advertises in ``GET /1.0`` when it serves ``/1.0/cluster/config``.
EXTENSION = "pack_configuration"

#: What :meth:`ConfigurationManager.replace` takes: ``[{"Name": {options}}, ...]``,
#: ``[("Name", {options}), ...]`` (e.g. ``config.modules``) or a mapping ``{"Name": {options}}``.
Modules = Mapping[str, Mapping[str, Any]] | Iterable[Any]


class ConfigurationManager(Manager):
    """``client.cluster.config``: read and change the configuration a pack shares.

    Every method first checks that the server has the ``pack_configuration`` API extension,
    in the ``GET /1.0`` the client read when it connected (a manager built on its own reads it
    on its first call, once), and raises ``ExtensionMissing`` without it, sending nothing.
    Building the manager, or reading ``client.cluster.config``, sends nothing.

    Writes honour If-Match: pass ``etag=`` (the :attr:`PackConfiguration.etag` of what you
    read) and a change made in between is refused with ``PreconditionFailed`` instead of
    being overwritten. :meth:`set` and :meth:`unset` do that on their own. On a pack
    daemon a write is answered once the pack has it; a pack without a leader answers
    ``503``, raised as ``APIError``.

    Args:
        transport, operations, server, api_extensions: as for every
            :class:`~pylxd_cluster.managers.Manager`.
    """

    call_prefix = "cluster.config"
    #: The API extension every method needs.
    extension = EXTENSION

    @property
    def path(self) -> str:
        return api_path("cluster", "config")

    # ---- reading -------------------------------------------------------------------

    @api_call
    @requires(EXTENSION)
    def get(self) -> Plan[PackConfiguration]:
        """``GET /1.0/cluster/config``: the shared modules, version, term, digest and ETag.

        Raises:
            ExtensionMissing: the server lacks the ``pack_configuration`` extension
                (LXD and Incus, or an older mock or daemon); nothing is sent.
            APIError: any other refusal.
        """
        return (yield from self._get_model(self.path, PackConfiguration))

    # ---- writing -------------------------------------------------------------------

    @api_call
    @requires(EXTENSION)
    def replace(self, modules: Modules, etag: str | None = None) -> Plan[ConfigurationVersion]:
        """``PUT``: the shared modules become ``modules``, in that order.

        ``modules`` is a list of ``{"Name": {options}}`` (the wire form), a list of
        ``(name, options)`` pairs (such as ``config.modules``), or a mapping
        ``{"Name": {options}}`` (in its order). Returns the new version, term and digest.

        Raises:
            PreconditionFailed: ``etag`` no longer matches: the configuration changed since.
            APIError: 400 for a module the server refuses (Pack, PackConfiguration and Api
                are per member and never shared; a name given twice; options that are
                not a mapping); 503 on a pack without a leader.
            ExtensionMissing: the server lacks the ``pack_configuration`` extension.
            TypeError: ``modules`` is not in one of the forms above.
        """
        return (yield from self._write("PUT", _wire_modules(modules), etag))

    @api_call
    @requires(EXTENSION)
    def patch(self, changes: Mapping[str, Mapping[str, Any] | None],
              etag: str | None = None) -> Plan[ConfigurationVersion]:
        """``PATCH``: for each ``name: options`` of ``changes``, that module's options become
        ``options`` (it keeps its place, or is appended); ``name: None`` removes the module.

        Modules not named in ``changes`` stay as they are. Options are replaced whole, not
        merged (see :meth:`set` for that).

        Raises:
            PreconditionFailed: ``etag`` no longer matches: the configuration changed since.
            APIError: 400 for a module the server refuses; 503 on a pack without a leader.
            ExtensionMissing: the server lacks the ``pack_configuration`` extension.
            TypeError: ``changes`` is not a mapping.
        """
        if not isinstance(changes, Mapping):
            raise TypeError(f"changes: expected a mapping {{module name: options or None}}, "
                            f"got {type(changes).__name__}")
        body = [{str(name): _plain(options) if options is not None else None}
                for name, options in changes.items()]
        return (yield from self._write("PATCH", body, etag))

    @api_call
    @requires(EXTENSION)
    def save(self, config: PackConfiguration) -> Plan[ConfigurationVersion]:
        """PUT ``config``'s modules with If-Match of the ETag it was read with.

        Raises:
            PreconditionFailed, APIError, ExtensionMissing: as for :meth:`replace`.
        """
        return (yield from plan_of(self.replace, config.modules, etag=config.etag))

    @api_call
    @requires(EXTENSION)
    def set(self, module: str, /, **options: Any) -> Plan[ConfigurationVersion]:
        """Set some options of one module, keeping its other options; a module that does not
        exist yet is appended.

        ``client.cluster.config.set("WebGui", port=80)``; keys that are not Python names go
        through a dict: ``set("WebGui", **{"listen-address": "127.0.0.1"})``.

        Reads the configuration, then PATCHes the merged module with If-Match of what it
        read, so a change made by someone else in between raises ``PreconditionFailed``
        rather than being lost (read again and retry).

        Raises:
            PreconditionFailed: the configuration changed between the read and the write.
            APIError: 400 for a module the server refuses; 503 on a pack without a leader.
            ExtensionMissing: the server lacks the ``pack_configuration`` extension.
        """
        current = yield from plan_of(self.get)
        merged = current.module(module) if module in current.names else {}
        merged.update(_plain(options))
        return (yield from plan_of(self.patch, {module: merged}, etag=current.etag))

    @api_call
    @requires(EXTENSION)
    def unset(self, module: str, key: str | None = None) -> Plan[ConfigurationVersion]:
        """Remove a whole module (``key`` None) or one option of it.

        Reads the configuration, then PATCHes with If-Match of what it read, as :meth:`set`.

        Raises:
            NotFound: the configuration has no such module, or the module no such option
                (nothing is written; the message lists what there is).
            PreconditionFailed: the configuration changed between the read and the write.
            APIError: 503 on a pack without a leader.
            ExtensionMissing: the server lacks the ``pack_configuration`` extension.
        """
        current = yield from plan_of(self.get)
        if module not in current.names:
            raise NotFound(f"no module {module!r} in the cluster configuration "
                           f"(modules: {', '.join(current.names) or 'none'})",
                           status_code=404, endpoint=self._transport.endpoint)
        if key is None:
            return (yield from plan_of(self.patch, {module: None}, etag=current.etag))
        options = current.module(module)
        if key not in options:
            raise NotFound(f"module {module!r} has no option {key!r} "
                           f"(options: {', '.join(map(str, options)) or 'none'})",
                           status_code=404, endpoint=self._transport.endpoint)
        del options[key]
        return (yield from plan_of(self.patch, {module: options}, etag=current.etag))

    # ---- helpers -------------------------------------------------------------------

    def _write(self, method: str, modules: list[dict[str, Any]], etag: str | None) -> Plan[ConfigurationVersion]:
        result: Result = yield self._request(method, self.path, json={"modules": modules},
                                       headers=self._if_match(etag))
        return ConfigurationVersion.from_api(result.metadata or {})


def _wire_modules(modules: Modules) -> list[dict[str, Any]]:
    """Any of the forms :meth:`ConfigurationManager.replace` takes -> ``[{"Name": {options}}, ...]``.

    Raises:
        TypeError: not one of those forms.
    """
    if isinstance(modules, PackConfiguration):
        return modules.modules_to_api()
    if isinstance(modules, Mapping):
        return [{str(name): _plain(options)} for name, options in modules.items()]
    if isinstance(modules, (str, bytes)) or not isinstance(modules, Iterable):
        raise TypeError(f"modules: expected a list of {{name: options}} or a mapping name -> options, "
                        f"got {type(modules).__name__}")
    wire = []
    for index, item in enumerate(modules, 1):
        if isinstance(item, Mapping) and len(item) == 1:
            ((name, options),) = item.items()
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, options = item  # a ConfigModule, or any (name, options) pair
        else:
            raise TypeError(f"modules: item {index}: expected {{name: options}} or (name, options), got {item!r}")
        wire.append({str(name): _plain(options)})
    return wire


def _plain(value: Any) -> Any:
    """User-given options as plain JSON data: any mapping (a read-only view too) becomes a
    dict, any list or tuple a list."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return copy_json(value)
