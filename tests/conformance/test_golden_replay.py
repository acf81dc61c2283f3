"""Replay every request a real LXD 5.0.2 answered (tests/golden/) and compare the answers.

The replay drives the API core in order, as the capture session drove LXD, so state
builds up the same way. Compared: HTTP status, the envelope byte for byte (field order,
types, texts) once ids, times and secrets are replaced by placeholders, the ETag, and the
Location and nosniff headers.

The mock's ``lxd-5.0`` profile answers every capture as LXD 5.0.2 did, its 500s and quirks
included (mockserver/profiles.py); nothing is exempt.
"""
from __future__ import annotations

import json

import pytest

from mockserver import profiles
from mockserver.api import ApiRequest, ApiServer
from mockserver.state import ClusterState
from mockserver.wire import Reply, sync_reply
from tests.conformance.golden import GOLDEN, captures, dumps, normalize, shape

ADDRESS = "127.0.0.1:18443"

# Captures whose state depends on what lxc commands or a second daemon did between
# captures (join tokens made by `lxc cluster add`, a group left empty by the deviation
# above): we check the envelope's keys and types, not its values.
SHAPE_ONLY = {
    "GET_1.0_operations_after_delete",
    "GET_1.0_operations_multi",
    "GET_1.0_operations_with_cancelled",
    "GET_1.0_operations_recursion1_with_cancelled",
    "GET_1.0_operations_TOKEN_running_wait_timeout1",
    "GET_1.0_operations_after_join",
    "GET_1.0_cluster_after_rename",
    "GET_1.0_operations_multi",
    "GET_1.0_operations_with_cancelled",
    "GET_1.0_operations_recursion1_with_cancelled",
}

# Captures of state that only 5.0.2's quirks allow (a member in no group): we check the
# status and the object's keys.
KEYS_ONLY = {"GET_1.0_cluster_groups_default_after_put_empty", "GET_1.0_cluster_members_node1_now"}

# Captures of the joining server itself, a second process: not this server's answers.
OTHER_SERVER = "node2_"



class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Replay:
    def __init__(self):
        self.clock = FakeClock()
        self.state = ClusterState(0, local_address=ADDRESS, clock=self.clock, profile=profiles.profile("lxd-5.0"))
        self.api = ApiServer(self.state, addresses=[ADDRESS])
        self.op_ids: dict[str, str] = {}

    def send(self, method, path, body=b"", headers=None, trusted=True) -> Reply:
        path, _, query = path.partition("?")
        for golden_id, ours in self.op_ids.items():
            path = path.replace(golden_id, ours)
        params = dict(item.split("=", 1) for item in query.split("&") if item)
        params = {k: v.replace("+", " ") for k, v in params.items()}
        req = ApiRequest(method, path, params, headers or {}, body,
                         protocol="unix" if trusted else "tls", trusted=trusted)
        result = self.api.handle(req)
        self.state.scheduler.drain()
        if not isinstance(result, Reply):  # a wait: everything has run by now
            result = sync_reply(result.operation.to_api())
        return result

    def learn_operation(self, golden: dict, ours: dict) -> None:
        if golden.get("type") == "async" and ours.get("type") == "async":
            self.op_ids[golden["metadata"]["id"]] = ours["metadata"]["id"]


def _unordered_operations(envelope: dict) -> dict:
    """GET /1.0/operations lists come from a Go map: their order is random."""
    metadata = envelope.get("metadata")
    if isinstance(metadata, dict) and all(isinstance(v, list) for v in metadata.values()) and metadata:
        envelope = dict(envelope, metadata={k: sorted(v, key=dumps) for k, v in metadata.items()})
    return envelope


