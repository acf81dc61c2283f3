"""The DNS strategies, polled: ``dns`` (A and AAAA records of a name) and ``dns-srv`` (SRV
records: each target and port), through dnspython's asyncio resolver, from the system's
resolvers or from the one the configuration names.

The pack's datagrams travel over IPv4 (the Pack module's ``interface``): AAAA records are
looked up and shown, but only the IPv4 addresses are proposed.
"""
from __future__ import annotations

import asyncio
import socket

import dns.asyncresolver
import dns.exception
import dns.resolver

from mockserver.daemon.config.discovery import Dns, DnsSrv
from mockserver.daemon.discovery.hostsfile import PartialResult


class DnsStrategy:
    """``poll()`` raises OSError saying what the resolver answered: no such name, no
    answer in time, or no server answering."""

    def __init__(self, spec: Dns | DnsSrv, default_port: int):
        self.spec, self.default_port = spec, default_port
        self.interval = spec.polling_interval_ms / 1000
        self.name = f"{spec.kind} {spec.query}" + (f" @{spec.resolver[0]}:{spec.resolver[1]}" if spec.resolver else "")
        self.problems: list = []
        # An answer is awaited for at most a polling interval (and 5 s): a resolver that
        # hangs delays nothing else, and the next poll asks again.
        self.lifetime = min(5.0, max(0.5, self.interval))
        self._resolver: dns.asyncresolver.Resolver | None = None

    async def _get_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            if self.spec.resolver is None:
                resolver = dns.asyncresolver.Resolver()
            else:
                host, port = self.spec.resolver
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers, resolver.port = [infos[0][4][0]], port
            resolver.lifetime = resolver.timeout = self.lifetime
            self._resolver = resolver
        return self._resolver

    async def _query(self, name: str, kind: str) -> list:
        resolver = await self._get_resolver()
        try:
            answer = await resolver.resolve(name, kind, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            raise OSError(f"{name}: no such name (NXDOMAIN)") from None
        except dns.exception.Timeout:
            raise OSError(f"{name} {kind}: no answer within {self.lifetime:g} s") from None
        except dns.resolver.NoNameservers as exc:
            raise OSError(f"{name} {kind}: no server answered ({exc.msg})") from None
        except dns.exception.DNSException as exc:
            raise OSError(f"{name} {kind}: {exc}") from None
        return list(answer.rrset or ())

    async def poll(self) -> set:
        if isinstance(self.spec, DnsSrv):
            return await self._poll_srv()
        v4 = await self._query(self.spec.query, "A")
        v6 = await self._query(self.spec.query, "AAAA")
        self.problems = [f"AAAA {record.address} not used: the pack's datagrams travel over IPv4"
                         for record in v6]
        return {(record.address, self.default_port) for record in v4}

    async def _poll_srv(self) -> set:
        """Each target's A records, from the same resolver (a target that does not resolve
        costs only itself: the others are proposed, and the error names it)."""
        records = await self._query(self.spec.query, "SRV")
        self.problems = []
        found, failed = set(), []
        for record in records:
            target = str(record.target).rstrip(".")
            try:
                found |= {(a.address, record.port) for a in await self._query(target, "A")}
            except OSError as exc:
                failed.append(str(exc))
        if failed:
            raise PartialResult(found, "; ".join(failed))
        return found
