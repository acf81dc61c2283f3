"""The live differential suite: the mock against real LXD 5.0.2 and Incus 6.0.4.

One request sequence (tests/live/sequence.py) goes to a real server's node1
(tests/support/realservers.py, put back with ``reset()`` before and after) and to a fresh
``MockCluster(2, server=<profile>)``; the engine (tests/live/differential.py) normalises
what must differ and compares the rest: status, envelope field by field and in order,
error texts, ETags, the Location, Content-Type and X-Content-Type-Options headers, and the
lifecycle events of the whole run.

The real server's normalised replies are recorded in ``tests/golden/live/<profile>/``:
``make golden`` (``REFRESH_GOLDEN=1``) writes them. A default run compares the mock with
the live server *and* with the recording, and the live server with its recording (a
difference there is drift: a new server build, or an engine that normalises too little).

A difference fails its test unless :data:`KNOWN_DIFFERENCES` lists it, with the reason the
mock cannot sensibly match. The table is for what the mock legitimately lacks (a kernel,
instances, a host OS), never for mock bugs. The report (terminal summary and
``/tmp/differential-<profile>.txt``) lists, per server, what was compared, what was
identical, every difference, and the known differences applied.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mockserver.api.server import build_router
from mockserver.mock.cluster import MockCluster
from tests.conformance.golden import GOLDEN, captures
from tests.live.differential import (
    ABSENT,
    UUID,
    Difference,
    Known,
    Normaliser,
    Reply,
    Run,
    compare,
    compare_events,
    compare_runs,
    etag_recipe,
    go_json,
    parse_json,
    run_sequence,
)
from tests.live.sequence import SENTINEL, SEQUENCE, Step, check_sequence, uncovered_routes

#: flavour of tests/support/realservers.py -> the mock's profile that answers as it
PROFILES = {"lxd": "lxd-5.0", "incus": "incus-6.0"}
RECORDINGS = Path(__file__).resolve().parents[1] / "golden" / "live"
EVENTS_FILE = "lifecycle-events.json"   # not a step name (those have no "-")
REFRESH = os.environ.get("REFRESH_GOLDEN") == "1"
MOCK_EXTENSION = "pack_configuration"   # the mock appends it to every profile's api_extensions

ENV = "body.metadata.environment"

# ---- the known differences ------------------------------------------------------------------
# What the mock legitimately cannot match, by step and JSON path (globs), with the reason.
# Mock bugs do not belong here: they fail the tests until mockserver/ is fixed.
KNOWN_DIFFERENCES: list[Known] = [
    Known("server", f"{ENV}.architectures", "the host's personalities (i686 on x86_64): the mock runs no instances"),
    Known("server", f"{ENV}.driver", "the instance drivers (lxc, qemu) the host has: the mock has none"),
    Known("server", f"{ENV}.driver_version", "the instance drivers' versions: the mock has none"),
    Known("server", f"{ENV}.firewall", "the host's firewall driver: the mock manages no networks"),
    Known("server", f"{ENV}.kernel_features.*", "the host kernel's features, probed at start: the mock probes none"),
    Known("server", f"{ENV}.lxc_features.*", "liblxc's features: the mock has no liblxc"),
    Known("server", f"{ENV}.os_name", "the host OS: the mock names itself"),
    Known("server", f"{ENV}.os_version", "the host OS version: the mock names itself"),
    Known("server", f"{ENV}.storage_supported_drivers", "the storage tools on the host: the mock has no storage"),
    Known("project*", "body.metadata*.used_by", "the default profile uses the project: the mock serves no profiles"),
    Known("cluster_configuration*", "*", "GET/PUT/PATCH /1.0/cluster/config is the mock's own extension "
          "(pack_configuration): LXD and Incus have no such route"),
]

# Paths whose live values depend on the host (its kernel, liblxc, storage tools, OS), not
# on the server: a live value that differs from the recording there is noted, not failed.
HOST_DEPENDENT = ("server", (f"{ENV}.architectures", f"{ENV}.driver", f"{ENV}.driver_version", f"{ENV}.firewall",
                             f"{ENV}.kernel", f"{ENV}.kernel_architecture", f"{ENV}.kernel_features*",
                             f"{ENV}.lxc_features*", f"{ENV}.os_name", f"{ENV}.os_version",
                             f"{ENV}.storage_supported_drivers*"))


def host_dependent(difference: Difference) -> bool:
    step, paths = HOST_DEPENDENT
    return difference.step == step and any(fnmatch.fnmatchcase(difference.path, p) for p in paths)


# ---- recordings ---------------------------------------------------------------------------------

def recording_dir(profile: str) -> Path:
    return RECORDINGS / profile


def write_recording(profile: str, run: Run) -> None:
    """Write ``run``'s records (and events) to tests/golden/live/<profile>/, deleting the
    files of steps no longer in the sequence."""
    directory = recording_dir(profile)
    directory.mkdir(parents=True, exist_ok=True)
    written = set()
    for name, record in run.records.items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        written.add(path.name)
    if run.events is not None:
        events = [{key: value for key, value in event.items() if key != "arrived_during"} for event in run.events]
        (directory / EVENTS_FILE).write_text(json.dumps(events, indent=1, ensure_ascii=False) + "\n")
        written.add(EVENTS_FILE)
    for stale in directory.glob("*.json"):
        if stale.name not in written:
            stale.unlink()


@dataclass
class Recording:
    records: dict[str, dict]
    events: list[dict] | None
    stale: list[str]          # files of steps no longer in the sequence


def load_recording(profile: str) -> Recording:
    directory = recording_dir(profile)
    names = {step.name for step in SEQUENCE}
    records, stale = {}, []
    for path in sorted(directory.glob("*.json")):
        if path.name == EVENTS_FILE:
            continue
        if path.stem in names:
            records[path.stem] = parse_json(path.read_bytes())
        else:
            stale.append(path.name)
    events_path = directory / EVENTS_FILE
    events = parse_json(events_path.read_bytes()) if events_path.exists() else None
    return Recording(records, events, stale)


# ---- one profile's comparisons --------------------------------------------------------------------

@dataclass
class Comparison:
    """The mock (or the live server) compared with a reference, the known differences applied."""

    reference: str
    candidate: str
    compared: int = 0
    identical: int = 0
    unexpected: list[Difference] = field(default_factory=list)
    known: list[tuple[Difference, Known]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def differing_steps(self) -> list[str]:
        return list(dict.fromkeys(d.step for d in self.unexpected if d.step != "events"))

    def lines(self) -> list[str]:
        return [d.describe(self.reference, self.candidate) for d in self.unexpected]


def apply_known(profile: str, comparison: Comparison, differences: list[Difference]) -> None:
    for difference in differences:
        known = next((k for k in KNOWN_DIFFERENCES if k.covers(profile, difference)), None)
        if known is None:
            comparison.unexpected.append(difference)
        else:
            comparison.known.append((difference, known))


def compare_with(profile: str, reference_name: str, reference: dict[str, dict], reference_events: list | None,
                 candidate_name: str, candidate: Run, *, known: bool = True) -> Comparison:
    comparison = Comparison(reference_name, candidate_name, compared=len(SEQUENCE))
    differences, notes, identical = compare_runs(reference, candidate.records, SEQUENCE)
    comparison.identical = identical
    comparison.notes.extend(notes)
    if reference_events is None or candidate.events is None:
        comparison.notes.append(f"events not compared: {candidate.events_problem or 'no events recorded'}")
    else:
        differences.extend(compare_events(reference_events, candidate.events))
    if known:
        apply_known(profile, comparison, differences)
    else:
        comparison.unexpected.extend(differences)
    return comparison


@dataclass
class Outcome:
    flavour: str
    profile: str
    live: Run
    mock: Run
    recording: Recording | None
    mock_vs_live: Comparison
    mock_vs_recording: Comparison | None
    drift: Comparison | None
    host_drift: list[Difference]
    refreshed: bool

    def report(self) -> str:
        lines = [f"== {self.profile}: the mock against live {self.flavour} "
                 f"({len(SEQUENCE)} requests; live {self.live.seconds:.1f}s, mock {self.mock.seconds:.1f}s) =="]
        for problem in (self.live.events_problem, self.mock.events_problem):
            if problem:
                lines.append(f"  events: {problem}")
        foreign = self.live.normaliser.foreign_operations if self.live.normaliser else 0
        if foreign:
            lines.append(f"  ({foreign} entries of operations the live server ran on its own, outside the "
                         "sequence, left out of the operations lists)")
        shown: set[str] = set()
        for comparison in (self.mock_vs_live, self.mock_vs_recording, self.drift):
            if comparison is None:
                continue
            differing = comparison.differing_steps
            known_only = comparison.compared - comparison.identical - len(differing)
            events = [d for d in comparison.unexpected if d.step == "events"]
            lines.append(f"-- {comparison.candidate} vs {comparison.reference}: {comparison.compared} requests "
                         f"compared, {comparison.identical} identical, {len(differing)} differing, "
                         f"{known_only} differing only as known; {len(comparison.unexpected)} differences "
                         f"({len(events)} in the lifecycle events)")
            # Against the recording, the mock mostly differs as against the live server: only
            # what is new is listed again.
            new = [d for d in comparison.unexpected
                   if comparison.candidate != "mock" or f"{d.step} {d.path}" not in shown]
            if len(new) < len(comparison.unexpected):
                lines.append(f"  ({len(comparison.unexpected) - len(new)} of them as against live, listed above)")
            lines.extend(f"  DIFF {d.describe(comparison.reference, comparison.candidate)}" for d in new)
            if comparison.candidate == "mock":
                shown.update(f"{d.step} {d.path}" for d in comparison.unexpected)
            if comparison is self.mock_vs_live:
                applied: dict[tuple[str, int], list[str]] = {}
                for difference, known in comparison.known:
                    applied.setdefault((difference.step, id(known)), []).append(difference.path)
                whys = {id(k): k for k in KNOWN_DIFFERENCES}
                for (step, key), paths in applied.items():
                    where = paths[0] if len(paths) == 1 else f"{whys[key].path} ({len(paths)} paths)"
                    lines.append(f"  known {step}: {where}: {whys[key].why}")
            lines.extend(f"  note {note}" for note in comparison.notes)
        if self.drift is None and not self.refreshed:
            lines.append(f"-- no recording in {recording_dir(self.profile)}: run `make golden`")
        if self.refreshed:
            lines.append(f"-- recording written to {recording_dir(self.profile)} (REFRESH_GOLDEN=1)")
        for difference in self.host_drift:
            lines.append(f"  host-dependent drift (noted): {difference.describe('recorded', 'live')}")
        return "\n".join(lines)


class Report:
    """Printed at the end of the session; also written to /tmp/differential-<profile>.txt."""

    def __init__(self) -> None:
        self.outcomes: dict[str, Outcome] = {}

    def add(self, outcome: Outcome) -> None:
        self.outcomes[outcome.profile] = outcome
        Path(f"/tmp/differential-{outcome.profile}.txt").write_text(outcome.report() + "\n")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.outcomes:
            return
        terminalreporter.section("live differential report")
        for outcome in self.outcomes.values():
            for line in outcome.report().splitlines():
                terminalreporter.write_line(line)
            terminalreporter.write_line(f"   (written to /tmp/differential-{outcome.profile}.txt)")


REPORT = Report()


def leader(cluster) -> str | None:
    return next((m["server_name"] for m in cluster.members_of() if "database-leader" in m["roles"]), None)


_OUTCOMES: dict[str, Outcome] = {}


def outcome_of(request, flavour: str) -> Outcome:
    """Run the sequence against the real server ``flavour`` and a fresh mock of its profile
    (once per session), and compare."""
    profile = PROFILES[flavour]
    if profile in _OUTCOMES:
        return _OUTCOMES[profile]
    if not request.config.pluginmanager.has_plugin("live-differential-report"):
        request.config.pluginmanager.register(REPORT, "live-differential-report")
    cluster = request.getfixturevalue(f"real_{flavour}")
    cluster.reset()
    # The sequence sends node1's roles as node1 has them: the leader's.
    if leader(cluster) != "node1":
        pytest.fail(f"{flavour}: node1 is not the database leader ({leader(cluster)} is): the sequence assumes "
                    "it; start a fresh cluster", pytrace=False)
    try:
        live = run_sequence("live", cluster.socket_path("node1"), SEQUENCE, sentinel=SENTINEL)
    finally:
        cluster.reset()
    with MockCluster(2, server=profile) as mock:
        mocked = run_sequence("mock", mock.unix_socket, SEQUENCE, sentinel=SENTINEL, strip_extension=MOCK_EXTENSION)
    if REFRESH:
        write_recording(profile, live)
    recording = load_recording(profile) if recording_dir(profile).is_dir() else None
    mock_vs_live = compare_with(profile, "live", live.records, live.events, "mock", mocked)
    mock_vs_recording = drift = None
    host_drift: list[Difference] = []
    if recording is not None:
        mock_vs_recording = compare_with(profile, "recorded", recording.records, recording.events, "mock", mocked)
        drift = compare_with(profile, "recorded", recording.records, recording.events, "live", live, known=False)
        host_drift = [d for d in drift.unexpected if host_dependent(d)]
        drift.unexpected = [d for d in drift.unexpected if not host_dependent(d)]
        drift.unexpected.extend(Difference(name, "record", "recorded", ABSENT, "a step no longer in the sequence")
                                for name in recording.stale)
    result = Outcome(flavour, profile, live, mocked, recording, mock_vs_live, mock_vs_recording, drift, host_drift,
                     REFRESH)
    _OUTCOMES[profile] = result
    REPORT.add(result)
    return result


@pytest.fixture(scope="module", params=sorted(PROFILES))
def outcome(request) -> Outcome:
    """One profile's outcome (:func:`outcome_of`)."""
    return outcome_of(request, request.param)


