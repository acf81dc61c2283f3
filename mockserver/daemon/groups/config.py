"""The ServiceGroups module: groups of service addresses and services that fail over between
pack members (VyOS's ``cluster group``), the same on every member (a shared module).

One group, in the seed's style::

    - ServiceGroups:
        web:
          primary: node1
          secondary: [node2, node3]          # in order: the first live one takes over
          service:
            - 198.51.100.10/24/veth0         # address/prefix/interface, as VyOS wrote it
            - 2001:db8::10/64/veth0
            - exec: {start: "...", stop: "...", check: "..."}
            - nginx.service                  # a systemd unit
          monitor: [198.51.100.1]            # addresses the owner must reach
          auto-failback: false

Validation is in two steps: :func:`parse_groups` checks what the module says by itself (a
file is refused at load), :func:`check_members` what it says about the pack (a write naming
a member the pack does not have is refused before it replicates).
"""
from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass
from typing import Any, Iterable

MODULE = "ServiceGroups"
GROUP_KEYS = ("primary", "secondary", "service", "monitor", "auto-failback", "failback-delay", "notify",
              "notify-timeout")
DEFAULT_FAILBACK_DELAY_MS = 10_000
MAX_MONITORS = 64
DEFAULT_NOTIFY_TIMEOUT_MS = 10_000
NOTIFY_TIMEOUT_RANGE_MS = (100, 600_000)
MAX_FAILBACK_DELAY_MS = 3_600_000
# Linux's IFNAMSIZ is 16 bytes with the terminating NUL.
MAX_INTERFACE_BYTES = 15
UNIT_SUFFIXES = (".service", ".socket", ".target", ".mount", ".timer", ".path")


class GroupError(ValueError):
    """A ServiceGroups module that cannot be used: ``group`` and ``key`` name the place (either
    may be None), ``text`` the reason."""

    def __init__(self, text: str, group: str | None = None, key: str | None = None):
        where = f"module {MODULE}"
        if group is not None:
            where += f", group {group!r}"
        if key is not None:
            where += f", key {key!r}"
        super().__init__(f"{where}: {text}")
        self.text, self.group, self.key = text, group, key


@dataclass(frozen=True)
class AddressService:
    """A service address: brought up on ``interface`` of the owner."""

    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface
    interface: str

    def __str__(self) -> str:   # as VyOS wrote it: 198.51.100.10/24/eth0
        return f"{self.address}/{self.interface}"


@dataclass(frozen=True)
class ExecService:
    """Commands (argument lists, no shell) that start, stop and check a service."""

    start: tuple[str, ...]
    stop: tuple[str, ...]
    check: tuple[str, ...] | None = None

    def __str__(self) -> str:
        return "exec:" + shlex.join(self.start)


@dataclass(frozen=True)
class UnitService:
    """A systemd unit, started and stopped with systemctl (VyOS named init scripts)."""

    unit: str

    def __str__(self) -> str:
        return self.unit


Service = AddressService | ExecService | UnitService


@dataclass(frozen=True)
class GroupSpec:
    name: str
    primary: str
    secondary: tuple[str, ...]
    services: tuple[Service, ...]
    monitors: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()
    auto_failback: bool = False
    failback_delay_ms: int = DEFAULT_FAILBACK_DELAY_MS
    notify: tuple[str, ...] | None = None        # run on each transition (keepalived's notify)
    notify_timeout_ms: int = DEFAULT_NOTIFY_TIMEOUT_MS

    @property
    def members(self) -> tuple[str, ...]:
        """The members that may own the group, in order of preference."""
        return (self.primary,) + self.secondary

    @property
    def addresses(self) -> tuple[AddressService, ...]:
        return tuple(s for s in self.services if isinstance(s, AddressService))


# ---- step 1: what the module says by itself ----------------------------------------------------

