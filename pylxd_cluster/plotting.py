"""Drawing a :class:`~pylxd_cluster.timeline.Timeline` with matplotlib (the ``plot`` extra:
``pip install 'pylxd-cluster[plot]'``). matplotlib is imported when a plot is drawn, so the
SDK imports without it.

The picture: one row per member, its status over time as coloured bands (the colours of
the HTML tables, :data:`~pylxd_cluster.display.STATUS_COLOURS`) with a dark strip while it
leads; below, each member's heartbeat age as a line where the server says it; a dashed
vertical line at each leader change, labelled with the new leader.
"""

from __future__ import annotations

from statistics import median
from typing import Any

from pylxd_cluster.display import STATUS_COLOURS, status_colour

__all__ = ["plot_timeline", "PLOT_EXTRA", "LEADER_CHANGE_GID", "LEADER_GID"]

#: What to install for plotting.
PLOT_EXTRA = "pip install 'pylxd-cluster[plot]'"
#: The ``gid`` of the leader-change lines (one per change and per axes), to find them in a figure.
LEADER_CHANGE_GID = "leader-change"
#: The ``gid`` of the strips that mark who leads.
LEADER_GID = "leader"

_LEADER_COLOUR = "#212121"
_CHANGE_COLOUR = "#37474f"


def _matplotlib() -> Any:
    """matplotlib.pyplot, or an ImportError that says what to install."""
    try:
        import matplotlib.pyplot as pyplot
    except ImportError as exc:
        raise ImportError(f"plotting a cluster timeline needs matplotlib, which is not installed: {PLOT_EXTRA}") \
            from exc
    return pyplot


def _runs(values: list[Any]) -> list[tuple[int, int, Any]]:
    """(first index, index after the last, value) of each run of equal values."""
    runs: list[tuple[int, int, Any]] = []
    for index, value in enumerate(values):
        if runs and runs[-1][2] == value:
            runs[-1] = (runs[-1][0], index + 1, value)
        else:
            runs.append((index, index + 1, value))
    return runs


def plot_timeline(timeline: Any, ax: Any = None, *, heartbeat_ax: Any = None, title: str | None = None) -> Any:
    """Draw ``timeline``; return the matplotlib Figure.

    Without ``ax`` a new figure (pyplot's) gets the status rows and, if any heartbeat age is
    known, a heartbeat subplot beneath sharing the time axis. With ``ax`` the rows go there,
    and the heartbeat lines on ``heartbeat_ax`` if given (none otherwise). The x axis is
    seconds since the first sample. Each sample's band lasts until the next sample (the last
    one for the usual interval). Leader-change lines have the gid
    :data:`LEADER_CHANGE_GID`.

    Raises:
        ImportError: matplotlib is not installed (``pip install 'pylxd-cluster[plot]'``).
    """
    pyplot = _matplotlib()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    members = timeline.members
    offsets = timeline.offsets()
    ages = {name: timeline.heartbeat_ages(name) for name in members}
    has_ages = any(age is not None for series in ages.values() for age in series)
    if ax is None:
        height = 1.2 + 0.45 * max(len(members), 1)
        if has_ages:
            figure, (ax, heartbeat_ax) = pyplot.subplots(
                2, 1, sharex=True, figsize=(9, height + 2.2), gridspec_kw={"height_ratios": [height, 2.2]},
                layout="constrained")
        else:
            figure, ax = pyplot.subplots(figsize=(9, height), layout="constrained")
    figure = ax.figure

    steps = [b - a for a, b in zip(offsets, offsets[1:])]
    step = median(steps) if steps else 1.0
    ends = offsets[1:] + [offsets[-1] + step] if offsets else []
    seen_statuses: list[str] = []
    leads_somewhere = False
    for row, name in enumerate(members):
        y = len(members) - 1 - row     # the first member on top
        for first, after, status in _runs(timeline.statuses(name)):
            if status is None:
                continue
            if status not in seen_statuses:
                seen_statuses.append(status)
            ax.broken_barh([(offsets[first], ends[after - 1] - offsets[first])], (y - 0.35, 0.7),
                           facecolors=status_colour(status), edgecolors="none")
        leading = [sample.ok and sample.leader == name for sample in timeline.samples]
        for first, after, leads in _runs(leading):
            if leads:
                leads_somewhere = True
                ax.broken_barh([(offsets[first], ends[after - 1] - offsets[first])], (y + 0.25, 0.1),
                               facecolors=_LEADER_COLOUR, edgecolors="none", gid=LEADER_GID)
    ax.set_yticks(range(len(members)), list(reversed(members)))
    ax.set_ylim(-0.6, len(members) - 0.4)
    if offsets:
        ax.set_xlim(0, ends[-1])
    ax.set_ylabel("member")
    ax.grid(axis="x", alpha=0.3)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)

    axes = [ax]
    if heartbeat_ax is not None:
        axes.append(heartbeat_ax)
        for name in members:
            series = ages[name]
            if any(age is not None for age in series):
                heartbeat_ax.plot(offsets, [float("nan") if age is None else age for age in series], marker=".",
                                  label=name)
        heartbeat_ax.set_ylabel("heartbeat age (s)")
        heartbeat_ax.set_ylim(bottom=0)
        heartbeat_ax.grid(alpha=0.3)
        if heartbeat_ax.get_legend_handles_labels()[0]:
            heartbeat_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)

    for change in timeline.leader_changes():
        x = (change.at - timeline.start).total_seconds()
        for axis in axes:
            axis.axvline(x, color=_CHANGE_COLOUR, linestyle="--", linewidth=1.2, gid=LEADER_CHANGE_GID)
        ax.annotate(f"leader: {change.leader or 'none'}", (x, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, 2), textcoords="offset points", fontsize="small", color=_CHANGE_COLOUR,
                    va="bottom")

    order = [status for status in STATUS_COLOURS if status in seen_statuses]
    order += [status for status in seen_statuses if status not in order]
    handles = [Patch(facecolor=status_colour(status), label=status) for status in order]
    if leads_somewhere:
        handles.append(Patch(facecolor=_LEADER_COLOUR, label="leads"))
    if timeline.leader_changes():
        handles.append(Line2D([], [], color=_CHANGE_COLOUR, linestyle="--", label="leader change"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    start = timeline.start
    axes[-1].set_xlabel(f"seconds since {start:%Y-%m-%d %H:%M:%S} UTC" if start else "seconds")
    if title is None:
        title = "Cluster members over time"
    if title:
        ax.set_title(title, loc="left", pad=14 if timeline.leader_changes() else 6)
    return figure
