"""Replay protection: per-sender sequence windows, plus a time window.

Each sender numbers its datagrams (``seq``) within one run (``boot``). A receiver keeps,
per sender, the highest sequence seen and a bitmap of the last ``WINDOW`` below it: a
repeated or too-old sequence is a replay. A datagram from an older boot is a replay of a
previous run. The time window catches what a receiver that restarted (and so forgot its
windows) would otherwise accept: a datagram stamped more than ``max_skew`` seconds away
from the receiver's clock is dropped.
"""
from __future__ import annotations

WINDOW = 1024


class ReplayGuard:
    def __init__(self, max_skew: float = 30.0):
        self.max_skew_ms = int(max_skew * 1000)
        self._windows: dict[str, tuple[int, int, int]] = {}  # sender -> (boot, highest seq, bitmap)

    def check(self, sender: str, boot: int, seq: int, sent_at_ms: int, now_ms: int) -> str | None:
        """Record the datagram; return a drop reason ("stale" or "replay") or None to accept."""
        if abs(sent_at_ms - now_ms) > self.max_skew_ms:
            return "stale"
        known = self._windows.get(sender)
        if known is None or boot > known[0]:
            self._windows[sender] = (boot, seq, 1)
            return None
        known_boot, highest, bitmap = known
        if boot < known_boot:
            return "replay"
        if seq > highest:
            shift = seq - highest
            bitmap = ((bitmap << shift) | 1) & ((1 << WINDOW) - 1) if shift < WINDOW else 1
            self._windows[sender] = (boot, seq, bitmap)
            return None
        offset = highest - seq
        if offset >= WINDOW or bitmap >> offset & 1:
            return "replay"
        self._windows[sender] = (boot, highest, bitmap | 1 << offset)
        return None

    def forget(self, sender: str) -> None:
        self._windows.pop(sender, None)
