"""Timelines of a cluster (pylxd_cluster.timeline): sampling on an injected clock against the
mock, leader changes, a pack's heartbeat view, failed samples and the table renderings."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pylxd_cluster import ClientConnectionError, ClusterMember, MemberState, NotImplementedByServer
from pylxd_cluster.timeline import (
    LeaderChange,
    MemberSample,
    Sample,
    Timeline,
    TimelineRecorder,
    heartbeat_age_from_message,
    sample_cluster,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeClock:
    """Seconds since the epoch that move only when ``sleep`` (or a test) moves them."""

    def __init__(self, start: float = T0.timestamp()):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(actions: dict):
    """A progress hook that runs ``actions[n]`` once the timeline has n samples."""
    def progress(timeline):
        action = actions.get(len(timeline))
        if action is not None:
            action()
    return progress


@pytest.mark.mock_cluster(members=5)
def test_sampling_on_an_injected_clock_records_status_heartbeat_and_the_leader(mock_cluster, mock_client):
    clock = FakeClock()
    progress = scripted({2: lambda: mock_cluster.set_offline("node3"), 4: lambda: mock_cluster.set_leader("node2"),
                         6: lambda: mock_cluster.set_online("node3")})
    timeline = sample_cluster(mock_client, duration=3.0, interval=0.5, progress=progress, clock=clock,
                              sleep=clock.sleep)

    assert len(timeline) == 7 and timeline.offsets() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert clock.sleeps == [0.5] * 6
    assert timeline.start == T0 and timeline.end == T0 + timedelta(seconds=3)
    assert timeline.members == ("node1", "node2", "node3", "node4", "node5")
    assert timeline.statuses("node3") == ["Online", "Online", "Offline", "Offline", "Offline", "Offline", "Online"]
    assert timeline.leaders() == ["node1"] * 4 + ["node2"] * 3
    ages = timeline.heartbeat_ages("node3")
    # LXD (and the mock) say an Offline member's heartbeat age in its message; nothing of an Online one's.
    assert ages[:2] == [None, None] and ages[6] is None
    assert all(20.0 <= age < 60.0 for age in ages[2:6])
    assert timeline.heartbeat_ages("node1") == [None] * 7
    assert timeline.leader_changes() == [LeaderChange(T0 + timedelta(seconds=2), "node2", "node1", None)]
    assert timeline[4].member("node2").leads and not timeline[4].member("node1").leads


def test_the_first_sample_is_at_once_and_the_last_at_or_before_the_duration(mock_client):
    clock = FakeClock()
    timeline = sample_cluster(mock_client, duration=1.0, interval=0.1, clock=clock, sleep=clock.sleep)
    assert len(timeline) == 11     # 1.0 // 0.1 is 9.0 in floating point: not that
    timeline = sample_cluster(mock_client, duration=1.25, interval=0.5, clock=clock, sleep=clock.sleep)
    assert timeline.offsets() == [0.0, 0.5, 1.0]
    assert len(sample_cluster(mock_client, duration=0, interval=5, clock=clock, sleep=clock.sleep)) == 1
    with pytest.raises(ValueError, match="interval"):
        sample_cluster(mock_client, duration=1, interval=0)
    with pytest.raises(ValueError, match="duration"):
        sample_cluster(mock_client, duration=-1, interval=1)


def test_a_slow_sample_skips_the_ticks_it_missed(mock_client):
    clock = FakeClock()

    def slow_second_sample(timeline):
        if len(timeline) == 2:
            clock.now += 2.2          # the second sample took 2.2 s more than it should

    timeline = sample_cluster(mock_client, duration=5.0, interval=1.0, progress=slow_second_sample, clock=clock,
                              sleep=clock.sleep)
    assert timeline.offsets() == [0.0, 1.0, 4.0, 5.0]
    assert clock.sleeps == pytest.approx([1.0, 0.8, 1.0])


def test_interrupting_returns_what_was_recorded(mock_client):
    clock = FakeClock()

    def interrupted(seconds):
        if len(clock.sleeps) == 2:
            raise KeyboardInterrupt
        clock.sleep(seconds)

    timeline = sample_cluster(mock_client, duration=60, interval=1, clock=clock, sleep=interrupted)
    assert len(timeline) == 3


def test_a_sample_the_server_does_not_answer_is_kept_and_leader_changes_skip_it(mock_cluster, mock_client):
    clock = FakeClock()
    recorder = TimelineRecorder(mock_client, clock=clock)
    recorder.sample()
    mock_cluster.inject_error("/1.0/cluster/members", 500, "database is busy")
    failed = recorder.sample()
    assert not failed.ok and "database is busy" in failed.error and failed.members == () and failed.leader is None
    mock_cluster.clear_faults()
    recorder.sample()
    timeline = recorder.timeline
    assert [sample.ok for sample in timeline] == [True, False, True]
    assert timeline.statuses("node1") == ["Online", None, "Online"]
    assert timeline.leader_changes() == []       # not known then, not gone
    records = timeline.to_records()
    [error] = [r["error"] for r in records if r["member"] is None]
    assert error.startswith("APIError: GET /1.0/cluster/members") and error.endswith("500 database is busy")
    assert "no answer" in timeline._repr_html_() and "(no answer)" in timeline.table()


def test_the_plain_mock_is_asked_for_member_state_once_only(mock_cluster, mock_client):
    """LXD's member state has no pack part: asking it each sample would cost a request for
    nothing. By default the member the client is connected to is asked; with views="all"
    every member but the Offline ones (they answer 503)."""
    mock_cluster.set_offline("node3")
    recorder = TimelineRecorder(mock_client, clock=FakeClock())
    for _ in range(3):
        recorder.sample()
    assert [r.path for r in mock_cluster.requests if r.path.endswith("/state")] == ["/1.0/cluster/members/node1/state"]
    assert recorder.member_state is False
    mock_cluster.clear_requests()
    everyone = TimelineRecorder(mock_client, views="all", clock=FakeClock())
    everyone.sample()
    everyone.sample()
    asked = [r.path for r in mock_cluster.requests if r.path.endswith("/state")]
    assert asked == ["/1.0/cluster/members/node1/state", "/1.0/cluster/members/node2/state"]
    mock_cluster.clear_requests()
    TimelineRecorder(mock_client, member_state=False, clock=FakeClock()).sample()
    assert not [r for r in mock_cluster.requests if r.path.endswith("/state")]
    with pytest.raises(ValueError, match="views"):
        TimelineRecorder(mock_client, views="some")


@pytest.mark.mock_cluster(server="lxd-5.0")
def test_a_server_without_member_state_is_not_asked(mock_cluster, mock_client):
    TimelineRecorder(mock_client, member_state=True, clock=FakeClock()).sample()
    assert not [r for r in mock_cluster.requests if r.path.endswith("/state")]


# --- a pack daemon's view, through a stand-in client -------------------------------------

def member(name: str, status: str = "Online", roles=(), message: str = "Fully operational") -> ClusterMember:
    return ClusterMember.from_api({"server_name": name, "status": status, "roles": list(roles), "message": message,
                                   "url": f"https://127.0.0.1:{8443 + int(name[-1])}"})


def pack_state(leader: str, term: int, heard: dict) -> MemberState:
    members = {name: {"status": word, "incarnation": 1, "last_heard": "2026-01-01T00:00:00Z",
                      "last_heard_seconds": age} for name, (word, age) in heard.items()}
    return MemberState.from_api({"sysinfo": {}, "storage_pools": {},
                                 "pack": {"leader": leader, "term": term, "members": members}})


class StandInMembers:
    """``cluster.members`` as the recorder uses it: ``all()`` and ``state(name)``."""

    def __init__(self, members, states):
        self.members, self.states = members, states
        self.asked: list[str] = []

    def all(self):
        if isinstance(self.members, Exception):
            raise self.members
        return self.members

    def state(self, name):
        self.asked.append(name)
        found = self.states.get(name)
        if found is None:
            raise NotImplementedByServer("not here")
        return found


class StandInClient:
    """A client with a pack daemon's member states (or a failure), and nothing else."""

    def __init__(self, members, states, extensions=("cluster_member_state",), server_name="node2"):
        self.extensions, self.server_name = extensions, server_name
        self.cluster = type("Cluster", (), {})()
        self.cluster.members = StandInMembers(members, states)

    @property
    def asked(self) -> list[str]:
        return self.cluster.members.asked

    def has_api_extension(self, name):
        return name in self.extensions


