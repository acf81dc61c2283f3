"""The asyncio UDP transport of a pack node: unicast, broadcast and multicast (Linux).

In the manner of hypercorn, this is a thin layer: the sockets are made and configured
here with the :mod:`socket` module, handed to asyncio with
``loop.create_datagram_endpoint(sock=...)``, and every datagram received goes into a
bounded :class:`asyncio.Queue`; one consumer task takes them out and calls
``on_datagram(data, source)``. Nothing here knows the protocol: the protocol layer
(``node``) decides what a datagram means, including dropping its own (by sender id).

Sockets of one :class:`UdpEndpoint` (all on the same port):

``unicast``
    bound to ``(interface, port)``, without SO_REUSEADDR/SO_REUSEPORT, so two nodes
    configured with the same address and port fail loudly (:class:`UdpError`) instead of
    silently sharing it. Every datagram is *sent* from this socket (SO_BROADCAST,
    IP_MULTICAST_TTL, IP_MULTICAST_LOOP=1, IP_MULTICAST_IF=interface), so the source of
    everything a node sends is :attr:`UdpEndpoint.local_address` and answers come back
    to it. ``port=0`` lets the kernel pick a port; the other sockets then use that port.
``broadcast`` (with ``broadcast=``)
    bound to ``(broadcast, port)`` with SO_REUSEADDR + SO_REUSEPORT, so several nodes on
    one host (distinct 127.0.0.x interfaces, same port) all receive a datagram sent to
    ``127.255.255.255:port``: the kernel delivers a broadcast to *every* socket bound to
    that address and port (the SO_REUSEPORT load balancing applies to unicast only).
``multicast`` (with ``multicast_group=``)
    bound to ``(group, port)`` with SO_REUSEADDR + SO_REUSEPORT and joined to the group
    with IP_ADD_MEMBERSHIP on the interface address. IP_MULTICAST_ALL is turned off on
    every socket, so a socket only gets the groups it joined itself (Linux's default
    would hand it every group joined by any socket of the host on that port).

When ``interface`` is ``0.0.0.0`` the unicast socket already receives broadcasts (and,
once joined, multicasts) for its port, and binding a second socket to the same port
would clash with it (EADDRINUSE: the wildcard bind has no SO_REUSEADDR, on purpose). So
no broadcast socket is made, and the group is joined on the unicast socket itself (with
INADDR_ANY: the kernel picks the interface from the route to the group). Each datagram
is thus delivered once in every case: once per socket it legitimately arrives on, and
the sockets of one endpoint never overlap.

A node's own broadcasts and multicasts come back to it (IP_MULTICAST_LOOP=1 is needed
for several nodes on one host to hear each other); they are delivered like any other
datagram. :meth:`UdpEndpoint.is_own` tells whether a source address is this endpoint.

Multicast on ``lo`` (several 127.0.0.x nodes on one host)
---------------------------------------------------------
Checked on Linux 6.18 inside a fresh network namespace whose ``lo`` is merely up (no
``MULTICAST`` flag, no multicast route): with a *specific* 127.0.0.x interface this
module needs **nothing more**. Joining by address (IP_ADD_MEMBERSHIP with
``imr_interface=127.0.0.x``) finds ``lo`` from the address, and sending from a socket
bound to 127.0.0.x with IP_MULTICAST_IF=127.0.0.x routes the datagram out of ``lo``,
which hands it back to every member socket exactly once (on ``lo`` the datagram comes
back by the device itself: no duplicate from IP_MULTICAST_LOOP, and turning LOOP off
would not stop it). The ``MULTICAST`` flag of ``lo`` (``ip link set lo multicast on``)
makes no difference either way.

With ``interface="0.0.0.0"`` the join uses INADDR_ANY and the kernel looks up the route
to the group: without one (a bare namespace) the join fails with ENODEV, reported as
:class:`UdpError`; with a default route it joins on *that* device (e.g. ``eth0``), not on
``lo``. Inside a test namespace ``ip route add 224.0.0.0/4 dev lo`` makes it work on
``lo``, but the node's multicasts then leave with source address 0.0.0.0 (that route has
link scope and 127.0.0.1 host scope, so none is chosen): peers cannot answer them by
unicast. Hence: for several nodes on one host, give each its own 127.0.0.x interface.

This module never changes network settings (no flags, no routes): the operator or the
test harness does, inside its own namespace. Between namespaces joined by a Linux
bridge, multicast also goes through (the members send IGMP reports when they join);
the tests turn the bridge's IGMP snooping off so a port taken down and up again does not
lose its group until the next IGMP query.
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
from typing import Awaitable, Callable

__all__ = ["UdpEndpoint", "UdpError", "COUNTERS"]

log = logging.getLogger(__name__)

# Linux value; the socket module does not export it.
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)

UNICAST = "unicast"
BROADCAST = "broadcast"
MULTICAST = "multicast"

#: Every counter of :attr:`UdpEndpoint.counters` (all present from the start, at 0).
COUNTERS = (
    "sent",                  # datagrams handed to the kernel (any kind)
    "sent_unicast",
    "sent_broadcast",
    "sent_multicast",
    "sent_bytes",
    "send_errors",           # OS errors at send, no broadcast/group configured, not started
    "send_refused_oversize",  # send() of more than max_datagram bytes: refused, dropped
    "dropped_backpressure",  # send while the kernel buffer is full (transport paused)
    "received",              # datagrams accepted into the queue
    "received_unicast",
    "received_broadcast",
    "received_multicast",
    "received_bytes",
    "receive_errors",        # errors reported by the transports while receiving
    "dropped_oversize",      # received datagrams larger than max_datagram
    "dropped_queue_full",    # received while the queue was full
    "delivered",             # on_datagram calls that returned normally
    "handler_errors",        # on_datagram raised
)

DatagramHandler = Callable[[bytes, "tuple[str, int]"], None | Awaitable[None]]


class UdpError(OSError):
    """A socket could not be set up; the message names the address, the port and the OS
    error. ``errno`` is the OS error number when there is one."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: UdpEndpoint, kind: str):
        self.endpoint = endpoint
        self.kind = kind
        self.paused = False

    def datagram_received(self, data: bytes, addr) -> None:
        self.endpoint._datagram_received(self.kind, data, addr)

    def error_received(self, exc: Exception) -> None:
        self.endpoint._error_received(self.kind, exc)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False

    def connection_lost(self, exc) -> None:  # pragma: no cover - only on close
        if exc is not None:
            log.debug("udp %s socket lost: %s", self.kind, exc)


