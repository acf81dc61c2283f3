"""``pylxd-cluster config``: show and change a pack's shared configuration (``/1.0/cluster/config``).

The configuration is shown and edited as YAML in the seed's style, one ``- Name: {options}``
item per module, under a header comment naming its version, term and digest::

    # configuration version 3 (term 1), digest 4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945
    - WebGui:
        port: 80
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
from typing import Any

import yaml

from pylxd_cluster import display
from pylxd_cluster.cli import editor, output
from pylxd_cluster.cli.editor import EditError, find_editor
from pylxd_cluster.client import Client
from pylxd_cluster.exceptions import APIError, PreconditionFailed
from pylxd_cluster.managers.configuration import ConfigurationManager
from pylxd_cluster.models.configuration import PackConfiguration, describe_version

__all__ = ["add_parser", "run", "config_yaml", "parse_config_yaml", "parse_assignment", "EditError", "find_editor"]

HELP = "show and change a pack's shared configuration (/1.0/cluster/config)"

DESCRIPTION = """\
Show and change the configuration a pack shares: the modules every member applies
(GET/PUT/PATCH /1.0/cluster/config, the API extension pack_configuration of the
pylxd-cluster mock server and pack daemons; LXD itself does not have it).

The configuration is a YAML list of modules in the seed's style, `- Name: {options}`,
numbered by a version within the leader's term and identified by a digest. Pack,
PackConfiguration and Api are configured per member in its own file and cannot be
shared. Every write is refused (nothing changes) when the configuration changed since
it was read, and prints the new version.
"""

EPILOG = """\
examples:
  pylxd-cluster config show
  pylxd-cluster config show --format json | jq .version
  pylxd-cluster config set WebGui port=80 listen=0.0.0.0
  pylxd-cluster config unset WebGui listen      # one option
  pylxd-cluster config unset WebGui             # the whole module
  pylxd-cluster config edit                     # in $VISUAL (then $EDITOR, editor, vi)
  pylxd-cluster config show > pack.yaml; vi pack.yaml; pylxd-cluster config edit < pack.yaml
