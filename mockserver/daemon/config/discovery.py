"""The Pack module's ``discovery`` list: which strategies propose pack members, and how.

Each item of the list is a one-key mapping, the strategy's name and its options, in the
seed's style::

    discovery:
      - broadcast: 198.51.100.255
      - multicast: 239.1.1.1
      - peers: [node2, "node3:5252"]
      - hosts-file: /etc/pylxd-cluster/hosts      # or {path: ..., polling-interval: 1000}
      - dns: {query: pack.example, polling-interval: 5000, resolver: "127.0.0.53:53"}
      - dns-srv: {query: _pack._udp.pack.example}
      - kubernetes: {selector: "kubernetes.io/service-name=pack", mode: endpointslices}
      - my-plugin: {any: options}                    # a strategy from an installed package

Several strategies run side by side; each proposes candidate addresses, and the failure
detector decides who is a member. ``broadcast``, ``multicast`` and ``peers`` are the Pack
module's keys of old, which still work; here they are folded into those keys.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from mockserver.daemon.config import options as o
from mockserver.daemon.config.errors import Invalid
from mockserver.daemon.config.plugins import DISCOVERY_GROUP as PLUGIN_GROUP
from mockserver.daemon.config.plugins import names

MODES = ("endpointslices", "endpoints", "pods")


@dataclasses.dataclass(frozen=True)
class HostsFile:
    """One ``host[:port]`` per line, ``#`` comments; re-read when it changes."""
    path: str
    polling_interval_ms: int = 1000
    kind = "hosts-file"


@dataclasses.dataclass(frozen=True)
class Dns:
    """A and AAAA records of ``query``, polled."""
    query: str
    polling_interval_ms: int = 5000
    resolver: tuple[str, int] | None = None     # default: the system's
    kind = "dns"


@dataclasses.dataclass(frozen=True)
class DnsSrv:
    """SRV records of ``query``: each target and port."""
    query: str
    polling_interval_ms: int = 5000
    resolver: tuple[str, int] | None = None
    kind = "dns-srv"


SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclasses.dataclass(frozen=True)
class Kubernetes:
    """Ready, non-terminating endpoints (or pods) matching ``selector``, read from the API
    server with the pod's service account (in-cluster configuration)."""
    selector: str
    namespace: str | None = None                # default: the service account's
    mode: str = "endpointslices"
    polling_interval_ms: int = 5000
    port_name: str | None = None                # default: the pack's own port
    service_account: str = SERVICE_ACCOUNT      # token, ca.crt and namespace
    kind = "kubernetes"


@dataclasses.dataclass(frozen=True)
class Plugin:
    """A strategy from another package (entry point ``name`` in PLUGIN_GROUP)."""
    name: str
    options: tuple = ()                         # (key, value) pairs, as given, for the plug-in
    polling_interval_ms: int = 5000             # read here: how often a poll function is called
    kind = "plugin"


Strategy = HostsFile | Dns | DnsSrv | Kubernetes | Plugin
BUILT_IN = ("broadcast", "multicast", "peers", "hosts-file", "dns", "dns-srv", "kubernetes")


def label(spec: Strategy) -> str:
    """A strategy in a few words: ``dns pack.example``, ``hosts-file /etc/pack/hosts``,
    ``kubernetes app=pack``, or a plug-in's name."""
    if isinstance(spec, Plugin):
        return spec.name
    detail = {HostsFile: "path", Dns: "query", DnsSrv: "query", Kubernetes: "selector"}[type(spec)]
    return f"{spec.kind} {getattr(spec, detail)}"


def plugin_names() -> list[str]:
    """The strategies installed packages offer (entry points in PLUGIN_GROUP)."""
    return names(PLUGIN_GROUP)


