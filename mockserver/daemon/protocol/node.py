"""The pack protocol core, sans-IO: datagrams and the time go in, datagrams and events out.

No sockets, no sleeps and no clock inside: the caller passes ``now`` (monotonic seconds)
to :meth:`PackNode.start`, :meth:`~PackNode.receive`, :meth:`~PackNode.tick` and
:meth:`~PackNode.leave`, sends the :class:`Send` effects it gets back, and calls
``tick`` again by :meth:`~PackNode.next_deadline`. The same code runs on real sockets
(the daemon), in unit tests with a fake clock, and in simulations of thousands of nodes.

Failure detection is SWIM with suspicion, as in memberlist: every ``keepalive`` period a
node probes one member and expects an ACK within half a period (the targets rotate so that
each member is probed once per period, see ``_next_target``); failing that, it asks
``indirect_checks`` other members to probe it; with no ACK by the end of the period the
member is suspected. A suspect that does not refute (by announcing a higher incarnation)
within the suspicion timeout is declared dead. So each
node sends a constant number of probes per period whatever the pack's size.

Lifelines (lifelines.py): the leader heartbeats every member each keepalive (in packs of
up to 64), and the leader and the owners of service groups are declared dead a
dead-interval after the last datagram heard from them; a leader suspect and silent for half
a dead-interval is given up for elections.

Membership changes spread by gossip: piggybacked on every message, and pushed to
``gossip_fanout`` random members every gossip interval while there is news.

Leadership: a static ``leader`` (pack: leader) leads while alive; two static leaders are a
conflict, reported, and the lower name leads meanwhile. In ``auto`` mode the lowest-named
live member with the newest document stands for a term one above the highest it has seen
and leads once a majority voted for it (after a pre-vote: it raises its term only if a
majority would vote for it). A member votes once per term (the vote is
persisted, through a :class:`PersistTerm` effect the caller carries out before sending
anything after it), never while it follows a live leader, and only for a candidate whose
document is at least as new as its own. So a term has at most one leader, a term is never
reused (a restarted leader stands again, for a new term), the leader holds every version a
majority had, and a returning former leader (lower term) steps down: no flapping. With
``expected_members``, a side that sees no majority has no leader.
"""
from __future__ import annotations

import bisect
import collections
import math
import random
from dataclasses import dataclass, replace

from mockserver.daemon.protocol.crypto import OpenError, Sealer
from mockserver.daemon.protocol.effects import (
    ClaimHeard,
    DocumentHeard,
    LeaderChange,
    LeaderConflict,
    MemberChange,
    MemberForgotten,
    PersistTerm,
    Send,
)
from mockserver.daemon.protocol.forgetting import ForgettingRules
from mockserver.daemon.protocol.leadership import Candidacy, LeadershipRules
from mockserver.daemon.protocol.lifelines import LifelineRules
from mockserver.daemon.protocol.messages import (
    LIVE,
    Code,
    DecodeError,
    DocumentFlag,
    MemberRecord,
    Message,
    Role,
    Status,
    decode,
    encode,
    encode_head,
    encode_record,
)
from mockserver.daemon.protocol.replay import ReplayGuard
from mockserver.daemon.protocol.settings import BROADCAST, MULTICAST, NodeSettings

# Re-exported: the daemon and the tests take these from here.
__all__ = ["PackNode", "NodeSettings", "BROADCAST", "MULTICAST", "LIVE", "Send", "MemberChange", "LeaderChange",
           "PersistTerm", "LeaderConflict", "DocumentHeard", "ClaimHeard", "Peer", "MemberForgotten"]


@dataclass
class Peer:
    record: MemberRecord
    boot: int
    last_heard: float          # when we last had direct or relayed evidence it was alive
    told_at: float = float("-inf")
    heard_directly: float = float("-inf")   # when a datagram from it last reached us


@dataclass
class _Probe:
    probe_id: int
    target: str
    started: float
    acked: bool = False
    indirect_sent: bool = False


@dataclass
class _Relay:
    requester: tuple
    their_probe_id: int
    target: str
    expires: float


