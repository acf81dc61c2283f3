"""Pack messages and their binary encoding.

Message codes are append-only: a code, once released, keeps its meaning forever, and a
node drops (and counts) a code it does not know instead of misreading it.

Plaintext layout (inside the sealed datagram), big-endian::

    code u8 | sender str | boot u64 | seq u64 | sent_at_ms u64 | leader str | term u64
    | body (per code) | updates: count u8, then MemberRecord each

``str`` is u8 length + UTF-8. ``boot`` identifies one run of the sender (it grows across
restarts) and with ``seq`` feeds the replay window; ``leader``/``term`` is the sender's
view of the leadership, carried by every message. Every message piggybacks membership
updates (gossip) in the space left under the datagram limit.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum


# Append-only. Never renumber, never reuse.
class Code(IntEnum):
    ANNOUNCE = 1    # "I am here": discovery by broadcast, multicast or static peers
    PING = 2        # direct probe
    ACK = 3         # answer to PING (also relayed back for PING_REQ)
    PING_REQ = 4    # "probe this member for me" (indirect probe)
    STATE = 5       # full member list (answer to ANNOUNCE, and anti-entropy)
    LEAVE = 6       # graceful leave
    GOSSIP = 7      # nothing but piggybacked updates
    DOCUMENT = 8    # "I have applied version V of the pack document" (see pack/sync)
    VOTE_REQUEST = 9  # a candidate asks for votes for a term, naming the document it has
    VOTE = 10       # the answer: granted or not, for that term
    CLAIM = 11      # service-group ownership: a renewal, its answer, a takeover, its answer
    PRE_VOTE_REQUEST = 12  # "would you vote for me in this term?" (VOTE_REQUEST's body; binds no one)
    PRE_VOTE = 13   # the answer (VOTE's body)


class ClaimKind(IntEnum):
    """What a CLAIM message is (see mockserver.daemon.groups.ownership). Append-only."""
    RENEW = 1            # "renew my claims" (items: group, epoch)
    RENEWED = 2          # the answer (items: group, epoch, yes)
    TAKEOVER = 3         # "when did you last renew an older claim?" (one item: group, epoch)
    TAKEOVER_REPLY = 4   # the answer (one item: group, epoch, age in ms)
    REACH = 5            # the monitor addresses the sender reaches (items: address, 0, reachable)


class DocumentFlag(IntEnum):
    PUSH = 1        # from the leader: a new version, pull it now
    APPLIED = 2     # from a follower: it has persisted and applied this version
    INLINE = 4      # from the leader: the payload holds the version's content (small documents)
    ASK = 8         # from a member that lost its leader: answer with the document you have
    COMMITTED = 16  # from the leader: a majority holds this version; members show it now
    CONFIRM = 32    # from the leader: "do you follow me?" (payload: a round); answered with APPLIED


class Status(IntEnum):
    ALIVE = 1
    SUSPECT = 2
    DEAD = 3
    LEFT = 4


# The statuses of a member that counts as present (a suspect may still refute).
LIVE = (Status.ALIVE, Status.SUSPECT)


class Role(IntEnum):
    FOLLOWER = 0
    LEADER = 1      # a static leader (pack: leader)
    AUTO = 2        # takes part in elections (pack: auto)


class DecodeError(Exception):
    pass


@dataclass(frozen=True)
class MemberRecord:
    """What the pack says about one member; ``incarnation`` orders records of the same name."""

    name: str
    incarnation: int
    status: Status
    host: str
    port: int
    role: Role = Role.FOLLOWER
    api: str = ""          # where the member serves LXD's API (for forwarding reads)

    @property
    def address(self) -> tuple:
        return (self.host, self.port)


@dataclass(frozen=True)
class Message:
    code: Code
    sender: str
    boot: int
    seq: int
    sent_at_ms: int
    leader: str = ""
    term: int = 0
    probe_id: int = 0           # PING, ACK, PING_REQ
    target: str = ""            # PING, ACK, PING_REQ: the member probed
    target_host: str = ""       # PING_REQ
    target_port: int = 0        # PING_REQ
    want_state: bool = False    # ANNOUNCE: reply with STATE
    directed: bool = False      # ANNOUNCE: sent to this receiver alone (not broadcast)
    records: tuple = ()         # ANNOUNCE (the sender's own), STATE (all known)
    doc_term: int = 0           # DOCUMENT: the term of the leader that issued it
    doc_version: int = 0        # DOCUMENT
    doc_digest: bytes = b""     # DOCUMENT: 32 bytes (sha256)
    doc_flags: int = 0          # DOCUMENT: DocumentFlag bits
    doc_payload: bytes = b""    # DOCUMENT: with INLINE, the compressed content
    vote_term: int = 0          # (PRE_)VOTE_REQUEST, (PRE_)VOTE: the term the vote is for
    vote_granted: bool = False  # (PRE_)VOTE
    claim_kind: int = 0         # CLAIM: a ClaimKind
    claim_seq: int = 0          # CLAIM: the renewal's number (RENEW, RENEWED)
    claims: tuple = ()          # CLAIM: (group, epoch, yes, age_ms) each; age_ms NO_AGE: none
    updates: tuple = field(default=(), compare=False)


_HEAD = struct.Struct(">QQQ")
_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_RECORD_TAIL = struct.Struct(">QBHB")  # incarnation, status, port, role
_DOCUMENT = struct.Struct(">QQB")      # term, version, flags (then the 32-byte digest)
_VOTE_REQUEST = struct.Struct(">QQQ")  # vote term, document term, document version (then the digest)
_VOTE = struct.Struct(">QB")           # vote term, granted
_CLAIM_HEAD = struct.Struct(">BQB")    # kind, seq, item count
_CLAIM_ITEM = struct.Struct(">QBI")    # epoch, yes, age in ms (after the group name)
NO_AGE = 0xFFFFFFFF                    # CLAIM: "never" (no older claim was renewed)


def _put_str(out: bytearray, text: str) -> None:
    raw = text.encode()
    if len(raw) > 255:
        raise ValueError(f"string too long for the wire (max 255 bytes): {text[:40]!r}...")
    out.append(len(raw))
    out += raw


def encode_record(record: MemberRecord) -> bytes:
    out = bytearray()
    _put_str(out, record.name)
    out += _RECORD_TAIL.pack(record.incarnation, record.status, record.port, record.role)
    _put_str(out, record.host)
    _put_str(out, record.api)
    return bytes(out)


def encode_head(message: Message) -> bytearray:
    """Everything before the piggybacked updates."""
    out = bytearray([message.code])
    _put_str(out, message.sender)
    out += _HEAD.pack(message.boot, message.seq, message.sent_at_ms)
    _put_str(out, message.leader)
    out += _U64.pack(message.term)
    code = message.code
    if code in (Code.PING, Code.ACK, Code.PING_REQ):
        out += _U32.pack(message.probe_id)
        _put_str(out, message.target)
        if code == Code.PING_REQ:
            _put_str(out, message.target_host)
            out += _U16.pack(message.target_port)
    elif code in (Code.ANNOUNCE, Code.STATE):
        if code == Code.ANNOUNCE:
            out.append((1 if message.want_state else 0) | (2 if message.directed else 0))
        out.append(len(message.records))
        for record in message.records:
            out += encode_record(record)
    elif code == Code.DOCUMENT:
        out += _DOCUMENT.pack(message.doc_term, message.doc_version, message.doc_flags)
        out += message.doc_digest.ljust(32, b"\0")[:32]
        out += _U16.pack(len(message.doc_payload))
        out += message.doc_payload
    elif code in (Code.VOTE_REQUEST, Code.PRE_VOTE_REQUEST):
        out += _VOTE_REQUEST.pack(message.vote_term, message.doc_term, message.doc_version)
        out += message.doc_digest.ljust(32, b"\0")[:32]
    elif code in (Code.VOTE, Code.PRE_VOTE):
        out += _VOTE.pack(message.vote_term, 1 if message.vote_granted else 0)
    elif code == Code.CLAIM:
        if len(message.claims) > 255:
            raise ValueError("at most 255 claims in one message")
        out += _CLAIM_HEAD.pack(message.claim_kind, message.claim_seq, len(message.claims))
        for group, epoch, yes, age_ms in message.claims:
            _put_str(out, group)
            out += _CLAIM_ITEM.pack(epoch, 1 if yes else 0, min(int(age_ms), NO_AGE))
    return out


def encode(message: Message, encoded_updates: list | tuple = ()) -> bytes:
    """The plaintext of ``message``; ``encoded_updates`` are already encoded records."""
    out = encode_head(message)
    out.append(len(encoded_updates))
    for item in encoded_updates:
        out += item
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise DecodeError(f"truncated at byte {self.pos} (wanted {size} more)")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def unpack(self, layout: struct.Struct):
        return layout.unpack(self.take(layout.size))

    def string(self) -> str:
        try:
            return self.take(self.u8()).decode()
        except UnicodeDecodeError as exc:
            raise DecodeError(f"bad UTF-8 in a string: {exc}") from None


def _record(reader: _Reader) -> MemberRecord:
    name = reader.string()
    incarnation, status, port, role = reader.unpack(_RECORD_TAIL)
    host = reader.string()
    api = reader.string()
    try:
        return MemberRecord(name, incarnation, Status(status), host, port, Role(role), api)
    except ValueError as exc:
        raise DecodeError(f"bad member record for {name!r}: {exc}") from None


def decode(data: bytes) -> Message:
    """Raises: DecodeError for anything but a well-formed message of a known code."""
    reader = _Reader(data)
    try:
        code = Code(reader.u8())
    except ValueError:
        raise DecodeError(f"unknown message code {data[0] if data else None}") from None
    sender = reader.string()
    boot, seq, sent_at = reader.unpack(_HEAD)
    leader = reader.string()
    (term,) = reader.unpack(_U64)
    fields = {}
    if code in (Code.PING, Code.ACK, Code.PING_REQ):
        (fields["probe_id"],) = reader.unpack(_U32)
        fields["target"] = reader.string()
        if code == Code.PING_REQ:
            fields["target_host"] = reader.string()
            (fields["target_port"],) = reader.unpack(_U16)
    elif code in (Code.ANNOUNCE, Code.STATE):
        if code == Code.ANNOUNCE:
            flags = reader.u8()
            fields["want_state"], fields["directed"] = bool(flags & 1), bool(flags & 2)
        fields["records"] = tuple(_record(reader) for _ in range(reader.u8()))
    elif code == Code.DOCUMENT:
        fields["doc_term"], fields["doc_version"], fields["doc_flags"] = reader.unpack(_DOCUMENT)
        fields["doc_digest"] = reader.take(32)
        (size,) = reader.unpack(_U16)
        fields["doc_payload"] = reader.take(size)
    elif code in (Code.VOTE_REQUEST, Code.PRE_VOTE_REQUEST):
        fields["vote_term"], fields["doc_term"], fields["doc_version"] = reader.unpack(_VOTE_REQUEST)
        fields["doc_digest"] = reader.take(32)
    elif code in (Code.VOTE, Code.PRE_VOTE):
        fields["vote_term"], granted = reader.unpack(_VOTE)
        fields["vote_granted"] = bool(granted)
    elif code == Code.CLAIM:
        kind, fields["claim_seq"], count = reader.unpack(_CLAIM_HEAD)
        try:
            fields["claim_kind"] = ClaimKind(kind)
        except ValueError:
            raise DecodeError(f"unknown claim kind {kind}") from None
        items = []
        for _ in range(count):
            group = reader.string()
            epoch, yes, age_ms = reader.unpack(_CLAIM_ITEM)
            items.append((group, epoch, bool(yes), age_ms))
        fields["claims"] = tuple(items)
    updates = tuple(_record(reader) for _ in range(reader.u8()))
    if reader.pos != len(data):
        raise DecodeError(f"{len(data) - reader.pos} trailing bytes")
    if not sender:
        raise DecodeError("empty sender")
    return Message(code, sender, boot, seq, sent_at, leader, term, updates=updates, **fields)
