"""The start-up barrier (libcluster #168): the Pack module's ``wait-for-members`` and
``wait-timeout``. The leader places no service group until that many members are Online,
or until the timeout has passed since this daemon started. Otherwise the first member up
would take every group, only to hand them over as the others arrive.

It is met once and stays met: a member lost later is the failure detector's business, not
a reason to stop placing groups. Sans-IO: the caller passes the time and the count.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

NONE, WAITING, MET, TIMED_OUT = "none", "waiting", "met", "timed out"


class StartupBarrier:
    def __init__(self, members: int | None, timeout: float):
        self.members, self.timeout = members, timeout
        self.status = NONE if members is None else WAITING
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.online = 0

    def start(self, now: float) -> None:
        self.started_at = now

    def holding(self, online: int, now: float) -> str:
        """Why groups may not be placed yet ("" when they may), given ``online`` members
        Online now. Reaching the count ends the wait, and says so in the log."""
        if self.status != WAITING:
            return ""
        self.online = online
        if online >= self.members:
            self._end(MET, now, f"{online} of {self.members} members Online")
            return ""
        if self.started_at is not None and now - self.started_at >= self.timeout:
            self._end(TIMED_OUT, now, f"only {online} of {self.members} members Online after {self.timeout:g} s:"
                                      f" placing the service groups among them")
            return ""
        return f"the start-up barrier waits for {self.members} members Online ({online} now)"

    def _end(self, status: str, now: float, text: str) -> None:
        self.status, self.ended_at = status, now
        waited = now - self.started_at if self.started_at is not None else 0.0
        (log.info if status == MET else log.warning)("start-up barrier %s after %.1f s: %s", status, waited, text)

    def describe(self) -> dict:
        """The member state's ``pack.barrier``."""
        waited = None
        if self.started_at is not None and self.ended_at is not None:
            waited = round((self.ended_at - self.started_at) * 1000)
        return {"status": self.status, "members": self.members, "timeout": round(self.timeout * 1000),
                "online": self.online, "waited_ms": waited}
