"""Elections by vote: a term has at most one leader, is never reused, and a restarted
leader stands again rather than taking its old term back (simulated time, in-memory
network)."""
from __future__ import annotations

import random

import pytest

from mockserver.daemon.protocol.messages import Code, Message, Role, decode, encode
from mockserver.daemon.protocol.node import LeaderChange, NodeSettings, PackNode, PersistTerm, Send
from tests.daemon.protocol.sim import DEAD, KEEPALIVE, SEALER, Pack, leaders_by_term


def leaders(pack):
    return {name: (pack.node(name).leader, pack.node(name).term) for name in pack.alive()}


def one_leader_everywhere(pack):
    seen = {view for view in leaders(pack).values()}
    return len(seen) == 1 and next(iter(seen))[0] != ""


def test_a_leader_restarted_within_the_dead_interval_stands_for_a_new_term():
    pack = Pack(expected=3)
    assert pack.run_until(lambda: one_leader_everywhere(pack), 3.0)
    old_leader, old_term = leaders(pack)["node2"]
    pack.net.crash(old_leader)
    pack.run(DEAD / 5)                      # back long before the others mark it dead
    restarted = pack.net.now
    pack.start(old_leader)
    assert pack.run_until(lambda: one_leader_everywhere(pack) and leaders(pack)["node2"][1] > old_term, 3 * DEAD), \
        leaders(pack)
    taken_back = [(t, n, e) for t, n, e in pack.events if t >= restarted and isinstance(e, LeaderChange)
                  and e.leader == old_leader and e.term == old_term]
    assert taken_back == []
    assert all(len(names) == 1 for names in leaders_by_term(pack.events).values()), leaders_by_term(pack.events)
    assert pack.node(old_leader).term > old_term


@pytest.mark.parametrize("seed", range(12))
def test_no_term_ever_has_two_leaders_through_crashes_restarts_and_partitions(seed):
    names = tuple(f"node{i}" for i in range(1, 6))
    pack = Pack(names=names, expected=5, loss=0.03, seed=seed)
    rng = random.Random(seed)
    pack.run(2.0)
    for _ in range(12):
        action = rng.choice(["restart", "restart", "partition", "heal", "crash"])
        if action == "restart":
            victim = rng.choice(names)
            if victim in pack.alive():
                pack.net.crash(victim)
            pack.run(rng.uniform(0.0, DEAD))
            pack.start(victim)
        elif action == "crash" and len(pack.alive()) > 3:
            pack.net.crash(rng.choice(pack.alive()))
        elif action == "partition":
            shuffled = list(names)
            rng.shuffle(shuffled)
            cut = rng.randint(1, 4)
            pack.net.partition(set(shuffled[:cut]), set(shuffled[cut:]))
        else:
            pack.net.heal()
        pack.run(rng.uniform(0.2, 2 * DEAD))
    pack.net.heal()
    for name in names:
        if name not in pack.alive():
            pack.start(name)
    assert pack.run_until(lambda: one_leader_everywhere(pack), 10.0), leaders(pack)
    terms = leaders_by_term(pack.events)
    assert terms and all(len(who) == 1 for who in terms.values()), terms


# ---- one voter, messages crafted by hand --------------------------------------------------

NOW = 1000.0


def _voter(term=0, voted_for="", document=(0, 0), role=Role.AUTO):
    settings = NodeSettings("voter", "127.0.0.21", 5252, role=role, keepalive=KEEPALIVE, dead_interval=DEAD)
    node = PackNode(settings, SEALER, boot=1, now=NOW, term=term, voted_for=voted_for)
    node.set_document(document[0], document[1], "ab" * 32)
    return node


_SEQ = iter(range(1, 1 << 30))


def _ask(node, candidate, term, document=(0, 0), leader="", pre=False):
    message = Message(Code.PRE_VOTE_REQUEST if pre else Code.VOTE_REQUEST, candidate, 7, next(_SEQ),
                      int(NOW * 1000), leader, term, vote_term=term, doc_term=document[0], doc_version=document[1],
                      doc_digest=b"\xab" * 32)
    effects = node.receive(SEALER.seal(encode(message)), ("127.0.0.31", 5252), NOW)
    persisted = [e for e in effects if isinstance(e, PersistTerm)]
    votes = [decode(SEALER.open(e.datagram)) for e in effects if isinstance(e, Send)]
    votes = [v for v in votes if v.code == (Code.PRE_VOTE if pre else Code.VOTE)]
    assert len(votes) == 1
    if persisted:   # the vote is on disk before it is sent
        assert effects.index(persisted[0]) < next(i for i, e in enumerate(effects) if isinstance(e, Send))
    return votes[0], persisted