def parse_groups(options: Any) -> tuple[GroupSpec, ...]:
    """The groups of a ServiceGroups module's options, in the order given.

    Raises:
        GroupError: naming the group, the key and the reason.
    """
    if options is None:
        return ()
    if not isinstance(options, dict):
        raise GroupError(f"expected a mapping of group names to groups, got {_kind(options)}")
    groups = tuple(_group(name, body) for name, body in options.items())
    owner_of: dict = {}
    for group in groups:
        for service in group.addresses:
            ip = service.address.ip
            if ip in owner_of and owner_of[ip] != group.name:
                raise GroupError(f"address {ip} is already a service of group {owner_of[ip]!r} (an address can "
                                 "have one owner only)", group.name, "service")
            owner_of[ip] = group.name
    monitors = {ip for group in groups for ip in group.monitors}
    if len(monitors) > MAX_MONITORS:
        raise GroupError(f"{len(monitors)} distinct monitor addresses; at most {MAX_MONITORS} are pinged (each owner "
                         "pings every one of its groups' monitors)", None, "monitor")
    return groups


def _group(name: Any, body: Any) -> GroupSpec:
    if not isinstance(name, str) or not name or "/" in name or name != name.strip():
        raise GroupError(f"a group name is a non-empty string without '/' or surrounding spaces, got {name!r}")
    if not isinstance(body, dict):
        raise GroupError(f"expected a mapping of the group's keys, got {_kind(body)}", name)
    for key in body:
        if key not in GROUP_KEYS:
            raise GroupError(f"unknown key (known keys: {', '.join(GROUP_KEYS)})", name, str(key))
    primary = body.get("primary")
    if not isinstance(primary, str) or not primary:
        raise GroupError("required: the name of the member that owns the group when it can (VyOS: primary)",
                         name, "primary")
    secondary = body.get("secondary")
    if secondary is None or secondary == []:
        raise GroupError("required: the members that take over, in order (a name or a list)", name, "secondary")
    secondary = [secondary] if isinstance(secondary, str) else secondary
    if not isinstance(secondary, list) or not all(isinstance(s, str) and s for s in secondary):
        raise GroupError(f"expected a member name or a list of them, got {body.get('secondary')!r}", name,
                         "secondary")
    if primary in secondary:
        raise GroupError(f"{primary!r} is the primary; it cannot be a secondary as well", name, "secondary")
    if len(set(secondary)) != len(secondary):
        twice = sorted({s for s in secondary if secondary.count(s) > 1})
        raise GroupError(f"{', '.join(twice)} given twice", name, "secondary")
    services = body.get("service")
    if not services:
        raise GroupError("required: at least one address or service (VyOS: service)", name, "service")
    if not isinstance(services, list):
        services = [services]
    parsed = tuple(_service(name, item) for item in services)
    ips = [s.address.ip for s in parsed if isinstance(s, AddressService)]
    if len(set(ips)) != len(ips):
        raise GroupError(f"address {next(ip for ip in ips if ips.count(ip) > 1)} given twice", name, "service")
    monitors = body.get("monitor") or []
    monitors = [monitors] if isinstance(monitors, str) else monitors
    if not isinstance(monitors, list):
        raise GroupError(f"expected an address or a list of them, got {_kind(monitors)}", name, "monitor")
    monitor_ips = []
    for item in monitors:
        try:
            monitor_ips.append(ipaddress.ip_address(item))
        except (TypeError, ValueError):
            raise GroupError(f"expected an IPv4 or IPv6 address to ping, got {item!r}", name, "monitor") from None
    failback = body.get("auto-failback", False)
    if not isinstance(failback, bool):
        raise GroupError(f"expected true or false, got {failback!r}", name, "auto-failback")
    delay = body.get("failback-delay", DEFAULT_FAILBACK_DELAY_MS)
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_FAILBACK_DELAY_MS:
        raise GroupError(f"expected milliseconds from 0 to {MAX_FAILBACK_DELAY_MS}, got {delay!r}", name,
                         "failback-delay")
    notify = body.get("notify")
    if notify is not None:
        notify = _command(name, notify, "notify")
    timeout = body.get("notify-timeout", DEFAULT_NOTIFY_TIMEOUT_MS)
    low, high = NOTIFY_TIMEOUT_RANGE_MS
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not low <= timeout <= high:
        raise GroupError(f"expected milliseconds from {low} to {high}, got {timeout!r}", name, "notify-timeout")
    return GroupSpec(name, primary, tuple(secondary), parsed, tuple(dict.fromkeys(monitor_ips)), failback, delay,
                     notify, timeout)


