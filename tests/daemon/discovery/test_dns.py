"""The DNS strategies against a real dnsmasq on loopback: A and AAAA, SRV, edits, and the
resolver's failures (no such name, no answer in time)."""
from __future__ import annotations

import asyncio
import socket

import pytest

from mockserver.daemon.config.discovery import Dns, DnsSrv
from mockserver.daemon.discovery.dns import DnsStrategy
from mockserver.daemon.harness.dnsmasq import Dnsmasq

pytestmark = pytest.mark.system
ADDRESS = "127.0.0.77"


@pytest.fixture
def dnsmasq(tmp_path):
    server = Dnsmasq(tmp_path, ADDRESS)
    server.records = {"pack.pack.test": ["127.0.0.11", "127.0.0.12", "2001:db8::5"],
                      "node1.pack.test": ["127.0.0.11"], "node2.pack.test": ["127.0.0.12"]}
    server.srv = {"_pack._udp.pack.test": [("node1.pack.test", 6000), ("node2.pack.test", 6001)]}
    server.start()
    try:
        yield server
    finally:
        server.stop()


def poll(strategy):
    return asyncio.run(strategy.poll())


def test_a_records_are_proposed_and_aaaa_shown_but_not_used(dnsmasq):
    strategy = DnsStrategy(Dns("pack.pack.test", 500, (ADDRESS, dnsmasq.port)), 5252)
    assert poll(strategy) == {("127.0.0.11", 5252), ("127.0.0.12", 5252)}
    assert strategy.problems == ["AAAA 2001:db8::5 not used: the pack's datagrams travel over IPv4"]
    dnsmasq.records["pack.pack.test"] = ["127.0.0.12", "127.0.0.13"]
    dnsmasq.reload()
    assert poll(strategy) == {("127.0.0.12", 5252), ("127.0.0.13", 5252)}
    assert strategy.problems == []


def test_srv_records_give_each_target_and_its_port(dnsmasq):
    strategy = DnsStrategy(DnsSrv("_pack._udp.pack.test", 500, (ADDRESS, dnsmasq.port)), 5252)
    assert poll(strategy) == {("127.0.0.11", 6000), ("127.0.0.12", 6001)}


def test_no_such_name_and_no_answer_are_errors_that_say_so(dnsmasq):
    with pytest.raises(OSError, match=r"^gone.pack.test: no such name \(NXDOMAIN\)$"):
        poll(DnsStrategy(Dns("gone.pack.test", 500, (ADDRESS, dnsmasq.port)), 5252))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:   # a resolver that never answers
        silent.bind(("127.0.0.78", 0))
        strategy = DnsStrategy(Dns("pack.pack.test", 500, silent.getsockname()), 5252)
        with pytest.raises(OSError, match=r"^pack.pack.test A: no answer within 0.5 s$"):
            poll(strategy)
