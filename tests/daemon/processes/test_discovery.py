"""Discovery through a hosts file, with real daemons on loopback and no broadcast,
multicast or static peers: the pack forms from the file, follows its edits, keeps a live
member the file no longer lists, and says in member state what each strategy found."""
from __future__ import annotations

import pytest

from mockserver.daemon.harness import PackProcs, hold_for

pytestmark = pytest.mark.system


@pytest.fixture
def hosts_pack():
    pack = PackProcs(broadcast=False)
    try:
        yield pack
    finally:
        pack.close()


def line(pack, name: str) -> str:
    return f"{pack[name].interface}:{pack.port}"


def discovery(pack, name: str) -> list:
    return pack[name].pack_state()["discovery"]


def test_a_pack_forms_from_a_hosts_file_and_follows_its_edits(hosts_pack):
    pack = hosts_pack
    shared, alone = pack.dir / "hosts", pack.dir / "hosts-node3"
    for name in ("node1", "node2"):
        pack.add(name, "auto", discovery=[{"hosts-file": str(shared)}])
    pack.add("node3", "auto", discovery=[{"hosts-file": {"path": str(alone), "polling-interval": 200}}])
    shared.write_text(f"# the pack\n{line(pack, 'node1')}\n\n{line(pack, 'node2')}   # second\n")
    alone.write_text("# nobody yet\n")
    pack.start_all()
    pack.wait_until(lambda: pack.all_online(["node1", "node2"]) and pack.leader(["node1", "node2"]), 15,
                    what="node1 and node2 from the file")
    assert set(pack["node3"].statuses()) == {"node3"}          # its file lists no one
    # Listed in the others' file: they reach it, and it joins.
    with open(shared, "a") as f:
        f.write(f"{line(pack, 'node3')}\n")
    pack.wait_until(lambda: pack.all_online(), 15, what="node3 found through the edited file")
    everyone = sorted(line(pack, n) for n in ("node1", "node2", "node3"))
    pack.wait_until(lambda: discovery(pack, "node1")[0]["found"] == everyone, 5, what="node1's file re-read")
    status = discovery(pack, "node1")
    assert [s["strategy"] for s in status] == [f"hosts-file {shared}"]
    # pylxd-cluster status shows it too
    import contextlib
    import io

    from pylxd_cluster.cli.main import main as cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(["--endpoint", str(pack["node1"].socket_path), "status"]) == 0
    assert f"  Discovery hosts-file {shared}: 3 found ({', '.join(everyone)})" in out.getvalue()
    assert status[0]["error"] is None and status[0]["updated_at"]
    # and the SDK, typed
    sdk_view = pack["node1"].client.cluster.members.state("node1").pack
    assert [(s.strategy, s.found, s.failing) for s in sdk_view.discovery] == [(f"hosts-file {shared}",
                                                                              tuple(everyone), False)]
    assert sdk_view.barrier.status == "none"
    for name in pack.nodes:
        counters = pack[name].counters()
        assert counters["udp_sent_broadcast"] == 0 and counters["udp_sent_multicast"] == 0, counters


def test_a_member_dropped_from_the_file_stays_and_a_bad_file_loses_no_one(hosts_pack):
    pack = hosts_pack
    shared = pack.dir / "hosts"
    for name in ("node1", "node2", "node3"):
        pack.add(name, "auto", discovery=[{"hosts-file": {"path": str(shared), "polling-interval": 200}}])
    shared.write_text("".join(f"{line(pack, n)}\n" for n in ("node1", "node2", "node3")))
    pack.start_all()
    pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, what="the pack from the file")
    # Discovery proposes, the failure detector decides: node3 lives, so it stays.
    shared.write_text(f"{line(pack, 'node1')}\n{line(pack, 'node2')}\nthis is not a host\n")
    pack.wait_until(lambda: any(s["problems"] for s in discovery(pack, "node1")), 10, what="the garbage line seen")
    [status] = discovery(pack, "node1")
    assert status["problems"] == ["line 3: expected 'host' or 'host:port' (an IPv4 address or a name, port 1 to"
                                  " 65535), got 'this is not a host'"]
    hold_for(lambda: pack.all_online(), 2.5, what="every member stays Online")     # 2.5 dead-intervals
    # The file disappears: each member keeps its members, and says why.
    shared.unlink()
    pack.wait_until(lambda: all(s["error"] for n in pack.nodes for s in discovery(pack, n)), 10,
                    what="the missing file in every status")
    assert "No such file or directory" in discovery(pack, "node2")[0]["error"]
    hold_for(lambda: pack.all_online(), 2.5, what="every member stays Online")
    # A member that dies is Offline as ever; dead and no longer listed, it is forgotten.
    pack.kill9("node3")
    pack.wait_until(lambda: all(pack[n].statuses().get("node3") == "Offline" for n in ("node1", "node2")), 10,
                    what="node3 Offline")
    shared.write_text(f"{line(pack, 'node1')}\n{line(pack, 'node2')}\n")
    pack.wait_until(lambda: all("node3" not in pack[n].statuses() for n in ("node1", "node2")), 10,
                    what="node3 forgotten")
    assert "member node3 forgotten (dead for" in pack["node1"].log()
    # Back, and listed again: a member as any newcomer.
    shared.write_text("".join(f"{line(pack, n)}\n" for n in ("node1", "node2", "node3")))
    pack["node3"].start()
    pack.wait_until(lambda: pack.all_online(), 15, what="node3 back")


