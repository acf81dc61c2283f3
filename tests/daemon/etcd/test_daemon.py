"""Daemons with ``backend: etcd`` on a real 3-member etcd (TLS, client certificates): what
happens to the pack when etcd members die, when etcd loses its quorum, and when daemons die.

Every daemon is a real ``pylxd-cluster-daemon`` process; etcd's members are killed with
SIGKILL and started again by the tests.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import json

import pytest

import pylxd_cluster
from mockserver.daemon.etcd.client import EtcdClient
from mockserver.daemon.etcd.document import EtcdDocument
from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.harness import PackProcs
from mockserver.daemon.sync.document import PackDocument
from pylxd_cluster.cli.main import main as cli
from tests.daemon.etcd.conftest import settings_of
from tests.support.backends import ETCD_TIMING
from tests.support.rawhttp import exchange

NAMES = ("node1", "node2", "node3")
STALE = "x-pack-stale"


#: A lease that outlives etcd's own failover, however loaded the machine: the harness's etcd
#: elects within its 500 ms election-timeout, but up to 1.8 s passed before it answered
#: renewals again on a loaded 2-core machine (docs/backends.rst: dead-interval against
#: etcd's election-timeout).
OUTLIVES_ETCD_FAILOVER = {**ETCD_TIMING, "dead-interval": 5000}


@contextlib.contextmanager
def etcd_pack(etcd, names=NAMES, timing=ETCD_TIMING):
    with PackProcs(listen=True, etcd=etcd, defaults=timing) as pack:
        pack.form(names)
        yield pack


def describe_on(pack, name: str, text: str) -> None:
    """Write ``text`` as node3's description through ``name`` (raises on any failure)."""
    pack[name].client.cluster.members.update("node3", description=text)


def description(pack, name: str) -> str:
    return pack[name].client.cluster.members.get("node3").description


def leads(pack) -> bool:
    """Whether a linearizable read through the leader is answered (it confirms its candidacy in etcd)."""
    reply = exchange(pack[pack.leader()].socket_path, "GET", "/1.0/cluster/members/node3",
                     headers=[("X-Pack-Consistency", "linearizable")])
    return reply.status == 200


def wait_with_states(pack, predicate, what: str, extra=lambda: "") -> None:
    """``pack.wait_until``; on a timeout, every member's etcd view, groups and log tail are in
    the failure."""
    from mockserver.daemon.harness import wait_until

    wait_until(predicate, 20, what=what, describe=lambda: extra() + "\n" + states(pack))


def states(pack) -> str:
    """Every live member's etcd view, groups and log tail (for a failure's message)."""
    parts = []
    for n in NAMES:
        if pack[n].alive():
            try:
                state = pack[n].pack_state()
            except Exception as exc:  # noqa: BLE001 - a member that cannot say is part of the picture
                state = {"etcd": f"no member state: {exc}"}
            parts.append(f"--- {n}: {json.dumps(state.get('etcd'))}\ngroups {json.dumps(state.get('groups'))}"
                         f"\n{pack[n].log(80)}")
    return "\n".join(parts)


def follower(pack) -> str:
    return next(name for name in NAMES if name != pack.leader() and pack[name].alive())


def test_one_etcd_member_down_changes_nothing_for_the_pack(etcd):
    """etcd keeps its quorum: writes go on through any member, nobody fails, nothing is stale."""
    with etcd_pack(etcd, timing=OUTLIVES_ETCD_FAILOVER) as pack:
        down = etcd.leader()
        etcd.kill9(down)
        try:
            for round_ in range(3):
                describe_on(pack, follower(pack), f"round {round_}")
            pack.wait_until(lambda: all(description(pack, n) == "round 2" for n in NAMES), 10,
                            what="the last write everywhere")
            assert pack.all_online()
            stale = [n for n in NAMES if STALE in exchange(pack[n].socket_path, "GET", "/1.0/cluster/members").headers]
            assert not stale, states(pack)
        finally:
            etcd.restart(down)
            etcd.wait_ready()


