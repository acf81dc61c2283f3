"""The monitor core on the daemon's loop: echoes out through a :class:`Pinger`, replies in,
and what this member reaches reported (``report(results)``) whenever it changes, and every
``refresh`` seconds besides (a member that joined, or a new leader, learns it without
asking)."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from mockserver.daemon.groups.icmp import Pinger
from mockserver.daemon.groups.monitor import MonitorCore
from mockserver.daemon.timer import DeadlineTimer

log = logging.getLogger(__name__)


class Monitoring:
    def __init__(self, core: MonitorCore, *, report: Callable[[dict[str, bool]], None], refresh: float,
                 pinger: Callable[[Callable[[str, int], None]], Pinger] = Pinger):
        self.core, self._report, self.refresh = core, report, refresh
        self._make_pinger = pinger
        self._pinger: Pinger | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reported: dict[str, bool] | None = None
        self._next_report = float("-inf")
        self._timer = DeadlineTimer(
            lambda: min(self.core.next_deadline(), self._next_report if self.core.watching else float("inf")),
            self._step, what="monitors", retry=refresh)
        self.problem: str | None = None   # why nothing can be pinged (no ICMP socket)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer.start(loop)

    def watch(self, addresses) -> None:
        """Ping these addresses (the monitors of the groups this member may own)."""
        if self._loop is None:
            return
        addresses = list(addresses)
        if addresses and self._pinger is None and self.problem is None:
            try:
                self._pinger = self._make_pinger(self._replied)
            except OSError as exc:
                self.problem = f"cannot ping: {exc}"
                log.error("monitor addresses cannot be pinged (%s); they will show as unreachable", exc)
        self.core.watch(addresses, self._loop.time())
        self._step(self._loop.time())
        self._timer.arm()

    def _replied(self, address: str, seq: int) -> None:
        now = self._loop.time()
        self.core.replied(address, seq, now)
        self._report_if_changed(now)
        self._timer.arm()

    def _step(self, now: float) -> None:
        if self._pinger is not None:
            for echo in self.core.tick(now):
                self._pinger.send(echo.address, echo.seq)
        self._report_if_changed(now)

    def _report_if_changed(self, now: float) -> None:
        results = self.core.reachable(now)
        if results != self._reported or (results and now >= self._next_report):
            for address, reachable in results.items():
                if self._reported is not None and self._reported.get(address, True) != reachable:
                    log.warning("monitor %s: %s", address, "reachable again" if reachable else
                                f"unreachable (no reply for {self.core.dead_interval:g} s)")
            self._reported = results
            self._next_report = now + self.refresh
            self._report(results)

    def describe(self, now: float) -> dict:
        """The member state's ``pack.monitors``: each address this member pings (reachable,
        seconds since its last reply, last round trip), the echo counters, and why nothing
        can be pinged, if so."""
        counters = dict(self.core.counters)
        if self._pinger is not None:
            counters.update(self._pinger.counters)
        return {"addresses": self.core.describe(now), "counters": counters, "problem": self.problem}

    def stop(self) -> None:
        self._timer.stop()
        if self._pinger is not None:
            self._pinger.close()
            self._pinger = None
