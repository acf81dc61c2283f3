"""Plotting a timeline (pylxd_cluster.plotting, the ``plot`` extra) on matplotlib's Agg backend,
and the message when matplotlib is not installed."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

import matplotlib  # the test extra has the plot extra's matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as pyplot  # noqa: E402  (after choosing the backend)

from pylxd_cluster.plotting import LEADER_CHANGE_GID, LEADER_GID, plot_timeline  # noqa: E402
from pylxd_cluster.timeline import MemberSample, Sample, Timeline  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    pyplot.close("all")


def sample(seconds: float, leader: str | None, statuses: dict, ages: dict | None = None) -> Sample:
    ages = ages or {}
    return Sample(T0 + timedelta(seconds=seconds),
                  [MemberSample(name, status, roles=["database-leader"] if name == leader else [],
                                heartbeat_age=ages.get(name)) for name, status in statuses.items()], leader)


def three_members(with_ages: bool = True) -> Timeline:
    """node1 leads, node3 goes Offline, node2 leads, node1 leads again; node3 comes back."""
    rows = []
    for second in range(8):
        leader = "node1" if second < 3 or second >= 6 else "node2"
        offline = 2 <= second < 5
        statuses = {"node1": "Online", "node2": "Evacuated" if second == 7 else "Online",
                    "node3": "Offline" if offline else "Online"}
        ages = {"node3": 20.0 + second} if offline and with_ages else {}
        rows.append(sample(second, leader, statuses, ages))
    return Timeline(rows)


def leader_lines(axes) -> list:
    return [line for line in axes.get_lines() if line.get_gid() == LEADER_CHANGE_GID]


def test_a_row_per_member_and_a_line_per_leader_change_on_both_subplots():
    timeline = three_members()
    assert len(timeline.leader_changes()) == 2
    figure = timeline.plot()
    assert isinstance(figure, matplotlib.figure.Figure)
    rows, heartbeat = figure.axes
    assert [label.get_text() for label in rows.get_yticklabels()] == ["node3", "node2", "node1"]   # node1 on top
    assert [line.get_xdata()[0] for line in leader_lines(rows)] == [3.0, 6.0]
    assert [line.get_xdata()[0] for line in leader_lines(heartbeat)] == [3.0, 6.0]
    labels = [text.get_text() for text in rows.texts]
    assert labels == ["leader: node2", "leader: node1"]
    # The status bands, in the status colours; the leader's strip on its own row.
    colours = {matplotlib.colors.to_hex(band.get_facecolor()[0]) for band in rows.collections
               if band.get_gid() != LEADER_GID}
    assert colours == {"#2e7d32", "#c62828", "#ef6c00"}      # Online, Offline, Evacuated as in the HTML
    assert len([c for c in rows.collections if c.get_gid() == LEADER_GID]) == 3   # node1, node2, node1 again
    legend = [text.get_text() for text in rows.get_legend().get_texts()]
    assert legend == ["Online", "Offline", "Evacuated", "leads", "leader change"]
    # The heartbeat age of node3, the one member whose age is known, as a line.
    ages = [line for line in heartbeat.get_lines() if line.get_gid() != LEADER_CHANGE_GID]
    assert [line.get_label() for line in ages] == ["node3"]
    assert heartbeat.get_xlabel() == "seconds since 2026-01-01 00:00:00 UTC"


def test_without_any_heartbeat_age_there_is_one_axes_and_on_given_axes_it_draws_there():
    figure = three_members(with_ages=False).plot()
    assert len(figure.axes) == 1 and len(leader_lines(figure.axes[0])) == 2
    own, ax = pyplot.subplots()
    assert plot_timeline(three_members(), ax, title="mine") is own
    assert ax.get_title(loc="left") == "mine" and len(own.axes) == 1   # no heartbeat axes given: none drawn
    own, (ax, beats) = pyplot.subplots(2, 1)
    three_members().plot(ax, heartbeat_ax=beats)
    assert len(leader_lines(beats)) == 2 and beats.get_ylabel() == "heartbeat age (s)"


def test_members_absent_and_failed_samples_leave_gaps_and_an_empty_timeline_plots():
    timeline = Timeline([sample(0, "node1", {"node1": "Online"}), Sample.failed(T0 + timedelta(seconds=1), "down"),
                         sample(2, "node1", {"node1": "Online", "node2": "Blocked"})])
    figure = timeline.plot()
    rows = figure.axes[0]
    assert [label.get_text() for label in rows.get_yticklabels()] == ["node2", "node1"]
    assert leader_lines(rows) == []       # the failed sample is not a change
    assert len(Timeline().plot().axes) == 1


def test_the_plot_extra_is_named_when_matplotlib_is_missing(monkeypatch):
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # "import matplotlib" raises ImportError
    timeline = three_members()
    assert "NODE3" in timeline.table()                       # the rest of a timeline needs no matplotlib
    with pytest.raises(ImportError, match=r"needs matplotlib.*pip install 'pylxd-cluster\[plot\]'"):
        timeline.plot()
