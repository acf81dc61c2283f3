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


def _ask(node, candidate, term, document=(0, 0), leader=""):
    message = Message(Code.VOTE_REQUEST, candidate, 7, next(_SEQ), int(NOW * 1000), leader, term, vote_term=term,
                      doc_term=document[0], doc_version=document[1], doc_digest=b"\xab" * 32)
    effects = node.receive(SEALER.seal(encode(message)), ("127.0.0.31", 5252), NOW)
    persisted = [e for e in effects if isinstance(e, PersistTerm)]
    votes = [decode(SEALER.open(e.datagram)) for e in effects if isinstance(e, Send)]
    votes = [v for v in votes if v.code == Code.VOTE]
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