def _replay_all():
    replay = Replay()
    results = []
    enabled = False
    for capture in captures():
        if capture.name.startswith(OTHER_SERVER):
            continue
        if not capture.name.startswith("preenable") and not enabled:
            replay.send("PUT", "/1.0/cluster", b'{"server_name":"node1","enabled":true}')
            enabled = True
        if capture.name == "GET_1.0_cluster_members_recursion1_two_members" and "node2" not in replay.state.members:
            from mockserver.state import MemberSpec
            replay.state.add_member(MemberSpec("node2", "127.0.0.2:18443"))
        # Finished operations expire after 5 s: replay the session's own clock (Date headers).
        replay.clock.now = max(replay.clock.now, capture.date)
        trusted = "(no client cert)" not in capture.path
        path = capture.path.split(" ")[0].replace("https://" + ADDRESS, "")
        ours = replay.send(capture.method, path, capture.body.encode(), capture.extra_headers, trusted)
        golden = json.loads(capture.body_bytes)
        replay.learn_operation(golden, ours.envelope)
        # INDEX.tsv holds two captures under one name; the file is the later one.
        first_of_two = capture.name in DOUBLE_CAPTURES and capture.name not in {c.name for c, _, _ in results}
        results.append((capture, ours, first_of_two))
    return results


DOUBLE_CAPTURES = {"GET_1.0_cluster_members_node1_after_patch_ok", "GET_1.0_cluster_members_recursion1_two_members"}
RESULTS = _replay_all()
IDS = [c.name + ("-first" if first else "") for c, _, first in RESULTS]


def _is_server_info(capture) -> bool:
    return capture.method == "GET" and capture.path.split(" ")[0].split("?")[0].endswith("/1.0")


@pytest.mark.parametrize("capture,ours,first_of_two", RESULTS, ids=IDS)
def test_replay_matches_lxd(capture, ours, first_of_two):
    golden = json.loads(capture.body_bytes)
    mine = ours.envelope
    assert ours.status == capture.status, f"{capture.method} {capture.path}: {ours.body!r}"
    if _is_server_info(capture):
        _compare_server_info(golden, mine)
        return
    if capture.name in KEYS_ONLY:
        assert list(mine["metadata"]) == list(golden["metadata"])
        return
    if capture.name in SHAPE_ONLY or first_of_two:
        assert shape(normalize(mine)) == shape(normalize(golden))
        return
    assert dumps(_unordered_operations(normalize(mine))) == dumps(_unordered_operations(normalize(golden)))
    if normalize(golden) == golden:  # nothing volatile: the bytes themselves must match
        assert ours.body == capture.body_bytes


@pytest.mark.parametrize("capture,ours,first_of_two", RESULTS, ids=IDS)
def test_replay_headers_match_lxd(capture, ours, first_of_two):
    headers = {k.lower(): v for k, v in ours.headers.items()}
    expected = capture.headers
    assert ("etag" in headers) == ("etag" in expected)
    same_state = capture.name not in SHAPE_ONLY | KEYS_ONLY and not first_of_two
    if (
        "etag" in expected
        and same_state
        and normalize(json.loads(capture.body_bytes)) == json.loads(capture.body_bytes)
        and not _is_server_info(capture)
    ):
        assert headers["etag"] == expected["etag"]
    assert normalize(headers.get("location")) == normalize(expected.get("location"))
    assert headers.get("x-content-type-options") == expected.get("x-content-type-options")
    assert headers["content-type"] == expected["content-type"]


def _compare_server_info(golden: dict, mine: dict) -> None:
    assert list(mine) == list(golden)
    meta, theirs = mine["metadata"], golden["metadata"]
    assert list(meta) == list(theirs)
    # LXD 5.0.2's, in its order, then our own (docs/mockserver.rst)
    assert meta["api_extensions"] == theirs["api_extensions"] + ["pack_configuration"]
    if "environment" in theirs:
        assert list(meta["environment"]) == list(theirs["environment"])
        if theirs["config"]:  # before `cluster enable`, the capture server had no address set
            assert meta["config"] == theirs["config"]
        for key in ("server_clustered", "project") + (("server_name", "addresses") if theirs["config"] else ()):
            assert meta["environment"][key] == theirs["environment"][key], key
    assert meta["auth"] == theirs["auth"]


def test_every_capture_was_replayed():
    replayed = {capture.name for capture, _, _ in RESULTS}
    expected = {c.name for c in captures() if not c.name.startswith(OTHER_SERVER)}
    assert replayed == expected
    assert len(replayed) > 150
    assert GOLDEN.is_dir()