def test_a_pack_forms_through_dns_and_a_record_removed_does_not_remove_a_live_member(hosts_pack, tmp_path):
    from mockserver.daemon.harness.dnsmasq import Dnsmasq

    pack = hosts_pack
    server = Dnsmasq(tmp_path, f"{pack.block}250")
    names = ("node1", "node2", "node3")
    try:
        server.start()
        query = {"dns": {"query": "pack.pack.test", "resolver": server.resolver, "polling-interval": 200}}
        for name in names:
            pack.add(name, "auto", discovery=[query])
        server.records = {"pack.pack.test": [pack[n].interface for n in names]}
        server.reload()
        pack.start_all()
        pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, what="the pack through DNS")
        [status] = pack["node2"].pack_state()["discovery"]
        assert status["strategy"] == f"dns pack.pack.test @{server.resolver}"
        assert status["found"] == sorted(f"{pack[n].interface}:{pack.port}" for n in names)
        # node3's record goes: it lives, so it stays.
        server.records = {"pack.pack.test": [pack[n].interface for n in ("node1", "node2")]}
        server.reload()
        pack.wait_until(lambda: len(pack["node1"].pack_state()["discovery"][0]["found"]) == 2, 10,
                        what="the record gone from node1's view")
        hold_for(lambda: pack.all_online(), 2.5, what="node3 stays Online")
        # The resolver goes away: members stay, and the status says why.
        server.stop()
        pack.wait_until(lambda: pack["node1"].pack_state()["discovery"][0]["error"], 10, what="the resolver's silence")
        assert "no answer within" in pack["node1"].pack_state()["discovery"][0]["error"]
        hold_for(lambda: pack.all_online(), 2.5, what="every member stays Online")
        pack.kill9("node3")
        pack.wait_until(lambda: all(pack[n].statuses().get("node3") == "Offline" for n in ("node1", "node2")), 10,
                        what="node3 Offline once killed")
    finally:
        server.stop()


def test_a_pack_forms_through_the_kubernetes_api_and_keeps_members_it_refuses_to_list(hosts_pack, tmp_path):
    from tests.daemon.discovery.kubeapi import READY, TERMINATING, KubeApiDouble, ServiceAccount, endpoint_slice

    pack = hosts_pack
    names = ("node1", "node2", "node3")
    with KubeApiDouble(tmp_path, address=f"{pack.block}251") as api:
        account = ServiceAccount(tmp_path / "serviceaccount", api)
        strategy = {"kubernetes": {"selector": "kubernetes.io/service-name=pack", "port-name": "pack",
                                   "polling-interval": 200, "service-account": str(account.dir)}}
        for name in names:
            pack.add(name, "auto", discovery=[strategy]).env.update(account.environ)
        # The slice lists a fourth, unready pod, which must not be proposed.
        api.objects["endpointslices"] = [endpoint_slice("pack-x", [(pack[n].interface, READY) for n in names]
                                                        + [(f"{pack.block}99", TERMINATING)], port=pack.port)]
        pack.start_all()
        pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, what="the pack through the API")
        [status] = discovery(pack, "node1")
        assert status["strategy"] == "kubernetes endpointslices kubernetes.io/service-name=pack"
        assert status["found"] == sorted(line(pack, n) for n in names) and status["error"] is None
        # node3 is terminating in the API's eyes but lives: it stays until it is dead.
        api.objects["endpointslices"] = [endpoint_slice("pack-x", [(pack[n].interface, READY) for n in names[:2]]
                                                        + [(pack["node3"].interface, TERMINATING)], port=pack.port)]
        pack.wait_until(lambda: len(discovery(pack, "node1")[0]["found"]) == 2, 10, what="node3 no longer listed")
        hold_for(lambda: pack.all_online(), 2.5, what="node3 stays Online")
        # RBAC taken away: every member keeps its members, and says what to grant.
        api.fault = ("status", 403)
        pack.wait_until(lambda: all(discovery(pack, n)[0]["error"] for n in names), 10, what="the 403 seen")
        assert "(the service account needs 'list' on endpointslices.discovery.k8s.io in namespace default" \
            in discovery(pack, "node2")[0]["error"]
        hold_for(lambda: pack.all_online(), 2.5, what="every member stays Online")


