"""What a pack node returns: datagrams to send, and what changed (its effects)."""
from __future__ import annotations

from dataclasses import dataclass

from mockserver.daemon.protocol.messages import MemberRecord, Status


@dataclass(frozen=True)
class Send:
    """Send ``datagram`` to ``to``: a (host, port), BROADCAST or MULTICAST."""

    datagram: bytes
    to: object


@dataclass(frozen=True)
class MemberChange:
    """``member`` changed: it is new, its status changed, or it restarted."""

    member: MemberRecord
    previous: Status | None
    restarted: bool = False
    why: str = ""          # what made this member decide so, when it is not a rumour it heard


@dataclass(frozen=True)
class MemberForgotten:
    """``member`` (dead or gone, and no longer proposed by discovery) left the member list."""

    member: MemberRecord
    why: str


@dataclass(frozen=True)
class LeaderChange:
    leader: str        # "" when the pack has no leader (no quorum, or none elected yet)
    term: int
    previous: str


@dataclass(frozen=True)
class PersistTerm:
    """Write ``term`` and ``voted_for`` (whom this member voted for in it) to disk before
    carrying out the effects that follow: a member that forgot its vote could vote twice
    in one term after a restart."""

    term: int
    voted_for: str


@dataclass(frozen=True)
class LeaderConflict:
    """Several static leaders are alive at once (``leaders``); empty when it is resolved."""

    leaders: tuple


@dataclass(frozen=True)
class DocumentHeard:
    """``sender`` has version ``version`` of the pack document, issued in ``term``
    (``flags``: DocumentFlag bits: a leader's push, or a follower's "applied")."""

    sender: str
    term: int
    version: int
    digest: str
    flags: int
    payload: bytes = b""


@dataclass(frozen=True)
class ClaimHeard:
    """A CLAIM message (service-group ownership) from ``sender``: ``kind`` a ClaimKind,
    ``items`` (group, epoch, yes, age_ms) each."""

    sender: str
    kind: int
    seq: int
    items: tuple
