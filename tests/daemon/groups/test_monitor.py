"""The monitor core (which addresses this member reaches) on a fake clock, and ICMP echo over
real sockets on loopback."""
from __future__ import annotations

import asyncio

import pytest

from mockserver.daemon.groups.icmp import Pinger, checksum, echo_request, parse_reply
from mockserver.daemon.groups.monitor import ECHO_WAIT_INTERVALS, MAX_ADDRESSES, MAX_RATE, MonitorCore


def core(interval=1.0, dead=5.0) -> MonitorCore:
    return MonitorCore(interval=interval, dead_interval=dead)


def test_an_address_starts_reachable_and_turns_unreachable_after_the_dead_interval_without_reply():
    monitor = core()
    monitor.watch(["198.51.100.1"], now=0.0)
    assert monitor.reachable(0.0) == {"198.51.100.1": True}
    assert monitor.reachable(4.99) == {"198.51.100.1": True}
    assert monitor.reachable(5.0) == {"198.51.100.1": False}
    assert monitor.next_deadline() <= 5.0   # the timer fires when it turns unreachable


def test_the_first_reply_makes_it_reachable_again_and_a_late_one_counts_for_nothing():
    monitor = core()
    monitor.watch(["198.51.100.1"], now=0.0)
    now, seqs = 0.0, []
    while now < 6.0:                      # no replies: unreachable
        seqs += [echo.seq for echo in monitor.tick(now)]
        now += 0.5
    assert monitor.reachable(now) == {"198.51.100.1": False}
    monitor.replied("198.51.100.1", seqs[0], now)     # an answer to a long-abandoned echo
    assert monitor.reachable(now) == {"198.51.100.1": False}
    assert monitor.counters["late_replies"] == 1
    echo = monitor.tick(now + 10)[0]
    monitor.replied(echo.address, echo.seq, now + 10.01)
    assert monitor.reachable(now + 10.01) == {"198.51.100.1": True}


def test_one_echo_outstanding_per_address_and_the_rate_is_bounded():
    monitor = core(interval=1.0, dead=5.0)
    monitor.watch(["198.51.100.1"], now=0.0)
    sent = [echo for t in range(0, 100) for echo in monitor.tick(t / 10)]   # 10 s, ticked every 100 ms
    # Unanswered: one echo per interval, the previous one given up (ECHO_WAIT_INTERVALS).
    assert len(sent) == pytest.approx(10 / ECHO_WAIT_INTERVALS, abs=1)
    many = core(interval=0.01, dead=5.0)
    many.watch([f"198.51.100.{i}" for i in range(1, 61)], now=0.0)
    echoes = 0
    for t in range(0, 1000):              # 1 s, ticked every ms, every echo answered at once
        for echo in many.tick(t / 1000):
            echoes += 1
            many.replied(echo.address, echo.seq, t / 1000)
    assert echoes <= MAX_RATE * 1.0 + 60, echoes


def test_the_first_echoes_are_spread_over_the_interval_and_watching_is_capped():
    monitor = core(interval=1.0)
    monitor.watch(["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"], now=0.0)
    assert [e.address for e in monitor.tick(0.0)] == ["198.51.100.1"]
    assert [e.address for e in monitor.tick(0.5)] == ["198.51.100.2", "198.51.100.3"]
    capped = core()
    capped.watch([f"203.0.113.{i}" for i in range(1, 100)], now=0.0)
    assert len(capped.reachable(0.0)) == MAX_ADDRESSES


def test_an_address_kept_across_watches_keeps_its_history():
    monitor = core()
    monitor.watch(["198.51.100.1"], now=0.0)
    monitor.watch(["198.51.100.1", "198.51.100.2"], now=6.0)
    assert monitor.reachable(6.0) == {"198.51.100.1": False, "198.51.100.2": True}
    monitor.watch(["198.51.100.2"], now=7.0)
    assert monitor.reachable(7.0) == {"198.51.100.2": True}


def test_echo_packets():
    packet = echo_request(0x1234, 7)
    assert checksum(packet) == 0                      # a valid checksum sums to zero
    ip_header = bytes([0x45]) + bytes(19)
    reply = bytes([0, 0]) + packet[2:]
    assert parse_reply(ip_header + reply, v6=False, raw=True) == (0x1234, 7)
    assert parse_reply(ip_header + packet, v6=False, raw=True) is None         # a request, not a reply
    assert parse_reply(bytes([129, 0]) + echo_request(5, 9, v6=True)[2:], v6=True, raw=True) == (5, 9)
    assert parse_reply(b"\x45\x00", v6=False, raw=True) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_a_real_echo_on_loopback_is_answered(address):
    async def run():
        replies: asyncio.Queue = asyncio.Queue()
        pinger = Pinger(lambda source, seq: replies.put_nowait((source, seq)))
        try:
            pinger.send(address, 4242)
            return await asyncio.wait_for(replies.get(), 5)
        finally:
            pinger.close()

    assert asyncio.run(run()) == (address, 4242)
