"""A timeline of a pack of reference daemons (real processes on loopback): the heartbeat ages
come from the pack's member state, and killing the leader shows as a leader change."""
from __future__ import annotations

import matplotlib
import pytest

from mockserver.daemon.harness import PackProcs
from pylxd_cluster.timeline import TimelineRecorder

matplotlib.use("Agg")

import matplotlib.pyplot as pyplot  # noqa: E402  (after choosing the backend)

DEAD = 1.0   # the harness's dead-interval (keepalive-interval 200 ms)


@pytest.fixture
def pack():
    with PackProcs(listen=True) as procs:   # a TCP API on each node: member state is forwarded
        yield procs


def test_a_killed_leader_shows_offline_with_a_growing_heartbeat_age_and_a_new_leader(pack):
    leader = pack.form(["node1", "node2", "node3"])
    observer = next(name for name in ("node1", "node2", "node3") if name != leader)
    recorder = TimelineRecorder(pack[observer].client, views="all")
    pack.wait_until(lambda: recorder.sample().leader == leader, 10, what=f"a sample with {leader} leading")
    before = recorder.timeline[-1]
    assert before.term and all(m.status == "Online" for m in before.members)
    # Every member is heard by another, within the dead interval.
    assert all(m.heartbeat_age is not None and m.heartbeat_age < DEAD and m.heard_as == "alive"
               for m in before.members)

    pack.kill9(leader)

    def moved_on() -> bool:
        sample = recorder.sample()
        gone = sample.member(leader)
        return sample.leader not in (None, leader) and gone is not None and gone.status == "Offline"

    pack.wait_until(moved_on, 15, interval=0.05, what=f"{leader} Offline and a new leader")
    timeline = recorder.timeline
    change = timeline.leader_changes()[-1]
    assert change.previous == leader and change.leader not in (None, leader) and change.term > before.term
    last = timeline[-1].member(leader)
    assert last.heartbeat_age >= DEAD and last.heard_as in ("suspect", "dead")
    figure = timeline.plot()
    rows = figure.axes[0]
    assert [label.get_text() for label in rows.get_yticklabels()] == ["node3", "node2", "node1"]
    assert len([line for line in rows.get_lines() if line.get_gid() == "leader-change"]) == len(
        timeline.leader_changes())
    pyplot.close(figure)
