"""``REMOTE:`` prefixes, as ``lxc`` reads them: ``cluster list prod:``, ``cluster show prod:node1``.

The remotes are those of ``lxc``'s or ``incus``'s client configuration (``lxc remote list``),
found as :meth:`pylxd_cluster.Client.from_remote` finds them (``$LXD_CONF``, ``$INCUS_CONF``,
then the clients' default directories). As in lxc (its ``ParseRemote``), a name with a colon
is split at the first one; when what comes before it is not a known remote, the command fails
with lxc's ``The remote "x" doesn't exist``. A name without a colon is on the server the
command would use anyway.

How a remote combines with the endpoint options: a remote (a prefix, or ``--remote NAME`` for
the commands that take no name) picks the server, its address and certificates from the
client configuration, so ``--endpoint``, ``--cert``, ``--key`` and ``--verify`` cannot be given
with it (the command fails saying so; ``$PYLXD_CLUSTER_ENDPOINT`` only applies without a
remote). Without a remote the endpoint is found as before; lxc's ``default-remote`` is not
used (write ``prod:``, or ``local:`` for the local server).
"""
from __future__ import annotations

import argparse
from typing import Any

from pylxd_cluster import remotes
from pylxd_cluster.client import Client
from pylxd_cluster.exceptions import RemoteConfigError

__all__ = ["UnknownRemote", "known_remotes", "split", "resolve", "connect", "ENDPOINT_OPTIONS"]

#: The options a remote's configuration replaces.
ENDPOINT_OPTIONS = ("endpoint", "cert", "key", "verify")


class UnknownRemote(RemoteConfigError):
    """A ``NAME:`` prefix that names no remote of the client configuration."""


def known_remotes() -> remotes.RemoteConfig | None:
    """The client configuration, or None when there is none (then only ``local`` exists, as
    for a client run for the first time)."""
    try:
        return remotes.find_config()
    except RemoteConfigError as exc:
        if exc.path is None:   # no configuration anywhere (a set $LXD_CONF without one is an error)
            return None
        raise


def split(text: str) -> tuple[str | None, str]:
    """``"prod:node1"`` -> ``("prod", "node1")``; ``"node1"`` -> ``(None, "node1")``.

    Raises:
        UnknownRemote: the part before the colon is not a remote (lxc's message).
        RemoteConfigError: the client configuration cannot be read.
    """
    if ":" not in text:
        return None, text
    prefix, rest = text.split(":", 1)
    config = known_remotes()
    names = set(config.remotes) if config is not None else {"local"}
    if prefix not in names:
        where = f" in {config.path}" if config is not None else " (no lxc or incus client configuration was found)"
        raise UnknownRemote(f'The remote "{prefix}" doesn\'t exist{where}; the remotes: {", ".join(sorted(names))}',
                            remote=prefix, path=config.path if config is not None else None)
    return prefix, rest


def resolve(args: argparse.Namespace, given: set[str]) -> None:
    """Strip the ``REMOTE:`` prefix of the argument that may carry one (``args.remote_arg``)
    and set ``args.remote``; check it against ``--remote`` and the endpoint options (``given``:
    the options given on the command line).

    Raises:
        UnknownRemote, RemoteConfigError: see :func:`split`.
        SystemExit: a remote together with --endpoint (or --cert, --key, --verify), or two
            different remotes.
    """
    remote = getattr(args, "remote", None)
    attribute = getattr(args, "remote_arg", None)
    value = getattr(args, attribute, None) if attribute else None
    if value is not None:
        prefix, rest = split(value)
        if getattr(args, "remote_only", False):
            if value and prefix is None:
                raise SystemExit(f"pylxd-cluster: error: expected a remote and a colon ([REMOTE:], e.g. "
                                 f"{value}:), got {value!r}")
            if rest:
                raise SystemExit(f"pylxd-cluster: error: this command takes a remote only ([REMOTE:]), "
                                 f"got {value!r}")
        elif prefix is not None and not rest:
            raise SystemExit(f"pylxd-cluster: error: Missing {getattr(args, 'remote_what', 'name')} "
                             f"after {prefix}:")
        setattr(args, attribute, rest)
        if prefix is not None:
            if remote is not None and remote != prefix:
                raise SystemExit(f"pylxd-cluster: error: --remote {remote} and {prefix}: name two servers")
            remote = prefix
    args.remote = remote
    if remote is not None:
        clash = [f"--{name}" for name in ENDPOINT_OPTIONS if name in given]
        if clash:
            raise SystemExit(f"pylxd-cluster: error: the remote {remote}: comes with its address and certificates "
                             f"from the client configuration; {' and '.join(clash)} cannot be given with it")


def connect(name: str, timeout: Any) -> Client:
    """A client for remote ``name`` (``local`` without any client configuration: the local
    server, as :class:`Client` finds it)."""
    if name == "local" and known_remotes() is None:
        return Client(None, timeout=timeout)
    return Client.from_remote(name, timeout=timeout)
