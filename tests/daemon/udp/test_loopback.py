"""UdpEndpoint on loopback in the root namespace: 127.0.0.x addresses, a free high port.

Traffic here only ever goes to 127.0.0.0/8.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import socket

import pytest

from mockserver.daemon.harness import async_hold_for, async_wait_until, free_udp_port
from mockserver.daemon.udp import COUNTERS, UdpEndpoint, UdpError
from tests.daemon.udp._helpers import Recorder

ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
LO_BROADCAST = "127.255.255.255"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def make(interface, port, recorder=None, **kw):
    return UdpEndpoint(interface=interface, port=port, on_datagram=recorder or Recorder(), **kw)


async def start_three(port, **kw):
    recorders = [Recorder() for _ in ADDRS]
    endpoints = [make(a, port, r, broadcast=LO_BROADCAST, **kw) for a, r in zip(ADDRS, recorders)]
    started = []
    try:
        for ep in endpoints:
            await ep.start()
            started.append(ep)
    except BaseException:
        for ep in started:
            await ep.close()
        raise
    return endpoints, recorders


async def close_all(endpoints):
    for ep in endpoints:
        await ep.close()


def raw_sender(source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind((source, 0))
    return s


def test_counters_all_present_at_zero():
    ep = make("127.0.0.11", 0)
    assert set(ep.counters) == set(COUNTERS)
    assert all(v == 0 for v in ep.counters.values())
    for key in ("sent", "received", "send_errors", "dropped_queue_full", "dropped_oversize",
                "handler_errors"):
        assert key in ep.counters


def test_unicast_between_three_nodes_on_one_port():
    async def main():
        port = free_udp_port()
        endpoints, recorders = await start_three(port)
        try:
            for ep in endpoints:
                assert ep.local_address[1] == port
                assert ep.bound["broadcast"] == (LO_BROADCAST, port)
            for i, src in enumerate(endpoints):
                for j, dst in enumerate(endpoints):
                    if i != j:
                        src.send_unicast(f"{i}->{j}".encode(), dst.local_address)
            await async_wait_until(lambda: all(len(r.got) == 2 for r in recorders), what="unicasts")
            await async_hold_for(lambda: all(len(r.got) == 2 for r in recorders), 0.1, what="nothing more arrives")
            for j, r in enumerate(recorders):
                assert sorted(r.got) == sorted(
                    (f"{i}->{j}".encode(), endpoints[i].local_address) for i in range(3) if i != j)
            for ep in endpoints:
                assert ep.counters["sent"] == ep.counters["sent_unicast"] == 2
                assert ep.counters["received"] == ep.counters["received_unicast"] == 2
                assert ep.counters["delivered"] == 2
                assert ep.counters["received_broadcast"] == 0
                assert ep.counters["send_errors"] == 0
        finally:
            await close_all(endpoints)
    run(main())


def test_broadcast_reaches_all_three_once():
    async def main():
        port = free_udp_port()
        endpoints, recorders = await start_three(port)
        try:
            endpoints[0].send_broadcast(b"hello-all")
            await async_wait_until(lambda: all(r.count(b"hello-all") for r in recorders), what="broadcast")
            once = [(b"hello-all", endpoints[0].local_address)]
            await async_hold_for(lambda: all(r.got == once for r in recorders), 0.1, what="each got it once")
            for ep, r in zip(endpoints, recorders):
                assert r.got == [(b"hello-all", endpoints[0].local_address)]
                assert ep.counters["received_broadcast"] == 1
                assert ep.counters["received_unicast"] == 0
            # The sender hears its own broadcast and can tell.
            assert endpoints[0].is_own(recorders[0].got[0][1])
            assert not endpoints[1].is_own(recorders[1].got[0][1])
            assert endpoints[0].counters["sent_broadcast"] == 1
        finally:
            await close_all(endpoints)
    run(main())


def test_port_zero_picks_one_port_for_every_socket():
    async def main():
        rec = Recorder()
        ep = make("127.0.0.11", 0, rec, broadcast=LO_BROADCAST)
        await ep.start()
        try:
            port = ep.local_address[1]
            assert port != 0
            assert ep.bound == {"unicast": ("127.0.0.11", port), "broadcast": (LO_BROADCAST, port)}
            ep.send_broadcast(b"self")
            await async_wait_until(lambda: rec.got, what="own broadcast")
            assert rec.got == [(b"self", ("127.0.0.11", port))]
            assert ep.is_own(rec.got[0][1])
        finally:
            await ep.close()
    run(main())


def test_oversize_refused_at_send_and_dropped_at_receive(caplog):
    async def main():
        port = free_udp_port()
        a, b = Recorder(), Recorder()
        ep_a = make("127.0.0.11", port, a, max_datagram=100)
        ep_b = make("127.0.0.12", port, b, max_datagram=100)
        await ep_a.start()
        await ep_b.start()
        try:
            with caplog.at_level(logging.WARNING, logger="mockserver.daemon.udp"):
                ep_a.send_unicast(b"x" * 101, ep_b.local_address)
                ep_a.send_unicast(b"y" * 150, ep_b.local_address)
            assert ep_a.counters["send_refused_oversize"] == 2
            assert ep_a.counters["sent"] == 0
            warnings = [r for r in caplog.records if "refusing to send" in r.getMessage()]
            assert len(warnings) == 1  # logged once
            ep_a.send_unicast(b"z" * 100, ep_b.local_address)  # exactly the limit: fine
            with raw_sender() as s:
                s.sendto(b"w" * 200, ep_b.local_address)  # bypasses the send check
                s.sendto(b"after", ep_b.local_address)
            await async_wait_until(lambda: len(b.got) == 2, what="datagrams")
            await async_hold_for(lambda: len(b.got) == 2, 0.05, what="nothing more arrives")
            assert b.payloads() == [b"z" * 100, b"after"]
            assert ep_b.counters["dropped_oversize"] == 1
            assert ep_b.counters["received"] == 2
        finally:
            await close_all([ep_a, ep_b])
    run(main())


def test_full_queue_drops_and_counts():
    async def main():
        port = free_udp_port()
        gate = asyncio.Event()
        got = []

        async def slow_handler(data, source):
            got.append(data)
            await gate.wait()

        ep = UdpEndpoint(interface="127.0.0.11", port=port, on_datagram=slow_handler, queue_size=4)
        await ep.start()
        try:
            with raw_sender() as s:
                s.sendto(b"first", ep.local_address)
                await async_wait_until(lambda: got == [b"first"], what="consumer busy")
                for i in range(10):
                    s.sendto(b"m%d" % i, ep.local_address)
            await async_wait_until(lambda: ep.counters["received"] + ep.counters["dropped_queue_full"] == 11,
                             what="all read")
            assert ep.counters["dropped_queue_full"] == 6
            assert ep.counters["received"] == 5
            gate.set()
            await async_wait_until(lambda: len(got) == 5, what="queue drained")
            assert got == [b"first", b"m0", b"m1", b"m2", b"m3"]
            assert ep.counters["delivered"] == 5
        finally:
            await ep.close()
    run(main())


def test_handler_exceptions_are_counted_and_do_not_stop_the_consumer():
    async def main():
        port = free_udp_port()
        seen = []

        def handler(data, source):
            seen.append(data)
            if data.startswith(b"boom"):
                raise RuntimeError("handler failure")

        ep = UdpEndpoint(interface="127.0.0.11", port=port, on_datagram=handler)
        await ep.start()
        try:
            with raw_sender() as s:
                for payload in (b"boom1", b"ok1", b"boom2", b"ok2"):
                    s.sendto(payload, ep.local_address)
            await async_wait_until(lambda: len(seen) == 4, what="all handled")
            assert ep.counters["handler_errors"] == 2
            assert ep.counters["delivered"] == 2
            assert ep._consumer is not None and not ep._consumer.done()
        finally:
            await ep.close()
    run(main())


def test_async_handler_exception_is_counted():
    async def main():
        port = free_udp_port()
        seen = []

        async def handler(data, source):
            seen.append(data)
            raise ValueError("async failure")

        ep = UdpEndpoint(interface="127.0.0.11", port=port, on_datagram=handler)
        await ep.start()
        try:
            with raw_sender() as s:
                s.sendto(b"a", ep.local_address)
                s.sendto(b"b", ep.local_address)
            await async_wait_until(lambda: ep.counters["handler_errors"] == 2, what="errors counted")
            assert seen == [b"a", b"b"]
        finally:
            await ep.close()
    run(main())


def test_close_releases_every_port_and_start_again_works():
    async def main():
        port = free_udp_port()
        rec = Recorder()
        ep = make("127.0.0.11", port, rec, broadcast=LO_BROADCAST)
        await ep.start()
        await ep.close()
        assert not ep.started
        # The plain unicast address is free again (a bind without SO_REUSEADDR works).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.11", port))
        # A new endpoint on the same port, and the same one restarted.
        other = make("127.0.0.11", port, broadcast=LO_BROADCAST)
        await other.start()
        await other.close()
        await ep.start()
        try:
            ep.send_broadcast(b"again")
            await async_wait_until(lambda: rec.got, what="datagram after restart")
            assert rec.got == [(b"again", ("127.0.0.11", port))]
        finally:
            await ep.close()
        await ep.close()  # idempotent
    run(main())


def test_same_unicast_address_twice_is_a_clear_error():
    async def main():
        port = free_udp_port()
        first = make("127.0.0.11", port, broadcast=LO_BROADCAST)
        await first.start()
        try:
            second = make("127.0.0.11", port, broadcast=LO_BROADCAST)
            with pytest.raises(UdpError) as info:
                await second.start()
            assert info.value.errno == errno.EADDRINUSE
            assert f"127.0.0.11:{port}" in str(info.value)
            assert "in use" in str(info.value)
            assert not second.started and second.bound == {}
        finally:
            await first.close()
    run(main())


def test_bind_error_names_address_port_and_os_error():
    async def main():
        port = free_udp_port()
        # Not an address of this host: bind() fails, nothing is sent anywhere.
        ep = make("203.0.113.77", port)
        with pytest.raises(UdpError) as info:
            await ep.start()
        assert info.value.errno == errno.EADDRNOTAVAIL
        message = str(info.value)
        assert f"203.0.113.77:{port}" in message and "assign requested address" in message
    run(main())


def test_failed_group_socket_closes_the_unicast_socket():
    async def main():
        port = free_udp_port()
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no SO_REUSEPORT
        blocker.bind((LO_BROADCAST, port))
        try:
            ep = make("127.0.0.11", port, broadcast=LO_BROADCAST)
            with pytest.raises(UdpError) as info:
                await ep.start()
            assert f"broadcast socket to {LO_BROADCAST}:{port}: Address already in use" in str(info.value)
        finally:
            blocker.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.11", port))  # was released
    run(main())


def test_send_errors_are_counted_not_raised():
    async def main():
        ep = make("127.0.0.11", 0)
        ep.send_unicast(b"early", ("127.0.0.12", 9))  # not started
        assert ep.counters["send_errors"] == 1
        await ep.start()
        try:
            ep.send_broadcast(b"x")   # no broadcast address configured
            ep.send_multicast(b"x")   # no group configured
            ep.send_unicast(b"x", ("127.0.0.12", 0))  # port 0: EINVAL from the kernel
            assert ep.counters["send_errors"] == 4
            assert ep.counters["sent"] == 0
        finally:
            await ep.close()
        ep.send_unicast(b"late", ("127.0.0.12", 9))
        assert ep.counters["send_errors"] == 5
    run(main())


def test_wildcard_interface_gets_broadcasts_once_and_knows_its_own():
    async def main():
        port = free_udp_port()
        rec = Recorder()
        ep = make("0.0.0.0", port, rec, broadcast=LO_BROADCAST)
        await ep.start()
        try:
            assert set(ep.bound) == {"unicast"}  # no second socket to double-deliver
            with raw_sender("127.0.0.12") as s:
                s.sendto(b"from-other", (LO_BROADCAST, port))
                other = s.getsockname()
            ep.send_broadcast(b"from-me")
            await async_wait_until(lambda: len(rec.got) >= 2, what="broadcasts")
            await async_hold_for(lambda: len(rec.got) == 2, 0.1, what="no double delivery")
            assert sorted(rec.payloads()) == [b"from-me", b"from-other"]
            sources = dict(rec.got)
            assert sources[b"from-other"] == other
            assert not ep.is_own(sources[b"from-other"])
            assert ep.is_own(sources[b"from-me"])
            assert not ep.is_own(("198.51.100.9", port))  # not an address of this host
        finally:
            await ep.close()
    run(main())


def test_invalid_arguments():
    with pytest.raises(ValueError):
        make("127.0.0.11", 0, multicast_group="127.0.0.1")
    with pytest.raises(ValueError):
        make("not-an-address", 0)
    with pytest.raises(ValueError):
        make("127.0.0.11", 70000)
    with pytest.raises(ValueError):
        make("127.0.0.11", 0, queue_size=0)
