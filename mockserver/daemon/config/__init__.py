"""Configuration of the reference cluster daemon (``pylxd-cluster-daemon --config node.yaml``).

The file is a YAML list of modules in the seed's style::

    - Pack:
        name: lab
        secret: s3cret-lab
        broadcast: 127.255.255.255
    - Api:
        listen: 127.0.0.11:8443

Known modules are ``Pack`` (required), ``Api`` and ``PackConfiguration``; their options are
listed in :mod:`mockserver.daemon.config.modules` and, machine-readable, in :data:`OPTIONS`. Any
other module is a user module, kept as given. A bad file raises :class:`ConfigError` naming
the file, the module, the key and what was expected.

Public API:

- :func:`load` (path) and :func:`parse` (text, source) -> :class:`DaemonConfig`;
  :func:`validate` (already-parsed data, e.g. from config sync) -> :class:`DaemonConfig`.
- :class:`DaemonConfig` (pack, api, modules, source, pack_configuration), :class:`PackConfig`,
  :class:`ApiConfig`, :class:`PackConfigurationConfig`: frozen dataclasses.
- :func:`render_template`: every module's template (``--print-template``).
- :data:`MODULES` / :data:`OPTIONS`: the option tables both of the above are generated from.
"""
from mockserver.daemon.config.errors import ConfigError
from mockserver.daemon.config.loader import DaemonConfig, load, parse, validate
from mockserver.daemon.config.modules import MODULES, OPTIONS, ApiConfig, PackConfig, PackConfigurationConfig
from mockserver.daemon.config.options import ModuleSpec, Option
from mockserver.daemon.config.template import render_template

__all__ = [
    "ApiConfig",
    "ConfigError",
    "DaemonConfig",
    "MODULES",
    "ModuleSpec",
    "OPTIONS",
    "Option",
    "PackConfig",
    "PackConfigurationConfig",
    "load",
    "parse",
    "render_template",
    "validate",
]
