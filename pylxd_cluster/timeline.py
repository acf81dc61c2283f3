"""A picture of a cluster over time: each member's status and heartbeat age, and the leader,
sampled at intervals.

Collecting and drawing are apart. :class:`Timeline` holds the samples and answers questions
about them (:meth:`~Timeline.leader_changes`, a member's statuses, a table); the samples are
built from models by :meth:`Sample.from_models` (no I/O); :class:`TimelineRecorder` and
:func:`sample_cluster` read them from a client; :meth:`Timeline.plot` draws them with
matplotlib (the ``plot`` extra, :mod:`pylxd_cluster.plotting`)::

    >>> timeline = sample_cluster(client, duration=60, interval=2)
    >>> timeline.leader_changes()
    >>> timeline.plot()

Where each part comes from:

- the status, message and roles of every member: ``client.cluster.members.all()``, one
  request a sample;
- the leader: the member holding the ``database-leader`` role (LXD, Incus and the pack
  daemon all show it), else what a pack daemon's member state names;
- the heartbeat age, in seconds: on a pack daemon, its member state (``pack.members``: how
  long ago the member the client is connected to last heard each other member; with
  ``views="all"`` the freshest of what every member reports); on LXD and Incus, which say
  nothing of an Online member's heartbeat, the age an Offline member's message gives
  (``No heartbeat for 1m2.5s (...)``).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import attrs

from pylxd_cluster.display import Html, html_table, natural_key, status_html, text_table
from pylxd_cluster.exceptions import ClusterError

__all__ = ["MemberSample", "Sample", "LeaderChange", "Timeline", "TimelineRecorder", "sample_cluster",
           "heartbeat_age_from_message", "LEADER_ROLE"]

#: The role that marks the leader in a member's ``roles``.
LEADER_ROLE = "database-leader"

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ns": 1e-9}
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ms|us|\u00b5s|\u03bcs|ns|h|m|s)")
_NO_HEARTBEAT = re.compile(r"No heartbeat for ((?:\d+(?:\.\d*)?(?:ms|us|\u00b5s|\u03bcs|ns|h|m|s))+)")


def heartbeat_age_from_message(message: str) -> float | None:
    """The seconds since the last heartbeat that LXD's (and Incus's) message of an Offline
    member gives (``No heartbeat for 1m2.5s (2026-01-01 ...)``: 62.5), or None."""
    match = _NO_HEARTBEAT.search(message or "")
    if match is None:
        return None
    return sum(float(number) * _UNITS[unit] for number, unit in _GO_DURATION.findall(match.group(1)))


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


@attrs.frozen
class MemberSample:
    """One member at one sample: its ``status`` (Online, Offline, Evacuated, Blocked ...),
    ``message`` and ``roles``; ``heartbeat_age`` in seconds, None where the server does not
    say; ``heard_as``: the pack's word for it (alive, suspect, dead, left), "" without a pack."""

    name: str
    status: str
    message: str = ""
    roles: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    heartbeat_age: float | None = None
    heard_as: str = ""

    @property
    def leads(self) -> bool:
        """Whether it holds the leader's role."""
        return LEADER_ROLE in self.roles