def failure(comparison: Comparison, profile: str, limit: int = 150) -> str:
    lines = comparison.lines()
    head = (f"{profile}: {len(lines)} differences, {comparison.candidate} against {comparison.reference} "
            f"(steps differing: {len(comparison.differing_steps)} of {comparison.compared}; "
            f"known differences applied: {len(comparison.known)}; full report: /tmp/differential-{profile}.txt)")
    shown = "\n".join(f"  {line}" for line in lines[:limit])
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return f"{head}\n{shown}{more}"


# ---- the tests against the servers ------------------------------------------------------------------

def test_differential_mock_matches_the_live_server(outcome):
    comparison = outcome.mock_vs_live
    requests = [d for d in comparison.unexpected if d.step != "events"]
    assert not requests, failure(Comparison(comparison.reference, comparison.candidate, comparison.compared,
                                            comparison.identical, requests, comparison.known), outcome.profile)


def test_differential_mock_events_match_the_live_server(outcome):
    assert outcome.live.events is not None and not outcome.live.events_problem, outcome.live.events_problem
    assert outcome.mock.events is not None and not outcome.mock.events_problem, outcome.mock.events_problem
    comparison = outcome.mock_vs_live
    events = [d for d in comparison.unexpected if d.step == "events"]
    assert not events, failure(Comparison(comparison.reference, comparison.candidate, comparison.compared,
                                          comparison.identical, events), outcome.profile)


