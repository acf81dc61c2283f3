"""Which version of the pack document a majority holds: the leader's count (sans-IO).

A follower confirms a version by naming its term, its number and its digest. The leader
counts a confirmation of version V only when it names a version of the leader's own term
at or above V whose digest is the one the leader issued under that number: two documents
can never be confused, even if a bug or a restart made two of them with one number. Only
versions of the current term are counted (a version of an older term is committed when a
version of this term is), as in Raft.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CommitTracker:
    term: int = 0
    issued: dict = field(default_factory=dict)     # version -> digest, this term
    acks: dict = field(default_factory=dict)       # member -> (term, version, digest)
    rounds: dict = field(default_factory=dict)     # member -> the last leadership round it answered

    def lead(self, term: int) -> None:
        """A new term: what was issued and confirmed before counts no more."""
        if term != self.term:
            self.term, self.issued = term, {}

    def issue(self, version: int, digest: str) -> None:
        self.issued[version] = digest

    def confirm(self, member: str, term: int, version: int, digest: str) -> None:
        """``member`` holds (term, version, digest) on disk."""
        self.acks[member] = (term, version, digest)

    def answered(self, member: str, round_: int) -> None:
        """``member`` answered our leadership round ``round_``: it followed us when the
        question reached it (a member follows one leader, and answers only its own)."""
        if round_ > self.rounds.get(member, 0):
            self.rounds[member] = round_

    def holds(self, member: str, version: int) -> bool:
        term, held, digest = self.acks.get(member, (0, 0, ""))
        return term == self.term and held >= version and self.issued.get(held) == digest

    def holders(self, version: int, live) -> list:
        """The live members (not counting the leader) that confirmed ``version`` or newer."""
        return [member for member in live if self.holds(member, version)]

    def committable(self, live, quorum: int, own: int) -> int | None:
        """The newest issued version a quorum holds (``own``: the newest the leader itself
        has on disk), or None."""
        for version in sorted(self.issued, reverse=True):
            if version <= own and len(self.holders(version, live)) + 1 >= quorum:
                return version
        return None

    def followers_since(self, round_: int, live) -> int:
        """Live members (not counting the leader) that answered round ``round_`` or a later one."""
        return sum(1 for member in live if self.rounds.get(member, 0) >= round_)

    def forget_below(self, version: int) -> None:
        for number in [n for n in self.issued if n < version]:
            del self.issued[number]
