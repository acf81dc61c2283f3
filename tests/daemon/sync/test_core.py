"""The sync core on the in-memory network with a fake clock: real membership cores elect
the leader, the sync cores replicate, and disks, pulls and datagrams fail on demand.

What every test holds to: a version is shown only once a majority holds it, one (term,
version) is one content everywhere, and after the faults end every member shows the same.
"""
from __future__ import annotations

import hashlib

import pytest

from mockserver.daemon.protocol.messages import DocumentFlag
from mockserver.daemon.protocol.node import DocumentHeard
from mockserver.daemon.sync.core import NotPublished
from tests.daemon.sync.syncsim import SyncPack

NAMES = ("node1", "node2", "node3")


@pytest.fixture
def pack() -> SyncPack:
    pack = SyncPack(NAMES)
    assert pack.run_until(lambda: pack.leader() is not None and pack.core(pack.leader()).settled()
                          and pack.core(pack.leader()).document.version > 0, 10.0), "no leader with a document"
    return pack


def one_content_per_version(pack: SyncPack) -> None:
    conflicting = {key: digests for key, digests in pack.every_shown().items() if len(digests) > 1}
    assert conflicting == {}


def converged(pack: SyncPack, names=NAMES) -> bool:
    triples = {pack.shown(name) for name in names}
    return len(triples) == 1 and all(pack.core(name).settled() for name in names)


def test_a_write_is_shown_only_once_a_majority_holds_it(pack):
    leader = pack.leader()
    followers = [name for name in NAMES if name != leader]
    before = pack.shown(leader)
    pack.stalled_disks.update(followers)            # the followers cannot write it down
    version = pack.write(leader, "mtu", 9000)
    pack.run(2.0)                                   # ten keepalives of repushes
    assert pack.core(leader).tip.version == version
    assert [pack.shown(name) for name in NAMES] == [before] * 3   # nobody shows it, the leader neither
    assert not pack.core(leader).settled()
    pack.release(followers[0])                      # one follower's disk: now a majority holds it
    assert pack.run_until(lambda: pack.shown(leader)[1] == version, 1.0)
    assert pack.run_until(lambda: pack.shown(followers[0])[1] == version, 1.0)
    assert pack.shown(followers[1]) == before       # its disk still waits: it holds nothing newer
    pack.release(followers[1])
    assert pack.run_until(lambda: converged(pack), 2.0)
    assert ("cluster-group-updated", "/1.0/cluster/groups/default", None, {"username": "test"}) in \
        pack.members[followers[1]].events          # the write's event is emitted on every member
    one_content_per_version(pack)


def test_lost_acknowledgements_are_made_up_by_the_leaders_repush(pack):
    leader = pack.leader()
    lost = {"count": 0}

    def drop(sender, send):   # every follower's APPLIED is lost for the first second
        if sender != leader and send.flags & DocumentFlag.APPLIED and pack.net.now < start + 1.0:
            lost["count"] += 1
            return True
        return False

    start = pack.net.now
    pack.drop = drop
    version = pack.write(leader, "mtu", 1500)
    pack.run(0.5)
    assert pack.shown(leader)[1] < version and lost["count"] >= 2
    assert pack.run_until(lambda: converged(pack), 3.0)
    assert pack.shown(leader)[1] == version
    assert pack.core(leader).counters["pushes"] >= 3   # the first push, and repushes after it
    one_content_per_version(pack)


def test_a_leader_deposed_mid_write_loses_the_write_everywhere_and_the_pack_goes_on(pack):
    old = pack.leader()
    others = [name for name in NAMES if name != old]
    pack.net.partition([old], others)                # cut off before its write goes out
    doomed = pack.write(old, "doomed", True)
    doomed_digest = pack.core(old).tip.digest
    assert pack.run_until(lambda: pack.node(others[0]).leader in others and
                          pack.node(others[0]).leader == pack.node(others[1]).leader, 10.0)
    new = pack.node(others[0]).leader
    kept = pack.write(new, "kept", True)
    assert pack.run_until(lambda: converged(pack, others) and pack.shown(new)[1] >= kept, 3.0)
    assert pack.core(old).tip.version == doomed and pack.shown(old)[1] < doomed   # held, never shown
    pack.net.heal()
    assert pack.run_until(lambda: converged(pack), 10.0)
    assert pack.leader() == new
    shown = pack.members[old].core.document
    assert dict(shown.modules)["Settings"] == {"kept": True}       # the lost write is gone...
    assert all(doomed_digest not in digests for digests in pack.every_shown().values())   # ...and never shown
    assert pack.core(old).counters["rolled_back"] == 1
    one_content_per_version(pack)