"""

SHOW_DESCRIPTION = """\
Print the shared configuration. The default (and --format yaml) is the YAML module list
in the seed's style under a header comment with the version, term and full digest;
--format json prints the whole object (modules, version, term, digest, local_modules);
--format table prints one row per module.
"""

SET_DESCRIPTION = """\
Set options of one module, keeping its other options; a module that does not exist yet
is added at the end. Each VALUE is read as YAML: 80 is a number, true a boolean, an
empty value null (the option's default), [a, b] a list, {a: 1} a mapping; anything else
is a string (quote it to keep 80 a string: port='"80"').
"""

SET_EPILOG = """\
examples:
  pylxd-cluster config set WebGui port=80
  pylxd-cluster config set Names hosts='[a, b, c]' enabled=true
"""

UNSET_DESCRIPTION = """\
Remove one option of a module, or (without KEY) the whole module. A module or option
that does not exist is an error, and nothing is written.
"""

EDIT_DESCRIPTION = """\
Edit the whole configuration as YAML, like `lxc config edit`.

With a terminal on stdin, the configuration is opened in $VISUAL (else $EDITOR, else
`editor`, else vi); save and quit to apply it. The change is sent with If-Match of what was shown: if the
configuration changed meanwhile, nothing is written and you re-run the command. When the
YAML cannot be read or the server refuses it, the error is shown and you may edit again.

Otherwise the YAML is read from stdin. If it is what `config show` printed (the header
line, or the version and digest of --format json), it is refused when the configuration
changed since that was shown.
"""

EDIT_EPILOG = """\
examples:
  pylxd-cluster config edit
  EDITOR=nano pylxd-cluster config edit
  pylxd-cluster config show > pack.yaml; vi pack.yaml; pylxd-cluster config edit < pack.yaml
  printf -- '- WebGui:\\n    port: 80\\n' | pylxd-cluster config edit
"""

#: The first line of ``config show``: version, term and the full digest.
_HEADER_RE = re.compile(r"^#\s*configuration version (\d+) \(term (\d+)\), digest ([0-9a-f]{64})\s*$")

_EDIT_HELP = """\
### The pack's shared configuration: a YAML list of modules in the seed's style,
### one `- Name: {options}` per module. Pack, PackConfiguration and Api are per
### member and cannot be shared. Lines starting with '#' are ignored.
### Save and quit to apply; empty the file to abort.
"""


# ---- the parser -------------------------------------------------------------------


def parse_assignment(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(key, value)``, VALUE read as YAML (see ``config set --help``).

    Raises:
        argparse.ArgumentTypeError: no ``=``, or an empty KEY.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, parse_value(raw)


def parse_value(raw: str) -> Any:
    """A value as YAML: ``80`` -> 80, ``true`` -> True, ``""`` -> None, ``[a, b]`` -> a list;
    text that YAML reads as something else (``a: b``, ``- x``) or cannot read stays a string."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, (dict, list)) and not raw.lstrip().startswith(("[", "{")):
        return raw
    return value


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``config`` (and its actions) on the main parser's subcommands."""
    formatter = argparse.RawDescriptionHelpFormatter
    config = commands.add_parser("config", parents=[common], help=HELP, description=DESCRIPTION,
                                 epilog=EPILOG, formatter_class=formatter)
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True

    show = actions.add_parser("show", parents=[common], help="print the configuration (YAML by default)",
                              description=SHOW_DESCRIPTION, formatter_class=formatter)
    show.set_defaults(command_defaults={"format": "yaml"})

    set_ = actions.add_parser("set", parents=[common], help="set options of a module (KEY=VALUE ...)",
                              description=SET_DESCRIPTION, epilog=SET_EPILOG, formatter_class=formatter)
    set_.add_argument("module", metavar="MODULE", help="the module's name, e.g. WebGui")
    set_.add_argument("assignments", metavar="KEY=VALUE", nargs="+", type=parse_assignment,
                      help="an option and its value (read as YAML)")

    unset = actions.add_parser("unset", parents=[common], help="remove a module, or one option of it",
                               description=UNSET_DESCRIPTION, formatter_class=formatter)
    unset.add_argument("module", metavar="MODULE", help="the module's name")
    # dest is not "key": that is the global --key (the client key file).
    unset.add_argument("option", metavar="KEY", nargs="?", help="the option to remove (default: the whole module)")

    actions.add_parser("edit", parents=[common],
                       help="edit the whole configuration as YAML ($VISUAL, $EDITOR or stdin)",
                       description=EDIT_DESCRIPTION, epilog=EDIT_EPILOG, formatter_class=formatter)


# ---- rendering --------------------------------------------------------------------


def header(config: PackConfiguration) -> str:
    """``# configuration version 3 (term 1), digest <64 hex>`` (the full digest, so that
    ``config edit`` can check it), then the local modules, if any."""
    lines = [f"# configuration version {config.version} (term {config.term}), digest {config.digest}"]
    if config.local_modules:
        lines.append(f"# kept from this member's own file, not shared: {', '.join(config.local_modules)}")
    return "\n".join(lines)


def config_yaml(config: PackConfiguration, help_text: str = "") -> str:
    """The header, then the modules in the seed's style (``- Name:`` and its options below)."""
    body = yaml.safe_dump(config.modules_to_api(), sort_keys=False, default_flow_style=False,
                          allow_unicode=True)
    return header(config) + "\n" + help_text + body.rstrip("\n")


def _option_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip().removesuffix("\n...").strip()


def config_table(config: PackConfiguration) -> str:
    """One row per module, one option per line; the version line above."""
    rows = [(name, "\n".join(f"{key}: {_option_text(value)}" for key, value in options.items()))
            for name, options in config.modules]
    lines = [config.describe()]
    if config.local_modules:
        lines.append(f"kept from this member's own file, not shared: {', '.join(config.local_modules)}")
    if rows:
        lines.append(display.text_table(("MODULE", "OPTIONS"), rows))
    else:
        lines.append("no shared modules")
    return "\n".join(lines)


def render_show(config: PackConfiguration, fmt: str) -> str:
    if fmt == "yaml":
        return config_yaml(config)
    return output.render(config, fmt, config_table)


def render_written(version: Any, fmt: str) -> str:
    return output.render(version, fmt, str)


# ---- reading what was edited ------------------------------------------------------


def parse_config_yaml(text: str) -> list[dict[str, Any]]:
    """The modules of an edited configuration, as ``[{"Name": {options}}, ...]``.

    Takes the seed-style list (what ``config show`` prints) or an object with ``modules``
    (what ``config show --format json`` prints). A module written ``- Name:`` (null) has
    no options.

    Raises:
        EditError: not YAML, empty, or not a list of one-key ``{Name: {options}}`` mappings.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EditError(f"the YAML cannot be read: {_yaml_error(exc)}") from None
    if document is None:
        raise EditError("the configuration is empty (write [] to remove every shared module)")
    if isinstance(document, dict) and "modules" in document:
        document = document["modules"]
    if not isinstance(document, list):
        raise EditError(f"expected a YAML list of modules (`- Name: {{options}}`), got a {type(document).__name__}")
    modules = []
    for index, item in enumerate(document, 1):
        if not isinstance(item, dict) or len(item) != 1:
            raise EditError(f"item {index}: expected one `- Name: {{options}}` module, got {item!r}")
        ((name, options),) = item.items()
        if not isinstance(name, str) or not name:
            raise EditError(f"item {index}: the module name must be a non-empty string, got {name!r}")
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise EditError(f"item {index}: module {name}: expected a mapping of options, got {options!r}")
        modules.append({name: options})
    return modules


def _yaml_error(exc: yaml.YAMLError) -> str:
    """``line 3, column 5: expected <block end>, but found '-'`` (PyYAML's own text is several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}" + (f" ({context})" if context else "")


def _shown_version(text: str) -> tuple[int, int, str] | None:
    """(version, term, digest) of what ``config show`` printed: its header line, or the
    fields of its ``--format json`` object; None when the text has neither."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    match = _HEADER_RE.match(first.strip())
    if match:
        return int(match.group(1)), int(match.group(2)), match.group(3)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(document, dict) and isinstance(document.get("digest"), str) and document["digest"]:
        try:
            return int(document.get("version") or 0), int(document.get("term") or 0), document["digest"]
        except (TypeError, ValueError):
            return None
    return None


# ---- the actions ------------------------------------------------------------------


def run(args: argparse.Namespace, client: Client) -> str:
    """Run one ``config`` action; returns what to print on stdout.

    Raises:
        ClusterError: from the SDK, or :class:`EditError` with what to do.
    """
    # The client read GET /1.0 already: the manager need not read it again for the extensions.
    manager = ConfigurationManager(client.transport, client.operations, server=client.server_info)
    action = args.config_command
    if action == "show":
        return render_show(manager.get(), args.format)
    if action == "set":
        return render_written(manager.set(args.module, **dict(args.assignments)), args.format)
    if action == "unset":
        return render_written(manager.unset(args.module, args.option), args.format)
    if action == "edit":
        if sys.stdin is not None and sys.stdin.isatty():
            return _edit_interactively(manager, args.format)
        return _edit_from_stdin(manager, args.format)
    raise AssertionError(action)


def _edit_from_stdin(manager: Any, fmt: str) -> str:
    text = sys.stdin.read()
    try:
        modules = parse_config_yaml(text)
    except EditError as exc:
        raise EditError(f"cannot read the configuration from stdin: {exc}; fix the YAML and run "
                        "`pylxd-cluster config edit < FILE` again") from None
    current = manager.get()
    shown = _shown_version(text)
    if shown is not None and shown[2] != current.digest:
        raise EditError(_changed_message(
            f"it was shown as {describe_version(*shown)} and is now {current.describe()}",
            "run `pylxd-cluster config show` again and redo your change on what it prints"))
    if modules == current.modules_to_api():
        return f"No change: {current.describe()}"
    try:
        written = manager.replace(modules, etag=current.etag if shown is not None else None)
    except PreconditionFailed as exc:
        raise EditError(_changed_message(exc.error, "run `pylxd-cluster config show` again and redo "
                                                    "your change on what it prints")) from None
    except APIError as exc:
        if exc.status_code != 400:
            raise
        raise EditError(f"the server refused the configuration: {exc.error}; fix the YAML and run "
                        "`pylxd-cluster config edit < FILE` again") from None
    return render_written(written, fmt)


def _edit_interactively(manager: Any, fmt: str) -> str:
    current = manager.get()
    text = config_yaml(current, _EDIT_HELP) + "\n"
    handle, path = tempfile.mkstemp(prefix="pylxd-cluster-config-", suffix=".yaml")
    os.close(handle)
    done = False  # the file is removed once the edit is applied (or made no change), else kept
    try:
        while True:
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text)
            editor.run_editor(path)
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
            if editor.is_empty(text):
                done = True
                raise EditError("the file was emptied: edit aborted, nothing was written")
            try:
                modules = parse_config_yaml(text)
                if modules == current.modules_to_api():
                    done = True
                    return f"No change: {current.describe()}"
                written = manager.replace(modules, etag=current.etag)
                done = True
                return render_written(written, fmt)
            except PreconditionFailed as exc:
                raise EditError(_changed_message(
                    exc.error, f"run `pylxd-cluster config edit` again (your edit is kept in {path})")) from None
            except EditError as exc:
                problem = f"the YAML cannot be used: {exc}"
            except APIError as exc:
                if exc.status_code != 400:
                    raise EditError(f"{exc}; nothing was written (your edit is kept in {path})") from None
                problem = f"the server refused the configuration: {exc.error}"
            if not _ask_to_edit_again(problem):
                raise EditError(f"{problem}; nothing was written. Your edit is kept in {path}: fix it and "
                                f"run `pylxd-cluster config edit < {shlex.quote(path)}`")
    finally:
        if done:
            os.unlink(path)


def _ask_to_edit_again(problem: str) -> bool:
    """Print ``problem`` and ask whether to open the editor again; False on Ctrl-C or end of input."""
    return editor.ask_to_edit_again(problem, "Press Enter to open the editor again, or Ctrl-C to abort: ")


def _changed_message(detail: str, retry: str) -> str:
    return (f"the configuration changed on the server meanwhile ({detail}); nothing was written. "
            f"To retry, {retry}")
