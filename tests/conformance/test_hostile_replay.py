"""Replay what a real LXD 5.0.2 answered to hostile requests (tests/golden/hostile/, see its
README) over the mock's real unix socket, and compare byte for byte.

LXD turns invalid Unicode into U+FFFD and takes the write; accepts control characters in
names, which stay reachable through their name escaped once while lists and ``Location``
escape them twice; cuts a name at its NUL; and answers deep nesting and huge numbers with
Go's 400s. Every answer here must be the same bytes, ETags and Location headers included.
"""
from __future__ import annotations

import json

import pytest

from mockserver import MockCluster
from tests.conformance.golden import GOLDEN
from tests.support.rawhttp import exchange

HOSTILE = GOLDEN / "hostile"
ADDRESS = "127.0.0.1:18443"   # where the capture server listened (members' url)


def _captures():
    rows = []
    for line in (HOSTILE / "INDEX.tsv").read_text().splitlines():
        name, method, path, status, body_file = (line.split("\t") + [""] * 5)[:5]
        body = (HOSTILE / body_file).read_bytes() if body_file else b""
        rows.append((name, method, path, int(status), body))
    return rows


def _headers(name: str) -> dict:
    lines = (HOSTILE / f"{name}.headers").read_text().splitlines()[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if ":" in line)}


def _replay():
    with MockCluster(1, listen=None, server="lxd-5.0") as mock:   # the captures are LXD 5.0.2's
        mock.state.set_local_address(ADDRESS)
        results = []
        for name, method, path, status, body in _captures():
            headers = [("Content-Type", "application/json")] if body else []
            results.append((name, status, exchange(mock.unix_socket, method, path, body, headers)))
        return results


RESULTS = _replay()


@pytest.mark.parametrize("name,status,reply", RESULTS, ids=[r[0] for r in RESULTS])
def test_hostile_request_is_answered_as_lxd_answered(name, status, reply):
    golden = (HOSTILE / f"{name}.json").read_bytes()
    assert reply.status == status, reply.body
    assert reply.body == golden, f"\nours: {reply.body!r}\nLXD:  {golden!r}"
    expected = _headers(name)
    for header in ("content-type", "location", "etag", "x-content-type-options"):
        assert reply.headers.get(header) == expected.get(header), header


def test_every_hostile_capture_was_replayed_and_some_changed_state():
    assert len(RESULTS) == len(_captures()) >= 20
    groups = json.loads((HOSTILE / "GET_groups_after_nul.json").read_bytes())["metadata"]
    assert "/1.0/cluster/groups/z" in groups   # the NUL cut the name, as LXD's database does
