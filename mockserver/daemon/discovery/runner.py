"""Runs the discovery strategies side by side on the daemon's loop, and keeps their status.

Each strategy is polled every its own interval. What all of them found last is handed to
the pack node as one set of candidate addresses. A strategy that fails keeps what it found
before (a resolver timeout or a missing file must not make the pack forget anyone; and the
node never removes a member because it is no longer proposed anyway): its status says what
went wrong and since when.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from mockserver.daemon.config.discovery import Dns, DnsSrv, HostsFile, Kubernetes, Plugin
from mockserver.daemon.discovery.dns import DnsStrategy
from mockserver.daemon.discovery.hostsfile import HostsFileStrategy, PartialResult
from mockserver.daemon.discovery.plugins import PluginStrategy
from mockserver.wire import go_timestamp

log = logging.getLogger(__name__)


class Poller(Protocol):
    """What a strategy is to the runner: a name, a polling interval, and ``poll()``, which
    returns the set of ``(host, port)`` it proposes now or raises OSError. ``problems``
    lists what it skipped (bad lines, bad records) without failing. A strategy with
    ``streaming`` true offers ``stream()`` and ``resolve(items)`` instead (a plug-in's async
    iterator), and one with ``close()`` has it awaited at stop."""
    name: str
    interval: float
    problems: list

    async def poll(self) -> set: ...


@dataclass
class StrategyStatus:
    name: str
    found: set = field(default_factory=set)
    updated_at: float | None = None     # wall clock of the last answer (time.time())
    error: str | None = None
    error_at: float | None = None
    polls: int = 0
    failures: int = 0

    def describe(self, problems: list) -> dict:
        """As member state shows it (times as LXD writes them; None: never)."""
        def stamp(when):
            return None if when is None else go_timestamp(_dt.datetime.fromtimestamp(when, _dt.timezone.utc))
        return {"strategy": self.name, "found": sorted(f"{host}:{port}" for host, port in self.found),
                "updated_at": stamp(self.updated_at), "error": self.error, "error_at": stamp(self.error_at),
                "problems": list(problems), "polls": self.polls, "failures": self.failures}


def build(specs, default_port: int) -> list:
    """The pollers for the Pack module's strategies.

    Raises:
        ValueError: a strategy that cannot run here (an extra not installed, a plug-in that
            cannot be loaded or refuses its options), named.
    """
    pollers = []
    for spec in specs:
        if isinstance(spec, HostsFile):
            pollers.append(HostsFileStrategy(spec, default_port))
        elif isinstance(spec, (Dns, DnsSrv)):
            pollers.append(DnsStrategy(spec, default_port))
        elif isinstance(spec, Plugin):
            pollers.append(PluginStrategy(spec, default_port))
        elif isinstance(spec, Kubernetes):
            try:
                from mockserver.daemon.discovery.kubernetes import KubernetesStrategy
                pollers.append(KubernetesStrategy(spec, default_port))
            except ImportError as exc:
                raise ValueError(f"discovery strategy 'kubernetes' needs kubernetes-asyncio ({exc}): install"
                                 f" pylxd-cluster[kubernetes]") from None
        else:
            raise ValueError(f"discovery strategy {spec.kind!r} is not known to this version")
    return pollers


class DiscoveryRunner:
    """``proposed(addresses)`` is called with the union of every strategy's latest finding,
    whenever it changes."""

    def __init__(self, pollers: list, proposed: Callable[[set], None]):
        self.pollers = pollers
        self._proposed = proposed
        self.status = {poller.name: StrategyStatus(poller.name) for poller in pollers}
        self._tasks: list = []
        self._last: set | None = None

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._run(poller)) for poller in self.pollers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for poller in self.pollers:
            close = getattr(poller, "close", None)     # a poller holding connections
            if close is not None:
                await close()

    def describe(self) -> list:
        return [self.status[p.name].describe(p.problems) for p in self.pollers]

    async def _run(self, poller: Poller) -> None:
        while True:
            if getattr(poller, "streaming", False):
                await self._follow(poller)
            else:
                await self.poll_once(poller)
            await asyncio.sleep(poller.interval)

    async def _follow(self, poller) -> None:
        """A streaming strategy: each address list it yields, until it fails or ends."""
        status = self.status[poller.name]
        try:
            async for items in poller.stream():
                await self._settle(status, poller.resolve(items))
        except OSError as exc:
            status.polls += 1
            self._failed(status, str(exc))

    async def poll_once(self, poller: Poller) -> None:
        await self._settle(self.status[poller.name], poller.poll())

    async def _settle(self, status: StrategyStatus, answer) -> None:
        """Record what ``answer`` (a coroutine: a set, or OSError) says, and propose the
        union of every strategy's findings when it changed."""
        status.polls += 1
        try:
            found = await answer
        except PartialResult as exc:
            self._failed(status, str(exc))
            status.found |= exc.found   # what did resolve is proposed; nothing is taken away
        except OSError as exc:
            self._failed(status, f"{exc.strerror}: {exc.filename}" if exc.filename and exc.strerror else str(exc))
        else:
            status.found, status.updated_at, status.error = set(found), time.time(), None
        union = set().union(*(s.found for s in self.status.values()))
        if union != self._last:
            self._last = union
            self._proposed(union)

    @staticmethod
    def _failed(status: StrategyStatus, message: str) -> None:
        status.failures += 1
        if message != status.error:
            log.warning("discovery: %s: %s (keeping the %d address(es) found before)", status.name, message,
                        len(status.found))
        status.error, status.error_at = message, time.time()