def test_differential_mock_matches_the_recording(outcome):
    assert outcome.mock_vs_recording is not None, \
        f"no recording in {recording_dir(outcome.profile)}: run `make golden` (REFRESH_GOLDEN=1)"
    comparison = outcome.mock_vs_recording
    assert not comparison.unexpected, failure(comparison, outcome.profile)


def test_differential_live_server_matches_its_recording(outcome):
    """Drift: the server answered otherwise than when recorded (a new build of it), or the
    engine leaves something unnormalised that differs from run to run."""
    assert outcome.drift is not None, \
        f"no recording in {recording_dir(outcome.profile)}: run `make golden` (REFRESH_GOLDEN=1)"
    assert not outcome.drift.unexpected, failure(outcome.drift, outcome.profile) + \
        "\n(if the server changed on purpose, re-record with `make golden`)"


def test_differential_every_known_difference_applies(request):
    """A known difference that applies to nothing is stale: the mock was fixed, or the
    sequence changed."""
    outcomes = [outcome_of(request, flavour) for flavour in sorted(PROFILES)]
    used = {id(known) for outcome in outcomes for _, known in outcome.mock_vs_live.known}
    unused = [f"{k.step} {k.path} ({k.why})" for k in KNOWN_DIFFERENCES if id(k) not in used]
    assert not unused, "known differences that apply to nothing:\n  " + "\n  ".join(unused)