def _service(group: str, item: Any) -> Service:
    if isinstance(item, dict):
        if set(item) != {"exec"} or not isinstance(item["exec"], dict):
            raise GroupError(f"expected 'address/prefix/interface', a systemd unit, or exec: {{start, stop, check}},"
                             f" got {item!r}", group, "service")
        commands = item["exec"]
        unknown = set(commands) - {"start", "stop", "check"}
        if unknown:
            raise GroupError(f"exec takes start, stop and check, not {', '.join(sorted(map(str, unknown)))}",
                             group, "service")
        for required in ("start", "stop"):
            if not commands.get(required):
                raise GroupError(f"exec needs {required!r} (a command)", group, "service")
        return ExecService(_command(group, commands["start"]), _command(group, commands["stop"]),
                           _command(group, commands["check"]) if commands.get("check") else None)
    if not isinstance(item, str) or not item:
        raise GroupError(f"expected 'address/prefix/interface', a systemd unit, or exec:, got {item!r}", group,
                         "service")
    if "/" not in item:
        return _unit(group, item)
    parts = item.split("/")
    if len(parts) != 3:
        raise GroupError(f"expected address/prefix/interface (e.g. 198.51.100.10/24/eth0), got {item!r}", group,
                         "service")
    address, prefix, interface = parts
    try:
        parsed = ipaddress.ip_interface(f"{address}/{prefix}")
    except ValueError as exc:
        raise GroupError(f"{item!r} is not an address with a prefix length: {exc}", group, "service") from None
    if parsed.ip == parsed.network.network_address and parsed.network.num_addresses > 2:
        raise GroupError(f"{address} is the network address of {parsed.network}, not a host address", group,
                         "service")
    problem = interface_problem(interface)
    if problem:
        raise GroupError(f"interface {interface!r} in {item!r}: {problem}", group, "service")
    return AddressService(parsed, interface)


def _unit(group: str, name: str) -> UnitService:
    if any(c.isspace() for c in name) or name.startswith("-") or "\x00" in name:
        raise GroupError(f"{name!r} is not a systemd unit name", group, "service")
    return UnitService(name if name.endswith(UNIT_SUFFIXES) else f"{name}.service")


def _command(group: str, command: Any, key: str = "service") -> tuple[str, ...]:
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise GroupError(f"cannot split the command {command!r}: {exc}", group, key) from None
    elif isinstance(command, list) and all(isinstance(a, str) for a in command):
        argv = list(command)
    else:
        raise GroupError(f"a command is a string or a list of strings, got {command!r}", group, key)
    if not argv:
        raise GroupError("an empty command", group, key)
    return tuple(argv)


def interface_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Linux interface name, or None (the kernel's dev_valid_name)."""
    if not name:
        return "empty"
    if len(name.encode()) > MAX_INTERFACE_BYTES:
        return f"longer than {MAX_INTERFACE_BYTES} bytes"
    if name in (".", ".."):
        return "not a name"
    bad = [c for c in name if c in "/:" or c.isspace() or c == "\x00"]
    if bad:
        return f"contains {bad[0]!r}"
    return None


def _kind(value: Any) -> str:
    return type(value).__name__ if value is not None else "nothing"


# ---- step 2: what it says about the pack ---------------------------------------------------------

def check_members(groups: Iterable[GroupSpec], members: Iterable[str]) -> None:
    """Raises: GroupError for a group naming a member the pack does not have."""
    known = set(members)
    for group in groups:
        for key, names in (("primary", (group.primary,)), ("secondary", group.secondary)):
            for name in names:
                if name not in known:
                    raise GroupError(f"{name!r} is not a member of the pack (members: {', '.join(sorted(known))})",
                                     group.name, key)


def configuration_problem(modules, members: Iterable[str]) -> str | None:
    """Why a shared configuration (``(name, options)`` pairs) cannot be taken by a pack whose
    members are ``members``, or None."""
    for name, options in modules:
        if name == MODULE:
            try:
                check_members(parse_groups(options), members)
            except GroupError as exc:
                return str(exc)
    return None
