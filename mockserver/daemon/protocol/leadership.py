"""Leadership: terms, votes, static leaders and elections that prefer the newest document.

A part of PackNode (see node.py for the attributes it shares): a member stands when it sees
no leader it can follow, after a grace; others vote for a candidate whose document is at
least as new as theirs, once per term (the vote is persisted before it is sent); a candidate
with a majority leads. Static leaders (``pack: leader``) lead without an election.
"""
from __future__ import annotations

from dataclasses import dataclass

from mockserver.daemon.protocol.effects import LeaderChange, LeaderConflict, PersistTerm
from mockserver.daemon.protocol.messages import LIVE, Code, DocumentFlag, Message, Role


@dataclass
class Candidacy:
    term: int
    votes: set
    started: float
    pre: bool = False   # a pre-vote: asking whether a majority would vote, before raising the term


class LeadershipRules:
    """PackNode's leadership (a part of PackNode)."""

    def _raise_term(self, term: int) -> None:
        """A newer term exists: no vote is cast in it yet, and our candidacy (older) is over."""
        if term > self.term:
            self.term, self.voted_for = term, ""
            candidacy = self._candidacy
            if candidacy is not None and (candidacy.term < term or (candidacy.pre and candidacy.term <= term)):
                self._candidacy = None

    def _set_leader(self, leader: str, term: int) -> None:
        if term > self.term:
            self.voted_for = ""
        if leader != self.leader or term != self.term:
            previous = self.leader
            self.leader, self.term = leader, term
            self._urgent = bool(leader)
            if leader != previous:
                # Its heartbeats count from now (lifelines.py); ours go out at once.
                self._leader_since, self._next_heartbeat = self._last_step, float("-inf")
                self._effects.append(LeaderChange(leader, term, previous))

    def _observe_leader(self, leader: str, term: int, now: float) -> None:
        if self._static_leaders():
            return
        if not leader or (leader != self.settings.name and self._given_up(leader, now)):
            return   # (others still name a leader we gave up: we know better, see lifelines.py)
        if term <= self._deposed.get(leader, -1):
            return   # a leadership its holder lost in a restart: others have not heard yet
        if leader == self.settings.name:
            if self.leader != self.settings.name or term != self.term:
                # Others still follow us in a term we led before a restart: that leadership
                # is gone; we stand again above it, never take it back.
                self._raise_term(term)
            return
        if leader != self.settings.name:
            peer = self.peers.get(leader)
            if peer is None or peer.record.status not in LIVE:
                if term > self.term:
                    # A leader we cannot see yet (we are merging after a partition): wait
                    # for it rather than claim, or we would unseat it when it reaches us.
                    self._claim_after = max(self._claim_after, now + self.settings.election_grace)
                return
        if term > self.term or (term == self.term and (not self.leader or leader < self.leader)):
            self._candidacy = None   # a leader of our candidacy's term (or above) won it
            self._set_leader(leader, term)

    def _static_leaders(self) -> list[str]:
        leaders = set(self._live_by_role[Role.LEADER])
        if self.settings.role == Role.LEADER and not self.left:
            leaders.add(self.settings.name)
        return sorted(leaders)

    def _evaluate_leadership(self, now: float) -> None:
        static = self._static_leaders()
        conflict = tuple(static) if len(static) > 1 else ()
        if conflict != self.conflict:
            self.conflict = conflict
            self._effects.append(LeaderConflict(conflict))
        if static:
            self._set_leader(static[0], self.term)
            return
        if self.leader and self.leader != self.settings.name and (self.leader not in self._live
                                                                   or self._given_up(self.leader, now)):
            self._drop_leader(now)
        quorum = self.has_quorum()
        if quorum and not self._had_quorum:
            self._claim_after = max(self._claim_after, now + self.settings.election_grace)
        self._had_quorum = quorum
        if not quorum:
            if self.leader:
                self._drop_leader(now)
            return
        if self.leader or self._candidacy is not None or self.settings.role != Role.AUTO or now < self._claim_after:
            return
        candidates = {name for name in self._live_by_role[Role.AUTO] if not self._given_up(name, now)}
        candidates.add(self.settings.name)
        if self.settings.documents and not self._documents_known(candidates, now):
            return
        # The members with the newest pack document are the candidates (a write a majority
        # confirmed is on at least one of them), then the lowest name. Votes decide: a
        # voter refuses a candidate whose document is older than its own.
        newest = max(self._document_of(name) for name in candidates)
        if min(n for n in candidates if self._document_of(n) == newest) == self.settings.name:
            self._campaign(now)

    def _election_quorum(self) -> int:
        expected = self.settings.expected_members
        return (expected if expected else self.alive_count()) // 2 + 1

    def _campaign(self, now: float) -> None:
        """Ask every live member whether it would vote for us in the next term (Raft's
        pre-vote), and stand only if a majority would. A member that cannot win (it alone
        lost sight of a leader the others follow, behind a one-way cut) then never raises
        its term: when it sees the leader again it follows it, instead of sitting in a term
        nobody leads."""
        self._candidacy = Candidacy(self.term + 1, {self.settings.name}, now, pre=True)
        self._count_votes(now)
        if self._candidacy is not None and self._candidacy.pre:
            self._ask_votes(Code.PRE_VOTE_REQUEST, self._candidacy.term, now)

    def _stand(self, now: float) -> None:
        """Stand for the next term: vote for ourselves (persisted first), ask every live member."""
        term = self.term + 1
        self.term, self.voted_for = term, self.settings.name
        self._effects.append(PersistTerm(term, self.settings.name))
        self._candidacy = Candidacy(term, {self.settings.name}, now)
        self._count_votes(now)
        if self._candidacy is not None:
            self._ask_votes(Code.VOTE_REQUEST, term, now)

    def _ask_votes(self, code: Code, term: int, now: float) -> None:
        doc_term, version = self.document
        self._send_each(code, [p.record.address for p in map(self.peers.get, sorted(self._live))],
                        now, vote_term=term, doc_term=doc_term, doc_version=version, doc_digest=self._digest)

    def _count_votes(self, now: float) -> None:
        candidacy = self._candidacy
        if candidacy is not None and len(candidacy.votes) >= self._election_quorum():
            self._candidacy = None
            if candidacy.pre:
                self._stand(now)
                return
            self._set_leader(self.settings.name, candidacy.term)
            self.counters["elections_won"] += 1
            self._urgent = True

    def _leader_followed(self, now: float) -> bool:
        """Whether we lead, or follow a leader we still hear (given up, it is dropped now:
        the tick that would drop it may not have run yet)."""
        if self.leader and self.leader != self.settings.name and self._given_up(self.leader, now):
            self._drop_leader(now)
        return bool(self.leader == self.settings.name or (self.leader and self.leader in self._live))

    def _on_pre_vote_request(self, message: Message, source, now: float) -> None:
        """Would we vote for this candidate in its term? As for a vote (see below), but
        nothing is recorded: a pre-vote binds no one."""
        term, candidate = message.vote_term, message.sender
        self._leader_stands(candidate, term, now)
        followed = self._leader_followed(now)
        fresh = term > self.term or (term == self.term and self.voted_for in ("", candidate))
        granted = (fresh and not followed and (message.doc_term, message.doc_version) >= self.document
                   and self.settings.role != Role.LEADER)
        if followed and fresh:
            self._deferred_vote = (message, source, now)   # answered if we drop the leader soon
        # A refusal names our own term: if it is higher, the candidate asks for one above it next.
        self._send(Code.PRE_VOTE, source, now, vote_term=term if granted else self.term, vote_granted=granted)

    def _on_pre_vote(self, message: Message, source, now: float) -> None:
        if not message.vote_granted and message.vote_term > self.term:
            self._raise_term(message.vote_term)
            return
        candidacy = self._candidacy
        if candidacy is None and message.vote_granted and not self.leader:
            lapsed = self._lapsed
            if lapsed is not None and lapsed.pre and lapsed.term == self.term + 1:
                # A pre-vote deferred by a member that saw our old leader a little longer.
                candidacy = self._candidacy = lapsed
        if candidacy is None or not candidacy.pre or message.vote_term != candidacy.term or not message.vote_granted:
            return
        candidacy.votes.add(message.sender)
        self._count_votes(now)

    def _leader_stands(self, candidate: str, term: int, now: float) -> None:
        """Our leader asks for votes above our term: it no longer leads (it restarted and
        lost its term, or stepped down). Followed still, it would keep us from standing
        while it cannot win (its document may be older than ours)."""
        if candidate == self.leader and candidate != self.settings.name and term > self.term \
                and not self._static_leaders():
            self._drop_leader(now)

    def _on_vote_request(self, message: Message, source, now: float) -> None:
        term, candidate = message.vote_term, message.sender
        self._leader_stands(candidate, term, now)
        leader_live = self._leader_followed(now)
        if term < self.term or leader_live:
            # An old term; or we follow (or are) a live leader: a member that merely lost
            # sight of it must not unseat it (and our term stays, so that it cannot either).
            # Often the candidate only saw the leader die first: should we drop the leader
            # while the candidacy runs, the request is answered then (see _drop_leader).
            if term >= self.term:
                self._deferred_vote = (message, source, now)
            self.counters["votes_refused"] += 1
            self._send(Code.VOTE, source, now, vote_term=max(term, self.term), vote_granted=False)
            return
        self._raise_term(term)
        newer_or_same = (message.doc_term, message.doc_version) >= self.document
        granted = newer_or_same and self.voted_for in ("", candidate) and self.settings.role != Role.LEADER
        if granted:
            self.voted_for = candidate
            self._effects.append(PersistTerm(term, candidate))
            self.counters["votes_granted"] += 1
        else:
            self.counters["votes_refused"] += 1
        self._send(Code.VOTE, source, now, vote_term=term, vote_granted=granted)

    def _on_vote(self, message: Message, source, now: float) -> None:
        candidacy = self._candidacy
        if message.vote_term > self.term:
            self._raise_term(message.vote_term)
            return
        if candidacy is None and message.vote_granted and self._revivable(message.vote_term):
            # A vote deferred by a member that saw our old leader alive a little longer:
            # our candidacy for this term timed out, but we are still in that term, voted for
            # ourselves, and follow nobody: its votes still count (a vote binds its voter
            # for the whole term), as a new candidacy would, a term later.
            candidacy = self._candidacy = self._lapsed
        if candidacy is None or message.vote_term != candidacy.term or not message.vote_granted:
            return
        candidacy.votes.add(message.sender)
        self._count_votes(now)

    def _revivable(self, term: int) -> bool:
        lapsed = self._lapsed
        return (lapsed is not None and lapsed.term == term == self.term and self.voted_for == self.settings.name
                and not self.leader)

    def _drop_leader(self, now: float) -> None:
        """Follow no leader. Members do not tell each other every version they apply (only
        the leader hears each one): with the leader gone, ask every live member which
        document it has, and tell ours, before anyone may claim."""
        self._set_leader("", self.term)
        deferred, self._deferred_vote = self._deferred_vote, None
        if deferred is not None and now - deferred[2] < self.settings.dead_interval:
            # A candidacy we refused only because we still saw a leader: answered as if it
            # asked now, not by a failed election and a new one later (the candidate counts
            # a late vote while it is still in that term: see _on_vote).
            self.counters["votes_deferred"] += 1
            message, source = deferred[0], deferred[1]
            if message.code == Code.PRE_VOTE_REQUEST:
                self._on_pre_vote_request(message, source, now)
            else:
                self._on_vote_request(message, source, now)
        if not self.settings.documents:
            return
        self._leader_lost_at = now
        self._tell_document(sorted(self._live), DocumentFlag.ASK, now)

    def _tell_document(self, names, flags: int, now: float, payload: bytes = b"",
                       document: tuple | None = None) -> None:
        """One DOCUMENT message to the live members among ``names``."""
        addresses = [peer.record.address for peer in map(self.peers.get, names)
                     if peer is not None and peer.record.status in LIVE]
        term, version = self.document
        digest = self._digest
        if document is not None:
            term, version, digest = document[0], document[1], bytes.fromhex(document[2])
        self._send_each(Code.DOCUMENT, addresses, now, doc_term=term, doc_version=version,
                        doc_digest=digest, doc_flags=flags, doc_payload=payload)

    def _documents_known(self, candidates, now: float) -> bool:
        """Whether every live candidate told us its document since it (last) became live
        to us and since we lost our leader: after a partition heals, what we knew of the
        other side is stale, and after the leader's death what we knew of the others'
        versions is; a member with an older document must not win. A candidate that says
        nothing for a dead-interval is not waited for."""
        for name in candidates:
            if name == self.settings.name:
                continue
            since = max(self._met.get(name, self.started), self._leader_lost_at)
            if self._documents_at.get(name, float("-inf")) < since and now < since + self.settings.dead_interval:
                return False
        return True

    def _document_of(self, name: str) -> tuple:
        return self.document if name == self.settings.name else self.documents.get(name, (0, 0))
