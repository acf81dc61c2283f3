"""The remotes of ``lxc``'s and ``incus``'s client configuration, for :meth:`Client.from_remote`.

Both clients keep ``config.yml`` in a configuration directory::

    default-remote: prod
    remotes:
      prod: {addr: "https://10.0.0.1:8443", protocol: lxd, public: false, auth_type: tls}
      local: {addr: "unix://", public: false}
      images: {addr: "https://images.linuxcontainers.org", protocol: simplestreams, public: true}

with the client's certificate (``client.crt``, ``client.key``) beside it and each remote's
pinned server certificate in ``servercerts/<name>.crt``. This module reads them as the
clients do (LXD's ``lxc/config`` and Incus's ``shared/cliconfig``): the ``local`` remote
always exists and is the local unix socket; ``default-remote`` defaults to ``local`` and
``$LXC_REMOTE`` / ``$INCUS_REMOTE`` override it.

Where the configuration is (:func:`config_candidates`):

* ``lxc``: ``$LXD_CONF``, else the snap's ``~/snap/lxd/common/config`` (the snap's ``lxc``
  sets ``LXD_CONF`` there, and copies ``~/.config/lxc`` into it on its first run, so when
  both exist the snap's is the current one), else ``~/.config/lxc``;
* ``incus``: ``$INCUS_CONF``, else ``$XDG_CONFIG_HOME/incus`` (``~/.config/incus``).

As for sockets (:mod:`pylxd_cluster.sockets`), a variable that is set is obeyed, LXD's
before Incus's, and beats every default directory.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from typing import Any, Mapping

import attrs
import yaml

from pylxd_cluster.exceptions import RemoteConfigError
from pylxd_cluster.sockets import SERVERS

__all__ = ["Remote", "RemoteConfig", "config_candidates", "find_config", "load_config", "load_remote"]

_CONF_VARIABLES = {"lxd": "LXD_CONF", "incus": "INCUS_CONF"}
_REMOTE_VARIABLES = {"lxd": "LXC_REMOTE", "incus": "INCUS_REMOTE"}
_CLIENTS = {"lxd": "lxc", "incus": "incus"}
#: Protocols of the servers this SDK talks to; "" is the configuration's own client's.
_SERVER_PROTOCOLS = ("", "lxd", "incus")


@attrs.frozen
class Remote:
    """One remote of a client configuration.

    Attributes:
        name: its name.
        addr: ``unix://`` (the local socket), ``unix:///path``, or ``https://host:port``.
        protocol: ``lxd``, ``incus``, ``simplestreams`` (an image server) ...; ``""`` when
            the file does not say (the client's own).
        public: a public (image) server, used without a client certificate.
        auth_type: ``tls`` (a client certificate; the default), ``oidc``, ``candid`` ...
        project: the project the client uses there (``""``: default).
        server: whose configuration this is: ``"lxd"`` (``lxc``), ``"incus"``, or None (a
            directory given by the caller).
        config_dir: the configuration directory.
    """

    name: str
    addr: str
    protocol: str = ""
    public: bool = False
    auth_type: str = "tls"
    project: str = ""
    server: str | None = None
    config_dir: str = ""

    @property
    def is_unix(self) -> bool:
        return self.addr.startswith("unix:")

    @property
    def socket_path(self) -> str:
        """The socket of a ``unix:`` remote (``""``: the local server's, to be looked for)."""
        path = self.addr[len("unix:"):]
        return path[2:] if path.startswith("//") else path

    @property
    def server_cert_path(self) -> str:
        """Where the client keeps this remote's pinned certificate (``servercerts/<name>.crt``)."""
        return os.path.join(self.config_dir, "servercerts", f"{self.name}.crt")

    @property
    def client_cert_paths(self) -> tuple[str, str]:
        """The client's certificate and key (``client.crt``, ``client.key``)."""
        return os.path.join(self.config_dir, "client.crt"), os.path.join(self.config_dir, "client.key")

    def connection(self) -> dict[str, Any]:
        """The :class:`~pylxd_cluster.Client` arguments to reach this remote: ``endpoint``
        and ``server`` (for ``unix://``), or ``endpoint``, ``cert`` and ``verify`` (HTTPS: the
        client certificate, and the pinned certificate's SHA-256 fingerprint, else the
        client's ``client.ca``, else the system's CAs, as ``lxc`` does). An ``http://``
        address (which ``lxc`` never writes, but a mock server serves) gets no certificates.

        Raises:
            RemoteConfigError: an image server (simplestreams, or ``public``), an
                authentication other than TLS client certificates, an address that is
                neither ``unix:``, ``http://`` nor ``https://``, a missing or unreadable
                certificate, a password-protected key.
        """
        client = _CLIENTS.get(self.server or "", "the client")
        if self.protocol not in _SERVER_PROTOCOLS:
            kind = "an image server" if self.protocol in ("simplestreams", "oci") else "not an LXD or Incus server"
            raise RemoteConfigError(
                f"remote {self.name!r} ({self.addr}) speaks {self.protocol}: it is {kind}, not a server with a "
                f"cluster API; pick another remote ({client} remote list shows them)", remote=self.name)
        if self.public:
            raise RemoteConfigError(
                f"remote {self.name!r} ({self.addr}) is public: a read-only image server, not a server this client "
                f"can manage (as {client} says: \"The remote isn't a private server\"); pick another remote",
                remote=self.name)
        if self.is_unix:
            path = self.socket_path
            return {"endpoint": path, "server": None} if path else {"endpoint": None, "server": self.server}
        if self.addr.startswith("http://"):
            return {"endpoint": self.addr}
        if not self.addr.startswith("https://"):
            raise RemoteConfigError(f"remote {self.name!r}: address {self.addr!r} is neither unix://, http:// nor "
                                    "https://", remote=self.name)
        if self.auth_type not in ("", "tls"):
            raise RemoteConfigError(
                f"remote {self.name!r} uses auth_type {self.auth_type!r}; this client authenticates with TLS client "
                f"certificates only: add the remote again with them ({client} remote add NAME URL --auth-type=tls)",
                remote=self.name)
        return {"endpoint": self.addr, "cert": self._client_cert(client), "verify": self._verify()}

    def _client_cert(self, client: str) -> tuple[str, str]:
        crt, key = self.client_cert_paths
        missing = [path for path in (crt, key) if not os.path.isfile(path)]
        if missing:
            raise RemoteConfigError(
                f"remote {self.name!r} needs the client certificate and key, and {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing (\"Missing TLS client certificate and key\", "
                f"{client} says); {client} creates them on first use: run `{client} remote list` once, and add this "
                f"client's certificate to the server's trust store", remote=self.name, path=missing[0])
        with open(key, encoding="utf-8", errors="replace") as handle:
            if "ENCRYPTED" in handle.read(4096):
                raise RemoteConfigError(f"{key} is password-protected; this client cannot ask for the password: "
                                        "use a key without one", remote=self.name, path=key)
        return crt, key

    def _verify(self) -> bool | str:
        pinned = self.server_cert_path
        if os.path.isfile(pinned):
            try:
                with open(pinned, encoding="ascii") as handle:
                    der = ssl.PEM_cert_to_DER_cert(handle.read())
            except (ValueError, UnicodeDecodeError) as exc:
                raise RemoteConfigError(f"{pinned} is not a PEM certificate ({exc}); add the remote again to "
                                        "pin its certificate", remote=self.name, path=pinned) from None
            return hashlib.sha256(der).hexdigest()
        ca = os.path.join(self.config_dir, "client.ca")
        return ca if os.path.isfile(ca) else True


@attrs.frozen
class RemoteConfig:
    """A client configuration file: its remotes (``local`` always among them) and the
    default one.

    Attributes:
        path: the ``config.yml``.
        server: whose configuration it is: ``"lxd"``, ``"incus"``, or None (a directory
            given by the caller).
        default_remote: the remote used when none is named.
        remotes: name -> :class:`Remote`.
    """

    path: str
    server: str | None
    default_remote: str
    remotes: Mapping[str, Remote]

    def remote(self, name: str | None = None) -> Remote:
        """The remote called ``name`` (None: the default one).

        Raises:
            RemoteConfigError: no such remote (the message lists those there are).
        """
        wanted = name or self.default_remote
        try:
            return self.remotes[wanted]
        except KeyError:
            which = f"remote {wanted!r}" if name else f"default remote {wanted!r}"
            raise RemoteConfigError(
                f"no {which} in {self.path} (remotes: {', '.join(sorted(self.remotes))}); add it with "
                f"`{_CLIENTS.get(self.server or '', 'lxc')} remote add`, or name one of those",
                remote=name, path=self.path) from None


def config_candidates(server: str | None = None) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Where configurations are looked for, in order: ``(from_variables, defaults)``, each a
    list of ``(directory, server, where it comes from)``.

    Raises:
        ValueError: ``server`` is not None, ``"lxd"`` or ``"incus"``.
    """
    if server is not None and server not in SERVERS:
        raise ValueError(f"server must be one of {', '.join(map(repr, SERVERS))} or None, not {server!r}")
    chosen = SERVERS if server is None else (server,)
    home = os.path.expanduser("~")
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    defaults = {
        "lxd": [(os.path.join(home, "snap", "lxd", "common", "config"), "lxd", "the lxd snap's"),
                (os.path.join(home, ".config", "lxc"), "lxd", "lxc's default")],
        "incus": [(os.path.join(config_home, "incus"), "incus", "incus's default")],
    }
    from_variables = [(os.environ[_CONF_VARIABLES[name]], name, f"${_CONF_VARIABLES[name]}")
                      for name in chosen if os.environ.get(_CONF_VARIABLES[name])]
    return from_variables, [entry for name in chosen for entry in defaults[name]]


def find_config(server: str | None = None, config_dir: str | os.PathLike | None = None) -> RemoteConfig:
    """Read the client configuration: ``config_dir``'s if given, else the first found
    (see :func:`config_candidates`: a variable that is set decides; otherwise the first
    default directory holding a ``config.yml``).

    Raises:
        RemoteConfigError: no configuration file (the message names every file looked
            for), or one that cannot be read.
        ValueError: ``server`` is not None, ``"lxd"`` or ``"incus"``.
    """
    if config_dir is not None:
        return load_config(os.path.join(os.fspath(config_dir), "config.yml"), server)
    from_variables, defaults = config_candidates(server)
    if from_variables:
        directory, owner, where = from_variables[0]
        path = os.path.join(directory, "config.yml")
        if not os.path.isfile(path):
            raise RemoteConfigError(
                f"no client configuration at {path} (from {where}); set {where[1:]} to the directory holding "
                f"{_CLIENTS[owner]}'s config.yml, or unset it to look in the usual places", path=path)
        return load_config(path, owner)
    for directory, owner, _ in defaults:
        path = os.path.join(directory, "config.yml")
        if os.path.isfile(path):
            return load_config(path, owner)
    looked = ", ".join(os.path.join(directory, "config.yml") for directory, _, _ in defaults)
    variables = ", ".join(_CONF_VARIABLES[name] for name in (SERVERS if server is None else (server,)))
    raise RemoteConfigError(
        f"no client configuration found (looked for {looked}; {variables} not set); add a remote with "
        "`lxc remote add` or `incus remote add` first, or pass config_dir=; for the local server Client() "
        "finds its socket without one", path=None)


def load_config(path: str | os.PathLike, server: str | None = None) -> RemoteConfig:
    """Read one ``config.yml`` as ``lxc`` (``server="lxd"``) or ``incus`` reads it.

    Raises:
        RemoteConfigError: the file is missing, unreadable, or not such a configuration.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        raise RemoteConfigError(f"no client configuration at {path}", path=path) from None
    except (OSError, yaml.YAMLError) as exc:
        raise RemoteConfigError(f"cannot read the client configuration {path}: {exc}", path=path) from None
    if not isinstance(document, Mapping) or not isinstance(document.get("remotes") or {}, Mapping):
        raise RemoteConfigError(f"{path} is not a client configuration (expected a mapping with "
                                "'default-remote' and 'remotes')", path=path)
    directory = os.path.dirname(os.path.abspath(path))
    remotes: dict[str, Remote] = {}
    for name, fields in (document.get("remotes") or {}).items():
        if not isinstance(fields, Mapping):
            raise RemoteConfigError(f"{path}: remote {name!r} is not a mapping", remote=str(name), path=path)
        public = bool(fields.get("public"))
        remotes[str(name)] = Remote(
            name=str(name), addr=str(fields.get("addr") or ""), protocol=str(fields.get("protocol") or ""),
            public=public, auth_type=str(fields.get("auth_type") or ("" if public else "tls")),
            project=str(fields.get("project") or ""), server=server, config_dir=directory)
    # Both clients make "local" the local socket whatever the file says (keeping its project).
    local_project = remotes["local"].project if "local" in remotes else ""
    remotes["local"] = Remote(name="local", addr="unix://", project=local_project, server=server,
                              config_dir=directory)
    override = os.environ.get(_REMOTE_VARIABLES[server], "") if server else ""
    default = override or str(document.get("default-remote") or "local")
    return RemoteConfig(path=path, server=server, default_remote=default, remotes=remotes)


def load_remote(name: str | None = None, *, server: str | None = None,
                config_dir: str | os.PathLike | None = None) -> Remote:
    """The remote called ``name`` (None: the default remote) of the client configuration
    found as :func:`find_config` says.

    Raises:
        RemoteConfigError: no configuration, or no such remote (the known ones listed).
        ValueError: ``server`` is not None, ``"lxd"`` or ``"incus"``.
    """
    return find_config(server, config_dir).remote(name)
