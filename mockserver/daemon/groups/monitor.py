"""Which monitor addresses this member reaches: VyOS's ``monitor`` and heartbeat's ipfail,
as a sans-IO core.

Each address is pinged every ``interval`` seconds, with at most one echo outstanding per
address (a slow network does not multiply the traffic), and the pings of all addresses are
spread over the interval rather than sent in a burst. An address is *reachable* until no
reply has come for ``dead_interval`` (VyOS's ``monitor-dead-interval``, heartbeat's
``deadping``) and again from the first reply. An address starts reachable: a member that
just started has not had a dead-interval to find otherwise, and must not move a group on
no evidence.

No I/O, no clock: inputs take the time; :meth:`tick` returns the echoes to send.
"""
from __future__ import annotations

from dataclasses import dataclass

from mockserver.daemon.groups.config import MAX_MONITORS

#: At most this many distinct monitor addresses (the configuration refuses more).
MAX_ADDRESSES = MAX_MONITORS
#: At most this many echoes a second, whatever the settings: the interval grows instead.
MAX_RATE = 100.0
#: An echo not answered within this many intervals is given up, and the next one goes out
#: (replies on a LAN take far less than an interval; a later one is counted, not used).
ECHO_WAIT_INTERVALS = 1


@dataclass(frozen=True)
class Echo:
    """Send one echo request to ``address`` with sequence number ``seq``."""

    address: str
    seq: int


@dataclass
class _Target:
    last_reply: float           # when the last reply came (or when pinging started)
    next_echo: float
    outstanding: int | None = None   # the seq of the echo awaiting its reply
    sent_at: float = 0.0
    rtt: float | None = None


class MonitorCore:
    def __init__(self, *, interval: float, dead_interval: float):
        if interval <= 0 or dead_interval <= interval:
            raise ValueError("the dead-interval must be longer than the interval between echoes")
        self.base_interval, self.dead_interval = interval, dead_interval
        self._targets: dict[str, _Target] = {}
        self._seq = 0
        self._now = float("-inf")
        self.counters = {"echoes": 0, "replies": 0, "late_replies": 0}

    @property
    def watching(self) -> bool:
        return bool(self._targets)

    @property
    def interval(self) -> float:
        """The interval between two echoes to one address (longer with many addresses)."""
        return max(self.base_interval, len(self._targets) / MAX_RATE)

    def watch(self, addresses, now: float) -> None:
        """Ping these addresses from now on (the others are forgotten). Capped at
        :data:`MAX_ADDRESSES`."""
        self._now = max(self._now, now)
        wanted = list(dict.fromkeys(str(a) for a in addresses))[:MAX_ADDRESSES]
        self._targets = {a: self._targets.get(a) or _Target(now, now) for a in wanted}
        # Spread the first echoes of new addresses over the interval.
        step = self.interval / max(1, len(wanted))
        for index, address in enumerate(wanted):
            target = self._targets[address]
            if target.outstanding is None and target.next_echo == target.last_reply == now:
                target.next_echo = now + index * step

    def tick(self, now: float) -> list[Echo]:
        self._now = max(self._now, now)
        echoes = []
        for address, target in self._targets.items():
            if target.outstanding is not None and now - target.sent_at >= ECHO_WAIT_INTERVALS * self.interval:
                target.outstanding = None   # lost: the next one goes out
            if target.outstanding is None and now >= target.next_echo:
                self._seq = (self._seq + 1) & 0xFFFF
                target.outstanding, target.sent_at = self._seq, now
                target.next_echo = now + self.interval
                self.counters["echoes"] += 1
                echoes.append(Echo(address, self._seq))
        return echoes

    def replied(self, address: str, seq: int, now: float) -> None:
        self._now = max(self._now, now)
        target = self._targets.get(address)
        if target is None:
            return
        if target.outstanding != seq:
            self.counters["late_replies"] += 1
            return
        self.counters["replies"] += 1
        target.outstanding = None
        target.rtt = now - target.sent_at
        target.last_reply = now

    def reachable(self, now: float) -> dict[str, bool]:
        return {address: now - target.last_reply < self.dead_interval for address, target in self._targets.items()}

    def next_deadline(self) -> float:
        deadlines = []
        for target in self._targets.values():
            deadlines.append(target.next_echo if target.outstanding is None
                             else target.sent_at + ECHO_WAIT_INTERVALS * self.interval)
            turns_unreachable = target.last_reply + self.dead_interval
            if turns_unreachable > self._now:
                deadlines.append(turns_unreachable)
        return min(deadlines, default=float("inf"))

    def describe(self, now: float) -> dict:
        return {address: {"reachable": now - t.last_reply < self.dead_interval,
                          "last_reply_seconds": round(now - t.last_reply, 3),
                          "rtt_ms": None if t.rtt is None else round(t.rtt * 1000, 2)}
                for address, t in self._targets.items()}