def test_a_vote_is_persisted_before_it_is_sent_and_survives_a_restart():
    vote, persisted = _ask(_voter(), "node1", 5)
    assert (vote.vote_term, vote.vote_granted) == (5, True)
    assert persisted == [PersistTerm(5, "node1")]
    restarted = _voter(term=5, voted_for="node1")            # what PersistTerm wrote
    vote, persisted = _ask(restarted, "node2", 5)
    assert (vote.vote_term, vote.vote_granted, persisted) == (5, False, [])   # one vote per term
    vote, persisted = _ask(restarted, "node2", 6)
    assert (vote.vote_term, vote.vote_granted) == (6, True) and persisted == [PersistTerm(6, "node2")]


def test_a_candidate_with_an_older_document_gets_no_vote():
    vote, persisted = _ask(_voter(document=(3, 9)), "node1", 4, document=(3, 8))
    assert (vote.vote_granted, persisted) == (False, [])
    vote, _ = _ask(_voter(document=(3, 9)), "node1", 4, document=(3, 9))
    assert vote.vote_granted


def test_an_old_term_is_refused_and_told_the_newer_one():
    vote, persisted = _ask(_voter(term=8), "node1", 5)
    assert (vote.vote_term, vote.vote_granted, persisted) == (8, False, [])


def test_a_vote_refused_for_a_live_leader_is_given_when_the_voter_drops_it_and_the_late_vote_counts():
    """The candidate saw the leader die first: the voter, still hearing it, refuses, then
    drops the leader itself and grants that same request; the candidate, whose candidacy
    has timed out meanwhile but which is still in that term, counts the late vote."""
    voter = _voter(term=4)
    voter.leader, voter._live = "node1", {"node1"}           # following a leader it still hears
    vote, persisted = _ask(voter, "node2", 5)
    assert (vote.vote_granted, persisted) == (False, [])
    voter._live = set()
    effects = []
    voter._effects = effects
    voter._drop_leader(NOW + 0.1)                             # the voter's own detector: node1 is dead
    granted = [decode(SEALER.open(e.datagram)) for e in effects if isinstance(e, Send)]
    granted = [v for v in granted if v.code == Code.VOTE]
    assert [(v.vote_term, v.vote_granted) for v in granted] == [(5, True)]
    assert PersistTerm(5, "node2") in effects and effects.index(PersistTerm(5, "node2")) < effects.index(
        next(e for e in effects if isinstance(e, Send) and decode(SEALER.open(e.datagram)).code == Code.VOTE))
    assert voter.counters["votes_deferred"] == 1

    # Too late: a request older than a dead-interval is not answered.
    stale = _voter(term=4)
    stale.leader, stale._live = "node1", {"node1"}
    _ask(stale, "node2", 5)
    stale._live, stale._effects = set(), []
    stale._drop_leader(NOW + DEAD)
    assert stale.counters["votes_deferred"] == 0


def test_a_lapsed_candidacy_wins_on_late_votes_only_while_still_in_its_term():
    pack = Pack(expected=3)
    assert pack.run_until(lambda: one_leader_everywhere(pack), 3.0)
    candidate = pack.node(next(n for n in pack.alive() if pack.node(n).leader != n))
    lapsed_term = candidate.term + 1
    candidate.leader, candidate._live = "", set()
    candidate._stand(pack.net.now)
    candidate._candidacy, candidate._lapsed = None, candidate._candidacy   # timed out, no votes yet
    late = Message(Code.VOTE, "node9", 7, next(_SEQ), 0, "", lapsed_term, vote_term=lapsed_term, vote_granted=True)
    candidate._on_vote(late, ("127.0.0.99", 5252), pack.net.now)
    assert candidate.leader == candidate.settings.name and candidate.term == lapsed_term
    # A late vote for a term the candidate has left behind counts for nothing.
    other = pack.node(next(n for n in pack.alive() if n != candidate.settings.name))
    other.leader, other._live = "", set()
    other._stand(pack.net.now)
    other._candidacy, other._lapsed = None, other._candidacy
    other.term += 1                                                     # it moved on to a newer term
    old = Message(Code.VOTE, "node9", 7, next(_SEQ), 0, "", other.term - 1, vote_term=other.term - 1,
                  vote_granted=True)
    other._on_vote(old, ("127.0.0.99", 5252), pack.net.now)
    assert other.leader == ""


# ---- pre-votes ------------------------------------------------------------------------------

