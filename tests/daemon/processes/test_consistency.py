"""What a pack promises about its data, on real daemons (docs/daemon.rst, "What a read
promises"): a restarted leader never takes its old term back, no read shows a write that
is then lost, forwards follow the current leader, and a linearizable read reflects every
acknowledged write."""
from __future__ import annotations

import json
import threading
import time

import pytest

from mockserver.daemon.harness import DocumentSampler, PackProcs, config_of, modules
from tests.support.backends import ENGINES, engine_options
from tests.support.rawhttp import exchange

NAMES = ("node1", "node2", "node3")
JSON = [("Content-Type", "application/json")]
LINEARIZABLE = [("X-Pack-Consistency", "linearizable")]


def put_config(node, modules_, timeout=15.0, headers=()):
    return exchange(node.socket_path, "PUT", "/1.0/cluster/config", json.dumps({"modules": modules_}).encode(),
                    JSON + list(headers), timeout=timeout)


@pytest.fixture(params=ENGINES)
def pack(request):
    """Three daemons on either engine of record (the pack's protocol, or a real etcd)."""
    with engine_options(request.param) as options, PackProcs(listen=True, **options) as procs:
        procs.form(NAMES)
        yield procs


def test_a_leader_killed_and_restarted_at_once_never_takes_its_term_back(pack):
    held = DocumentSampler(pack, NAMES)
    try:
        for round_ in range(3):
            leader = pack.leader()
            term = pack[leader].pack_state()["term"]
            assert put_config(pack[leader], [{"Round": {"n": round_}}]).status == 200
            pack[leader].kill9()
            pack[leader].start()          # back well within the dead-interval
            pack.wait_until(lambda: pack.all_online() and pack.leader()
                            and pack[pack.leader()].pack_state()["term"] > term, 15, what="a new term")
            new_leader = pack.leader()
            assert pack[new_leader].pack_state()["term"] > term
            # Nothing acknowledged was lost, and the pack takes writes again.
            assert modules(config_of(pack[new_leader]), "modules") == {"Round": {"n": round_}}
    finally:
        held.stop()
    assert held.conflicts == [] and len(held.seen) > 3


def test_a_linearizable_read_through_any_member_reflects_the_last_acknowledged_write(pack):
    for index, name in enumerate(NAMES * 3):
        writer, reader = pack[name], pack[NAMES[(index + 1) % 3]]
        assert put_config(writer, [{"Counter": {"n": index}}]).status == 200
        reply = exchange(reader.socket_path, "GET", "/1.0/cluster/config", headers=LINEARIZABLE)
        assert reply.status == 200, reply.body
        assert json.loads(reply.body)["metadata"]["modules"] == [{"Counter": {"n": index}}]


# ---- across network namespaces: partitions ----------------------------------------------

@pytest.fixture
def lan(bridged_factory):
    members = bridged_factory(3, prefix="pkc")
    procs = PackProcs(listen=True, defaults={"expected_members": 3})
    try:
        procs.form(NAMES, members)
        yield procs, members
    finally:
        procs.close()


def test_no_read_shows_a_write_that_is_then_lost(lan):
    """The leader is cut off with nobody: a write on it cannot be committed. Reads on it
    wait, then answer without it; the write is gone everywhere after the heal, and the
    client was told its outcome was unknown, not that it failed or succeeded."""
    pack, members = lan
    leader = pack.leader()
    assert put_config(pack[leader], [{"Value": {"v": "committed"}}]).status == 200
    members[NAMES.index(leader)].link_down()
    answer = []
    writer = threading.Thread(target=lambda: answer.append(put_config(pack[leader], [{"Value": {"v": "lost"}}])))
    writer.start()
    seen = set()
    deadline = time.monotonic() + 6
    while writer.is_alive() or time.monotonic() < deadline - 3:
        reply = exchange(pack[leader].socket_path, "GET", "/1.0/cluster/config", timeout=15)
        if reply.status == 200:
            seen.add(json.dumps(json.loads(reply.body)["metadata"]["modules"]))
        if time.monotonic() > deadline:
            break
    writer.join(15)
    assert answer and answer[0].status == 503 and answer[0].headers.get("x-pack-outcome") == "unknown", answer
    assert "read it back" in json.loads(answer[0].body)["error"]
    assert '[{"Value": {"v": "lost"}}]' not in seen, seen
    members[NAMES.index(leader)].link_up()
    pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, what="healed")
    pack.wait_until(lambda: len({json.dumps(config_of(pack[n])["modules"]) for n in NAMES}) == 1, 10,
                    what="one configuration")
    for name in NAMES:
        assert config_of(pack[name])["modules"] == [{"Value": {"v": "committed"}}], name


