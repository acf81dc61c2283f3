"""ICMP echo (ping) for the monitor addresses: packets, and the sockets on the daemon's loop.

Raw ICMP sockets (the daemon runs with CAP_NET_RAW, as it needs for gratuitous ARP); where
they are refused, the kernel's unprivileged "ping" sockets (``net.ipv4.ping_group_range``).
Every raw socket of the host sees every echo reply: ours are told apart by the identifier,
one per process.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import struct
from typing import Callable

log = logging.getLogger(__name__)

ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 128, 129
_ECHO = struct.Struct("!BBHHH")      # type, code, checksum, identifier, sequence
PAYLOAD = b"pylxd-cluster monitor"


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(identifier: int, seq: int, v6: bool = False) -> bytes:
    """An echo request; for ICMPv6 the kernel fills in the checksum (it covers the IPv6
    pseudo-header, which only the kernel knows)."""
    kind = ICMPV6_ECHO_REQUEST if v6 else ICMP_ECHO_REQUEST
    body = _ECHO.pack(kind, 0, 0, identifier, seq) + PAYLOAD
    if v6:
        return body
    return _ECHO.pack(kind, 0, checksum(body), identifier, seq) + PAYLOAD


def parse_reply(packet: bytes, v6: bool, raw: bool) -> tuple[int, int] | None:
    """``(identifier, seq)`` of an echo reply, or None for anything else. A raw IPv4 socket
    gives the IP header too; IPv6 and ping sockets give the ICMP message alone."""
    if raw and not v6:
        if len(packet) < 20:
            return None
        packet = packet[(packet[0] & 0x0F) * 4:]
    if len(packet) < _ECHO.size:
        return None
    kind, code, _, identifier, seq = _ECHO.unpack_from(packet)
    if kind != (ICMPV6_ECHO_REPLY if v6 else ICMP_ECHO_REPLY) or code != 0:
        return None
    return identifier, seq


class _Family:
    def __init__(self, v6: bool):
        self.v6 = v6
        family, proto = (socket.AF_INET6, socket.IPPROTO_ICMPV6) if v6 else (socket.AF_INET, socket.IPPROTO_ICMP)
        try:
            self.sock, self.raw = socket.socket(family, socket.SOCK_RAW, proto), True
        except PermissionError:
            # The kernel's ping socket: it sets the identifier itself (the local "port").
            self.sock, self.raw = socket.socket(family, socket.SOCK_DGRAM, proto), False
        self.sock.setblocking(False)


class Pinger:
    """Sends echoes and reports replies: ``on_reply(address, seq)``. Errors on send (no
    route, a down interface) are counted and the echo is simply not answered: the monitor
    turns unreachable in due time.

    Raises (from the constructor): OSError when neither a raw nor a ping socket can be had.
    """

    def __init__(self, on_reply: Callable[[str, int], None]):
        self._on_reply = on_reply
        self.identifier = os.getpid() & 0xFFFF
        self._families: dict[bool, _Family] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.counters = {"send_errors": 0, "foreign_replies": 0}

    def _family(self, v6: bool) -> _Family:
        family = self._families.get(v6)
        if family is None:
            family = self._families[v6] = _Family(v6)
            if not family.raw:
                family.sock.bind(("::", 0) if v6 else ("0.0.0.0", 0))
            self._loop = self._loop or asyncio.get_running_loop()
            self._loop.add_reader(family.sock.fileno(), self._read, family)
        return family

    def send(self, address: str, seq: int) -> None:
        v6 = ipaddress.ip_address(address).version == 6
        try:
            family = self._family(v6)
            identifier = self.identifier if family.raw else 0
            family.sock.sendto(echo_request(identifier, seq, v6), (address, 0))
        except OSError as exc:
            self.counters["send_errors"] += 1
            log.debug("echo to %s not sent: %s", address, exc)

    def _read(self, family: _Family) -> None:
        while True:
            try:
                packet, source = family.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("ICMP socket: %s", exc)
                return
            parsed = parse_reply(packet, family.v6, family.raw)
            if parsed is None:
                continue
            identifier, seq = parsed
            if family.raw and identifier != self.identifier:
                self.counters["foreign_replies"] += 1
                continue
            address = str(ipaddress.ip_address(source[0].split("%")[0]))
            self._on_reply(address, seq)

    def close(self) -> None:
        for family in self._families.values():
            if self._loop is not None:
                self._loop.remove_reader(family.sock.fileno())
            family.sock.close()
        self._families.clear()