def _fields(value: Any, allowed: dict, what: str) -> dict:
    """A mapping of options: each known key converted, unknown ones refused."""
    if not isinstance(value, dict):
        raise Invalid(f"{what}: expected a mapping of options, got {o.show(value)}")
    out = {}
    for key, raw in value.items():
        if key not in allowed:
            raise Invalid(f"{what}: unknown option {o.show(key)}; expected one of {', '.join(sorted(allowed))}")
        attribute, convert = allowed[key]
        try:
            out[attribute] = convert(raw)
        except Invalid as exc:
            raise Invalid(f"{what}, option {key!r}: {exc.text}") from None
    return out


def _required(fields: dict, attribute: str, key: str, what: str) -> None:
    if attribute not in fields:
        raise Invalid(f"{what}: option {key!r} is required")


_INTERVAL = ("polling_interval_ms", o.integer(100, 3_600_000))
_DNS_OPTIONS = {"query": ("query", o.string()), "polling-interval": _INTERVAL,
                "resolver": ("resolver", o.peer)}


def _dns(value: Any, cls, what: str):
    fields = _fields(value, _DNS_OPTIONS, what)
    _required(fields, "query", "query", what)
    resolver = fields.get("resolver")
    if resolver is not None:
        fields["resolver"] = (resolver[0], 53 if resolver[1] is None else resolver[1])
    return cls(**fields)


def strategy(item: Any) -> tuple[str, Any]:
    """One item of the list: ``(name, converted options)``."""
    if not isinstance(item, dict) or len(item) != 1:
        raise Invalid(f"expected a one-key mapping 'strategy: options', got {o.show(item)}")
    (name, value), = item.items()
    what = f"strategy {name!r}"
    if name == "broadcast":
        return name, o.ipv4(value)
    if name == "multicast":
        return name, o.ipv4_multicast(value)
    if name == "peers":
        return name, o.list_of(o.peer)(value)
    if name == "hosts-file":
        if isinstance(value, str):
            value = {"path": value}
        fields = _fields(value, {"path": ("path", o.string()), "polling-interval": _INTERVAL}, what)
        _required(fields, "path", "path", what)
        return name, HostsFile(**fields)
    if name == "dns":
        return name, _dns(value, Dns, what)
    if name == "dns-srv":
        return name, _dns(value, DnsSrv, what)
    if name == "kubernetes":
        fields = _fields(value, {"selector": ("selector", o.string()), "namespace": ("namespace", o.string()),
                                 "mode": ("mode", o.choice(MODES)), "polling-interval": _INTERVAL,
                                 "port-name": ("port_name", o.string()),
                                 "service-account": ("service_account", o.string())}, what)
        _required(fields, "selector", "selector", what)
        return name, Kubernetes(**fields)
    plugins = plugin_names()
    if isinstance(name, str) and name in plugins:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise Invalid(f"{what}: expected a mapping of options, got {o.show(value)}")
        options = dict(value)
        interval = _fields({"polling-interval": options.pop("polling-interval")}, {"polling-interval": _INTERVAL},
                           what) if "polling-interval" in options else {}
        return name, Plugin(name, tuple(options.items()), **interval)
    known = ", ".join(list(BUILT_IN) + plugins)
    raise Invalid(f"unknown strategy {o.show(name)}; the strategies known here are: {known} (plug-ins add theirs"
                  f" through the entry-point group {PLUGIN_GROUP})")


def fold(values: dict) -> dict:
    """Fold the ``discovery`` list into the Pack module's values: broadcast, multicast and
    peers into their keys of old (a value given both ways must agree), the rest kept as the
    tuple of strategies that run."""
    running = []
    for number, (name, value) in enumerate(values.get("discovery") or (), 1):
        where = f"item {number}: strategy {name!r}"
        if name in ("broadcast", "multicast"):
            key, attribute = ("broadcast", "broadcast") if name == "broadcast" else ("mcast-group", "mcast_group")
            if values.get(attribute) not in (None, value):
                raise Invalid(f"{where} says {value!r} but {key!r} says {values[attribute]!r}", key="discovery")
            values[attribute] = value
        elif name == "peers":
            values["peers"] = tuple(dict.fromkeys(tuple(values.get("peers") or ()) + value))
        else:
            running.append(value)
    values["discovery"] = tuple(running)
    return values