def test_a_pre_vote_binds_no_one_and_is_refused_while_the_voter_follows_a_live_leader():
    voter = _voter(term=4)
    vote, persisted = _ask(voter, "node2", 5, pre=True)
    assert (vote.vote_term, vote.vote_granted, persisted) == (5, True, [])
    assert (voter.term, voter.voted_for) == (4, "")                     # nothing recorded
    vote, _ = _ask(voter, "node3", 5)                                   # so the real vote is still free
    assert vote.vote_granted
    follower = _voter(term=4)
    follower.leader, follower._live = "node1", {"node1"}
    vote, persisted = _ask(follower, "node2", 5, pre=True)
    assert (vote.vote_term, vote.vote_granted, persisted, follower.term) == (4, False, [], 4)
    # Its own leader asks for a pre-vote above the term: it no longer leads (it restarted, or
    # stepped down). The follower drops it, and answers node2's deferred pre-vote now too.
    message = Message(Code.PRE_VOTE_REQUEST, "node1", 7, next(_SEQ), int(NOW * 1000), "", 5, vote_term=5,
                      doc_term=0, doc_version=0, doc_digest=b"\xab" * 32)
    effects = follower.receive(SEALER.seal(encode(message)), ("127.0.0.31", 5252), NOW)
    answers = [decode(SEALER.open(e.datagram)) for e in effects if isinstance(e, Send)]
    assert sorted((a.vote_term, a.vote_granted) for a in answers if a.code == Code.PRE_VOTE) == [(5, True), (5, True)]
    assert (follower.leader, follower.term) == ("", 4)


def test_a_follower_drops_a_leader_that_asks_for_votes_above_its_term():
    """The leader restarted with an older document than its followers hold: it cannot win,
    and followers that kept following it would never stand either (a pack with no leader
    until the restarted member is stopped)."""
    follower = _voter(term=4, document=(4, 9))
    follower.leader, follower._live = "node1", {"node1"}
    vote, persisted = _ask(follower, "node1", 5, document=(4, 8))
    assert (vote.vote_term, vote.vote_granted) == (5, False)          # an older document: refused...
    assert (follower.leader, follower.term) == ("", 5)                 # ...and no longer followed


def test_a_leader_that_restarted_is_not_followed_again_on_others_rumours():
    pack = Pack(expected=3, documents=True, seed=17)
    for name in ("node1", "node2", "node3"):
        pack.node(name).set_document(0, 0, "ab" * 32)
    assert pack.run_until(lambda: one_leader_everywhere(pack), 3.0)
    old_leader, old_term = leaders(pack)["node1"]
    for name in ("node1", "node2", "node3"):   # committed on the followers, not on the leader's disk
        pack.node(name).set_document(old_term, 1, "cd" * 32)
    pack.net.crash(old_leader)
    pack.run(DEAD * 0.05)
    pack.start(old_leader).set_document(0, 0, "ab" * 32)
    assert pack.run_until(lambda: one_leader_everywhere(pack) and leaders(pack)["node1"][1] > old_term, 5 * DEAD), \
        leaders(pack)
    assert leaders(pack)["node1"][0] != old_leader   # the member with the older document does not win


def test_a_pre_vote_refused_for_an_older_term_tells_the_newer_one():
    vote, _ = _ask(_voter(term=8), "node1", 5, pre=True)
    assert (vote.vote_term, vote.vote_granted) == (8, False)


def test_a_member_cut_off_from_the_leader_alone_follows_it_again_in_the_same_term():
    """A one-way fault: node2 no longer hears node1 (the leader), node3 hears both. node2
    declares node1 dead and would stand, but node3 still follows node1 and refuses its
    pre-vote: node2 raises no term, so that once the link is back it follows node1 again
    (with a raised term it would lead nothing and follow no one, for good)."""
    pack = Pack(keepalive=0.1, dead_interval=0.3, expected=3)
    assert pack.run_until(lambda: one_leader_everywhere(pack), 3.0)
    leader, term = leaders(pack)["node3"]
    assert leader == "node1"
    pack.net.cut("node1", "node2")
    pack.run(3.0)
    assert pack.node("node2").counters["elections_lost"] >= 1          # it did try
    assert pack.node("node2").term == term and pack.persisted.get("node2", (term, ""))[0] <= term
    assert leaders(pack)["node1"] == leaders(pack)["node3"] == ("node1", term)
    pack.net.heal()
    assert pack.run_until(lambda: one_leader_everywhere(pack), 3.0), leaders(pack)
    assert leaders(pack)["node2"] == ("node1", term)
