"""Finding the local server's unix socket, as ``lxc`` and ``incus`` do.

Each client has its own order (LXD's ``client/connection.go`` ``ConnectLXDUnix`` and Incus's
``ConnectIncusUnix``): its ``*_SOCKET`` variable, else its ``*_DIR`` variable plus
``/unix.socket``, else its default paths. A variable that is set is obeyed as those clients
obey it: if it names no socket, that is an error, not a reason to connect to some other
server instead (a test pointing ``LXD_SOCKET`` at a mock must not reach the production LXD
because the mock is down).
"""

from __future__ import annotations

import os

from pylxd_cluster.exceptions import ClientConnectionError

__all__ = ["SERVERS", "LXD_SOCKET_PATHS", "INCUS_SOCKET_PATHS", "socket_candidates", "find_socket"]

#: The servers whose sockets :func:`find_socket` looks for, in its order.
SERVERS = ("lxd", "incus")

#: LXD's default sockets: the snap's, then the Debian/Ubuntu package's (``lxc`` itself knows
#: only the latter; the snap's ``lxc`` sets ``LXD_DIR`` to the former).
LXD_SOCKET_PATHS: tuple[str, ...] = (
    "/var/snap/lxd/common/lxd/unix.socket",
    "/var/lib/lxd/unix.socket",
)

#: Incus's default sockets, in ``incus``'s order: ``/run/incus`` when it exists, else
#: ``/var/lib/incus``.
INCUS_SOCKET_PATHS: tuple[str, ...] = (
    "/run/incus/unix.socket",
    "/var/lib/incus/unix.socket",
)

_VARIABLES = {"lxd": ("LXD_SOCKET", "LXD_DIR"), "incus": ("INCUS_SOCKET", "INCUS_DIR")}


def _paths(server: str) -> tuple[str, ...]:
    # Read at call time, so that tests (and users) can replace the module's tuples.
    return LXD_SOCKET_PATHS if server == "lxd" else INCUS_SOCKET_PATHS


def _check_server(server: str | None) -> tuple[str, ...]:
    if server is None:
        return SERVERS
    if server not in SERVERS:
        raise ValueError(f"server must be one of {', '.join(map(repr, SERVERS))} or None, not {server!r}")
    return (server,)


def socket_candidates(server: str | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Where to look, in order: ``(from_variables, default_paths)``, each a list of
    ``(path, where it comes from)``.

    ``from_variables``: for each server (``server`` alone, or LXD then Incus), the first of
    its variables that is set (``LXD_SOCKET`` before ``LXD_DIR``, as ``lxc`` reads them).
    ``default_paths``: every default path of those servers, LXD's first.

    Raises:
        ValueError: ``server`` is not None, ``"lxd"`` or ``"incus"``.
    """
    chosen = _check_server(server)
    from_variables: list[tuple[str, str]] = []
    defaults: list[tuple[str, str]] = []
    for name in chosen:
        socket_var, dir_var = _VARIABLES[name]
        if os.environ.get(socket_var):
            from_variables.append((os.environ[socket_var], f"${socket_var}"))
        elif os.environ.get(dir_var):
            from_variables.append((os.path.join(os.environ[dir_var], "unix.socket"), f"${dir_var}/unix.socket"))
        defaults.extend((path, f"{name}'s default") for path in _paths(name))
    return from_variables, defaults


def find_socket(server: str | None = None) -> str:
    """The local server's unix socket.

    ``server`` None looks for LXD's and Incus's, in this order: LXD's variables
    (``LXD_SOCKET``, else ``LXD_DIR``), Incus's (``INCUS_SOCKET``, else ``INCUS_DIR``), then
    the default paths: LXD's snap (``/var/snap/lxd/common/lxd/unix.socket``) and package
    (``/var/lib/lxd/unix.socket``), then Incus's (``/run/incus/unix.socket``,
    ``/var/lib/incus/unix.socket``). A variable is a choice someone made for this process,
    so any variable beats any default path; among equals LXD comes first, as it did before
    this SDK looked for Incus (a machine with both keeps talking to LXD; pass
    ``server="incus"`` for Incus). ``server="lxd"`` or ``"incus"`` looks for that one's only.

    The first variable that is set decides: its socket is returned if it exists, and
    otherwise this raises (as ``lxc`` and ``incus`` fail rather than try elsewhere). With no
    variable set, the first default path that exists is returned.

    Raises:
        ClientConnectionError: no socket where a variable says, or at none of the default
            paths (the message names every place looked at, and what to do).
        ValueError: ``server`` is not None, ``"lxd"`` or ``"incus"``.
    """
    from_variables, defaults = socket_candidates(server)
    whose = {None: "LXD or Incus", "lxd": "LXD", "incus": "Incus"}[server]
    if from_variables:
        path, where = from_variables[0]
        if os.path.exists(path):
            return path
        ignored = "".join(f"; {other_where} ({other}) was not tried" for other, other_where in from_variables[1:])
        raise ClientConnectionError(
            f"no unix socket at {path} (from {where}){ignored}; is the server running? A variable that is set "
            f"is obeyed, as lxc and incus obey it: fix or unset {where.split('/')[0]} to look in the usual places, "
            "or pass endpoint='/path/to/unix.socket'",
            endpoint=None,
        )
    for path, _ in defaults:
        if os.path.exists(path):
            return path
    tried = ", ".join(path for path, _ in defaults)
    variables = ", ".join(var for name in _check_server(server) for var in _VARIABLES[name])
    raise ClientConnectionError(
        f"no {whose} unix socket found (tried: {tried}; none of {variables} is set); is the server running? "
        "Set one of those variables, or pass endpoint='/path/to/unix.socket' or endpoint='https://host:8443'",
        endpoint=None,
    )