# ---- the engine, without servers -------------------------------------------------------------------

def test_differential_sequence_is_well_formed():
    assert not check_sequence(SEQUENCE)
    assert SEQUENCE[-1].name == SENTINEL[0]


def test_differential_sequence_covers_every_route_the_mock_serves():
    router = build_router()
    routes = [(method, route.pattern) for _, route in router._routes for method in route.handlers]
    assert not uncovered_routes(SEQUENCE, routes)


def test_differential_sequence_leaves_the_cluster_as_it_found_it():
    """No step removes a member or disables clustering; every rename and evacuation is
    undone later in the sequence."""
    for step in SEQUENCE:
        assert not (step.method == "DELETE" and re.fullmatch(r"/1.0/cluster/members/node\d\w*", step.path)), step
        assert not (step.method == "PUT" and step.path == "/1.0/cluster"
                    and isinstance(step.body, dict) and step.body.get("enabled") is False), step
    renames = [s.body["server_name"] for s in SEQUENCE if s.method == "POST" and s.path.startswith(
        "/1.0/cluster/members/") and isinstance(s.body, dict) and "server_name" in s.body
        and not s.path.endswith("/nope")]
    assert renames[-1] in ("node1", "node2") and "node2" in renames and "node1" in renames
    actions = [(s.path, s.body.get("action")) for s in SEQUENCE if s.path.endswith("/state") and s.method == "POST"
               and isinstance(s.body, dict) and s.body.get("action") in ("evacuate", "restore")]
    for member in ("node1", "node2"):
        mine = [action for path, action in actions if f"/{member}/" in path]
        assert mine and mine[-1] == "restore", (member, mine)