@dataclass
class _News:
    record: MemberRecord
    encoded: bytes
    transmits: int = 0


# Every counter a node keeps, so that readers see zeros rather than missing keys.
COUNTERS = ("sent", "received", "dropped_truncated", "dropped_not_pack", "dropped_version", "dropped_auth",
            "dropped_malformed", "dropped_replay", "dropped_stale", "dropped_own", "dropped_name_conflict",
            "marked_suspect", "marked_dead", "marked_left", "marked_alive", "refuted", "elections_won",
            "elections_lost", "votes_granted", "votes_refused", "votes_deferred", "marked_dead_silent",
            "forgotten")
URGENT_FANOUT = 3
MAX_SHARED_DOUBTS = 16   # records of suspect/dead members sent per interval (fits one datagram)


class PackNode(LeadershipRules, LifelineRules, ForgettingRules):
    """One member of a pack. See the module docstring for the protocol."""

    def __init__(self, settings: NodeSettings, sealer: Sealer, *, boot: int, now: float,
                 wall_offset: float = 0.0, rng: random.Random | None = None, term: int = 0, voted_for: str = ""):
        """``term`` and ``voted_for``: what the last PersistTerm said (a restart)."""
        self.settings = settings
        self.sealer = sealer
        self.boot = boot
        self.incarnation = boot
        self.wall_offset = wall_offset
        self.rng = rng or random.Random()
        self.started = now
        self.peers: dict[str, Peer] = {}
        self.counters: collections.Counter = collections.Counter(dict.fromkeys(COUNTERS, 0))
        self.leader = ""
        self.term = term
        self.voted_for = voted_for      # whom we voted for in ``term`` ("" if nobody)
        self._candidacy: Candidacy | None = None
        self._deferred_vote: tuple | None = None   # (request, source, when): refused while a leader lived
        self._lapsed: Candidacy | None = None       # our last candidacy that timed out (late votes count)
        self.conflict: tuple = ()
        self.left = False
        self._seq = 0
        self._probe_seq = self.rng.randrange(1 << 31)
        self._guard = ReplayGuard(settings.max_skew)
        self._news: dict[str, _News] = {}
        self._probe: _Probe | None = None
        self._relays: dict[int, _Relay] = {}
        self._ring: list[str] = [settings.name]  # live members and us, sorted: the probe schedule
        self._next_probe = now + settings.keepalive * self.rng.random()
        self._next_gossip = now + settings.gossip_interval
        self._next_announce = now + settings.announce_interval
        self._effects: list = []
        self._refuting = False
        self._urgent = False
        # Kept up to date as records change, so that per-message work does not grow with N.
        self._live: set[str] = set()
        self._live_by_role: dict[Role, set] = {role: set() for role in Role}
        self._suspects: dict[str, float] = {}  # name -> when its suspicion runs out
        # No claim before this time: at start, after regaining a quorum, and after hearing
        # of a leader we cannot see yet, we first give the pack's leader time to reach us.
        self._claim_after = now + settings.election_grace
        self._had_quorum = True
        # The pack document (pack/sync): the (term, version) we applied, and what each peer
        # said it applied. An election prefers the members with the newest.
        self.document: tuple = (0, 0)
        self._digest = b""
        self.documents: dict[str, tuple] = {}
        self._documents_at: dict[str, float] = {}   # when each peer last told us its document
        self._met: dict[str, float] = {}            # when each peer last became live to us
        # Leaders seen to restart while we followed them, with the term they led: that
        # leadership died with their memory, and others' rumours of it are not followed again.
        self._deposed: dict[str, int] = {}
        self._leader_lost_at = float("-inf")
        self._discovered: tuple = ()                # (host, port) proposed by discovery strategies
        # Lifelines (see lifelines.py): whom we expect to hear each keepalive, since when.
        self._watched: dict[str, float] = {}
        self._leader_since = now
        self._next_heartbeat = float("-inf")
        self._last_step = now
        self._judge_after = float("-inf")
        self._init_forgetting()

    # ---- views ---------------------------------------------------------------------------

    @property
    def record(self) -> MemberRecord:
        status = Status.LEFT if self.left else Status.ALIVE
        s = self.settings
        return MemberRecord(s.name, self.incarnation, status, s.host, s.port, s.role, s.api)

    def members(self) -> dict[str, MemberRecord]:
        """Every member this node knows, itself included, by name."""
        view = {name: peer.record for name, peer in self.peers.items()}
        view[self.settings.name] = self.record
        return view

    def alive_names(self) -> list[str]:
        return sorted(self._live | {self.settings.name})

    def alive_count(self) -> int:
        return len(self._live) + 1

    def has_quorum(self) -> bool:
        expected = self.settings.expected_members
        return expected is None or self.alive_count() >= expected // 2 + 1

    def next_deadline(self) -> float:
        """When :meth:`tick` must next run."""
        deadlines = [self._next_probe, self._next_gossip, self._next_announce]
        if self._probe and not self._probe.acked:
            deadlines.append(self._probe.started + (self.settings.keepalive if self._probe.indirect_sent
                                                    else self.settings.probe_timeout))
        if self._suspects:
            deadlines.append(min(self._suspects.values()))
        if self._candidacy is not None:
            deadlines.append(self._candidacy.started + self.settings.keepalive)
        deadlines += [self._silence_deadline(), self._heartbeat_deadline(), self._give_up_deadline()]
        return min(deadlines)

    # ---- entry points --------------------------------------------------------------------

    def start(self, now: float) -> list:
        """Announce ourselves at once, on every discovery channel."""
        if self.settings.role == Role.LEADER:
            self._set_leader(self.settings.name, self.term)
        self._announce(now, want_state=True, every_peer=True)
        return self._flush()

    def leave(self, now: float) -> list:
        """Leave gracefully: tell the pack, so that it marks us Offline at once."""
        self.left = True
        self.incarnation += 1
        record = self.record
        # On the discovery channels too, so that members we had not met yet hear it.
        for channel, enabled in ((BROADCAST, self.settings.broadcast), (MULTICAST, self.settings.multicast)):
            if enabled:
                self._send(Code.LEAVE, channel, now, piggyback=[encode_record(record)])
        targets = [p.record.address for p in self.peers.values() if p.record.status in LIVE]
        self.rng.shuffle(targets)
        for address in targets[:32]:
            self._send(Code.LEAVE, address, now, piggyback=[encode_record(record)])
        return self._flush()

    def receive(self, datagram: bytes, source: tuple, now: float) -> list:
        """Handle one datagram from ``source``. Bad datagrams are dropped and counted."""
        self.counters["received"] += 1
        try:
            message = decode(self.sealer.open(datagram))
        except OpenError as exc:
            return self._drop(exc.reason)
        except DecodeError:
            return self._drop("malformed")
        if message.sender == self.settings.name:
            # Our own broadcast coming back, or a stranger using our name.
            return self._drop("own" if message.boot == self.boot else "name_conflict")
        reason = self._guard.check(message.sender, message.boot, message.seq, message.sent_at_ms, self._wall_ms(now))
        if reason:
            return self._drop(reason)
        if self.left:
            return []
        self._stepped(now)
        self.counters[f"received_{message.code.name.lower()}"] += 1
        self._heard_from(message, source, now)
        for record in message.records + message.updates:
            if record.name == message.sender and record.host in ("", "0.0.0.0"):
                # A node bound to every interface cannot know which address we reach it by:
                # the datagram's source says.
                record = replace(record, host=source[0])
            self._apply(record, now)
        if self._refuting:
            # Whoever doubted us hears the refutation first, before its suspicion expires.
            self._refuting = False
            self._send(Code.GOSSIP, source, now)
        doubted = self.peers.get(message.sender)
        if doubted is not None and doubted.record.status in (Status.SUSPECT, Status.DEAD):
            # It is talking to us, so it can refute what we believe; and after a partition
            # it needs our whole view, to refute what our side believes of its side.
            if self._tell(doubted, now):
                self._send_state(source, now)
        self._observe_leader(message.leader, message.term, now)
        handler = getattr(self, f"_on_{message.code.name.lower()}")
        handler(message, source, now)
        self._evaluate_leadership(now)
        return self._flush(now)

    def tick(self, now: float) -> list:
        """Run whatever timers are due."""
        if self.left:
            return []
        self._stepped(now)
        s = self.settings
        probe = self._probe
        if probe and not probe.acked:
            if not probe.indirect_sent and now >= probe.started + s.probe_timeout:
                self._probe_indirectly(probe, now)
            if now >= probe.started + s.keepalive:
                self._probe = None
                self._suspect(probe.target, now)
        if now >= self._next_probe:
            self._next_probe = max(self._next_probe + s.keepalive, now)
            self._probe_next(now)
        for name in [n for n, deadline in self._suspects.items() if now >= deadline]:
            self._set_record(replace(self.peers[name].record, status=Status.DEAD), now,
                             why="suspected and not refuted in time")
        for probe_id in [i for i, relay in self._relays.items() if relay.expires <= now]:
            del self._relays[probe_id]
        if now >= self._next_gossip:
            self._next_gossip = now + s.gossip_interval
            self._gossip(now)
        if now >= self._next_announce:
            self._next_announce = now + s.announce_interval
            self._announce_periodically(now)
            self._share_doubts(now)
        self._forget_the_gone(now)
        candidacy = self._candidacy
        if candidacy is not None and now >= candidacy.started + s.keepalive:
            # No majority in time (split votes, or voters that still see a leader): stand
            # again later, for a new term, after a random pause so that rivals spread out.
            self._candidacy, self._lapsed = None, candidacy
            self.counters["elections_lost"] += 1
            self._claim_after = max(self._claim_after, now + s.keepalive * self.rng.random())
        self._check_silence(now)
        self._evaluate_leadership(now)
        self._heartbeat(now)
        return self._flush(now)

    def set_document(self, term: int, version: int, digest: str) -> None:
        """The pack document this node has applied (it counts in elections)."""
        self.document, self._digest = (term, version), bytes.fromhex(digest)

    @property
    def max_document_payload(self) -> int:
        """The largest payload a DOCUMENT datagram carries (the rest of the datagram is ours)."""
        return self.settings.max_datagram - 64 - 2 * 255 - 60

    def send_document(self, names, flags: int, now: float, payload: bytes = b"", document: tuple | None = None) -> list:
        """Tell the members ``names`` which document we have (a push, an ack, anti-entropy);
        a small document's content may ride along (``payload``). ``document`` (term,
        version, digest) names another than the applied one (an ack of what is on disk)."""
        if len(payload) > self.max_document_payload:
            raise ValueError(f"document payload of {len(payload)} bytes exceeds {self.max_document_payload}")
        self._tell_document(names, flags, now, payload, document)
        return self._flush(now)

    # ---- sending ---------------------------------------------------------------------------

    def _wall_ms(self, now: float) -> int:
        return int((now + self.wall_offset) * 1000)

    def _message(self, code: Code, now: float, **fields) -> Message:
        self._seq += 1
        return Message(code, self.settings.name, self.boot, self._seq, self._wall_ms(now), self.leader, self.term,
                       **fields)

    def _send(self, code: Code, to, now: float, *, piggyback: list | None = None, **fields) -> None:
        self._send_each(code, [to], now, piggyback=piggyback, **fields)

    def _send_each(self, code: Code, destinations: list, now: float, *, piggyback: list | None = None,
                   **fields) -> None:
        """One message, sealed once, to each of ``destinations``: the receivers' replay
        windows are per sender, so the same datagram is fresh to each of them, and the
        leader's push to every member costs one seal instead of one per member."""
        if not destinations:
            return
        message = self._message(code, now, **fields)
        head = encode_head(message)
        budget = self.settings.max_datagram - 64 - len(head)  # sealing overhead and the count byte
        updates = list(piggyback) if piggyback is not None else self._piggyback(budget)
        datagram = self.sealer.seal(encode(message, updates))
        for to in destinations:
            self._effects.append(Send(datagram, to))
        self.counters["sent"] += len(destinations)
        self.counters[f"sent_{code.name.lower()}"] += len(destinations)

    def _piggyback(self, budget: int) -> list:
        """Our own record first (so that anyone can learn us from any message), then news."""
        own = encode_record(self.record)
        chosen, used = [own], len(own)
        limit = self.settings.retransmit_mult * max(1, math.ceil(math.log10(len(self.peers) + 2)))
        for name, news in sorted(self._news.items(), key=lambda item: item[1].transmits):
            if len(chosen) >= 255 or used + len(news.encoded) > budget:
                break
            chosen.append(news.encoded)
            used += len(news.encoded)
            news.transmits += 1
            if news.transmits >= limit:
                del self._news[name]
        return chosen

    def _flush(self, now: float | None = None) -> list:
        if self._urgent and now is not None:
            # News that changes who is in the pack goes out at once, and every member that
            # learns it from us does the same: it crosses the pack in a few network hops.
            self._urgent = False
            self._gossip_now(now)
        effects, self._effects = self._effects, []
        return effects

    def _drop(self, reason: str) -> list:
        self.counters[f"dropped_{reason}"] += 1
        return []

    def _queue_news(self, record: MemberRecord) -> None:
        self._news[record.name] = _News(record, encode_record(record))
        self._urgent = True

    # ---- discovery --------------------------------------------------------------------------

    def _announce(self, now: float, want_state: bool, every_peer: bool) -> None:
        s = self.settings
        if s.broadcast:
            self._send(Code.ANNOUNCE, BROADCAST, now, want_state=want_state, records=(self.record,))
        if s.multicast:
            self._send(Code.ANNOUNCE, MULTICAST, now, want_state=want_state, records=(self.record,))
        known = {p.record.address for p in self.peers.values() if p.record.status in LIVE}
        for address in self._candidate_peers():
            if every_peer or tuple(address) not in known:
                self._send(Code.ANNOUNCE, tuple(address), now, want_state=want_state, directed=True,
                           records=(self.record,))

    def _announce_periodically(self, now: float) -> None:
        # Newcomers announce themselves, so the pack need not: one member per connected
        # part re-announces, to find parts split off by a partition. That is the leader, or
        # with no leader the lowest-named live member (each part has one).
        alone = self.alive_count() == 1
        announcer = self.leader or min(self._live | {self.settings.name})
        if announcer == self.settings.name or alone:
            self._announce(now, want_state=alone, every_peer=False)
        else:
            self._announce_to_lost_peers(now)

    def discovered(self, addresses, now: float) -> list:
        """The addresses discovery strategies propose now (host, port), all strategies
        together. Discovery proposes; the failure detector decides: an address that is no
        longer proposed removes no member. A new one is announced to at once (asking for
        the pack's state), and every announce period while it is not a live member's."""
        own = (self.settings.host, self.settings.port)
        self._discovering = True
        fresh = tuple(dict.fromkeys(tuple(a) for a in addresses if tuple(a) != own))
        new = [a for a in fresh if a not in self._discovered and a not in self.settings.peers]
        self._discovered = fresh
        known = {p.record.address for p in self.peers.values() if p.record.status in LIVE}
        for address in new:
            if address not in known:
                self._send(Code.ANNOUNCE, address, now, want_state=True, directed=True, records=(self.record,))
        return self._flush(now)

    def _candidate_peers(self) -> tuple:
        """Static peers, then what discovery proposes."""
        return tuple(dict.fromkeys(tuple(tuple(a) for a in self.settings.peers) + self._discovered))

    def _share_doubts(self, now: float) -> None:
        """Anti-entropy for beliefs of failure: once an interval, tell one random live
        member whom we hold suspect or dead. Rumours stop spreading after a few
        transmissions, so after a partition two members that never probe each other could
        otherwise stay dead to each other while both live; the receiver passes the doubt on
        (or to the member itself, which then refutes it)."""
        doubts = [p.record for p in self.peers.values() if p.record.status in (Status.SUSPECT, Status.DEAD)]
        live = [p for p in self.peers.values() if p.record.status == Status.ALIVE]
        if not doubts or not live:
            return
        chosen = self.rng.sample(doubts, min(len(doubts), MAX_SHARED_DOUBTS))
        target = self.rng.choice(live)
        self._send(Code.GOSSIP, target.record.address, now,
                   piggyback=[encode_record(self.record)] + [encode_record(r) for r in chosen])

    def _announce_to_lost_peers(self, now: float) -> None:
        known = {p.record.address for p in self.peers.values() if p.record.status in LIVE}
        for address in self._candidate_peers():
            if tuple(address) not in known:
                self._send(Code.ANNOUNCE, tuple(address), now, want_state=False, directed=True, records=(self.record,))

    def _send_state(self, to, now: float) -> None:
        """Our whole view, in as many STATE datagrams as it takes."""
        records = [encode_record(r) for r in self.members().values()]
        budget = self.settings.max_datagram - 128
        chunk, used = [], 0
        for item in records:
            if chunk and (used + len(item) > budget or len(chunk) == 255):
                self._send_state_chunk(chunk, to, now)
                chunk, used = [], 0
            chunk.append(item)
            used += len(item)
        if chunk:
            self._send_state_chunk(chunk, to, now)

    def _send_state_chunk(self, chunk: list, to, now: float) -> None:
        # The records travel as piggybacked updates, which the receiver applies like gossip.
        self._send(Code.STATE, to, now, piggyback=chunk)

    # ---- probing -----------------------------------------------------------------------------

    def _next_probe_id(self) -> int:
        self._probe_seq = (self._probe_seq + 1) & 0xFFFFFFFF
        return self._probe_seq

    def _probe_next(self, now: float) -> None:
        if self._probe and not self._probe.acked:
            return
        target = self._next_target(now)
        if target is None:
            return
        self._probe = _Probe(self._next_probe_id(), target, now)
        self._send(Code.PING, self.peers[target].record.address, now, probe_id=self._probe.probe_id, target=target)

    def _next_target(self, now: float) -> str | None:
        """The member this node probes in the current period.

        All members order the live pack by name, and in period k (counted on the wall
        clock, which members share) the member at position i probes the one at
        i + 1 + (k mod (n - 1)): every period is a permutation without fixed points, so
        while views agree each member is probed exactly once per period, whatever the
        pack's size, and a dead member's next probe is at most two periods away.
        """
        ring = self._ring
        count = len(ring)
        if count < 2:
            return None
        period = int(self._wall_ms(now) // int(self.settings.keepalive * 1000))
        position = bisect.bisect_left(ring, self.settings.name)
        target = ring[(position + 1 + period % (count - 1)) % count]
        return target if target != self.settings.name else None

    def _probe_indirectly(self, probe: _Probe, now: float) -> None:
        probe.indirect_sent = True
        target = self.peers.get(probe.target)
        if target is None:
            return
        helpers = [n for n, p in self.peers.items() if p.record.status == Status.ALIVE and n != probe.target]
        for name in self.rng.sample(helpers, min(self.settings.indirect_checks, len(helpers))):
            self._send(Code.PING_REQ, self.peers[name].record.address, now, probe_id=probe.probe_id,
                       target=probe.target, target_host=target.record.host, target_port=target.record.port)

    def _on_ping(self, message: Message, source, now: float) -> None:
        if message.target == self.settings.name:
            self._send(Code.ACK, source, now, probe_id=message.probe_id, target=self.settings.name)

    def _on_ack(self, message: Message, source, now: float) -> None:
        relay = self._relays.pop(message.probe_id, None)
        if relay is not None:
            self._send(Code.ACK, relay.requester, now, probe_id=relay.their_probe_id, target=relay.target)
            return
        probe = self._probe
        if probe and probe.probe_id == message.probe_id and probe.target == message.target:
            probe.acked = True
            peer = self.peers.get(probe.target)
            if peer is not None:
                peer.last_heard = now

    def _on_ping_req(self, message: Message, source, now: float) -> None:
        probe_id = self._next_probe_id()
        self._relays[probe_id] = _Relay(source, message.probe_id, message.target, now + self.settings.keepalive)
        self._send(Code.PING, (message.target_host, message.target_port), now, probe_id=probe_id,
                   target=message.target)

    def _on_document(self, message: Message, source, now: float) -> None:
        self.documents[message.sender] = (message.doc_term, message.doc_version)
        self._documents_at[message.sender] = now
        if message.doc_flags & DocumentFlag.ASK:
            self._tell_document([message.sender], 0, now)
        self._effects.append(DocumentHeard(message.sender, message.doc_term, message.doc_version,
                                           message.doc_digest.hex(), message.doc_flags, message.doc_payload))

    def _on_claim(self, message: Message, source, now: float) -> None:
        self._effects.append(ClaimHeard(message.sender, message.claim_kind, message.claim_seq, message.claims))

    def send_claim(self, names, kind: int, seq: int, items, now: float) -> list:
        """A CLAIM message (service-group ownership) to each live member among ``names``."""
        addresses = [peer.record.address for peer in map(self.peers.get, names)
                     if peer is not None and peer.record.status in LIVE]
        self._send_each(Code.CLAIM, addresses, now, claim_kind=kind, claim_seq=seq, claims=tuple(items))
        return self._flush(now)

    def _on_gossip(self, message: Message, source, now: float) -> None:
        pass  # its updates were applied with every message's

    def _on_state(self, message: Message, source, now: float) -> None:
        pass  # likewise: a STATE is all updates

    def _on_leave(self, message: Message, source, now: float) -> None:
        pass  # the sender's LEFT record came with it

    def _on_announce(self, message: Message, source, now: float) -> None:
        if not message.want_state:
            return
        # A static peer asked us alone: answer. Everyone on the segment hears a broadcast
        # announce: in a large pack only a few answer with the whole state (the newcomer
        # needs one answer, not a thousand).
        responders = 3 / max(1, self.alive_count() - 1)
        if message.directed or self.leader == self.settings.name or self.rng.random() < responders:
            self._send_state(source, now)

    def _gossip(self, now: float) -> None:
        if not self._news:
            return
        targets = [p.record.address for p in self.peers.values() if p.record.status in LIVE]
        for address in self.rng.sample(targets, min(self.settings.gossip_fanout, len(targets))):
            self._send(Code.GOSSIP, address, now)

    # ---- membership ------------------------------------------------------------------------

    def _heard_from(self, message: Message, source, now: float) -> None:
        peer = self.peers.get(message.sender)
        if peer is None:
            return  # it is learned from its own record, which every message carries
        peer.last_heard = peer.heard_directly = now
        if message.boot > peer.boot:
            restarted = peer.boot != 0
            peer.boot = message.boot
            if restarted:
                self._effects.append(MemberChange(peer.record, peer.record.status, restarted=True))
                if message.sender == self.leader and not self._static_leaders():
                    # It lost its leadership with its memory: it must stand again, for a new term.
                    self._deposed[message.sender] = max(self.term, self._deposed.get(message.sender, 0))
                    self._drop_leader(now)


    def _apply(self, record: MemberRecord, now: float) -> None:
        if record.name == self.settings.name:
            if record.status in (Status.SUSPECT, Status.DEAD, Status.LEFT) and record.incarnation >= self.incarnation \
                    and not self.left:
                # Refute: we are alive, with a higher incarnation than any rumour of our death.
                self.incarnation = record.incarnation + 1
                self.counters["refuted"] += 1
                self._queue_news(self.record)
                self._refuting = True
            return
        if not self._remembers(record):
            return
        peer = self.peers.get(record.name)
        if peer is None:
            if record.status in LIVE:
                self._add(record, now)
            else:
                self.peers[record.name] = Peer(record, 0, now)
                self._track(record, now)
                self._effects.append(MemberChange(record, None))
            return
        known = peer.record
        if record.incarnation < known.incarnation:
            return
        if record.incarnation == known.incarnation:
            if _precedence(record.status) <= _precedence(known.status):
                if record.status == Status.ALIVE and known.status in (Status.SUSPECT, Status.DEAD):
                    # Others hear it alive (after a partition, both sides may be right): tell
                    # it what we believe, so that it refutes if it lives; otherwise two
                    # members that never probe each other could stay dead to each other.
                    self._tell(peer, now)
                return
            if known.status == Status.ALIVE and record.status != Status.LEFT \
                    and now - peer.last_heard < 2 * self.settings.keepalive:
                # We heard from it ourselves just now: pass the rumour on to it instead of
                # believing it (after a partition, one side's dead are the other's living).
                self._tell(peer, now, record)
                return
        elif record.status == Status.ALIVE and known.status == Status.ALIVE and record.address == known.address \
                and record.api == known.api and record.role == known.role:
            peer.record = record  # only the incarnation moved (a refutation we already believed)
            self._track(record, now)
            return
        self._set_record(record, now)

    def _track(self, record: MemberRecord, now: float) -> None:
        if record.status == Status.SUSPECT:
            self._suspects.setdefault(record.name, now + self.settings.suspicion_timeout)
        else:
            self._suspects.pop(record.name, None)
        for names in self._live_by_role.values():
            names.discard(record.name)
        self._note_down(record, record.status in LIVE, now)
        was_live = record.name in self._live
        if record.status in LIVE:
            self._live.add(record.name)
            self._live_by_role[record.role].add(record.name)
            if not was_live:
                bisect.insort(self._ring, record.name)
                self._met[record.name] = now
        else:
            self._live.discard(record.name)
            if was_live:
                self._ring.remove(record.name)

    def _add(self, record: MemberRecord, now: float) -> None:
        self.peers[record.name] = Peer(record, 0, now)
        self._track(record, now)
        self._queue_news(record)
        self._effects.append(MemberChange(record, None))

    def _set_record(self, record: MemberRecord, now: float, why: str = "") -> None:
        peer = self.peers[record.name]
        previous = peer.record.status
        if previous == Status.SUSPECT and record.status == Status.SUSPECT:
            self._suspects.pop(record.name, None)  # a new suspicion (higher incarnation) runs afresh
        peer.record = record
        self._track(record, now)
        if record.status == Status.ALIVE:
            peer.last_heard = max(peer.last_heard, now)
        self._queue_news(record)
        if record.status != previous:
            self.counters[f"marked_{record.status.name.lower()}"] += 1
            self._effects.append(MemberChange(record, previous, why=why))
            if record.status not in LIVE and record.name == self.leader:
                self._drop_leader(now)

    def _suspect(self, name: str, now: float) -> None:
        peer = self.peers.get(name)
        if peer is not None and peer.record.status == Status.ALIVE:
            self._set_record(replace(peer.record, status=Status.SUSPECT), now, why="no answer to a probe")
            self._tell(peer, now)

    def _tell(self, peer: Peer, now: float, record: MemberRecord | None = None) -> bool:
        """Tell a member what is believed of it (by default, what we believe), so that if
        it is alive it refutes at once instead of when the rumour reaches it by gossip.
        At most twice a period per member (a lost tell or refutation must not cost a
        live member its place); True if sent."""
        if now - peer.told_at < self.settings.keepalive / 2:
            return False
        peer.told_at = now
        self._send(Code.GOSSIP, peer.record.address, now,
                   piggyback=[encode_record(self.record), encode_record(record or peer.record)])
        return True

    # ---- leadership ------------------------------------------------------------------------

    def _gossip_now(self, now: float) -> None:
        """Tell the pack at once (a new leader, for instance) instead of at the next tick."""
        live = sorted(self._live)  # sorted: a set's order would make runs depend on the hash seed
        for name in self.rng.sample(live, min(URGENT_FANOUT, len(live))):
            self._send(Code.GOSSIP, self.peers[name].record.address, now)


def _precedence(status: Status) -> int:
    """At equal incarnation: ALIVE < SUSPECT < DEAD/LEFT (a rumour of failure wins)."""
    return {Status.ALIVE: 0, Status.SUSPECT: 1, Status.DEAD: 2, Status.LEFT: 2}[status]