def test_without_quorum_writes_are_refused_reads_are_stale_and_members_come_back_without_a_restart(etcd):
    with etcd_pack(etcd) as pack:
        describe_on(pack, follower(pack), "before")
        pack.wait_until(lambda: all(description(pack, n) == "before" for n in NAMES), 10, what="written")
        pids = {name: pack[name].pid for name in NAMES}
        down = list(etcd.members)[:2]
        for name in down:
            etcd.kill9(name)
        try:
            def stale(name: str) -> bool:
                return STALE in exchange(pack[name].socket_path, "GET", "/1.0/cluster/members").headers

            pack.wait_until(lambda: all(stale(n) for n in NAMES), 15, what="every member marks its reads stale")
            reply = exchange(pack[NAMES[0]].socket_path, "GET", "/1.0/cluster/members/node3")
            assert reply.status == 200 and reply.headers[STALE].startswith("cut off from etcd since ")
            # The last view is still served.
            assert all(description(pack, n) == "before" for n in NAMES)
            assert pack.all_online()
            for name in NAMES:   # leader or not, nobody takes a write
                body = json.dumps({"description": "during"}).encode()
                refused = exchange(pack[name].socket_path, "PATCH", "/1.0/cluster/members/node3", body,
                                   headers=[("Content-Type", "application/json")])
                assert refused.status == 503 and refused.is_envelope, (name, refused)
                text = json.loads(refused.body)["error"]
                assert "cut off from etcd" in text and "Nothing was changed" in text, text
                assert refused.headers.get("retry-after") == "1"
        finally:
            for name in down:
                etcd.restart(name)
        etcd.wait_ready()
        pack.wait_until(lambda: not any(stale(n) for n in NAMES) and pack.leader() and leads(pack), 20,
                        what="etcd back: fresh reads, and a leader that etcd confirms")
        describe_on(pack, follower(pack), "after")
        pack.wait_until(lambda: all(description(pack, n) == "after" for n in NAMES), 10, what="written again")
        assert {name: pack[name].pid for name in NAMES} == pids   # nobody restarted
        states = [pack[n].pack_state() for n in NAMES]
        assert all(state["counters"]["renewal_failures"] > 0 and not state["etcd"]["cut_off"] for state in states)
        assert all(description(pack, n) != "during" for n in NAMES)


def test_a_killed_leader_fails_over_and_comes_back(etcd):
    with etcd_pack(etcd) as pack:
        killed = pack.leader()
        pack[killed].kill9()
        alive = [n for n in NAMES if n != killed]
        pack.wait_until(lambda: pack.leader(alive) not in ("", killed), 15, what="a new leader")
        pack.wait_until(lambda: all(pack[n].statuses()[killed] == "Offline" for n in alive), 15,
                        what=f"{killed} Offline")
        describe_on(pack, alive[0], "new leader")
        pack[killed].start()
        pack.wait_until(lambda: pack.all_online(), 15, what=f"{killed} back")
        pack.wait_until(lambda: description(pack, killed) == "new leader", 10, what="the write shown on it")
        state = pack[killed].pack_state()
        assert state["backend"] == "etcd" and state["document"]["backend"] == "etcd"
        assert state["etcd"]["cut_off"] is False and state["etcd"]["pack"] == pack.pack_name
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli(["--endpoint", str(pack[killed].socket_path), "status"]) == 0
        document = state["document"]
        assert (f"  Configuration: version {document['version']} (term {document['term']}, etcd revision "
                f"{document['revision']})") in out.getvalue()
        assert (f"  Engine: etcd at {state['etcd']['endpoint']}, keys under {state['etcd']['prefix']}: reachable"
                in out.getvalue())


def test_a_member_that_stops_has_left_and_a_linearizable_read_sees_the_last_write(etcd):
    with etcd_pack(etcd) as pack:
        entry = follower(pack)
        describe_on(pack, entry, "latest")
        reply = exchange(pack[entry].socket_path, "GET", "/1.0/cluster/members/node3",
                         headers=[("X-Pack-Consistency", "linearizable")])
        assert reply.status == 200 and json.loads(reply.body)["metadata"]["description"] == "latest"
        gone = next(n for n in NAMES if n not in (entry, pack.leader()))
        pack[gone].terminate()
        pack.wait_until(lambda: pack[entry].members()[gone].status == "Offline", 10, what=f"{gone} gone")
        assert pack[entry].members()[gone].message.startswith("Left the pack at ")