def test_differential_normaliser_numbers_operations_and_hides_addresses_times_secrets():
    norm = Normaliser({"node1": "https://127.0.0.1:8443", "node2": "https://127.0.0.2:8443"})
    a, b = "0d9ab0a1-6b4e-4c0f-9a57-3c39d49e3f55", "5f1e8d9c-2a4b-4c6d-8e0f-1a2b3c4d5e6f"
    op = {"id": b, "created_at": "2026-11-30T22:22:30.123456789Z", "err": "", "location": "node1",
          "metadata": {"addresses": ["127.0.0.1:8443"], "expiresAt": "2026-12-01T01:22:30Z",
                       "fingerprint": "ab" * 32, "secret": "cd" * 32, "serverName": "node3"},
          "resources": {"cluster": None}, "zero": "0001-01-01T00:00:00Z", "url": "https://127.0.0.2:8443"}
    norm.origin = "token"
    assert norm.value({"operation": f"/1.0/operations/{a}", "metadata": op}) == {
        "operation": "/1.0/operations/OP(token)",
        "metadata": {"id": "OP(token)#2", "created_at": "<time>", "err": "", "location": "node1",
                     "metadata": {"addresses": ["ADDRESS_node1"], "expiresAt": "<time>",
                                  "fingerprint": "<fingerprint>", "secret": "<secret>", "serverName": "node3"},
                     "resources": {"cluster": None}, "zero": "0001-01-01T00:00:00Z", "url": "ADDRESS_node2"}}
    # Keys stay in the order sent; an operations list keeps only the run's own operations.
    assert list(norm.value({"b": 1, "a": 2})) == ["b", "a"]
    foreign = "11111111-2222-3333-4444-555555555555"
    assert norm.own_operations({"running": [f"/1.0/operations/{b}", f"/1.0/operations/{foreign}"],
                                "success": [f"/1.0/operations/{foreign}"]}) == \
        {"running": [f"/1.0/operations/{b}"]}
    assert norm.foreign_operations == 2


def test_differential_duplicate_keys_are_seen():
    body = parse_json(b'{"a":1,"a":2}')
    assert Normaliser({}).value(body) == {"a": 2, "<duplicate keys>": ["a"]}


def test_differential_etag_recipes_explain_every_etag_of_the_lxd_captures():
    """Every ETag in the LXD 5.0.2 captures (tests/golden) is one of the engine's recipes."""
    explained = 0
    for capture in captures():
        etag = capture.headers.get("etag")
        if not etag or not (GOLDEN / f"{capture.name}.json").exists():
            continue
        body = parse_json(capture.body_bytes)
        assert etag_recipe(etag, body.get("metadata")) is not None, capture.name
        explained += 1
    assert explained > 20