def test_a_pack_forms_through_a_plugin_strategy_and_calls_python_hooks(hosts_pack, test_plugins, tmp_path):
    import json

    pack = hosts_pack
    listing, events = tmp_path / "pack.json", tmp_path / "events.jsonl"
    names = ("node1", "node2", "node3")
    for name in names:
        node = pack.add(name, "auto", discovery=[{"json-file-watch": {"path": str(listing)}}],
                        **{"hook-plugins": ["record"] if name == "node1" else []})
        node.env.update(PYTHONPATH=str(test_plugins), PACK_TEST_HOOK_LOG=str(events))
    listing.write_text(json.dumps([line(pack, n) for n in names]))
    pack.start_all()
    pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, what="the pack through the plug-in")
    [status] = discovery(pack, "node2")
    assert status["strategy"] == "json-file-watch" and status["found"] == sorted(line(pack, n) for n in names)
    pack.kill9("node3")
    pack.wait_until(lambda: events.exists() and "failed" in events.read_text(), 10, what="the failed hook")
    seen = [json.loads(text) for text in events.read_text().splitlines()]
    assert {(e["event"], e["member"]) for e in seen} >= {("join", "node2"), ("join", "node3"), ("failed", "node3")}
    assert all(e["hook"] == "record" and e["self_name"] == "node1" for e in seen)
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))


# ---- the start-up barrier ------------------------------------------------------------------