def test_a_forward_to_a_leader_that_was_cut_off_gives_up_when_another_is_elected(lan):
    pack, members = lan
    leader = pack.leader()
    follower = next(n for n in NAMES if n != leader)
    assert put_config(pack[follower], [{"Before": {}}]).status == 200   # a kept-alive connection to the leader
    members[NAMES.index(leader)].link_down()
    started = time.monotonic()
    reply = put_config(pack[follower], [{"During": {}}])                 # the follower still believes in it
    took = time.monotonic() - started
    dead, commit = 1.0, 2.0
    assert reply.status == 503 and reply.headers.get("x-pack-outcome") == "unknown", reply
    assert took < dead + commit, f"the forward took {took:.1f} s"
    pack.wait_until(lambda: pack.leader([n for n in NAMES if n != leader]) not in ("", leader), 10,
                    what="a new leader on the majority side")
    assert put_config(pack[follower], [{"After": {}}]).status == 200
    members[NAMES.index(leader)].link_up()


def test_a_configuration_only_the_next_leader_held_survives_and_the_next_write_builds_on_it(bridged_factory):
    """The leader and one follower, cut off from three others, take a write they cannot
    commit; the leader dies, the follower rejoins and wins (it holds the newest document),
    commits that write, and the next write through it keeps it."""
    from mockserver.daemon.harness.netns import rejoin, split

    names = ("node1", "node2", "node3", "node4", "node5")
    members = bridged_factory(5, prefix="pkf")
    pack = PackProcs(listen=True, defaults={"expected_members": 5})
    try:
        leader = pack.form(names, members)
        friend = next(n for n in names if n != leader)
        others = [n for n in names if n not in (leader, friend)]
        before = pack[friend].pack_state()["document"]["version"]
        split([members[names.index(n)] for n in others], [members[names.index(leader)], members[names.index(friend)]])
        answers = []

        def write():
            try:
                answers.append(put_config(pack[leader], [{"Kept": {"v": 1}}]))
            except OSError as exc:   # the leader is killed before it answers: the client sees that
                answers.append(exc)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()     # it cannot be committed: two of five hold it
        pack.wait_until(lambda: pack[friend].pack_state()["document"]["held"]["version"] > before, 5,
                        what=f"{friend} holds the write")
        pack[leader].kill9()   # before the three others elect anyone (that takes a dead-interval)
        rejoin(members)
        alive = [n for n in names if n != leader]
        pack.wait_until(lambda: pack.leader(alive) == friend, 15, what=f"{friend}, which holds the newest, leads")
        patch = exchange(pack[friend].socket_path, "PATCH", "/1.0/cluster/config",
                         json.dumps({"modules": [{"Next": {"v": 2}}]}).encode(), JSON, timeout=15)
        assert patch.status == 200, patch
        assert modules(config_of(pack[friend]), "modules") == {"Kept": {"v": 1}, "Next": {"v": 2}}
        pack.wait_until(lambda: len({json.dumps(config_of(pack[n])["modules"]) for n in alive}) == 1, 10,
                        what="every member shows it")
        writer.join(10)
        assert answers and not (hasattr(answers[0], "status") and answers[0].status == 200), answers
    finally:
        pack.close()