class UdpEndpoint:
    """One node's UDP sockets: a thin asyncio transport with a bounded queue after the
    socket, feeding a callback.

    ``on_datagram(data, source)`` is called by one consumer task, in arrival order. It
    may return an awaitable, which is awaited before the next datagram is taken: the
    datagrams arriving meanwhile wait in the queue (at most ``queue_size``; more are
    dropped and counted in ``dropped_queue_full``). Exceptions from it are logged and
    counted (``handler_errors``) and never stop the consumer.

    Sends never raise for network conditions: errors are counted (``send_errors``) and
    logged (a warning the first time per kind of error, debug afterwards).
    """

    def __init__(self, *, interface: str, port: int, broadcast: str | None = None,
                 multicast_group: str | None = None, multicast_ttl: int = 1,
                 on_datagram: DatagramHandler, queue_size: int = 1024,
                 max_datagram: int = 1400):
        self.interface = str(ipaddress.IPv4Address(interface))
        if not 0 <= int(port) <= 65535:
            raise ValueError(f"port out of range: {port!r}")
        self.port = int(port)
        self.broadcast = str(ipaddress.IPv4Address(broadcast)) if broadcast else None
        if multicast_group:
            group = ipaddress.IPv4Address(multicast_group)
            if not group.is_multicast:
                raise ValueError(f"not a multicast group: {multicast_group!r}")
            self.multicast_group: str | None = str(group)
        else:
            self.multicast_group = None
        if not 0 <= int(multicast_ttl) <= 255:
            raise ValueError(f"multicast_ttl out of range: {multicast_ttl!r}")
        self.multicast_ttl = int(multicast_ttl)
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if max_datagram < 1:
            raise ValueError("max_datagram must be at least 1")
        self.on_datagram = on_datagram
        self.queue_size = int(queue_size)
        self.max_datagram = int(max_datagram)
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        #: the unicast address actually bound (port filled in when ``port=0``)
        self.local_address: tuple[str, int] = (self.interface, self.port)
        #: every address bound, by kind (``unicast``, ``broadcast``, ``multicast``)
        self.bound: dict[str, tuple[str, int]] = {}
        self._transports: dict[str, asyncio.DatagramTransport] = {}
        self._protocols: dict[str, _Protocol] = {}
        self._queue: asyncio.Queue | None = None
        self._consumer: asyncio.Task | None = None
        self._logged: set = set()
        self._local_ips: dict[str, bool] = {}
        self._sending = False

    # -- life cycle -----------------------------------------------------------------

    @property
    def started(self) -> bool:
        return UNICAST in self._transports

    @property
    def wildcard(self) -> bool:
        return self.interface == "0.0.0.0"

    async def start(self, *, deliver: bool = True) -> None:
        """Bind every socket and start the consumer. Raises :class:`UdpError` (and leaves
        nothing open) when a socket cannot be set up. May be called again after
        :meth:`close`.

        ``deliver=False``: bind now (so that a port in use fails early) but hold what
        arrives in the queue until :meth:`deliver` is called, when the receiver is ready."""
        if self.started:
            raise RuntimeError("UdpEndpoint already started")
        loop = asyncio.get_running_loop()
        socks: dict[str, socket.socket] = {}
        try:
            socks[UNICAST] = self._unicast_socket()
            port = socks[UNICAST].getsockname()[1]
            if self.broadcast and not self.wildcard:
                socks[BROADCAST] = self._group_socket(BROADCAST, self.broadcast, port)
            if self.multicast_group:
                if self.wildcard:
                    self._join(socks[UNICAST], port)
                else:
                    socks[MULTICAST] = self._group_socket(MULTICAST, self.multicast_group, port)
                    self._join(socks[MULTICAST], port)
        except BaseException:
            for s in socks.values():
                s.close()
            raise
        self.local_address = (self.interface, port)
        self.bound = {kind: s.getsockname()[:2] for kind, s in socks.items()}
        self._queue = asyncio.Queue(self.queue_size)
        try:
            for kind, s in socks.items():
                protocol = _Protocol(self, kind)
                transport, _ = await loop.create_datagram_endpoint(lambda p=protocol: p, sock=s)
                self._transports[kind] = transport
                self._protocols[kind] = protocol
        except BaseException:
            for kind, s in socks.items():
                if kind not in self._transports:
                    s.close()
            await self.close()
            raise
        if deliver:
            self.deliver()
        log.debug("udp endpoint started: %s", self.bound)

    def deliver(self) -> None:
        """Start handing queued and new datagrams to ``on_datagram`` (see :meth:`start`)."""
        if self._consumer is None and self._queue is not None:
            self._consumer = asyncio.get_running_loop().create_task(
                self._consume(self._queue), name=f"udp-consumer-{self.interface}:{self.local_address[1]}")

    async def close(self) -> None:
        """Close every socket (the port is free when this returns) and stop the consumer;
        datagrams still queued are discarded."""
        transports, self._transports, self._protocols = self._transports, {}, {}
        self.bound = {}
        for transport in transports.values():
            transport.close()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.cancel()
            try:
                await consumer
            except asyncio.CancelledError:
                # Only swallow the cancellation we asked for, not one aimed at our caller.
                current = asyncio.current_task()
                cancelling = getattr(current, "cancelling", None)  # Python >= 3.11
                if cancelling is not None and cancelling():
                    raise
        # Let the transports run their connection_lost callbacks (the sockets are
        # closed then, so the port is free when close() returns).
        if transports:
            await asyncio.sleep(0)
        self._queue = None

    async def __aenter__(self) -> UdpEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- sockets --------------------------------------------------------------------

    def _fail(self, what: str, address: str, port: int, exc: OSError) -> UdpError:
        reason = exc.strerror or str(exc)
        code = exc.errno
        name = errno.errorcode.get(code, "") if code else ""
        return UdpError(f"cannot {what} {address}:{port}: {reason}"
                        f"{f' ({name})' if name else ''}", code)

    def _unicast_socket(self) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                _multicast_all_off(s)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, self.multicast_ttl)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
                if not self.wildcard:
                    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                 socket.inet_aton(self.interface))
            except OSError as exc:
                raise self._fail("configure the UDP unicast socket for", self.interface, self.port, exc) from exc
            try:
                s.bind((self.interface, self.port))
            except OSError as exc:
                raise self._fail("bind the UDP unicast socket to", self.interface, self.port, exc) from exc
        except BaseException:
            s.close()
            raise
        return s

    def _group_socket(self, kind: str, address: str, port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                _multicast_all_off(s)
            except OSError as exc:
                raise self._fail(f"configure the UDP {kind} socket for", address, port, exc) from exc
            try:
                s.bind((address, port))
            except OSError as exc:
                raise self._fail(f"bind the UDP {kind} socket to", address, port, exc) from exc
        except BaseException:
            s.close()
            raise
        return s

    def _join(self, s: socket.socket, port: int) -> None:
        assert self.multicast_group
        mreq = socket.inet_aton(self.multicast_group) + socket.inet_aton(self.interface)
        try:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        except OSError as exc:
            err = self._fail(f"join multicast group {self.multicast_group} on interface "
                             f"{self.interface} with the UDP socket bound to",
                             "0.0.0.0" if self.wildcard else self.multicast_group, port, exc)
            if exc.errno == errno.ENODEV and self.wildcard:
                err = UdpError(f"{err}; with interface 0.0.0.0 the kernel needs a route to "
                               f"{self.multicast_group} to pick the interface", exc.errno)
            raise err from exc

    # -- sending --------------------------------------------------------------------

    def send_unicast(self, data: bytes, address: tuple[str, int]) -> None:
        self._send(UNICAST, data, (address[0], int(address[1])))

    def send_broadcast(self, data: bytes) -> None:
        """Send to ``(broadcast, port)``; counted as a send error if no broadcast address
        is configured."""
        if not self.broadcast:
            self._send_error(BROADCAST, "no broadcast address configured")
            return
        self._send(BROADCAST, data, (self.broadcast, self.local_address[1]))

    def send_multicast(self, data: bytes) -> None:
        """Send to ``(multicast_group, port)``; counted as a send error if no group is
        configured."""
        if not self.multicast_group:
            self._send_error(MULTICAST, "no multicast group configured")
            return
        self._send(MULTICAST, data, (self.multicast_group, self.local_address[1]))

    def _send(self, kind: str, data: bytes, address: tuple[str, int]) -> None:
        if len(data) > self.max_datagram:
            self.counters["send_refused_oversize"] += 1
            self._log_once(("oversize",), "udp: refusing to send a %d-byte datagram to %s:%d "
                           "(max_datagram is %d); such datagrams are dropped and counted",
                           len(data), address[0], address[1], self.max_datagram)
            return
        transport = self._transports.get(UNICAST)
        if transport is None or transport.is_closing():
            self._send_error(kind, "endpoint not started or closed")
            return
        if self._protocols[UNICAST].paused:
            self.counters["dropped_backpressure"] += 1
            return
        errors = self.counters["send_errors"]
        self._sending = True
        try:
            transport.sendto(data, address)
        except (OSError, ValueError, TypeError) as exc:  # e.g. a malformed address
            self._send_error(kind, f"{address!r}: {exc}")
            return
        finally:
            self._sending = False
        if self.counters["send_errors"] != errors:
            return  # the transport reported the OS error through error_received
        self.counters["sent"] += 1
        self.counters[f"sent_{kind}"] += 1
        self.counters["sent_bytes"] += len(data)

    def _send_error(self, kind: str, reason: str) -> None:
        self.counters["send_errors"] += 1
        self._log_once(("send", kind, reason), "udp: %s send failed: %s", kind, reason)

    # -- receiving ------------------------------------------------------------------

    def _datagram_received(self, kind: str, data: bytes, addr) -> None:
        if len(data) > self.max_datagram:
            self.counters["dropped_oversize"] += 1
            self._log_once(("recv-oversize",), "udp: dropping a %d-byte datagram from %s "
                           "(max_datagram is %d)", len(data), addr, self.max_datagram)
            return
        queue = self._queue
        if queue is None:
            return
        try:
            queue.put_nowait((data, (addr[0], addr[1])))
        except asyncio.QueueFull:
            self.counters["dropped_queue_full"] += 1
            self._log_once(("queue-full",), "udp: receive queue full (%d), dropping datagrams",
                           self.queue_size)
            return
        self.counters["received"] += 1
        self.counters[f"received_{kind}"] += 1
        self.counters["received_bytes"] += len(data)

    def _error_received(self, kind: str, exc: Exception) -> None:
        # asyncio reports both a failed sendto (synchronously, from inside
        # transport.sendto, or later when flushing its buffer) and a failed recvfrom here.
        if self._sending or (kind == UNICAST and self._transports.get(UNICAST) is not None
                             and self._transports[UNICAST].get_write_buffer_size()):
            self._send_error(UNICAST, str(exc))
        else:
            self.counters["receive_errors"] += 1
            self._log_once(("recv-error", kind, type(exc)), "udp: %s socket error: %s", kind, exc)

    async def _consume(self, queue: asyncio.Queue) -> None:
        since_yield = 0
        while True:
            data, source = await queue.get()
            try:
                result = self.on_datagram(data, source)
                if result is not None and hasattr(result, "__await__"):
                    await result
                    since_yield = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                self.counters["handler_errors"] += 1
                n = self.counters["handler_errors"]
                if n <= 10 or n % 1000 == 0:
                    log.exception("udp: on_datagram raised (datagram from %s; %d so far)", source, n)
            else:
                self.counters["delivered"] += 1
            since_yield += 1
            if since_yield >= 64:  # do not starve other tasks under a flood
                since_yield = 0
                await asyncio.sleep(0)

    # -- helpers --------------------------------------------------------------------

    def is_own(self, source: tuple[str, int]) -> bool:
        """True if ``source`` is this endpoint's unicast address, i.e. the datagram is one
        of ours looped back by broadcast or multicast. With interface 0.0.0.0 any local
        address of the host with our port counts (nobody else can hold that port)."""
        host, port = source[0], int(source[1])
        if port != self.local_address[1]:
            return False
        if not self.wildcard:
            return host == self.interface
        return self._is_local_ip(host)

    def _is_local_ip(self, host: str) -> bool:
        known = self._local_ips.get(host)
        if known is None:
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                probe.bind((host, 0))  # succeeds only for an address of this host
                known = True
            except OSError:
                known = False
            finally:
                probe.close()
            if len(self._local_ips) > 256:
                self._local_ips.clear()
            self._local_ips[host] = known
        return known

    def _log_once(self, key, msg: str, *args) -> None:
        if key in self._logged:
            log.debug(msg, *args)
        else:
            if len(self._logged) < 1024:
                self._logged.add(key)
            log.warning(msg, *args)

    def __repr__(self) -> str:
        state = "started" if self.started else "closed"
        return f"<UdpEndpoint {self.local_address[0]}:{self.local_address[1]} {state} {self.bound}>"


def _multicast_all_off(s: socket.socket) -> None:
    try:
        s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    except OSError:  # pragma: no cover - not Linux
        pass
