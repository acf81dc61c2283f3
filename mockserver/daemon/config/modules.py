"""The daemon's modules: their option tables and the frozen classes they fill.

=====================  ========================  =======  ===========  =======================================
Module / key           attribute                 type     default      meaning
=====================  ========================  =======  ===========  =======================================
**Pack**
name                   name                      string   (required*)  pack name (*or join_token); members
                                                                       with the same name and secret form a pack
secret                 secret                    string   (required)   pre-shared secret (VyOS name:
                                                                       ``pre-shared-secret``)
broadcast              broadcast                 string   (required*)  IPv4 address for UDP broadcasts
                                                                       (*not needed with mcast-group or peers)
interface              interface                 string   '0.0.0.0'    IPv4 address to listen on
port                   port                      integer  5252         UDP port (1..65535)
interval               interval                  integer  10           discovery/announce period, s (>= 1)
pack                   pack                      string   'leader'     'leader', 'follower' or 'auto'
server_name            server_name               string   host name    this member's name (no '/')
keepalive-interval     keepalive_interval_ms     integer  5000         probe period, ms (>= 50)
dead-interval          dead_interval_ms          integer  20000        silence before Offline, ms
                                                                       (> 2 x keepalive-interval)
monitor-dead-interval  monitor_dead_interval_ms  integer  20000        silence before a group's
                                                                       monitor address is Unreachable, ms
mcast-group            mcast_group               string   none         IPv4 multicast group (224.0.0.0/4)
peers                  peers                     list     []           static peers 'host[:port]'
discovery              discovery                 list     []           strategies proposing members:
                                                                       broadcast, multicast, peers,
                                                                       hosts-file, dns, dns-srv,
                                                                       kubernetes, plug-ins
on-join                on_join                   string   none         command run when a member joins
on-leave               on_leave                  string   none         command run when a member leaves
on-failed              on_failed                 string   none         command run when a member dies
on-leader-change       on_leader_change          string   none         command run when the leader changes
hook-timeout           hook_timeout_ms           integer  10000        membership hook time limit, ms
hook-plugins           hook_plugins              list     []           Python hooks (entry points
                                                                       pylxd_cluster.membership_hooks)
wait-for-members       wait_for_members          integer  none         start-up barrier: no service group
                                                                       placed before N members are Online
wait-timeout           wait_timeout_ms           integer  60000        ...or this many ms have passed
expected_members       expected_members          integer  none         pack size; with pack: auto only a side
                                                                       that sees a majority has a leader
join_token             join_token                string   none         join with this token (no name/secret)
join_token_expiry      join_token_expiry         integer  10800        validity of tokens made here, s
backend                backend                   string   'pack'       'pack' (its own protocol) or 'etcd'
etcd-endpoints         etcd_endpoints            list     []           etcd client URLs (backend: etcd)
etcd-cert              etcd_cert                 string   none         client certificate for etcd (PEM)
etcd-key               etcd_key                  string   none         its private key (PEM)
etcd-ca                etcd_ca                   string   none         CA of etcd's certificates (PEM)
etcd-prefix            etcd_prefix               string   '/pylxd-cluster'  where the pack's keys live
**Api**
listen                 listen                    string   none         'host:port' (IPv6 in brackets)
unix                   unix                      string   none         unix socket path
tls_cert               tls_cert                  string   none         certificate file (with tls_key: HTTPS)
tls_key                tls_key                   string   none         private key file (with tls_cert)
**PackConfiguration**
pack                   pack                      string   'Pack'       name of the pack module
ignore_modules         ignore_modules            list     []           modules not synced to followers
interval               interval                  integer  60           seconds between anti-entropy checks
state_dir              state_dir                 string   next to file where the synced copy is kept
=====================  ========================  =======  ===========  =======================================

The same facts, machine-readable, are in :data:`MODULES` (and :data:`OPTIONS`): the template
and the validation are both generated from them. The shared ServiceGroups module is
validated by ``mockserver.daemon.groups.config``.
"""
from __future__ import annotations

