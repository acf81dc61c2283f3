"""Plug-ins from a package installed by pip (tests/support/plugin_dist): discovery strategies
in both forms (a poll function, an async iterator of address sets) and membership hooks
as Python callables, found through their entry points and configured by name."""
from __future__ import annotations

import asyncio
import json

import pytest

from mockserver.daemon.config import parse
from mockserver.daemon.config.discovery import Plugin
from mockserver.daemon.discovery.plugins import PluginStrategy
from mockserver.daemon.discovery.runner import DiscoveryRunner, build
from mockserver.daemon.harness import async_wait_until
from mockserver.daemon.membership_hooks import MembershipHooks

BASE = "- Pack:\n    name: lab\n    secret: s3cret\n    port: 5300\n"


def test_a_plugin_is_configured_by_its_entry_point_name(plugins_importable, refused, tmp_path):
    config = parse(BASE + "    discovery:\n      - json-file: {path: /srv/pack.json, polling-interval: 250}\n"
                   "    hook-plugins: [record, explode]\n", "node.yaml").pack
    assert config.discovery == (Plugin("json-file", (("path", "/srv/pack.json"),), 250),)
    assert config.hook_plugins == ("record", "explode")
    error = refused(BASE + "    discovery:\n      - jsonfile: {}\n")
    assert "unknown strategy 'jsonfile'; the strategies known here are: broadcast, multicast, peers, hosts-file," \
           " dns, dns-srv, kubernetes, json-file, json-file-watch" in str(error)
    error = refused(BASE + "    broadcast: 127.255.255.255\n    hook-plugins: [recrod]\n")
    assert (error.module, error.key) == ("Pack", "hook-plugins")
    assert "no entry point 'recrod' in the group pylxd_cluster.membership_hooks; installed here: explode, hang," \
           " record, record-async" in str(error)


def test_a_plugin_that_refuses_its_options_stops_the_start_naming_it(plugins_importable):
    with pytest.raises(ValueError, match="discovery plug-in 'json-file' refused its options: option 'path'"
                                         r" \(a JSON file listing addresses\) is required"):
        build([Plugin("json-file", ())], 5252)


def test_the_poll_form_proposes_what_it_returns_and_names_what_it_cannot_use(plugins_importable, tmp_path):
    listing = tmp_path / "pack.json"
    listing.write_text(json.dumps(["127.0.0.11", "127.0.0.12:6000", ["127.0.0.13", 7000], "not an address!"]))
    [poller] = build([Plugin("json-file", (("path", str(listing)),))], 5252)
    assert isinstance(poller, PluginStrategy) and not poller.streaming
    assert asyncio.run(poller.poll()) == {("127.0.0.11", 5252), ("127.0.0.12", 6000), ("127.0.0.13", 7000)}
    assert poller.problems == ["'not an address!': expected 'host' or 'host:port' (an IPv4 address or a"
                               " name, port 1 to 65535), got 'not an address!'"]
    listing.unlink()
    with pytest.raises(OSError, match="FileNotFoundError: .*No such file or directory"):
        asyncio.run(poller.poll())


def test_the_iterator_form_is_followed_and_started_again_after_it_fails(plugins_importable, tmp_path):
    listing = tmp_path / "pack.json"
    listing.write_text(json.dumps(["127.0.0.11"]))
    [poller] = build([Plugin("json-file-watch", (("path", str(listing)),), 100)], 5252)
    assert poller.streaming
    proposed = []
    runner = DiscoveryRunner([poller], proposed.append)

    async def until(condition, what: str):
        await async_wait_until(condition, 5, what=what)

    async def main():
        runner.start()
        try:
            await until(lambda: proposed and proposed[-1] == {("127.0.0.11", 5252)}, "the first list")
            listing.write_text(json.dumps(["127.0.0.11", "127.0.0.12"]))
            await until(lambda: proposed[-1] == {("127.0.0.11", 5252), ("127.0.0.12", 5252)}, "the change pushed")
            listing.unlink()                          # the iterator raises: reported, what it found is kept
            await until(lambda: runner.describe()[0]["error"], "the failure")
            assert runner.describe()[0]["error"].startswith("FileNotFoundError: ")
            assert proposed[-1] == {("127.0.0.11", 5252), ("127.0.0.12", 5252)}
            listing.write_text(json.dumps(["127.0.0.13"]))   # the factory is called again
            await until(lambda: proposed[-1] == {("127.0.0.13", 5252)}, "the iterator started again")
            assert runner.describe()[0]["error"] is None
        finally:
            await runner.stop()
    asyncio.run(main())


def test_python_hooks_run_after_the_command_in_order_and_their_failures_are_counted(
        plugins_importable, tmp_path, monkeypatch):
    log = tmp_path / "events.jsonl"
    monkeypatch.setenv("PACK_TEST_HOOK_LOG", str(log))
    config = parse(BASE + "    broadcast: 127.255.255.255\n    hook-timeout: 200\n"
                   f"    on-join: [sh, -c, 'echo command $PACK_SEQ >> {log}']\n"
                   "    hook-plugins: [record, hang, explode, record-async]\n", "node.yaml").pack
    hooks = MembershipHooks(config, "node1")

    async def main():
        hooks.event("join", "node2", "127.0.0.12:5300")
        hooks.event("leader-change", "node2", previous="", term="3")
        await hooks.idle()
    asyncio.run(main())
    lines = log.read_text().splitlines()
    assert lines[0] == "command 1"                 # the command first, then the plug-ins in their order
    events = [json.loads(line) for line in lines[1:]]
    assert [(e["hook"], e["event"], e["seq"]) for e in events] == [
        ("record", "join", 1), ("record-async", "join", 1), ("record", "leader-change", 2),
        ("record-async", "leader-change", 2)]
    assert events[0] == {"hook": "record", "event": "join", "member": "node2", "address": "127.0.0.12:5300",
                         "seq": 1, "self_name": "node1", "previous": "", "term": ""}
    assert events[2]["term"] == "3"
    assert hooks.counters == {"membership_hooks_run": 9, "membership_hooks_failed": 2,
                              "membership_hooks_timed_out": 2}


def test_check_loads_the_plugins_and_says_what_would_stop_the_start(plugins_importable, tmp_path, capsys):
    from mockserver.daemon.cli import main

    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(BASE + "    discovery:\n      - json-file: {path: /srv/pack.json}\n"
                    "      - dns: {query: pack.example}\n    hook-plugins: [record]\n")
    bad.write_text(BASE + "    discovery:\n      - json-file: {}\n")
    assert main(["--check", str(good)]) == 0
    assert "discovery json-file, dns pack.example" in capsys.readouterr().out
    assert main(["--check", str(bad)]) == 2
    assert capsys.readouterr().err == (f"pylxd-cluster-daemon: {bad}: discovery plug-in 'json-file' refused its"
                                       " options: option 'path' (a JSON file listing addresses) is required\n")