def test_a_member_cut_off_during_writes_catches_up_when_the_partition_heals(pack):
    leader = pack.leader()
    away = next(name for name in NAMES if name != leader)
    pack.net.partition([away], [name for name in NAMES if name != away])
    versions = [pack.write(leader, "step", step) for step in range(5)]
    assert pack.run_until(lambda: pack.shown(leader)[1] == versions[-1], 2.0)   # a majority without it
    assert pack.shown(away)[1] < versions[0]
    pack.net.heal()
    assert pack.run_until(lambda: converged(pack), 10.0)
    assert dict(pack.core(away).document.modules)["Settings"] == {"step": 4}
    one_content_per_version(pack)


def test_a_document_from_a_stale_term_or_a_member_that_does_not_lead_is_ignored(pack):
    leader = pack.leader()
    follower = next(name for name in NAMES if name != leader)
    other = next(name for name in NAMES if name not in (leader, follower))
    core = pack.core(follower)
    term = pack.node(follower).term
    tip, shown = core.tip, core.document
    for heard in (DocumentHeard(leader, term - 1, tip.version + 5, "ab" * 32, DocumentFlag.PUSH),   # stale term
                  DocumentHeard(leader, term - 1, tip.version + 5, "ab" * 32, DocumentFlag.COMMITTED),
                  DocumentHeard(other, term, tip.version + 5, "ab" * 32, DocumentFlag.PUSH)):       # not the leader
        assert core.heard(heard) == []
    assert (core.tip, core.document) == (tip, shown)


def test_a_document_over_a_megabyte_is_pulled_not_pushed(pack):
    leader = pack.leader()
    followers = [name for name in NAMES if name != leader]
    # Incompressible text (a hash chain): zlib cannot fit it in a datagram.
    chunks, seed = [], b"pack"
    while sum(len(c) for c in chunks) < 1_200_000:
        seed = hashlib.sha256(seed).digest()
        chunks.append(seed.hex())
    version = pack.write(leader, "blob", "".join(chunks))
    assert len(pack.core(leader).tip.to_wire()) > 1_000_000
    assert pack.run_until(lambda: converged(pack), 5.0)
    assert pack.shown(leader)[1] == version
    for name in followers:
        counters = pack.core(name).counters
        assert counters["pulls"] >= 1 and counters["pull_failures"] == 0
        assert counters["inline"] < version         # the megabyte did not come inline
    one_content_per_version(pack)


def test_a_pull_that_fails_is_tried_again_and_nothing_is_shown_meanwhile(pack):
    leader = pack.leader()
    follower = next(name for name in NAMES if name != leader)
    pack.unreachable_pulls.add(follower)
    big = "x" * 2000 + "".join(f"{i:08x}" for i in range(40_000))   # too big to come inline
    version = pack.write(leader, "blob", big)
    pack.run(1.5)
    assert pack.core(follower).counters["pull_failures"] >= 1
    assert pack.core(follower).tip.version < version
    pack.unreachable_pulls.clear()
    assert pack.run_until(lambda: converged(pack), 5.0)
    one_content_per_version(pack)


def test_a_write_that_cannot_be_a_document_is_refused_and_undone(pack):
    leader = pack.leader()
    before = pack.core(leader).tip
    with pytest.raises(NotPublished):
        pack.write(leader, "bad", "\ud800")      # a lone surrogate: no member could store it
    assert pack.core(leader).tip is before
    assert pack.members[leader].configuration.digest == before.configuration.digest   # state put back
    version = pack.write(leader, "good", 1)
    assert pack.run_until(lambda: converged(pack) and pack.shown(leader)[1] == version, 2.0)
