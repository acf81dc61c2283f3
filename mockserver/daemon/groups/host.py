"""What holding a group does on this host: addresses through netlink (pyroute2), gratuitous
ARP and unsolicited neighbour advertisements, then services; and the reverse to let go.

Order, as heartbeat's haresources had it:

- **Up:** addresses first, in the order given, each announced at once and again
  (``announce_count`` times, ``announce_interval`` apart: VyOS's IPaddr2 sent 5, 200 ms apart);
  then services, in order, one at a time.
- **Down:** services in reverse order, then addresses. When the lease is over (the member
  no longer has a majority, or it stops), addresses go first and at once: another member may
  take them now. Services follow. When the group is handed over while the lease still runs,
  the addresses are removed after the services stop, but before the lease ends (and within
  ``address_deadline`` seconds) whatever the services do.

Every group's steps run one at a time, in order (a group's next transition waits for the
previous one).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import socket
import struct

from mockserver.daemon.commands import Chains, run_command
from mockserver.daemon.groups.config import AddressService, ExecService, GroupSpec, UnitService
from mockserver.daemon.groups.hooks import ACTIVE, REANNOUNCE, STANDBY, Notifier

log = logging.getLogger(__name__)

IFA_F_NODAD = 0x02          # an IPv6 service address is usable at once (no duplicate detection)
ETH_P_ARP = 0x0806
ICMPV6_NEIGHBOR_ADVERT = 136
NA_FLAG_OVERRIDE = 0x20000000


def interface_mac(name: str) -> bytes:
    with open(f"/sys/class/net/{name}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def gratuitous_arp(interface: str, ip: ipaddress.IPv4Address) -> None:
    """One gratuitous ARP request for ``ip`` on ``interface`` (as ``arping -U``)."""
    mac = interface_mac(interface)
    frame = (b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP)
             + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip.packed + b"\x00" * 6 + ip.packed)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((interface, ETH_P_ARP))
        sock.send(frame)


def unsolicited_na(interface: str, ip: ipaddress.IPv6Address) -> None:
    """One unsolicited neighbour advertisement for ``ip`` to all nodes (override set)."""
    mac = interface_mac(interface)
    message = (struct.pack("!BBHI", ICMPV6_NEIGHBOR_ADVERT, 0, 0, NA_FLAG_OVERRIDE) + ip.packed
               + struct.pack("!BB", 2, 1) + mac)   # option: target link-layer address
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        index = socket.if_nametoindex(interface)
        sock.sendto(message, ("ff02::1", 0, 0, index))


class Netlink:
    """Adding and removing addresses (pyroute2, imported when first used). Failures are
    OSErrors (pyroute2's NetlinkError is turned into one).

    pyroute2's synchronous API runs an event loop of its own, which cannot run inside the
    daemon's: every call goes to one worker thread and is waited for (a netlink call takes
    well under a millisecond; the addresses are up before this step ends)."""

    def __init__(self):
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="netlink")
        self._warming = False

    def _call(self, function):
        return self._worker.submit(function).result()

    def warm(self) -> None:
        """Import pyroute2 now, in the worker thread, without waiting (the import takes
        about 150 ms: a takeover must not pay it)."""
        if not self._warming:
            self._warming = True
            self._worker.submit(lambda: __import__("pyroute2"))

    def _ipr(self):
        from pyroute2 import IPRoute

        return IPRoute()

    @staticmethod
    def _addr(ipr, *args, **kwargs) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            ipr.addr(*args, **kwargs)
        except NetlinkError as exc:
            raise OSError(exc.code, f"netlink: {exc}") from None

    def add(self, service: AddressService) -> bool:
        """True if it was added (False: it was there already)."""
        return self._call(lambda: self._add(service))

    def remove(self, service: AddressService) -> bool:
        return self._call(lambda: self._remove(service))

    def present(self, service: AddressService) -> bool:
        return self._call(lambda: self._is_present(service))

    def _add(self, service: AddressService) -> bool:
        with self._ipr() as ipr:
            index = self._index(ipr, service.interface)
            if self._present(ipr, index, service):
                return False
            flags = {"flags": IFA_F_NODAD} if service.address.version == 6 else {}
            self._addr(ipr, "add", index=index, address=str(service.address.ip),
                       prefixlen=service.address.network.prefixlen, **flags)
            return True

    def _remove(self, service: AddressService) -> bool:
        with self._ipr() as ipr:
            index = self._index(ipr, service.interface)
            if not self._present(ipr, index, service):
                return False
            self._addr(ipr, "del", index=index, address=str(service.address.ip),
                       prefixlen=service.address.network.prefixlen)
            return True

    def _is_present(self, service: AddressService) -> bool:
        with self._ipr() as ipr:
            try:
                index = self._index(ipr, service.interface)
            except LookupError:
                return False
            return self._present(ipr, index, service)

    @staticmethod
    def _index(ipr, interface: str) -> int:
        found = ipr.link_lookup(ifname=interface)
        if not found:
            raise LookupError(f"no interface {interface!r} on this host")
        return found[0]

    @staticmethod
    def _present(ipr, index: int, service: AddressService) -> bool:
        wanted = str(service.address.ip)
        return any(item.get_attr("IFA_ADDRESS") == wanted for item in ipr.get_addr(index=index))


class HostActions:
    """``GroupActions`` that move addresses and services on this host."""

    def __init__(self, *, announce_count: int = 5, announce_interval: float = 0.2, command_timeout: float = 30.0,
                 address_deadline: float = 1.0, netlink: Netlink | None = None, notifier: Notifier | None = None):
        self.notifier = notifier
        self.announce_count, self.announce_interval = announce_count, announce_interval
        self.command_timeout, self.address_deadline = command_timeout, address_deadline
        self.netlink = netlink or Netlink()
        self._chains = Chains()
        self.counters = {"addresses_added": 0, "addresses_removed": 0, "announcements": 0, "commands": 0,
                         "command_failures": 0, "address_failures": 0}

    # ---- GroupActions -----------------------------------------------------------------------

    def acquire(self, group: GroupSpec, epoch: int) -> None:
        # The addresses now, in this step: every millisecond counts in a failover.
        for service in group.addresses:
            self._add(group, service)
        self._then(group, self._start_services(group))
        self._then(group, self._notify(group, ACTIVE, epoch))

    def release(self, group: GroupSpec, epoch: int, reason: str, until: float) -> None:
        loop = asyncio.get_running_loop()
        left = until - loop.time()
        if left <= 0:
            for service in reversed(group.addresses):   # first and at once: the lease is over
                self._remove(group, service)
            self._then(group, self._stop_services(group))
            self._then(group, self._notify(group, STANDBY, epoch, reason))
            return
        # Handed over while the lease runs: services stop first, but the addresses go by the
        # lease's end whatever the services do (the new owner may take them then).
        deadline = loop.call_later(min(self.address_deadline, 0.9 * left), self._remove_addresses, group)

        async def handover():
            await self._stop_services(group)
            deadline.cancel()
            self._remove_addresses(group)

        self._then(group, handover())
        self._then(group, self._notify(group, STANDBY, epoch, reason))

    def reannounce(self, group: GroupSpec, epoch: int) -> None:
        """The pack healed while the group is held here: its addresses are announced again
        (clients that followed another member meanwhile come back), then the hook is told."""
        for service in group.addresses:
            self._then(group, self._announce_again(group, service, self.announce_count))
        self._then(group, self._notify(group, REANNOUNCE, epoch, "the pack healed"))

    def counters_now(self) -> dict:
        return {**self.counters, **(self.notifier.counters if self.notifier is not None else {})}

    def prepare(self, groups) -> None:
        if any(group.addresses for group in groups):
            self.netlink.warm()

    def clean(self, groups) -> None:
        """At start: no address of a group may stay up from an earlier run (a kill -9 leaves
        them); the ownership decides anew."""
        for group in groups:
            for service in group.addresses:
                try:
                    if self.netlink.present(service) and self.netlink.remove(service):
                        log.warning("group %s: removed %s left from an earlier run", group.name, service)
                except (OSError, LookupError) as exc:
                    log.warning("group %s: cannot check %s: %s", group.name, service, exc)

    # ---- steps ------------------------------------------------------------------------------

    async def _notify(self, group: GroupSpec, event: str, epoch: int, reason: str = "") -> None:
        """Queued in the group's order; run beside the transitions (see hooks.py)."""
        if self.notifier is not None:
            self.notifier.notify(group, event, epoch, reason)

    def _then(self, group: GroupSpec, step) -> None:
        """Run ``step`` after the group's previous steps (one at a time, in order)."""
        self._chains.then(group.name, step)

    def _add(self, group: GroupSpec, service: AddressService) -> None:
        try:
            self.netlink.add(service)
        except (OSError, LookupError) as exc:   # pyroute2's NetlinkError is an OSError
            self.counters["address_failures"] += 1
            log.error("group %s: cannot add %s: %s", group.name, service, exc)
            return
        self.counters["addresses_added"] += 1
        log.info("group %s: %s up", group.name, service)
        self._announce(group, service)
        if self.announce_count > 1:
            self._then(group, self._announce_again(group, service, self.announce_count - 1))

    def _remove_addresses(self, group: GroupSpec) -> None:
        for service in reversed(group.addresses):
            self._remove(group, service)

    def _remove(self, group: GroupSpec, service: AddressService) -> None:
        try:
            if self.netlink.remove(service):
                self.counters["addresses_removed"] += 1
                log.info("group %s: %s down", group.name, service)
        except (OSError, LookupError) as exc:
            self.counters["address_failures"] += 1
            log.error("group %s: cannot remove %s: %s", group.name, service, exc)

    def _announce(self, group: GroupSpec, service: AddressService) -> None:
        try:
            if service.address.version == 4:
                gratuitous_arp(service.interface, service.address.ip)
            else:
                unsolicited_na(service.interface, service.address.ip)
            self.counters["announcements"] += 1
        except OSError as exc:
            log.warning("group %s: cannot announce %s: %s", group.name, service, exc)

    async def _announce_again(self, group: GroupSpec, service: AddressService, count: int) -> None:
        for _ in range(count):
            await asyncio.sleep(self.announce_interval)
            if not self.netlink.present(service):
                return   # released meanwhile
            self._announce(group, service)

    async def _start_services(self, group: GroupSpec) -> None:
        for service in group.services:
            if isinstance(service, ExecService):
                await self._run(group, "start", service.start)
            elif isinstance(service, UnitService):
                await self._run(group, "start", ("systemctl", "start", service.unit))

    async def _stop_services(self, group: GroupSpec) -> None:
        for service in reversed(group.services):
            if isinstance(service, ExecService):
                await self._run(group, "stop", service.stop)
            elif isinstance(service, UnitService):
                await self._run(group, "stop", ("systemctl", "stop", service.unit))

    async def _run(self, group: GroupSpec, what: str, argv) -> bool:
        self.counters["commands"] += 1
        outcome = await run_command(argv, self.command_timeout)
        if not outcome.ok:
            self.counters["command_failures"] += 1
            log.error("group %s: %s: %s", group.name, what, outcome.text)
        return outcome.ok
