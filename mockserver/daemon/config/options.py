"""Option specs and value converters: the one table that both validation and the template
are generated from.

An :class:`Option` describes one key of a module (YAML key, attribute name, type, default,
whether it is required, allowed values, help text, and a converter). A :class:`ModuleSpec`
is the table of a module's options plus its cross-option check. Converters take the value
as YAML gave it and return the converted value or raise :class:`Invalid` with a text of the
form ``expected <what>, got <value>``.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shlex
from typing import Any, Callable

from mockserver.daemon.config.errors import Invalid

Converter = Callable[[Any], Any]


def show(value: Any) -> str:
    """A value as an error message shows it: strings quoted, YAML's names for the rest."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _bad(expected: str, value: Any) -> Invalid:
    hint = ""
    if isinstance(value, (bool, int, float)) and expected.startswith(("a string", "a non-empty string",
                                                                       "one of", "an IPv4", "'host")):
        hint = " (YAML read it as a number or boolean; put it in quotes)"
    return Invalid(f"expected {expected}, got {show(value)}{hint}")


# --- converters -----------------------------------------------------------------------------

def integer(minimum: int | None = None, maximum: int | None = None) -> Converter:
    """An int (booleans are not integers) within [minimum, maximum]."""
    if minimum is not None and maximum is not None:
        expected = f"an integer from {minimum} to {maximum}"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    elif maximum is not None:
        expected = f"an integer <= {maximum}"
    else:
        expected = "an integer"

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(expected, value)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise _bad(expected, value)
        return value

    return convert


def string(*, empty: bool = False, forbid: str = "", max_bytes: int | None = None) -> Converter:
    """A str; not empty unless ``empty``; none of the characters in ``forbid``; at most
    ``max_bytes`` bytes of UTF-8 (a name that travels in pack datagrams)."""
    expected = "a string" if empty else "a non-empty string"
    if forbid:
        expected += " without " + " or ".join(repr(c) for c in forbid)
    if max_bytes is not None:
        expected += f" of at most {max_bytes} bytes"

    def convert(value: Any) -> str:
        if not isinstance(value, str) or (not empty and not value) or any(c in value for c in forbid):
            raise _bad(expected, value)
        if max_bytes is not None and len(value.encode()) > max_bytes:
            raise _bad(expected, f"{len(value.encode())} bytes")
        return value

    return convert


def choice(values: tuple[str, ...]) -> Converter:
    expected = "one of " + ", ".join(repr(v) for v in values)

    def convert(value: Any) -> str:
        if not isinstance(value, str) or value not in values:
            raise _bad(expected, value)
        return value

    return convert


def ipv4(value: Any) -> str:
    """A dotted-quad IPv4 address (returned in its canonical form)."""
    try:
        if not isinstance(value, str):
            raise ValueError
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise _bad("an IPv4 address", value) from None


def ipv4_multicast(value: Any) -> str:
    expected = "an IPv4 multicast address (224.0.0.0/4)"
    try:
        if not isinstance(value, str):
            raise ValueError
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise _bad(expected, value) from None
    if not address.is_multicast:
        raise _bad(expected, value)
    return str(address)


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def is_host_name(text: str) -> bool:
    """A DNS name (RFC 1123 labels); dotted digits that are not an IPv4 address are not."""
    if not text or len(text) > 253 or re.fullmatch(r"[0-9.]+", text):
        return False
    return all(_LABEL.match(label) for label in text.rstrip(".").split("."))