def test_a_packs_views_give_each_members_freshest_heartbeat_and_the_term():
    members = [member("node1", roles=["database-leader", "database"]), member("node2"),
               member("node3", "Offline", message="No heartbeat for 9.5s (2026-01-01 00:00:00 +0000 UTC)")]
    states = {"node1": pack_state("node1", 4, {"node2": ("alive", 0.8), "node3": ("suspect", 9.1)}),
              "node2": pack_state("node1", 4, {"node1": ("alive", 0.3), "node3": ("dead", 9.6)})}
    client = StandInClient(members, states)
    sample = TimelineRecorder(client, views="all", clock=FakeClock()).sample()
    assert client.asked == ["node1", "node2"]       # not the Offline node3
    assert sample.leader == "node1" and sample.term == 4
    assert [(m.name, m.heartbeat_age, m.heard_as) for m in sample.members] == [
        ("node1", 0.3, "alive"), ("node2", 0.8, "alive"), ("node3", 9.1, "suspect")]
    # By default only the member the client is connected to (node2): how it hears the others.
    client = StandInClient(members, states)
    sample = TimelineRecorder(client, clock=FakeClock()).sample()
    assert client.asked == ["node2"]
    assert [(m.name, m.heartbeat_age, m.heard_as) for m in sample.members] == [
        ("node1", 0.3, "alive"), ("node2", None, ""), ("node3", 9.6, "dead")]


