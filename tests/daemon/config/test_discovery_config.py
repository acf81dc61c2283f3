"""The Pack module's discovery list: strategies and their options, the keys of old, and
what is refused (naming the module, the key and what was expected)."""
from __future__ import annotations

import pytest

from mockserver.daemon.config import parse
from mockserver.daemon.config.discovery import Dns, DnsSrv, HostsFile, Kubernetes
from tests.daemon.config.examples import refused  # noqa: F401  (a fixture)

F = "node.yaml"
BASE = "- Pack:\n    name: lab\n    secret: s3cret\n    port: 5300\n"


def pack(discovery: str, extra: str = ""):
    return parse(BASE + extra + "    discovery:\n" + discovery, F).pack


def test_strategies_side_by_side_with_their_defaults():
    config = pack("      - hosts-file: /etc/pack/hosts\n"
                  "      - dns: {query: pack.example, resolver: 127.0.0.53}\n"
                  "      - dns-srv: {query: _pack._udp.pack.example, polling-interval: 2000}\n"
                  "      - kubernetes: {selector: app=pack}\n")
    assert config.discovery == (HostsFile("/etc/pack/hosts", 1000), Dns("pack.example", 5000, ("127.0.0.53", 53)),
                                DnsSrv("_pack._udp.pack.example", 2000, None),
                                Kubernetes("app=pack", None, "endpointslices", 5000))
    assert config.broadcast is None and config.peers == ()


def test_broadcast_multicast_and_peers_in_the_list_are_the_keys_of_old():
    config = pack("      - broadcast: 198.51.100.255\n      - multicast: 239.1.2.3\n"
                  "      - peers: [198.51.100.2, 'node3:6000']\n", extra="    peers: [198.51.100.9]\n")
    assert config.broadcast == "198.51.100.255" and config.mcast_group == "239.1.2.3"
    assert config.peers == (("198.51.100.9", 5300), ("198.51.100.2", 5300), ("node3", 6000))
    assert config.discovery == ()
    # and the keys of old alone still work
    old = parse(BASE + "    broadcast: 198.51.100.255\n    peers: [198.51.100.2]\n", F).pack
    assert (old.broadcast, old.peers, old.discovery) == ("198.51.100.255", (("198.51.100.2", 5300),), ())


@pytest.mark.parametrize("discovery, extra, message", [
    ("      - consul: {}\n", "", "item 1: unknown strategy 'consul'; the strategies known here are: broadcast,"
     " multicast, peers, hosts-file, dns, dns-srv, kubernetes (plug-ins add theirs through the entry-point group"
     " pylxd_cluster.discovery)"),
    ("      - dns: {polling-interval: 1000}\n", "", "item 1: strategy 'dns': option 'query' is required"),
    ("      - dns: {query: a.example, server: 1.2.3.4}\n", "",
     "item 1: strategy 'dns': unknown option 'server'; expected one of polling-interval, query, resolver"),
    ("      - dns: {query: a.example, polling-interval: 10}\n", "",
     "item 1: strategy 'dns', option 'polling-interval': expected an integer from 100 to 3600000, got 10"),
    ("      - kubernetes: {selector: app=x, mode: nodes}\n", "",
     "item 1: strategy 'kubernetes', option 'mode': expected one of 'endpointslices', 'endpoints', 'pods',"
     " got 'nodes'"),
    ("      - hosts-file: {}\n", "", "item 1: strategy 'hosts-file': option 'path' is required"),
    ("      - {dns: {query: a}, hosts-file: /x}\n", "",
     "item 1: expected a one-key mapping 'strategy: options', got a mapping"),
    ("      - broadcast: 198.51.100.255\n", "    broadcast: 203.0.113.255\n",
     "item 1: strategy 'broadcast' says '198.51.100.255' but 'broadcast' says '203.0.113.255'"),
])
def test_a_bad_strategy_is_refused_naming_the_module_the_key_and_the_reason(refused, discovery, extra, message):  # noqa: F811
    assert str(refused(BASE + extra + "    discovery:\n" + discovery)) == \
        f"{F}: module Pack, key 'discovery': {message}"