@attrs.frozen
class Sample:
    """The cluster at one moment (``at``, a UTC datetime): every member (natural order),
    the ``leader`` (None: no member leads, or the sample failed), the pack's leader ``term``
    where a pack daemon says, and ``error``: why this sample has no members (the server did
    not answer), "" otherwise."""

    at: datetime = attrs.field(converter=_as_utc)
    members: tuple[MemberSample, ...] = attrs.field(default=(), converter=tuple)
    leader: str | None = None
    term: int | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether the server answered."""
        return not self.error

    def member(self, name: str) -> MemberSample | None:
        """The member called ``name`` in this sample, or None (not a member then)."""
        return next((member for member in self.members if member.name == name), None)

    @classmethod
    def from_models(cls, at: datetime, members: Iterable[Any], states: Mapping[str, Any] | None = None) -> Sample:
        """A sample from what the API gave: ``members`` (:class:`~pylxd_cluster.ClusterMember`
        models, from ``members.all()``) and ``states`` (member name to its
        :class:`~pylxd_cluster.MemberState`, for those whose state was read; only the ``pack``
        part is used). No I/O.

        Each member's heartbeat age is the freshest that any member's pack reports of it, else
        what its Offline message says. The leader holds ``database-leader``; if none does, the
        leader most packs name.
        """
        packs = [state.pack for state in (states or {}).values() if getattr(state, "pack", None) is not None]
        heard: dict[str, tuple[float, str]] = {}
        for pack in packs:
            for name, info in pack.members.items():
                if not isinstance(info, Mapping) or not isinstance(info.get("last_heard_seconds"), (int, float)):
                    continue
                age = float(info["last_heard_seconds"])
                if name not in heard or age < heard[name][0]:
                    heard[name] = (age, str(info.get("status") or ""))
        samples = []
        for member in sorted(members, key=lambda m: natural_key(m.server_name)):
            age, word = heard.get(member.server_name, (None, ""))
            if age is None and member.status == "Offline":
                age = heartbeat_age_from_message(member.message)
            samples.append(MemberSample(member.server_name, member.status, member.message, member.roles, age, word))
        leader = next((m.name for m in samples if m.leads), None)
        if leader is None:
            named = Counter(pack.leader for pack in packs if pack.leader)
            if named:
                leader = min(named.items(), key=lambda item: (-item[1], natural_key(item[0])))[0]
        term = max((pack.term for pack in packs), default=None)
        return cls(at, tuple(samples), leader, term)

    @classmethod
    def failed(cls, at: datetime, error: str) -> Sample:
        """A sample the server did not answer (``error`` says why)."""
        return cls(at, (), None, None, error or "no answer")


@attrs.frozen
class LeaderChange:
    """The leader changed between two answered samples: ``previous`` led until the sample
    before, ``leader`` (None: no member) leads from the sample taken ``at``."""

    at: datetime
    leader: str | None
    previous: str | None
    term: int | None = None


@attrs.frozen
class Timeline:
    """Samples of a cluster, oldest first (a sequence: ``len``, index, iterate).

    Build it with :func:`sample_cluster` or a :class:`TimelineRecorder`, or from
    :class:`Sample` objects. It renders as an HTML table in Jupyter (the samples at which a
    status or the leader changed) and draws with :meth:`plot`.
    """

    samples: tuple[Sample, ...] = attrs.field(default=(), converter=tuple)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]

    def append(self, sample: Sample) -> Timeline:
        """A new timeline with ``sample`` at the end (timelines are frozen)."""
        return Timeline(self.samples + (sample,))

    @property
    def start(self) -> datetime | None:
        """When the first sample was taken."""
        return self.samples[0].at if self.samples else None

    @property
    def end(self) -> datetime | None:
        """When the last sample was taken."""
        return self.samples[-1].at if self.samples else None

    @property
    def members(self) -> tuple[str, ...]:
        """Every member seen in any sample, in natural order (node2 before node10)."""
        names = {member.name for sample in self.samples for member in sample.members}
        return tuple(sorted(names, key=natural_key))

    def offsets(self) -> list[float]:
        """Each sample's time in seconds since the first."""
        start = self.start
        return [(sample.at - start).total_seconds() for sample in self.samples] if start else []

    def statuses(self, name: str) -> list[str | None]:
        """The member's status at each sample (None: not a member then, or no answer)."""
        return [getattr(sample.member(name), "status", None) for sample in self.samples]

    def heartbeat_ages(self, name: str) -> list[float | None]:
        """The member's heartbeat age in seconds at each sample (None where unknown)."""
        return [getattr(sample.member(name), "heartbeat_age", None) for sample in self.samples]

    def leaders(self) -> list[str | None]:
        """The leader at each sample (None: no member led, or no answer)."""
        return [sample.leader for sample in self.samples]

    def leader_changes(self) -> list[LeaderChange]:
        """Every change of leader between answered samples, oldest first. The first answered
        sample's leader is not a change; failed samples are skipped (the leader is not known
        then, not gone)."""
        changes: list[LeaderChange] = []
        previous: Sample | None = None
        for sample in self.samples:
            if not sample.ok:
                continue
            if previous is not None and sample.leader != previous.leader:
                changes.append(LeaderChange(sample.at, sample.leader, previous.leader, sample.term))
            previous = sample
        return changes

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per member and sample (``at``, ``seconds``, ``member``, ``status``,
        ``heartbeat_age``, ``leader``, ``leads``), e.g. for ``pandas.DataFrame``; a failed
        sample gives one record with ``error`` and no member."""
        records: list[dict[str, Any]] = []
        for seconds, sample in zip(self.offsets(), self.samples):
            if not sample.ok:
                records.append({"at": sample.at, "seconds": seconds, "member": None, "status": None,
                                "heartbeat_age": None, "leader": None, "leads": False, "error": sample.error})
            for member in sample.members:
                records.append({"at": sample.at, "seconds": seconds, "member": member.name, "status": member.status,
                                "heartbeat_age": member.heartbeat_age, "leader": sample.leader,
                                "leads": member.name == sample.leader, "error": ""})
        return records

    def _changed_rows(self) -> list[int]:
        """The samples shown in a table: the first, the last, and every one at which a status,
        the leader or whether the server answered changed."""
        shown: list[int] = []
        last_key = None
        for index, sample in enumerate(self.samples):
            key = (sample.ok, sample.leader, tuple((m.name, m.status) for m in sample.members))
            if key != last_key or index == len(self.samples) - 1:
                shown.append(index)
            last_key = key
        return shown

    def _cells(self, sample: Sample, name: str) -> tuple[str, float | None]:
        member = sample.member(name)
        if member is None:
            return "", None
        return member.status, member.heartbeat_age

    def _summary(self) -> str:
        if not self.samples:
            return "Cluster timeline: no samples"
        span = self.offsets()[-1]
        changes = len(self.leader_changes())
        return (f"Cluster timeline: {len(self.samples)} samples over {span:.1f} s from "
                f"{self.start:%Y-%m-%d %H:%M:%S} UTC, {changes} leader change{'' if changes == 1 else 's'}")

    def table(self) -> str:
        """A text table: a row per sample at which something changed (and the first and last),
        a column per member with its status and, where known, its heartbeat age."""
        members = self.members
        offsets = self.offsets()
        rows = []
        for index in self._changed_rows():
            sample = self.samples[index]
            cells = []
            for name in members:
                status, age = self._cells(sample, name)
                cells.append(status + (f" ({age:.1f}s)" if age is not None else ""))
            rows.append([f"{offsets[index]:.1f}", sample.leader or ("(no answer)" if not sample.ok else ""), *cells])
        return self._summary() + "\n" + text_table(("SECONDS", "LEADER", *(n.upper() for n in members)), rows)

    def _repr_html_(self) -> Html:
        members = self.members
        offsets = self.offsets()
        rows = []
        for index in self._changed_rows():
            sample = self.samples[index]
            cells: list[Any] = []
            for name in members:
                status, age = self._cells(sample, name)
                text = status_html(status) if status else ""
                if age is not None:
                    text += f" {age:.1f}&#8239;s"
                cells.append(Html(text))
            leader = sample.leader or ""
            if not sample.ok:
                leader = Html('<span style="color:#c62828">no answer</span>')
            rows.append([f"{offsets[index]:.1f}", f"{sample.at:%H:%M:%S}", leader, *cells])
        caption = self._summary() + " (rows: the samples at which a status or the leader changed)"
        return html_table(("SECONDS", "TIME (UTC)", "LEADER", *members), rows, caption=caption)

    def plot(self, ax: Any = None, **options: Any) -> Any:
        """Draw the timeline with matplotlib; returns the Figure. See
        :func:`pylxd_cluster.plotting.plot_timeline` (``ax``, ``heartbeat_ax``, ``title``).

        Raises:
            ImportError: matplotlib is not installed (``pip install 'pylxd-cluster[plot]'``).
        """
        from pylxd_cluster.plotting import plot_timeline

        return plot_timeline(self, ax=ax, **options)


def _now(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), timezone.utc)


class TimelineRecorder:
    """Takes samples of a cluster through ``client`` and keeps them (:attr:`timeline`).

    ``member_state``: read member state for a pack daemon's view (heartbeat ages, its leader
    and term): True always (where the server has the API extension ``cluster_member_state``),
    False never, None (default) at the first sample, and from then on only if a member's
    state had a ``pack`` part (LXD and Incus have none: asking them would cost a request a
    sample for nothing). ``views``: whose state to read: ``"local"`` (default) the member the
    client is connected to, which hears every other member (one request a sample);
    ``"all"`` every member not Offline, which also gives the local member's heartbeat as
    the others hear it (a request per member; a pack daemon forwards them to members that
    serve a TCP API, and answers 503 for the others, which the client retries).
    ``clock``: seconds since the epoch (``time.time``), for the samples' times.

    Raises:
        ValueError: ``views`` is neither ``"local"`` nor ``"all"``.
    """

    def __init__(self, client: Any, *, member_state: bool | None = None, views: str = "local",
                 clock: Callable[[], float] = time.time):
        if views not in ("local", "all"):
            raise ValueError(f'views must be "local" or "all", not {views!r}')
        self.client = client
        self.clock = clock
        self.member_state = member_state
        self.views = views
        self.timeline = Timeline()

    def _wants_state(self) -> bool:
        if self.member_state is False:
            return False
        has = getattr(self.client, "has_api_extension", None)
        return has is None or bool(has("cluster_member_state"))

    def _asked(self, members: Sequence[Any]) -> list[str]:
        """Whose state to read: not an Offline member's (it answers 503)."""
        reachable = [member.server_name for member in members if member.status != "Offline"]
        local = getattr(self.client, "server_name", "")
        if self.views == "local" and local in reachable:
            return [local]
        return reachable if self.views == "all" else []

    def _states(self, members: Sequence[Any]) -> dict[str, Any]:
        states: dict[str, Any] = {}
        for name in self._asked(members):
            try:
                states[name] = self.client.cluster.members.state(name)
            except ClusterError:
                continue   # not served (LXD 5.0), or the member went away meanwhile
        if self.member_state is None and states:
            # Decided once: keep asking only a server whose member state has a pack part.
            self.member_state = any(getattr(state, "pack", None) is not None for state in states.values())
        return states

    def sample(self) -> Sample:
        """Take one sample now and add it to :attr:`timeline`; a server that does not answer
        gives a failed sample (:attr:`Sample.error`), not an exception."""
        at = _now(self.clock)
        try:
            members = self.client.cluster.members.all()
        except ClusterError as exc:
            sample = Sample.failed(at, f"{type(exc).__name__}: {exc}")
        else:
            states = self._states(members) if self._wants_state() else {}
            sample = Sample.from_models(at, members, states)
        self.timeline = self.timeline.append(sample)
        return sample