def test_wait_for_members_returns_once_enough_are_online_and_says_who_is_missing_otherwise():
    import json
    import subprocess
    import sys

    pack = PackProcs()
    try:
        for name in ("node1", "node2", "node3"):
            pack.add(name, "auto")
        cli = [sys.executable, "-m", "pylxd_cluster", "--endpoint", str(pack["node1"].socket_path), "wait"]
        # Started before the daemon: it waits for the socket too.
        waiting = subprocess.Popen(cli + ["--members", "3", "--timeout", "60", "--format", "json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pack["node1"].start()
        pack["node2"].start()
        pack.wait_until(lambda: pack.all_online(["node1", "node2"]), 15, what="two members")
        assert waiting.poll() is None                     # two of three: still waiting
        pack["node3"].start()
        out, err = waiting.communicate(timeout=30)
        assert waiting.returncode == 0, err
        assert sorted(m["server_name"] for m in json.loads(out)) == ["node1", "node2", "node3"]
        assert "3 of 3 members Online (node1, node2, node3)" in err
        # Four will not come: exit 1, saying who is there.
        done = subprocess.run(cli + ["--members", "4", "--timeout", "1"], capture_output=True, text=True, timeout=30)
        assert done.returncode == 1
        assert "fewer than 4 members Online" in done.stderr and "after 1.0 s: 3 Online (node1, node2, node3)" \
            in done.stderr, done.stderr
    finally:
        pack.close()


def test_the_daemon_barrier_keeps_a_restarted_pack_from_piling_its_groups_on_the_first_member():
    """The whole pack goes down (power lost) and comes back one member at a time. Without
    the barrier the first one up would place web on itself, then hand it over again."""
    from mockserver.daemon.harness import write

    names = ("node1", "node2", "node3")
    web = {"primary": "node3", "secondary": ["node1", "node2"], "service": [{"exec": {"start": "true",
                                                                                      "stop": "true"}}]}

    def shown(name: str) -> dict:
        return write(pack[name], "GET", "/1.0/cluster/service-groups/web")["metadata"]

    with PackProcs(listen=True) as pack:
        pack.form(names, **{"wait-for-members": 3, "wait-timeout": 600000})
        write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": web}}]})
        pack.wait_until(lambda: all(shown(n)["status"] == "Active" for n in names), 15, what="web on node3")
        for name in names:
            pack.kill9(name)
        pack["node1"].start()
        pack.wait_until(lambda: pack.leader(["node1"]) == "node1", 15, what="node1 leading alone")
        pack.wait_until(lambda: shown("node1")["message"] == "Not placed yet: the start-up barrier waits for 3"
                                                              " members Online (1 now)", 10,
                        what=f"the barrier shown: {shown('node1')}")
        reply = write(pack["node1"], "POST", "/1.0/cluster/service-groups/web", {"member": "node1"}, expect=503)
        assert "No group is placed yet: the start-up barrier waits for 3 members" in reply["error"], reply
        pack["node2"].start()
        pack.wait_until(lambda: pack.all_online(["node1", "node2"]), 15, what="two members")
        hold_for(lambda: shown("node1")["owner"] == "node3" and shown("node1")["status"] != "Active", 1.5,
                 what="web left where it was while two of three are Online")
        assert pack["node1"].pack_state()["barrier"]["status"] == "waiting"
        pack["node3"].start()
        pack.wait_until(lambda: all(shown(n)["status"] == "Active" and shown(n)["owner"] == "node3" for n in names),
                        15, what="web back on node3 once three are Online")
        barrier = pack["node1"].pack_state()["barrier"]
        assert (barrier["status"], barrier["members"], barrier["online"]) == ("met", 3, 3), barrier
        assert "start-up barrier met after" in pack["node1"].log()


def test_the_daemon_barrier_gives_up_at_its_timeout():
    from mockserver.daemon.harness import write

    web = {"primary": "node2", "secondary": ["node1"], "service": [{"exec": {"start": "true", "stop": "true"}}]}
    with PackProcs(listen=True) as pack:
        pack.form(("node1", "node2"), **{"wait-for-members": 3, "wait-timeout": 1500})
        write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": web}}]})
        pack.wait_until(lambda: pack["node1"].pack_state()["barrier"]["status"] != "waiting", 10,
                        what="the barrier's timeout")
        barrier = pack["node1"].pack_state()["barrier"]
        assert barrier["status"] == "timed out" and barrier["waited_ms"] >= 1500, barrier
        pack.wait_until(lambda: write(pack["node1"], "GET", "/1.0/cluster/service-groups/web")["metadata"]["status"]
                        == "Active", 15, what="web placed once the barrier gave up")


# ---- membership hooks ----------------------------------------------------------------------

def test_membership_hooks_run_in_order_numbered_and_bounded(tmp_path):
    log = tmp_path / "hooks.log"

    def hook(extra: str = "") -> list:
        return ["sh", "-c", f'echo "$PACK_SEQ|$1|$2|$3|$PACK_EVENT|$PACK_MEMBER|$PACK_ADDRESS|$PACK_SELF" >> {log}'
                            f"{extra}", "hook"]

    pack = PackProcs()
    try:
        pack.add("node1", "auto", **{"on-join": hook(), "on-leave": hook(),
                                     "on-failed": hook("; exit 3"),                 # fails: counted
                                     "on-leader-change": hook("; sleep 60"),        # hangs: killed
                                     "hook-timeout": 300})
        pack.add("node2", "auto")
        pack.add("node3", "auto")
        pack.start_all()
        pack.wait_until(lambda: pack.all_online() and pack.leader(), 15, what="the pack")

        def lines():
            return [line.split("|") for line in log.read_text().splitlines()] if log.exists() else []

        pack.wait_until(lambda: {(e[1], e[2]) for e in lines()} >= {("join", "node2"), ("join", "node3"),
                                                                     ("leader-change", "node1")}, 10,
                        what="the join and leader hooks")
        pack.kill9("node3")
        pack.wait_until(lambda: ["failed", "node3"] in [e[1:3] for e in lines()], 10, what="the failed hook")
        pack["node2"].stop()
        pack.wait_until(lambda: ["leave", "node2"] in [e[1:3] for e in lines()], 10, what="the leave hook")
        seen = lines()
        assert [int(e[0]) for e in seen] == list(range(1, len(seen) + 1))     # in order, each once
        for seq, event, member, seq_arg, env_event, env_member, address, me in seen:
            assert (seq_arg, env_event, env_member, me) == (seq, event, member, "node1")
            if event != "leader-change":
                assert address == f"{pack[member].interface}:{pack.port}"
        counters = pack["node1"].counters()
        assert counters["membership_hooks_timed_out"] >= 1 and counters["membership_hooks_failed"] == 1, counters
        assert pack["node1"].proc.poll() is None                                # and the daemon lives on
    finally:
        pack.close()