def _port(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        return None
    return int(text)


def peer(value: Any) -> tuple[str, int | None]:
    """``host`` or ``host:port`` with an IPv4 host or a name; the port is None if not given."""
    expected = "'host' or 'host:port' (an IPv4 address or a name, port 1 to 65535)"
    if not isinstance(value, str):
        raise _bad(expected, value)
    host, sep, port_text = value.partition(":")
    port = _port(port_text) if sep else None
    if sep and port is None:
        raise _bad(expected, value)
    try:
        host = str(ipaddress.IPv4Address(host))
    except ValueError:
        if not is_host_name(host):
            raise _bad(expected, value) from None
    return host, port


def listen_address(value: Any) -> tuple[str, int]:
    """``host:port``; the host is an IPv4 address, a name, or an IPv6 address in brackets."""
    expected = "'host:port' (IPv6 in brackets, e.g. '[::1]:8443')"
    if not isinstance(value, str):
        raise _bad(expected, value)
    if value.startswith("["):
        host, sep, port_text = value[1:].partition("]:")
        try:
            host = str(ipaddress.IPv6Address(host)) if sep else ""
        except ValueError:
            host = ""
    else:
        host, sep, port_text = value.rpartition(":")
        if host:
            try:
                host = str(ipaddress.IPv4Address(host))
            except ValueError:
                host = host if is_host_name(host) else ""
    port = _port(port_text) if sep else None
    if not host or port is None:
        raise _bad(expected, value)
    return host, port


# AF_UNIX's sun_path is 108 bytes on Linux, the terminating NUL included.
UNIX_PATH_MAX = 107


def unix_path(value: Any) -> str:
    expected = f"a socket path of at most {UNIX_PATH_MAX} bytes"
    if not isinstance(value, str) or not value or "\0" in value or len(os.fsencode(value)) > UNIX_PATH_MAX:
        raise _bad(expected, value)
    return value


def command(value: Any) -> tuple[str, ...]:
    """A command: a string (split as a shell would, but run without one) or a list of
    strings; not empty."""
    expected = "a command: a string or a list of strings, not empty"
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise Invalid(f"cannot split the command {value!r}: {exc}") from None
    elif isinstance(value, list) and all(isinstance(a, str) for a in value):
        argv = list(value)
    else:
        raise _bad(expected, value)
    if not argv:
        raise _bad(expected, value)
    return tuple(argv)


def etcd_endpoint(value: Any) -> str:
    """An etcd client URL: ``http(s)://host:port`` (a bare ``host:port`` is http)."""
    from mockserver.daemon.etcd.endpoints import parse_endpoint

    if not isinstance(value, str):
        raise _bad("an etcd client URL such as https://127.0.0.1:2379", value)
    try:
        scheme, host, port = parse_endpoint(value)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


def list_of(item: Converter) -> Converter:
    """A YAML list; every item goes through ``item``. Returns a tuple."""

    def convert(value: Any) -> tuple:
        if not isinstance(value, list):
            raise _bad("a list", value)
        out = []
        for number, element in enumerate(value, 1):
            try:
                out.append(item(element))
            except Invalid as exc:
                raise Invalid(f"item {number}: {exc.text}") from None
        return tuple(out)

    return convert


# --- specs ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Option:
    """One key of a module.

    ``default`` applies when the key is absent or null (``default_factory`` when the default is
    computed; ``default_text`` then says in the template what it is). ``required_unless`` names
    keys whose presence makes a required key unnecessary. ``aliases`` are other YAML names of
    the same option (e.g. VyOS's ``pre-shared-secret`` for ``secret``).
    """

    key: str
    attr: str
    type: str                       # the template's type name: 'string', 'integer' or 'list'
    help: str
    convert: Converter
    default: Any = None
    required: bool = False
    values: tuple[str, ...] = ()
    unit: str = ""                  # 'ms' or 's' for durations, shown in docs
    default_factory: Callable[[], Any] | None = None
    default_text: str | None = None
    required_unless: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default

    @property
    def has_default(self) -> bool:
        return self.default is not None or self.default_factory is not None

    def default_repr(self) -> str | None:
        """The default as the seed's template shows it (``'leader'``, ``5252``, ``[]``)."""
        if self.default_text is not None:
            return self.default_text
        if self.default is None:
            return None
        return repr(list(self.default) if isinstance(self.default, tuple) else self.default)

    def comment(self) -> str:
        """The seed's template comment: ``# <default: 5252; type: integer; is: optional>``."""
        parts = []
        default = None if self.required else self.default_repr()
        if default is not None:
            parts.append(f"default: {default}")
        parts.append(f"type: {self.type}")
        if self.values:
            parts.append(f"values: {list(self.values)!r}")
        parts.append("is: required" if self.required else "is: optional")
        return "# <" + "; ".join(parts) + ">"


@dataclasses.dataclass(frozen=True)
class ModuleSpec:
    """A module's table of options.

    ``check(values, given)`` applies the rules between options: ``values`` maps attribute
    names to converted values (defaults filled in), ``given`` is the set of YAML keys the file
    set; it returns the values to use (possibly adjusted) or raises :class:`Invalid` with the
    key at fault.
    """

    name: str
    help: str
    cls: type
    options: tuple[Option, ...]
    required: bool = False
    check: Callable[[dict, frozenset], dict] | None = None

    def option(self, key: str) -> Option:
        for option in self.options:
            if option.key == key or key in option.aliases:
                return option
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(option.key for option in self.options)