def test_a_join_token_admits_a_member_once(etcd):
    with etcd_pack(etcd) as pack:
        token = pack["node1"].client.cluster.tokens.create("node4").token
        joiner = pack.add("node4", "auto", pack_name=None, join_token=token)
        joiner.start()
        pack.wait_until(lambda: pack.all_online(list(NAMES) + ["node4"]), 15, what="node4 joined and Online")
        again = pack.add("node5", "auto", pack_name=None, join_token=token)
        again.start(wait=False)
        assert again.proc.wait(20) == 2, again.describe()
        assert "cannot join" in again.log(), again.describe()


# ---- service groups: held under the owner's lease --------------------------------------------

WEB = {"primary": "node2", "secondary": ["node3", "node1"], "service": [{"exec": {"start": "true", "stop": "true"}}]}


def holders(pack, names) -> list:
    """The members (of ``names``) that say they hold the group web."""
    return sorted(n for n in names if pack[n].pack_state()["groups"].get("web", {}).get("held_here"))


def key_holder(pack, name: str) -> str:
    """Who holds web, as the API of ``name`` shows it ("" when nobody is Active)."""
    shown = json.loads(exchange(pack[name].socket_path, "GET", "/1.0/cluster/service-groups/web").body)["metadata"]
    return shown["owner"] if shown["status"] == "Active" else ""


def with_web(pack) -> None:
    describe_body = json.dumps({"modules": [{"ServiceGroups": {"web": WEB}}]}).encode()
    reply = exchange(pack[pack.leader()].socket_path, "PATCH", "/1.0/cluster/config", describe_body,
                     headers=[("Content-Type", "application/json")])
    assert reply.status == 200, reply
    pack.wait_until(lambda: holders(pack, NAMES) == ["node2"] and all(key_holder(pack, n) == "node2" for n in NAMES),
                    15, what="node2 holds web, and every member shows it Active there")


def test_a_killed_owners_group_moves_once_its_lease_is_gone_and_is_never_held_twice(etcd):
    with etcd_pack(etcd) as pack:
        with_web(pack)
        pack["node2"].kill9()
        survivors = ("node1", "node3")
        seen = []

        def moved() -> bool:
            now = holders(pack, survivors)
            seen.append(now)
            return now == ["node3"] and all(key_holder(pack, n) == "node3" for n in survivors)

        pack.wait_until(moved, 15, what="node3 holds web")
        assert all(len(now) <= 1 for now in seen), seen
        assert pack["node3"].pack_state()["groups"]["web"]["epoch"] == 2


def test_an_owner_cut_off_from_etcd_lets_go_before_another_takes_over(etcd):
    """node2 reaches etcd through one member only; that member dies, the other two keep
    etcd's quorum. node2 takes web down on its own before its lease can expire; node3 holds
    it once etcd let the lease go."""
    lonely = list(etcd.members)[0]
    with PackProcs(listen=True, etcd=etcd, defaults=ETCD_TIMING) as pack:
        for name in NAMES:
            endpoints = [etcd.endpoint(lonely)] if name == "node2" else \
                [etcd.endpoint(m) for m in etcd.members if m != lonely]
            pack.add(name, "auto", **{"etcd-endpoints": endpoints})
        pack.start_all()
        pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, what="one leader")
        with_web(pack)
        etcd.kill9(lonely)
        try:
            seen = []

            def moved() -> bool:
                now = holders(pack, NAMES)   # node2 answers from its last view: it says what it holds
                seen.append(now)
                return now == ["node3"]

            wait_with_states(pack, moved, "node2 let web go and node3 holds it", extra=lambda: f"seen: {seen[-5:]}")
            assert ["node2"] in seen and all(len(now) <= 1 for now in seen), seen   # never both at once
            state = pack["node2"].pack_state()
            assert state["etcd"]["cut_off"] is True and state["counters"]["groups_lease_lost"] == 1
            assert STALE in exchange(pack["node2"].socket_path, "GET", "/1.0/cluster/service-groups/web").headers
            registrations = state["counters"]["registrations"]
            pack.wait_until(lambda: pack["node3"].statuses()["node2"] == "Offline", 15,
                            what="node2's lease expired: the others show it Offline")
        finally:
            etcd.restart(lonely)
            etcd.wait_ready()
        # etcd tells node2 its lease is gone: it registers under a new one, without a restart.
        wait_with_states(pack, lambda: not pack["node2"].pack_state()["etcd"]["cut_off"]
                         and all(pack[n].statuses()["node2"] == "Online" for n in NAMES),
                         "node2 registered again and Online everywhere")
        assert pack["node2"].pack_state()["counters"]["registrations"] == registrations + 1
        assert STALE not in exchange(pack["node2"].socket_path, "GET", "/1.0/cluster/members").headers