import dataclasses
import os
import socket

from mockserver.daemon.config import discovery
from mockserver.daemon.config import options as o
from mockserver.daemon.config.errors import Invalid
from mockserver.daemon.config.plugins import HOOK_GROUP as HOOK_PLUGIN_GROUP
from mockserver.daemon.config.plugins import installed

# Member names travel in pack datagrams as a length byte and the name (mockserver.daemon.protocol.messages).
MAX_NAME_BYTES = 64

# --- the classes a valid file fills ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PackConfig:
    """The Pack module: discovery, liveness and leadership."""

    name: str | None = None
    secret: str | None = None
    broadcast: str | None = None
    interface: str = "0.0.0.0"
    port: int = 5252
    interval: int = 10
    pack: str = "leader"
    server_name: str = dataclasses.field(default_factory=socket.gethostname)
    keepalive_interval_ms: int = 5000
    dead_interval_ms: int = 20000
    monitor_dead_interval_ms: int = 20000
    mcast_group: str | None = None
    peers: tuple[tuple[str, int], ...] = ()
    discovery: tuple = ()          # the strategies that run (config.discovery), after folding
    on_join: tuple[str, ...] | None = None
    on_leave: tuple[str, ...] | None = None
    on_failed: tuple[str, ...] | None = None
    on_leader_change: tuple[str, ...] | None = None
    hook_timeout_ms: int = 10000
    hook_plugins: tuple[str, ...] = ()
    wait_for_members: int | None = None
    wait_timeout_ms: int = 60000
    expected_members: int | None = None
    join_token: str | None = None
    join_token_expiry: int = 10800
    backend: str = "pack"
    etcd_endpoints: tuple[str, ...] = ()
    etcd_cert: str | None = None
    etcd_key: str | None = None
    etcd_ca: str | None = None
    etcd_prefix: str = "/pylxd-cluster"

    @property
    def keepalive_interval(self) -> float:
        """keepalive-interval in seconds."""
        return self.keepalive_interval_ms / 1000

    @property
    def dead_interval(self) -> float:
        """dead-interval in seconds."""
        return self.dead_interval_ms / 1000

    @property
    def monitor_dead_interval(self) -> float:
        """monitor-dead-interval in seconds."""
        return self.monitor_dead_interval_ms / 1000


@dataclasses.dataclass(frozen=True)
class ApiConfig:
    """The Api module: where the LXD REST API is served."""

    listen: tuple[str, int] | None = None
    unix: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def https(self) -> bool:
        """True when ``listen`` is served over HTTPS (a certificate and key are given)."""
        return self.tls_cert is not None


@dataclasses.dataclass(frozen=True)
class PackConfigurationConfig:
    """The PackConfiguration module: the leader's configuration synced to followers."""

    pack: str = "Pack"
    ignore_modules: tuple[str, ...] = ()
    interval: int = 60
    state_dir: str | None = None


# --- cross-option rules ---------------------------------------------------------------------

def _check_pack(values: dict, given: frozenset) -> dict:
    keepalive, dead = values["keepalive_interval_ms"], values["dead_interval_ms"]
    if dead <= 2 * keepalive:
        raise Invalid(f"must be more than 2 x keepalive-interval (2 x {keepalive} = {2 * keepalive} ms),"
                      f" got {dead}", key="dead-interval")
    monitor_dead = values["monitor_dead_interval_ms"]
    if monitor_dead <= 2 * keepalive:
        raise Invalid(f"must be more than 2 x keepalive-interval (2 x {keepalive} = {2 * keepalive} ms),"
                      f" got {monitor_dead}", key="monitor-dead-interval")
    _check_backend(values, given)
    values = discovery.fold(values)
    values["peers"] = tuple((host, values["port"] if port is None else port) for host, port in values["peers"])
    return values


ETCD_KEYS = ("etcd-endpoints", "etcd-cert", "etcd-key", "etcd-ca", "etcd-prefix")


