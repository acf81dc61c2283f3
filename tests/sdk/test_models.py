"""Models: wire mapping, unknown keys, timestamps, frozen-ness."""

import json
from datetime import datetime, timezone

import attrs
import pytest

from pylxd_cluster import (
    Cluster,
    ClusterGroup,
    ClusterMember,
    Event,
    MemberConfigKey,
    Operation,
    Timestamp,
    format_timestamp,
    parse_timestamp,
)
from tests.sdk.fakes import GOLDEN, golden, golden_metadata


def compact(value):
    return json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("capture", [
    "GET_1.0_cluster_members_node2",
    "GET_1.0_cluster_members_node1_final",
    "GET_1.0_cluster_members_node1_with_config",
])
def test_member_to_api_reproduces_the_wire_bytes(capture):
    metadata = golden_metadata(capture)
    raw = golden(capture)[2].decode()
    assert compact(ClusterMember.from_api(metadata).to_api()) in raw


def test_group_and_cluster_and_operation_round_trip():
    for model, capture in [(ClusterGroup, "GET_1.0_cluster_groups_g1"),
                           (Cluster, "GET_1.0_cluster"),
                           (Operation, "GET_1.0_operations_EVACID_again_wait")]:
        metadata = golden_metadata(capture)
        assert model.from_api(metadata).to_api() == metadata
        assert compact(model.from_api(metadata).to_api()) in golden(capture)[2].decode()


def test_unknown_keys_are_kept_and_written_back():
    data = dict(golden_metadata("GET_1.0_cluster_members_node2"), future_field={"a": [1]})
    member = ClusterMember.from_api(data)
    assert member.extra == {"future_field": {"a": [1]}}
    assert member.to_api() == data
    # A PUT replaces the object, so unknown (possibly writable) keys go back too.
    assert member.to_put()["future_field"] == {"a": [1]}
    assert list(member.to_put())[:5] == ["roles", "failure_domain", "description", "config", "groups"]


def test_unknown_keys_in_nested_models():
    data = {"server_name": "n", "enabled": True,
            "member_config": [{"entity": "storage-pool", "name": "local", "key": "source",
                               "value": "", "description": "d", "new": 1}]}
    cluster = Cluster.from_api(data)
    assert cluster.member_config[0] == MemberConfigKey(
        entity="storage-pool", name="local", key="source", value="", description="d", extra={"new": 1})
    assert cluster.to_api() == data


def test_groups_null_becomes_empty_tuple():
    member = ClusterMember.from_api(golden_metadata("GET_1.0_cluster_members_node1_now"))
    assert member.groups == ()


def test_models_are_frozen_and_evolve_copies():
    member = ClusterMember.from_api(golden_metadata("GET_1.0_cluster_members_node2"), etag="e1")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        member.description = "x"
    changed = member.evolve(description="x")
    assert (member.description, changed.description, changed.etag) == ("", "x", "e1")
    assert changed != member


def test_equality_ignores_manager_and_etag():
    data = golden_metadata("GET_1.0_cluster_members_node2")
    assert ClusterMember.from_api(data, manager=object(), etag="a") == ClusterMember.from_api(data, etag="b")


def test_operation_class_field_and_timestamps():
    op = Operation.from_api(golden_metadata("POST_1.0_cluster_members_token"))
    assert op.class_ == "token"
    assert op.created_at.nanosecond == 193663499
    assert op.to_api()["class"] == "token"
    assert op.to_api()["created_at"] == "2026-11-22T02:43:51.193663499Z"


@pytest.mark.parametrize("text, nanos, micros", [
    ("2026-11-22T02:45:14.2923957Z", 292395700, 292395),
    ("2026-11-22T02:43:51.193663499Z", 193663499, 193663),
    ("2026-11-22T02:43:51.1Z", 100000000, 100000),
    ("2026-11-22T02:43:51Z", 0, 0),
])
def test_timestamp_parse_and_format_round_trip(text, nanos, micros):
    value = parse_timestamp(text)
    assert isinstance(value, Timestamp) and isinstance(value, datetime)
    assert (value.nanosecond, value.microsecond) == (nanos, micros)
    assert value.tzinfo == timezone.utc
    assert format_timestamp(value) == text


def test_timestamp_offsets_and_errors():
    value = parse_timestamp("2026-11-22T04:45:14.123456789+02:00")
    assert value.utcoffset().total_seconds() == 7200
    assert format_timestamp(value) == "2026-11-22T04:45:14.123456789+02:00"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc)) == \
        "2026-01-02T03:04:05.6Z"
    assert parse_timestamp("") is None
    with pytest.raises(ValueError):
        parse_timestamp("2026-11-22 nope")
    with pytest.raises(ValueError):
        parse_timestamp("2026-11-22T02:43:51.1234567891Z")  # ten digits


def test_every_timestamp_in_the_event_captures_round_trips():
    count = 0
    for line in (GOLDEN / "EVENTS_operation.jsonl").read_text().splitlines():
        data = json.loads(line)
        event = Event.from_api(data)
        assert format_timestamp(event.timestamp) == data["timestamp"]
        op = Operation.from_api(event.metadata)
        assert format_timestamp(op.created_at) == data["metadata"]["created_at"]
        count += 1
    assert count > 3


def test_lifecycle_event_properties():
    lines = (GOLDEN / "EVENTS_lifecycle.jsonl").read_text().splitlines()
    events = [Event.from_api(json.loads(line)) for line in lines]
    updated = next(e for e in events if e.action == "cluster-group-updated")
    assert updated.source == "/1.0/cluster/groups/g3"
    assert updated.name == "g3"
    assert updated.context == {"description": "patched", "members": []}
    assert updated.location == "node1" and updated.project == "default"
    assert Event.from_api(json.loads(lines[0])).to_api() == json.loads(lines[0])


def test_operation_event_has_no_lifecycle_properties():
    line = (GOLDEN / "EVENTS_operation.jsonl").read_text().splitlines()[0]
    event = Event.from_api(json.loads(line))
    assert event.type == "operation"
    assert (event.action, event.source, event.name) == (None, None, None)


def test_from_api_rejects_non_objects():
    from pylxd_cluster import ClusterError

    with pytest.raises(ClusterError, match="cannot build ClusterMember"):
        ClusterMember.from_api(["/1.0/cluster/members/node1"])
