"""from_api's compiled builders (one Python function written per model class) build exactly
what the generic, field-by-field path builds, for every model and every shape of reply."""

from __future__ import annotations

import pickle
import types
from datetime import timedelta, timezone
from typing import Any

import attrs
import pytest

import pylxd_cluster  # noqa: F401 - imports every model
from pylxd_cluster.exceptions import ClusterError
from pylxd_cluster.models import base
from pylxd_cluster.models.base import ServerModel, WireModel, frozen_model, wire_field
from pylxd_cluster.models.member import ClusterMember
from pylxd_cluster.timestamps import Timestamp, format_timestamp, parse_timestamp
from tests.sdk.fakes import golden_metadata


def every_model() -> list[type]:
    seen, todo = [], [WireModel]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen and sub.__module__.startswith("pylxd_cluster."):
                seen.append(sub)
                todo.append(sub)
    return sorted(seen, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


MODELS = every_model()

# Values of other types than the field's, or null, that the decoders turn into the field's type.
ODD_VALUES = {
    base.as_str: [None, 5, 2.5, True, ""],
    base.as_bool: [None, 0, 1, "", "x"],
    base.as_int: [None, "7", True, 3.0],
    base.as_tuple: [None, [], ("a",), ["a", {"b": 1}], "ab"],
    base.as_dict: [None, {}, {"a": {"b": [1, {"c": 2}]}}, [("k", "v")], types.MappingProxyType({"p": [1]})],
    base.as_timestamp: [None, "", "2024-02-03T04:05:06.123456789Z", "2024-02-03T04:05:06+02:30"],
}
# Values no decoder of its kind takes: both paths raise the same ClusterError.
BAD_VALUES = {
    base.as_int: ["seven", [1]],
    base.as_dict: [5, "ab"],
    base.as_timestamp: ["yesterday", 5],
}


def full_reply(cls: type) -> dict[str, Any]:
    """Every wire key of ``cls``, as to_api writes the defaults."""
    return cls.from_api({}).to_api()


def replies(cls: type) -> list[Any]:
    full = full_reply(cls)
    shapes: list[Any] = [{}, full, dict(full, future={"a": [1]}), types.MappingProxyType(full)]
    for key in full:
        shapes.append({k: v for k, v in full.items() if k != key})             # one key missing
        shapes.append({**{k: v for k, v in full.items() if k != key}, "other": 1})  # same size, not the same keys
        shapes.append(dict(full, **{key: None}))
    for field, spec in base._wire_fields(cls):
        for value in ODD_VALUES.get(spec.decode, []) + BAD_VALUES.get(spec.decode, []):
            shapes.append(dict(full, **{base._wire_name(field, spec): value}))
    return shapes


def outcome(build, cls: type, data: Any) -> Any:
    try:
        model = build(cls, data, "the manager", "etag-1")
    except ClusterError as exc:
        return ("raised", str(exc))
    assert type(model) is cls
    return ("built", model, {name: (type(value), value) for name, value in vars(model).items()})


def compiled(cls, data, manager, etag):
    return base._compile_builder(cls)(data, manager, etag)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__qualname__)
def test_compiled_builder_builds_what_the_generic_path_builds(cls):
    assert MODELS and ClusterMember in MODELS
    for data in replies(cls):
        expected = outcome(base._build_generic, cls, data)
        got = outcome(compiled, cls, data)
        assert got[0] == expected[0], data
        if got[0] == "raised":
            assert got == expected, data
            continue
        assert got[1] == expected[1], data
        # The same attributes, of the same types, with the same values (the manager and the ETag too).
        assert got[2] == expected[2], data
        # ...and in the order attrs' __init__ sets them.
        assert list(vars(got[1])) == [field.name for field in attrs.fields(cls)]


