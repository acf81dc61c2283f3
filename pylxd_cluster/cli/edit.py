"""``cluster edit MEMBER`` and ``cluster group edit GROUP``: as ``lxc cluster edit`` and ``lxc
cluster group edit`` do.

With a terminal on stdin the member's writable fields (roles, failure_domain, description,
config, groups; a group's whole YAML) open in the editor under lxc's two ``###`` lines; what is
saved is PUT with If-Match of the ETag read. A text that cannot be read, or that the server
refuses, is shown (``Config parsing error: ...``) and the editor offered again on the user's
own text. Without a terminal the YAML is read from stdin (``cluster edit node1 < member.yaml``)
and PUT without If-Match, as lxc does.

As in lxc (Go's YAML decoding into ``ClusterMemberPut``), a field the YAML leaves out is sent
empty, keys that are not writable (``server_name``, ``status`` ... of ``cluster show``) are
ignored, and any scalar is read as text where a string is expected (``80``, ``true``). Unlike
lxc, an empty document is refused rather than sent (it would clear every field).
"""
from __future__ import annotations

import sys
from typing import Any, Mapping

import yaml

from pylxd_cluster.cli import output
from pylxd_cluster.cli.editor import Abandon, EditError, edit_loop
from pylxd_cluster.client import Client
from pylxd_cluster.exceptions import PreconditionFailed

__all__ = ["edit_member", "edit_group", "parse_member_yaml", "parse_group_yaml", "MEMBER_TEMPLATE", "GROUP_TEMPLATE"]

#: lxc 5.0.2's help templates, above the YAML in the editor.
MEMBER_TEMPLATE = ("### This is a yaml representation of the cluster member.\n"
                   "### Any line starting with a '# will be ignored.\n\n")
GROUP_TEMPLATE = ("### This is a YAML representation of the cluster group.\n"
                  "### Any line starting with a '# will be ignored.\n\n")

MEMBER_FIELDS = ("roles", "failure_domain", "description", "config", "groups")


class _TextLoader(yaml.SafeLoader):
    """YAML as Go's decoder reads it into string fields: every scalar but null is its text
    (``port: 80`` is ``"80"``, ``true`` is ``"true"``)."""


for _tag in ("bool", "int", "float", "timestamp"):
    _TextLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", lambda loader, node: loader.construct_scalar(node))


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"yaml: {where}{problem}"


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list"}.get(type(value), f"{value!r}")


def _document(text: str, what: str, fields: str) -> Mapping[str, Any]:
    try:
        document = yaml.load(text, Loader=_TextLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise EditError(_yaml_error(exc)) from None
    if document is None:
        raise EditError(f"the {what} is empty (nothing was sent: it would clear {fields})")
    if not isinstance(document, dict):
        raise EditError(f"expected a YAML mapping of the {what}'s fields ({fields}), got {_kind(document)}")
    return document


def _text(document: Mapping[str, Any], key: str) -> str:
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EditError(f"{key}: expected a string, got {_kind(value)}")
    return value


def _names(document: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = document.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EditError(f"{key}: expected a list of strings, got {_kind(value)}")
    return tuple(value)


def parse_member_yaml(text: str) -> dict[str, Any]:
    """The writable fields of an edited member: ``{roles, failure_domain, description, config,
    groups}`` (those left out empty, other keys ignored).

    Raises:
        EditError: not YAML, empty, not a mapping, or a field of the wrong type.
    """
    document = _document(text, "member", ", ".join(MEMBER_FIELDS))
    config = document.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict) or not all(isinstance(key, str) for key in config):
        raise EditError(f"config: expected a mapping of keys to values, got {_kind(config)}")
    for key, value in config.items():
        if isinstance(value, (dict, list)):
            raise EditError(f"config: {key}: expected a string, got {_kind(value)}")
    return {"roles": _names(document, "roles"), "failure_domain": _text(document, "failure_domain"),
            "description": _text(document, "description"),
            "config": {key: "" if value is None else value for key, value in config.items()},
            "groups": _names(document, "groups")}


def parse_group_yaml(text: str) -> dict[str, Any]:
    """The writable fields of an edited group: ``{description, members}`` (``name`` and other
    keys ignored, as lxc ignores them).

    Raises:
        EditError: not YAML, empty, not a mapping, or a field of the wrong type.
    """
    document = _document(text, "group", "description, members")
    return {"description": _text(document, "description"), "members": _names(document, "members")}


def _writable(member: Any) -> dict[str, Any]:
    return {"roles": tuple(member.roles), "failure_domain": member.failure_domain,
            "description": member.description, "config": dict(member.config), "groups": tuple(member.groups)}


def member_yaml(member: Any) -> str:
    """The member's writable fields as lxc shows them in the editor (its ``Writable()``)."""
    data = {key: list(value) if isinstance(value, tuple) else value for key, value in _writable(member).items()}
    return output.yaml_text(data)


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _changed(what: str, name: str, retry: str) -> Abandon:
    return Abandon(f"{what} {name} changed on the server since it was read for the editor (If-Match refused); "
                   f"nothing was written. To apply your edit anyway, run `{retry}`; to start again from what "
                   "the server has now, run the command again")


def edit_member(client: Client, name: str, command: str = "pylxd-cluster cluster edit") -> str:
    """``cluster edit NAME``: in the editor on a terminal, else from stdin. Returns ``""`` (lxc
    prints nothing).

    Raises:
        EditError: unreadable YAML on stdin, the user gave up, the editor failed.
        Abandon: the member changed meanwhile.
        ClusterError: from the SDK (NotFound ...).
    """
    members_api = client.cluster.members
    if not _stdin_is_terminal():
        fields = parse_member_yaml(sys.stdin.read())
        current = members_api.get(name)
        members_api.save(current.evolve(etag=None, **fields))
        return ""
    current = members_api.get(name)
    retry = f"{command} {name} < {{path}}"

    def apply(text: str) -> str:
        fields = parse_member_yaml(text)
        if fields == _writable(current):
            return ""
        try:
            members_api.save(current.evolve(**fields))
        except PreconditionFailed:
            raise _changed("member", name, retry) from None
        return ""

    return edit_loop(MEMBER_TEMPLATE + member_yaml(current), apply, prefix=f"pylxd-cluster-member-{name}-",
                     retry=retry)


def edit_group(client: Client, name: str, command: str = "pylxd-cluster cluster group edit") -> str:
    """``cluster group edit NAME``: as :func:`edit_member`, for a cluster group (description,
    members)."""
    groups_api = client.cluster.groups
    if not _stdin_is_terminal():
        fields = parse_group_yaml(sys.stdin.read())
        groups_api.replace(name, description=fields["description"], members=fields["members"])
        return ""
    current = groups_api.get(name)
    retry = f"{command} {name} < {{path}}"

    def apply(text: str) -> str:
        fields = parse_group_yaml(text)
        if fields == {"description": current.description, "members": tuple(current.members)}:
            return ""
        try:
            groups_api.replace(name, description=fields["description"], members=fields["members"],
                               etag=current.etag)
        except PreconditionFailed:
            raise _changed("group", name, retry) from None
        return ""

    # lxc 5.0.2's ClusterGroup: description, members and name (a newer server's used_by is not shown).
    text = output.yaml_text({"description": current.description, "members": list(current.members),
                             "name": current.name})
    return edit_loop(GROUP_TEMPLATE + text, apply, prefix=f"pylxd-cluster-group-{name}-", retry=retry)