def test_a_write_caught_by_the_loss_of_quorum_has_an_unknown_outcome_and_members_agree_after(etcd):
    """The write reaches the leader before it knows it is cut off: etcd cannot answer, and
    may still commit it once its quorum is back, so the client is told the outcome is
    unknown; afterwards every member shows the same value, whichever it is."""
    with etcd_pack(etcd) as pack:
        leader = pack.leader()
        describe_on(pack, leader, "before")
        down = list(etcd.members)[:2]
        for name in down:
            etcd.kill9(name)
        try:
            with pytest.raises(pylxd_cluster.OutcomeUnknown) as caught:
                describe_on(pack, leader, "maybe")
            assert caught.value.status_code == 503 and "read it back" in str(caught.value)
        finally:
            for name in down:
                etcd.restart(name)
        etcd.wait_ready()
        wait_with_states(pack, lambda: pack.leader() and leads(pack), "a leader etcd confirms")
        pack.wait_until(lambda: len({description(pack, n) for n in NAMES}) == 1, 10, what="members agree")
        assert description(pack, NAMES[0]) in ("before", "maybe")


def test_a_write_of_the_leaders_term_that_etcd_commits_late_is_built_on(etcd):
    """A write the leader gave up as "outcome unknown" may be committed by etcd once its
    quorum is back, after the leader has led on: etcd then holds a document of the leader's
    own term that the leader did not make. The leader shows it, reads go on, and the next
    write builds on it. (The late commit is written here through the leader's own fence:
    its candidacy at its term, the document at its revision.)"""
    with etcd_pack(etcd) as pack:
        leader = pack.leader()
        describe_on(pack, leader, "before")
        pack.wait_until(lambda: all(description(pack, n) == "before" for n in NAMES), 10, what="written")
        state = pack[leader].pack_state()
        keys = PackKeys(state["etcd"]["prefix"], state["etcd"]["pack"])
        candidacy, term = keys.candidacy(int(state["etcd"]["lease"], 16)), state["term"]

        async def commit_late() -> int:
            client = EtcdClient(settings_of(etcd))
            try:
                stored = await client.get(keys.document)
                document = PackDocument.from_wire(stored.value)
                late = document.changed(modules=document.modules + (("Late", {"n": 1}),))
                assert late.term == term
                return await EtcdDocument(client, keys).write(late.to_wire(), base=stored.mod_revision,
                                                              candidacy=candidacy, term=term)
            finally:
                await client.close()

        asyncio.run(commit_late())
        pack.wait_until(lambda: pack[leader].pack_state()["document"]["counters"]["late_commits"] == 1, 10,
                        what="the leader shows the late commit")
        reply = exchange(pack[leader].socket_path, "GET", "/1.0/cluster/config", timeout=2)
        assert reply.status == 200, reply   # not held back waiting for a write that is not coming
        assert {"Late": {"n": 1}} in json.loads(reply.body)["metadata"]["modules"]
        describe_on(pack, follower(pack), "after")
        pack.wait_until(lambda: all(description(pack, n) == "after" for n in NAMES), 10, what="written after")
        assert {"Late": {"n": 1}} in json.loads(exchange(pack[follower(pack)].socket_path, "GET",
                                                         "/1.0/cluster/config").body)["metadata"]["modules"]