def test_the_model_shares_no_mutable_value_with_the_reply():
    data = dict(golden_metadata("GET_1.0_cluster_members_node1_with_config"), future={"a": [1]})
    assert data["config"]
    member = ClusterMember.from_api(data)
    assert member.config == data["config"] and member.config is not data["config"]
    assert member.extra == {"future": {"a": [1]}} and member.extra["future"] is not data["future"]
    assert member.extra["future"]["a"] is not data["future"]["a"]
    data["config"]["added"] = "x"
    data["future"]["a"].append(2)
    assert "added" not in member.config and member.extra == {"future": {"a": [1]}}
    # Two models built from the same reply share nothing mutable either.
    again = ClusterMember.from_api(data)
    assert again.config is not member.config and again.extra is not member.extra


def test_from_api_is_the_compiled_builder_for_known_shapes_and_the_same_for_any():
    data = golden_metadata("GET_1.0_cluster_members_node2")
    member = ClusterMember.from_api(data, manager="m", etag="e")
    assert (member.manager, member.etag) == ("m", "e")
    assert member == base._build_generic(ClusterMember, data, None, None)
    assert "def build" in base._BUILDERS[ClusterMember].source


def test_a_decoding_error_names_the_field():
    data = dict(golden_metadata("GET_1.0_cluster_members_node2"))
    with pytest.raises(ClusterError, match=r"cannot read ClusterMember\.config from config=5"):
        ClusterMember.from_api(dict(data, config=5))
    with pytest.raises(ClusterError, match="cannot build ClusterMember from list"):
        ClusterMember.from_api([data])


@frozen_model
class _Required(ServerModel):
    name: str = wire_field(decode=base.as_str)
    size: int = wire_field(decode=base.as_int, default=0)


@frozen_model
class _OwnContext(WireModel):
    name: str = wire_field(decode=base.as_str, default="")
    origin: str = attrs.field(default="")

    @classmethod
    def _context(cls, manager: Any, etag: str | None) -> dict[str, Any]:
        return {"origin": f"read by {manager}"}


def test_classes_the_compiler_does_not_cover_take_the_generic_path():
    assert _Required.from_api({"name": "n", "size": "3"}, manager="m") == _Required(name="n", size=3)
    with pytest.raises(TypeError, match="name"):
        _Required.from_api({"size": 3})
    model = _OwnContext.from_api({"name": "n", "x": 1}, manager="me")
    assert (model.name, model.origin, model.extra) == ("n", "read by me", {"x": 1})


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-22T02:45:14.2923957Z", Timestamp(2026, 11, 22, 2, 45, 14, 292395, tzinfo=timezone.utc,
                                               nanosecond=292395700)),
    ("2026-11-22t02:45:14Z", Timestamp(2026, 11, 22, 2, 45, 14, tzinfo=timezone.utc)),
    ("2026-11-22 02:45:14.000000001-11:30", Timestamp(2026, 11, 22, 2, 45, 14, tzinfo=timezone(-timedelta(
        hours=11, minutes=30)), nanosecond=1)),
    ("0001-01-01T00:00:00.5+02:00", Timestamp(1, 1, 1, tzinfo=timezone(timedelta(hours=2)), microsecond=500000)),
])
def test_a_parsed_timestamp_is_the_one_its_constructor_makes(text, expected):
    for _ in range(2):   # the second time with the offset's tzinfo made already
        parsed = parse_timestamp(text)
        assert type(parsed) is Timestamp and parsed == expected
        assert (parsed.nanosecond, parsed.microsecond, parsed.utcoffset()) == \
            (expected.nanosecond, expected.microsecond, expected.utcoffset())
        assert pickle.loads(pickle.dumps(parsed)).nanosecond == parsed.nanosecond
        assert parse_timestamp(format_timestamp(parsed)).nanosecond == parsed.nanosecond


@pytest.mark.parametrize("text", ["2026-13-01T00:00:00Z", "2026-11-22T02:45:14+24:00", "2026-11-22T02:45:14",
                                  "2026-11-22T02:45:14.1234567890Z", "yesterday"])
def test_a_timestamp_that_is_not_rfc3339_is_refused(text):
    with pytest.raises(ValueError):
        parse_timestamp(text)