def _check_backend(values: dict, given: frozenset) -> None:
    """``backend: etcd`` needs endpoints (and then no secret nor broadcast: etcd carries
    membership and authenticates members by their client certificates); the etcd keys mean
    nothing to ``backend: pack``."""
    if values["backend"] != "etcd":
        for key in ETCD_KEYS:
            if key in given:
                raise Invalid(f"only used with 'backend: etcd' (this member's backend is {values['backend']!r})",
                              key=key)
        if values["secret"] is None and values["join_token"] is None:
            raise Invalid("required with 'backend: pack' (or give 'join_token')", key="secret")
        return
    if not values["etcd_endpoints"]:
        raise Invalid("required with 'backend: etcd': the client URLs of etcd's members, e.g. "
                      "[https://etcd1:2379, https://etcd2:2379, https://etcd3:2379]", key="etcd-endpoints")
    cert, key = values["etcd_cert"], values["etcd_key"]
    if (cert is None) != (key is None):
        missing, present = ("etcd-key", "etcd-cert") if key is None else ("etcd-cert", "etcd-key")
        raise Invalid(f"required when '{present}' is given (both or neither)", key=missing)
    for option in ("etcd_cert", "etcd_key", "etcd_ca"):
        path = values[option]
        if path is not None and not os.access(path, os.R_OK):
            raise Invalid(f"cannot read {path!r} (a PEM file this member's user can read)",
                          key=option.replace("_", "-"))
    if not values["etcd_prefix"].startswith("/"):
        raise Invalid(f"an absolute key prefix such as '/pylxd-cluster', got {values['etcd_prefix']!r}",
                      key="etcd-prefix")


def _check_api(values: dict, given: frozenset) -> dict:
    if values["listen"] is None and values["unix"] is None:
        raise Invalid("expected at least one of 'listen' or 'unix'")
    cert, key = values["tls_cert"], values["tls_key"]
    if (cert is None) != (key is None):
        missing, present = ("tls_key", "tls_cert") if key is None else ("tls_cert", "tls_key")
        raise Invalid(f"required when '{present}' is given (both or neither)", key=missing)
    if cert is not None and values["listen"] is None:
        raise Invalid("needs 'listen' (TLS applies to the TCP listener)", key="tls_cert")
    return values


def _check_pack_configuration(values: dict, given: frozenset) -> dict:
    if values["pack"] != PACK.name:
        raise Invalid(f"expected the name of the pack module ({PACK.name!r}), got {values['pack']!r}", key="pack")
    return values


# --- the tables -----------------------------------------------------------------------------

_NAME = o.string()

