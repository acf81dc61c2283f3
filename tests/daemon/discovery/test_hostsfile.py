"""The hosts-file strategy, alone: the file's format, and what a poll gives."""
from __future__ import annotations

import asyncio

import pytest

from mockserver.daemon.config.discovery import HostsFile
from mockserver.daemon.discovery.hostsfile import HostsFileStrategy, PartialResult, parse_hosts
from mockserver.daemon.discovery.runner import DiscoveryRunner


def test_lines_comments_ports_and_bad_lines():
    text = "# the pack\n127.0.0.11\n\n127.0.0.12:6000   # another port\nlocalhost\nnot a host\n127.0.0.13:99999\n"
    entries, problems = parse_hosts(text, 5252)
    assert entries == [("127.0.0.11", 5252), ("127.0.0.12", 6000), ("localhost", 5252)]
    assert [p.split(":")[0] for p in problems] == ["line 6", "line 7"]
    assert "expected 'host' or 'host:port'" in problems[0]


def test_a_poll_resolves_names_rereads_a_changed_file_and_reports_what_failed(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("127.0.0.11\nlocalhost:6000\n")
    strategy = HostsFileStrategy(HostsFile(str(path)), 5252)
    assert asyncio.run(strategy.poll()) == {("127.0.0.11", 5252), ("127.0.0.1", 6000)}
    path.write_text("127.0.0.12\nno-such-host.invalid\n")
    with pytest.raises(PartialResult) as caught:
        asyncio.run(strategy.poll())
    assert caught.value.found == {("127.0.0.12", 5252)}
    assert "no-such-host.invalid" in str(caught.value)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        asyncio.run(strategy.poll())


def test_the_runner_keeps_what_a_failing_strategy_found_and_says_why(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("127.0.0.11\n127.0.0.12\n")
    proposed = []
    runner = DiscoveryRunner([HostsFileStrategy(HostsFile(str(path)), 5252)], proposed.append)
    poller = runner.pollers[0]
    asyncio.run(runner.poll_once(poller))
    assert proposed == [{("127.0.0.11", 5252), ("127.0.0.12", 5252)}]
    path.write_text("127.0.0.11\n")       # dropped from the file: no longer proposed
    asyncio.run(runner.poll_once(poller))
    assert proposed[-1] == {("127.0.0.11", 5252)}
    path.unlink()                         # gone: what was found stays, and the status says why
    asyncio.run(runner.poll_once(poller))
    assert len(proposed) == 2
    [status] = runner.describe()
    assert status["strategy"] == f"hosts-file {path}"
    assert status["found"] == ["127.0.0.11:5252"]
    assert status["error"].startswith("No such file or directory") and str(path) in status["error"]
    assert status["failures"] == 1 and status["polls"] == 3 and status["updated_at"].endswith("Z")