def test_without_a_leader_role_the_leader_most_packs_name_leads():
    members = [member("node1"), member("node2"), member("node3")]
    states = {"node1": pack_state("node2", 5, {}), "node2": pack_state("node2", 5, {}),
              "node3": pack_state("node3", 6, {})}
    sample = Sample.from_models(T0, members, states)
    assert sample.leader == "node2" and sample.term == 6
    assert Sample.from_models(T0, members, {}).leader is None


def test_a_member_state_with_a_pack_is_read_at_every_sample():
    states = {"node1": pack_state("node1", 1, {"node2": ("alive", 0.1)}), "node2": pack_state("node1", 1, {})}
    client = StandInClient([member("node1", roles=["database-leader"]), member("node2")], states)
    recorder = TimelineRecorder(client, clock=FakeClock())
    recorder.sample()
    recorder.sample()
    assert client.asked == ["node2", "node2"] and recorder.member_state is True


def test_a_connection_failure_is_a_failed_sample():
    client = StandInClient(ClientConnectionError("connection refused"), {})
    sample = TimelineRecorder(client, clock=FakeClock()).sample()
    assert sample.error == "ClientConnectionError: connection refused" and sample.at == T0


# --- pure parts ----------------------------------------------------------------------------

@pytest.mark.parametrize("message,seconds", [
    ("No heartbeat for 20s (2026-01-01 00:00:00 +0000 UTC)", 20.0),
    ("No heartbeat for 1m2.5s (2026-01-01 00:00:00.5 +0000 UTC)", 62.5),
    ("No heartbeat for 2h0m3.25s (...)", 7203.25),
    ("No heartbeat for 500ms (...)", 0.5),
    ("No heartbeat for 1m2.123456789s", 62.123456789),
    ("Fully operational", None),
    ("", None),
])
def test_the_heartbeat_age_in_an_offline_members_message(message, seconds):
    age = heartbeat_age_from_message(message)
    assert age == (None if seconds is None else pytest.approx(seconds))


def timeline_of(*rows) -> Timeline:
    """``rows``: (seconds, leader, {name: status}) each."""
    return Timeline(Sample(T0 + timedelta(seconds=seconds), tuple(MemberSample(name, status, roles=(
        ["database-leader"] if name == leader else [])) for name, status in statuses.items()), leader)
        for seconds, leader, statuses in rows)


def test_leader_changes_include_a_change_to_no_leader_and_back():
    timeline = timeline_of((0, "node1", {"node1": "Online", "node2": "Online"}),
                           (1, None, {"node1": "Offline", "node2": "Online"}),
                           (2, "node2", {"node1": "Offline", "node2": "Online"}),
                           (3, "node2", {"node1": "Online", "node2": "Online"}))
    assert [(c.previous, c.leader, c.at) for c in timeline.leader_changes()] == [
        ("node1", None, T0 + timedelta(seconds=1)), (None, "node2", T0 + timedelta(seconds=2))]


def test_members_are_every_name_seen_in_natural_order_and_absent_ones_are_none():
    timeline = timeline_of((0, "node1", {"node10": "Online", "node2": "Online"}),
                           (1, "node1", {"node2": "Online", "node1": "Online"}))
    assert timeline.members == ("node1", "node2", "node10")
    assert timeline.statuses("node10") == ["Online", None]


def test_the_table_shows_the_samples_at_which_something_changed():
    timeline = timeline_of(*[(s, "node1" if s < 3 else "node2", {"node1": "Offline" if s in (1, 2) else "Online"})
                             for s in range(6)])
    text = timeline.table()
    assert text.splitlines()[0] == ("Cluster timeline: 6 samples over 5.0 s from 2026-01-01 00:00:00 UTC, "
                                    "1 leader change")
    seconds = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")][1:]
    assert seconds == ["0.0", "1.0", "3.0", "5.0"]    # first, node1 Offline, node2 leads, last
    html = timeline._repr_html_()
    assert html.count("<tr>") == 1 + 4 and "lxd-status-offline" in html and ">node2<" in html


def test_html_escapes_what_the_server_sent():
    timeline = Timeline([Sample(T0, [MemberSample("<b>x</b>", "<i>Online</i>")], "<b>x</b>")])
    html = timeline._repr_html_()
    assert "<b>" not in html and "<i>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_a_naive_time_is_utc_and_an_empty_timeline_renders():
    assert Sample(datetime(2026, 1, 1)).at == T0
    empty = Timeline()
    assert empty.members == () and empty.offsets() == [] and empty.leader_changes() == [] and empty.start is None
    assert "no samples" in empty._repr_html_() and "no samples" in empty.table()