PACK = o.ModuleSpec(
    name="Pack",
    help="Discovery, alive checks and leadership of the pack members.",
    cls=PackConfig,
    required=True,
    check=_check_pack,
    options=(
        o.Option("name", "name", "string", "Name of the pack; members with the same name and secret form a pack.",
                 _NAME, required=True, required_unless=("join_token",)),
        o.Option("secret", "secret", "string", "Pre-shared secret that authenticates and encrypts pack messages"
                 " (VyOS name: pre-shared-secret).", _NAME, required=True, aliases=("pre-shared-secret",),
                 required_unless=("join_token", "etcd-endpoints")),
        o.Option("broadcast", "broadcast", "string", "IPv4 address for UDP broadcasts"
                 " (not needed with mcast-group or peers).", o.ipv4, required=True,
                 required_unless=("mcast-group", "peers", "join_token", "discovery", "etcd-endpoints")),
        o.Option("interface", "interface", "string", "IPv4 address to listen on.", o.ipv4, default="0.0.0.0"),
        o.Option("port", "port", "integer", "UDP port to listen and send on.",
                 o.integer(1, 65535), default=5252),
        o.Option("interval", "interval", "integer", "Discovery/announce period in seconds.",
                 o.integer(1), default=10, unit="s"),
        o.Option("pack", "pack", "string", "Role: leader or follower (static, as the seed), or auto (elected).",
                 o.choice(("leader", "follower", "auto")), default="leader", values=("leader", "follower", "auto")),
        o.Option("server_name", "server_name", "string", "This member's name in the pack.",
                 o.string(forbid="/", max_bytes=MAX_NAME_BYTES), default_factory=socket.gethostname,
                 default_text="the host name"),
        o.Option("keepalive-interval", "keepalive_interval_ms", "integer",
                 "Time between heartbeat probes in milliseconds (VyOS; VyOS itself requires at least 100).",
                 o.integer(50), default=5000, unit="ms"),
        o.Option("dead-interval", "dead_interval_ms", "integer", "Silence in milliseconds after which a member is"
                 " Offline; more than 2 x keepalive-interval (VyOS).", o.integer(1), default=20000, unit="ms"),
        o.Option("monitor-dead-interval", "monitor_dead_interval_ms", "integer", "Silence in milliseconds after"
                 " which a service group's monitor address is Unreachable; 300 to 30000, more than 2 x"
                 " keepalive-interval (VyOS).", o.integer(300, 30000), default=20000, unit="ms"),
        o.Option("mcast-group", "mcast_group", "string", "IPv4 multicast group for discovery (224.0.0.0/4; TTL 1).",
                 o.ipv4_multicast),
        o.Option("peers", "peers", "list", "Static unicast peers: 'host' or 'host:port' (port: this module's port).",
                 o.list_of(o.peer), default=()),
        o.Option("discovery", "discovery", "list", "Strategies that propose members, side by side, each item"
                 " 'name: options': broadcast: ADDRESS; multicast: GROUP; peers: [host[:port], ...]; hosts-file:"
                 " PATH or {path, polling-interval} (one host[:port] per line, # comments, re-read when it"
                 " changes); dns: {query, polling-interval (ms, 5000), resolver (host[:port], default the"
                 " system's)} (A records); dns-srv: {query, polling-interval, resolver} (SRV: target and port);"
                 " kubernetes: {selector, namespace, mode (endpointslices, endpoints or pods), polling-interval};"
                 f" or a plug-in's name (entry points {discovery.PLUGIN_GROUP}). Discovery proposes, the"
                 " failure detector decides: an address that a strategy stops listing removes no live member.",
                 o.list_of(discovery.strategy), default=()),
        o.Option("on-join", "on_join", "string", "Command run when a member joins or comes back (a string or a"
                 " list; arguments EVENT MEMBER SEQ, environment PACK_EVENT, PACK_MEMBER, PACK_ADDRESS, PACK_SEQ,"
                 " PACK_SELF); membership hooks run in order, one at a time, beside the pack.", o.command),
        o.Option("on-leave", "on_leave", "string", "Command run when a member leaves gracefully.", o.command),
        o.Option("on-failed", "on_failed", "string", "Command run when a member is declared dead.", o.command),
        o.Option("on-leader-change", "on_leader_change", "string", "Command run when the leader changes"
                 " (MEMBER: the new leader, empty for none; PACK_PREVIOUS, PACK_TERM).", o.command),
        o.Option("hook-timeout", "hook_timeout_ms", "integer", "Milliseconds a membership hook may run before it"
                 " is killed with its process group.", o.integer(100, 600000), default=10000, unit="ms"),
        o.Option("hook-plugins", "hook_plugins", "list", "Python callables called for every membership event,"
                 " after its command, in the same order and time limit: the names of installed entry points in"
                 f" the group {HOOK_PLUGIN_GROUP}.", o.list_of(installed(HOOK_PLUGIN_GROUP)), default=()),
        o.Option("wait-for-members", "wait_for_members", "integer", "Start-up barrier: the leader places no"
                 " service group until this many members are Online (or wait-timeout has passed); the member"
                 " state's pack.barrier says where it stands.", o.integer(1)),
        o.Option("wait-timeout", "wait_timeout_ms", "integer", "Milliseconds the start-up barrier waits at most"
                 " (then the groups are placed among those present, and the log says so).",
                 o.integer(100, 86_400_000), default=60000, unit="ms"),
        o.Option("expected_members", "expected_members", "integer", "Size of the pack; with pack: auto only a side"
                 " that sees a majority has a leader.", o.integer(1)),
        o.Option("join_token", "join_token", "string", "Join an existing pack with this token (from `pylxd-cluster"
                 " add NAME` on a member) instead of name and secret; the pack's key is then kept in the state"
                 " directory.", o.string()),
        o.Option("join_token_expiry", "join_token_expiry", "integer", "Seconds a join token stays valid; tokens are"
                 " made by the leader, so the leader's value applies (LXD: cluster.join_token_expiry, 3H).",
                 o.integer(60), default=10800, unit="s"),
        o.Option("backend", "backend", "string", "The engine of record: pack (the pack's own protocol over UDP)"
                 " or etcd (membership, leadership, the shared document and writes in an etcd cluster; see"
                 " docs/backends.rst).", o.choice(("pack", "etcd")), default="pack", values=("pack", "etcd")),
        o.Option("etcd-endpoints", "etcd_endpoints", "list", "Client URLs of etcd's members, e.g."
                 " https://127.0.0.1:2379 (backend: etcd; tried in turn when one does not answer).",
                 o.list_of(o.etcd_endpoint), default=()),
        o.Option("etcd-cert", "etcd_cert", "string", "Client certificate (PEM file) for etcd's client-cert-auth.",
                 o.string()),
        o.Option("etcd-key", "etcd_key", "string", "Private key (PEM file) of etcd-cert.", o.string()),
        o.Option("etcd-ca", "etcd_ca", "string", "CA bundle (PEM file) that signed etcd's certificates (default:"
                 " the system's).", o.string()),
        o.Option("etcd-prefix", "etcd_prefix", "string", "Key prefix of the pack's keys in etcd: they live under"
                 " PREFIX/NAME/.", o.string(), default="/pylxd-cluster"),
    ),
)