def sample_cluster(client: Any, duration: float = 60.0, interval: float = 1.0, *,
                   progress: Callable[[Timeline], Any] | None = None, member_state: bool | None = None,
                   views: str = "local", clock: Callable[[], float] = time.time,
                   sleep: Callable[[float], Any] = time.sleep) -> Timeline:
    """Sample the cluster every ``interval`` seconds for ``duration`` seconds (the first
    sample at once, the last at or before ``duration``); return the :class:`Timeline`.

    ``progress(timeline)`` is called after each sample with the timeline so far (to print,
    or to act on the cluster at a given sample). A sample late by more than an interval
    skips the ticks it missed rather than bunching up. Interrupting (Ctrl-C in a notebook)
    returns what was recorded so far. ``member_state`` and ``views``: see
    :class:`TimelineRecorder`.
    ``clock`` (seconds since the epoch) and ``sleep`` are the wall clock's unless given, so
    that a test can drive the sampling without waiting.

    Raises:
        ValueError: ``interval`` is not positive, ``duration`` is negative, or ``views`` is
            neither ``"local"`` nor ``"all"``.
    """
    if not interval > 0:
        raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
    if not duration >= 0:
        raise ValueError(f"duration must be zero or more seconds, not {duration!r}")
    recorder = TimelineRecorder(client, member_state=member_state, views=views, clock=clock)
    start = clock()
    ticks = int(duration / interval + 1e-9)   # samples after the first (1.0 // 0.1 would be 9)
    tick = 0
    try:
        while True:
            recorder.sample()
            if progress is not None:
                progress(recorder.timeline)
            # The next tick not yet passed (a slow sample skips the ones it missed).
            tick = max(tick + 1, int((clock() - start) / interval + 1e-9) + 1)
            if tick > ticks:
                break
            delay = start + tick * interval - clock()
            if delay > 0:
                sleep(delay)
    except KeyboardInterrupt:
        pass
    return recorder.timeline