def _record(status: int, body, etag: str | None = None, **headers) -> dict:
    norm = Normaliser({})
    raw = json.dumps(body).encode() + b"\n"
    all_headers = {"content-type": "application/json", **({"etag": etag} if etag else {}), **headers}
    return norm.record(Step("s", "GET", "/x"), Reply(status, all_headers, raw, parse_json(raw)))


def test_differential_compare_names_step_path_and_both_values():
    live = _record(200, {"type": "sync", "metadata": {"a": 1, "b": [1, 2], "c": "x"}})
    mock = _record(200, {"type": "sync", "metadata": {"b": [1, 3], "a": 1, "d": "y"}})
    found, _ = compare(live, mock)
    described = [d.describe() for d in found]
    assert "s: body.metadata.b[1]: live 2, mock 3" in described
    assert "s: body.metadata.c: live \"x\", mock <absent>" in described
    assert "s: body.metadata.d: live <absent>, mock \"y\"" in described
    assert any(d.path == "body.metadata.<keys>" and d.note == "field order" for d in found)
    assert compare(live, live) == ([], [])


def test_differential_compare_etags_by_recipe():
    meta = {"description": "d", "members": ["node1"], "name": "g"}
    writable = {"description": "d", "members": ["node1"]}   # what LXD hashes for a group
    good = '"' + hashlib.sha256(go_json(writable)).hexdigest() + '"'
    live = _record(200, {"metadata": meta}, good)
    assert live["headers"]["etag"].startswith("group:")
    assert compare(live, _record(200, {"metadata": meta}, good)) == ([], [])
    found, _ = compare(live, _record(200, {"metadata": meta}, '"0123"'))
    assert [(d.path, d.candidate) for d in found] == [("headers.etag", "sha256 of unexplained")]
    found, _ = compare(live, _record(200, {"metadata": meta}))
    assert [(d.path, d.candidate) for d in found] == [("headers.etag", None)]


def test_differential_long_lists_are_summarised():
    ref = [f"ext{i}" for i in range(20)]
    cand = ref[:5] + ref[6:] + ["own"]
    found, _ = compare(_record(200, {"metadata": ref}), _record(200, {"metadata": cand}))
    assert len(found) == 1
    assert found[0].reference == {"only here": ["ext5"]} and found[0].candidate == {"only here": ["own"]}


def test_differential_events_compare_counts_and_order_per_source():
    def event(action, source, location="node1"):
        return {"type": "lifecycle", "action": action, "source": source, "context_keys": None,
                "location": location, "arrived_during": "s"}
    live = [event("a", "/x"), event("b", "/y"), event("c", "/x")]
    # another order across sources is fine; within a source it is not
    assert compare_events(live, [event("b", "/y"), event("a", "/x"), event("c", "/x")]) == []
    found = compare_events(live, [event("c", "/x"), event("a", "/x"), event("b", "/y", "node2")])
    paths = [d.path for d in found]
    assert "b /y location=node1" in paths and "b /y location=node2" in paths and "/x <order>" in paths


def test_differential_recordings_are_normalised():
    """The recordings hold no operation id, time, certificate or member address of the run
    that made them."""
    leaks = {"an operation id": UUID, "a time": re.compile(r"\d{4}-\d\d-\d\dT(?!00:00:00Z)"),
             "a certificate": re.compile("-----BEGIN"), "a member address": re.compile(r"127\.0\.0\.\d:8443")}
    checked = 0
    for profile in PROFILES.values():
        for path in sorted(recording_dir(profile).glob("*.json")):
            record = parse_json(path.read_bytes())
            if isinstance(record, dict):
                record.pop("request", None)   # the sequence's own paths (the all-zero id of an unknown operation)
            text = json.dumps(record)
            for what, pattern in leaks.items():
                assert not pattern.search(text), f"{profile}/{path.name} holds {what}"
            checked += 1
    assert checked, "no recordings in tests/golden/live: run `make golden`"


def test_differential_report_counts(outcome):
    """The report says what it compared, and is written where it says."""
    text = Path(f"/tmp/differential-{outcome.profile}.txt").read_text()
    assert f"{len(SEQUENCE)} requests compared" in text
    assert outcome.mock_vs_live.compared == len(SEQUENCE)