API = o.ModuleSpec(
    name="Api",
    help="The LXD REST API of this member; at least one of listen and unix.",
    cls=ApiConfig,
    check=_check_api,
    options=(
        o.Option("listen", "listen", "string", "TCP address 'host:port' (IPv6 in brackets: '[::1]:8443').",
                 o.listen_address),
        o.Option("unix", "unix", "string", "Unix socket path.", o.unix_path),
        o.Option("tls_cert", "tls_cert", "string", "TLS certificate file (PEM); with tls_key, listen is HTTPS.",
                 o.string()),
        o.Option("tls_key", "tls_key", "string", "TLS private key file (PEM).", o.string()),
    ),
)

PACK_CONFIGURATION = o.ModuleSpec(
    name="PackConfiguration",
    help="Synchronize the leader's configuration to the pack followers"
         " (locally configured modules are not overwritten).",
    cls=PackConfigurationConfig,
    check=_check_pack_configuration,
    options=(
        o.Option("pack", "pack", "string", "Name of the pack module.", _NAME, default="Pack"),
        o.Option("ignore_modules", "ignore_modules", "list", "Module names to exclude from the sync.",
                 o.list_of(_NAME), default=()),
        o.Option("interval", "interval", "integer", "Seconds between anti-entropy checks against the leader's"
                 " configuration (changes are pushed at once; this catches up members that were away).",
                 o.integer(1), default=60, unit="s"),
        o.Option("state_dir", "state_dir", "string", "Directory for the synced copy (default: next to this file,"
                 " node.yaml -> node.state/).", o.string()),
    ),
)

#: The known modules by name, in template order. Any other module name is a user module.
MODULES: dict[str, o.ModuleSpec] = {spec.name: spec for spec in (PACK, API, PACK_CONFIGURATION)}

#: Every known module's option table: ``OPTIONS["Pack"]`` is a tuple of :class:`Option`.
OPTIONS: dict[str, tuple[o.Option, ...]] = {name: spec.options for name, spec in MODULES.items()}
