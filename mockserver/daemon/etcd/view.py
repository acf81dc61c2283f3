"""What a member makes of the pack's keys in etcd: who is there and who leads. Sans-IO: it
is fed key-value snapshots and watch events (as plain values), and returns what changed.

* A member is **alive** while its ``members/<name>`` key exists (it is under the member's
  lease). A new ``started`` in its record is a restart.
* When the key goes, the member **left** if its ``left/<name>`` marker is newer than the
  record, else it **failed** (its lease expired: no renewal for a TTL).
* What a member **reaches** (``reach/<name>``: monitor address -> reachable) is kept for
  the leader's placement of service groups.
* The **leader** is the owner of the candidacy with the lowest create_revision under
  ``election/``, and that revision is the **term**: terms only grow, and two leaders never
  share one.
"""
from __future__ import annotations

import json
from typing import Iterable

import attrs

__all__ = ["MemberRecord", "MemberChange", "LeaderChange", "PackView", "ALIVE", "LEFT", "FAILED"]

ALIVE, LEFT, FAILED = "alive", "left", "failed"


@attrs.frozen
class MemberRecord:
    """What a member publishes about itself in ``members/<name>``."""

    name: str
    api: str = ""          # its LXD API (http(s)://host:port), or ""
    address: str = ""      # how LXD shows it (host:port)
    started: int = 0       # when this run started (ms since the epoch): a new one is a restart

    def to_bytes(self) -> bytes:
        return json.dumps(attrs.asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> MemberRecord:
        """Raises: ValueError for anything that is not a record."""
        value = json.loads(data)
        if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
            raise ValueError(f"not a member record: {data[:100]!r}")
        return cls(name=value["name"], api=str(value.get("api") or ""), address=str(value.get("address") or ""),
                   started=int(value.get("started") or 0))


@attrs.frozen
class MemberChange:
    """A member became ``status`` (ALIVE, LEFT or FAILED); ``restarted``: alive again with a
    new run."""

    name: str
    status: str
    record: MemberRecord
    restarted: bool = False


@attrs.frozen
class LeaderChange:
    leader: str          # "" when nobody stands
    term: int
    previous: str


@attrs.frozen
class _Candidacy:
    key: bytes
    name: str
    create_revision: int


class PackView:
    """The members and the leader, as the keys under the pack's directory say."""

    def __init__(self) -> None:
        self.records: dict[str, MemberRecord] = {}
        self._record_revision: dict[str, int] = {}
        self._left_revision: dict[str, int] = {}
        self._candidacies: dict[bytes, _Candidacy] = {}
        self.leader = ""
        self.leader_key = b""   # the leading candidacy's key
        self.term = 0
        self.bad_records = 0   # member keys whose value is not a record (dropped, counted)
        self.holders: dict[str, str] = {}   # service group -> the member holding its key
        self.reach: dict[str, dict[str, bool]] = {}   # member -> {monitor address: reachable}

    def alive(self) -> list[str]:
        return sorted(self.records)

    # ---- members ----------------------------------------------------------------------------

    def member_put(self, name: str, value: bytes, mod_revision: int) -> list[MemberChange]:
        try:
            record = MemberRecord.from_bytes(value)
        except ValueError:
            self.bad_records += 1
            return []
        if record.name != name:
            self.bad_records += 1
            return []
        previous = self.records.get(name)
        self.records[name] = record
        self._record_revision[name] = mod_revision
        if previous is None:
            return [MemberChange(name, ALIVE, record)]
        if previous.started != record.started:
            return [MemberChange(name, ALIVE, record, restarted=True)]
        return []

    def member_deleted(self, name: str, revision: int) -> list[MemberChange]:
        record = self.records.pop(name, None)
        if record is None:
            return []
        left = self._left_revision.get(name, 0) > self._record_revision.pop(name, 0)
        return [MemberChange(name, LEFT if left else FAILED, record)]

    def left_put(self, name: str, mod_revision: int) -> None:
        self._left_revision[name] = mod_revision

    def left_deleted(self, name: str) -> None:
        self._left_revision.pop(name, None)

    # ---- leadership -------------------------------------------------------------------------

    def candidacy_put(self, key: bytes, name: str, create_revision: int) -> list[LeaderChange]:
        self._candidacies[key] = _Candidacy(key, name, create_revision)
        return self._elect()

    def candidacy_deleted(self, key: bytes) -> list[LeaderChange]:
        self._candidacies.pop(key, None)
        return self._elect()

    def candidates(self) -> list[tuple[str, int]]:
        """(name, create_revision) of every candidacy, lowest first."""
        return [(c.name, c.create_revision) for c in sorted(self._candidacies.values(),
                                                            key=lambda c: c.create_revision)]

    def predecessor(self, key: bytes) -> bytes | None:
        """The candidacy just before ``key`` (the one it waits on), or None if it leads."""
        mine = self._candidacies.get(key)
        if mine is None:
            return None
        before = [c for c in self._candidacies.values() if c.create_revision < mine.create_revision]
        return max(before, key=lambda c: c.create_revision).key if before else None

    def _elect(self) -> list[LeaderChange]:
        first = min(self._candidacies.values(), key=lambda c: c.create_revision, default=None)
        leader, term = (first.name, first.create_revision) if first is not None else ("", self.term)
        self.leader_key = first.key if first is not None else b""
        if (leader, term) == (self.leader, self.term):
            return []
        previous, self.leader, self.term = self.leader, leader, term
        return [LeaderChange(leader, term, previous)]

    # ---- service-group keys ------------------------------------------------------------------

    def group_put(self, group: str, holder: str) -> None:
        self.holders[group] = holder

    def group_deleted(self, group: str) -> bool:
        """Whether a key was held (a claim waiting for it may go now)."""
        return self.holders.pop(group, None) is not None

    # ---- what members reach ---------------------------------------------------------------------

    def reach_put(self, name: str, value: bytes) -> dict[str, bool] | None:
        """The member's new report, or None if it did not change or is not a report (dropped,
        counted in ``bad_records``)."""
        try:
            report = json.loads(value)
        except ValueError:
            report = None
        if not isinstance(report, dict) or not all(isinstance(k, str) and isinstance(v, bool)
                                                   for k, v in report.items()):
            self.bad_records += 1
            return None
        if self.reach.get(name) == report:
            return None
        self.reach[name] = report
        return report

    def reach_deleted(self, name: str) -> None:
        self.reach.pop(name, None)

    # ---- snapshots ------------------------------------------------------------------------------

    def load(self, members: Iterable[tuple[str, bytes, int]], departures: Iterable[tuple[str, int]],
             candidacies: Iterable[tuple[bytes, str, int]], holders: Iterable[tuple[str, str]] = (),
             reaches: Iterable[tuple[str, bytes]] = ()) -> list:
        """Replace the view with a snapshot (at start, after a compaction or a lost watch):
        ``(name, value, mod_revision)`` of ``members/``, ``(name, mod_revision)`` of ``left/``,
        ``(key, name, create_revision)`` of ``election/``, ``(group, holder)`` of ``groups/``,
        ``(name, value)`` of ``reach/``. Returns the changes from the view before (members
        gone while nobody watched are FAILED or LEFT as their markers say); the reports are
        in :attr:`reach`."""
        self._left_revision = {name: revision for name, revision in departures}
        self.holders = dict(holders)
        self.reach = {}
        for name, value in reaches:
            self.reach_put(name, value)
        changes: list = []
        seen = set()
        for name, value, revision in members:
            seen.add(name)
            changes += self.member_put(name, value, revision)
        for name in [name for name in self.records if name not in seen]:
            changes += self.member_deleted(name, 0)
        self._candidacies = {key: _Candidacy(key, name, revision) for key, name, revision in candidacies}
        return changes + self._elect()
