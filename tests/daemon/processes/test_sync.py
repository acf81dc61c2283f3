"""Configuration sync, cluster-wide writes and join tokens on real daemon processes.

Every node serves its API on a unix socket (the tests' way in) and on TCP on its own
loopback address (members pull the pack document from the leader over HTTP).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time

import pytest

import pylxd_cluster
from mockserver.daemon.harness import PackProcs, config_of, modules, raw_request, write

NAMES = ("node1", "node2", "node3")


def converged(pack, names=NAMES) -> bool:
    views = [config_of(pack[name]) for name in names]
    return len({(v["version"], v["term"], v["digest"]) for v in views}) == 1


def wait_leader(pack, names=NAMES, timeout: float = 15.0) -> str:
    pack.wait_until(lambda: pack.all_online(names), timeout, what="pack formed")
    pack.wait_until(lambda: len({tuple(pack[n].leaders()) for n in names}) == 1 and pack[names[0]].leaders(),
                    timeout, what="one leader everywhere")
    return pack[names[0]].leaders()[0]


@pytest.fixture(scope="module")
def pack():
    with PackProcs(listen=True, defaults={"expected_members": 3}) as procs:
        procs.add("node1", "auto").set_modules([("PackConfiguration", {"ignore_modules": ["Secret"]}),
                                                ("WebGui", {"port": 80}), ("Metrics", {"every": 10}),
                                                ("Secret", {"token": "leader-only"})])
        procs.add("node2", "auto").set_modules([("PackConfiguration", {}), ("Metrics", {"every": 99})])
        procs.add("node3", "auto").set_modules([("PackConfiguration", {"ignore_modules": ["WebGui"]})])
        procs.start_all()
        assert wait_leader(procs) == "node1"
        procs.wait_until(lambda: converged(procs) and config_of(procs["node3"])["version"] >= 1, 10,
                         what="first document everywhere")
        yield procs


# ---- the seed's PackConfiguration contract --------------------------------------------------

def test_leader_modules_reach_followers_but_local_and_ignored_modules_win(pack):
    leader, keeper, ignorer = (config_of(pack[n]) for n in NAMES)
    assert [list(m)[0] for m in leader["modules"]] == ["WebGui", "Metrics"]  # ignore_modules: Secret stays home
    assert modules(keeper) == {"Metrics": {"every": 99}, "WebGui": {"port": 80}}  # its own Metrics wins
    assert keeper["local_modules"] == ["Metrics"]
    assert modules(ignorer) == {"Metrics": {"every": 10}}                        # it ignores WebGui
    assert "Secret" not in modules(keeper) and "Secret" not in modules(ignorer)


def test_a_write_on_a_follower_reaches_every_member_and_removals_propagate(pack):
    before = config_of(pack["node1"])["version"]
    reply = write(pack["node3"], "PUT", "/1.0/cluster/config",
                  {"modules": [{"WebGui": {"port": 8080}}, {"Logs": {"level": "debug"}}]})
    version = reply["metadata"]["version"]
    assert version == before + 1
    # Acknowledged means a majority applied it; all three converge at once after.
    pack.wait_until(lambda: converged(pack), 5, what="converged")
    assert modules(config_of(pack["node2"])) == {"Metrics": {"every": 99}, "WebGui": {"port": 8080},
                                                 "Logs": {"level": "debug"}}
    assert modules(config_of(pack["node3"])) == {"Logs": {"level": "debug"}}   # Metrics was removed
    for name in NAMES:
        state = pack[name].pack_state()["document"]
        assert state["version"] == version, (name, state)


def test_every_member_emits_a_lifecycle_event_for_a_configuration_change(pack):
    streams = {name: pack[name].new_client().events(types=["lifecycle"]) for name in NAMES}
    for stream in streams.values():
        stream.__enter__()
    try:
        version = write(pack["node2"], "PATCH", "/1.0/cluster/config",
                        {"modules": [{"Logs": None}]})["metadata"]["version"]
        for name, stream in streams.items():
            event = stream.wait_for(action="cluster-configuration-updated", timeout=5)
            assert event.metadata["context"]["version"] == version, (name, event)
            assert event.location == name
        for name, stream in streams.items():  # one event per change, on the leader too
            with pytest.raises(pylxd_cluster.Timeout):
                stream.wait_for(action="cluster-configuration-updated", timeout=0.3)
    finally:
        for stream in streams.values():
            stream.__exit__(None, None, None)


def test_an_edit_of_the_leaders_file_is_noticed_without_a_restart(pack):
    pid = pack["node1"].pid
    pack["node1"].set_modules([("PackConfiguration", {"ignore_modules": ["Secret"]}), ("WebGui", {"port": 443}),
                               ("Secret", {"token": "leader-only"})])
    pack.wait_until(lambda: modules(config_of(pack["node3"]), "modules") == {"WebGui": {"port": 443}}, 5,
                    what="the file edit everywhere")
    assert pack["node1"].pid == pid and pack["node1"].alive()


def test_a_follower_that_was_down_catches_up_and_restarts_from_its_persisted_copy(pack):
    pack.kill9("node3")
    version = write(pack["node2"], "PUT", "/1.0/cluster/config",
                    {"modules": [{"WebGui": {"port": 1}}, {"Away": {"x": 1}}]})["metadata"]["version"]
    persisted = json.loads((pack.dir / "node3.state" / "document.json").read_bytes())
    assert persisted["version"] < version
    pack["node3"].start()
    # Until the leader answers it serves its persisted copy; then it catches up.
    pack.wait_until(lambda: config_of(pack["node3"])["version"] == version, 10, what="caught up")
    assert modules(config_of(pack["node3"]), "modules") == {"WebGui": {"port": 1}, "Away": {"x": 1}}
    assert json.loads((pack.dir / "node3.state" / "document.json").read_bytes())["version"] == version
    wait_leader(pack)


def test_a_one_megabyte_configuration_is_synced(pack):
    huge = {"blob": "x" * (5 * 1024 * 1024)}
    reply = write(pack["node3"], "PUT", "/1.0/cluster/config", {"modules": [{"Big": huge}]}, expect=413)
    assert "too large" in reply["error"]  # a daemon's body limit is 4 MiB, and it says so
    big = {"blob": "y" * (1000 * 1000), "more": list(range(20000))}
    version = write(pack["node3"], "PUT", "/1.0/cluster/config", {"modules": [{"Big": big}]})["metadata"]["version"]
    pack.wait_until(lambda: all(config_of(pack[n])["version"] == version for n in NAMES), 10, what="1 MB synced")
    assert modules(config_of(pack["node2"]), "modules")["Big"]["blob"] == big["blob"]
    write(pack["node3"], "PUT", "/1.0/cluster/config", {"modules": [{"WebGui": {"port": 80}}]})


def test_bad_configuration_writes_are_refused_and_change_nothing(pack):
    before = config_of(pack["node1"])
    for body, text in (({"modules": [{"Pack": {}}]}, "per member"), ({"modules": {"A": {}}}, "expected a list"),
                       ({"modules": [{"A": 1}]}, "mapping of options"), ({}, '"modules"')):
        reply = write(pack["node2"], "PUT", "/1.0/cluster/config", body, expect=400)
        assert text in reply["error"], reply
    status, reply = raw_request(pack["node2"].socket_path, "GET", "/1.0/cluster/config")
    assert reply["metadata"]["version"] == before["version"]


# ---- cluster-wide writes -----------------------------------------------------------------------

def test_member_writes_through_the_sdk_reach_every_member_with_etag_protection(pack):
    client = pack["node2"].client
    member = client.cluster.members.get("node3")
    member.evolve(description="rack A", failure_domain="rack-a", config={"user.role": "web"}).save()
    for name in NAMES:
        pack.wait_until(lambda: pack[name].members()["node3"].description == "rack A", 5, what=f"update on {name}")
        seen = pack[name].members()["node3"]
        assert (seen.failure_domain, dict(seen.config)) == ("rack-a", {"user.role": "web"})
    with pytest.raises(pylxd_cluster.PreconditionFailed):
        member.evolve(description="stale").save()  # the ETag of before the first save
    assert pack["node1"].members()["node3"].description == "rack A"


def test_a_client_reads_its_own_writes_on_the_member_it_wrote_through(pack):
    """A follower answers a forwarded write only once it applied what the leader had when
    it answered (X-Pack-Document), as any LXD member serves its clients' writes at once."""
    leader = pack["node1"].leaders()[0]
    follower = next(name for name in NAMES if name != leader)
    members = pack[follower].client.cluster.members
    for round_number in range(30):
        text = f"written in round {round_number}"
        members.update("node3", description=text)
        assert members.get("node3").description == text, f"round {round_number}: a stale read on {follower}"
    operation = members.evacuate("node3")
    assert operation.status == "Success" and members.get("node3").status == "Evacuated"
    members.restore("node3")
    assert members.get("node3").status == "Online"


def test_groups_evacuation_rename_through_the_sdk_on_every_member(pack):
    client = pack["node3"].client
    client.cluster.groups.create("web", description="Web tier", members=["node2"])
    client.cluster.members.get("node2").evacuate()
    for name in NAMES:
        pack.wait_until(lambda: pack[name].statuses().get("node2") == "Evacuated", 5, what=f"evacuated on {name}")
        groups = {g.name: list(g.members) for g in pack[name].client.cluster.groups.all()}
        assert groups["web"] == ["node2"]
    client.cluster.members.get("node2").restore()
    pack.wait_until(lambda: all(pack[n].statuses().get("node2") == "Online" for n in NAMES), 5, what="restored")
    client.cluster.groups.get("web").rename("frontend")
    pack.wait_until(lambda: all("frontend" in {g.name for g in pack[n].client.cluster.groups.all()} for n in NAMES),
                    5, what="group renamed")


def lxc(node, *args) -> subprocess.CompletedProcess:
    home = node.dir / "lxc-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LXD_", "SNAP"))}
    env.update({"HOME": str(home), "LXD_CONF": str(home / "conf"), "LXD_SOCKET": node.socket_path, "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8", "TERM": "dumb"})
    path = shutil.which("lxc")
    if path is None:
        pytest.fail("the `lxc` CLI (Debian package lxd-client) is missing: run `make system-deps`")
    return subprocess.run([path, *args], env=env, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_lxc_writes_on_a_follower_reach_every_member(pack):
    follower = pack["node2"]
    for args in (("cluster", "set", "node3", "user.owner", "ops"), ("cluster", "group", "create", "db"),
                 ("cluster", "group", "assign", "node3", "db,default")):
        result = lxc(follower, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    for name in NAMES:
        pack.wait_until(lambda: dict(pack[name].members()["node3"].config).get("user.owner") == "ops", 5,
                        what=f"lxc cluster set on {name}")
        assert set(pack[name].members()["node3"].groups) == {"db", "default"}
    listing = lxc(pack["node1"], "cluster", "list", "--format", "csv")
    assert listing.returncode == 0 and "node3" in listing.stdout, listing
    for args, check in ((("cluster", "evacuate", "node3", "--force"), lambda m: m["node3"].status == "Evacuated"),
                        (("cluster", "restore", "node3", "--force"), lambda m: m["node3"].status == "Online"),
                        (("cluster", "rename", "node3", "third"), lambda m: "third" in m and "node3" not in m),
                        (("cluster", "rename", "third", "node3"), lambda m: "node3" in m),
                        (("cluster", "group", "rename", "db", "database"), None)):
        result = lxc(follower, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        if check is not None:
            for name in NAMES:
                pack.wait_until(lambda: check(pack[name].members()), 5, what=f"`lxc {' '.join(args)}` on {name}")
    for name in NAMES:
        assert "database" in set(pack[name].members()["node3"].groups)


def test_a_killed_leader_is_followed_by_one_that_continues_from_the_committed_version(pack):
    version = write(pack["node2"], "PUT", "/1.0/cluster/config",
                    {"modules": [{"Committed": {"n": 1}}]})["metadata"]["version"]
    pack.kill9("node1")
    survivors = ("node2", "node3")
    pack.wait_until(lambda: pack["node2"].leaders() == ["node2"] and pack["node3"].leaders() == ["node2"], 10,
                    what="a new leader")
    for name in survivors:
        view = config_of(pack[name])
        assert view["version"] >= version and modules(view, "modules") == {"Committed": {"n": 1}}, view
    next_version = write(pack["node3"], "PUT", "/1.0/cluster/config",
                         {"modules": [{"Committed": {"n": 2}}]})["metadata"]["version"]
    assert next_version == config_of(pack["node2"])["version"] and next_version > version
    pack["node1"].start()
    pack.wait_until(lambda: config_of(pack["node1"])["version"] == next_version, 10, what="old leader catches up")
    assert modules(config_of(pack["node1"]), "modules") == {"Committed": {"n": 2}}


def test_a_leader_killed_during_a_write_loses_nothing_it_acknowledged(pack):
    import threading

    wait_leader(pack)
    leader = pack["node1"].leaders()[0]
    follower = next(n for n in NAMES if n != leader)
    outcome = {}

    def put():
        outcome["reply"] = raw_request(pack[follower].socket_path, "PUT", "/1.0/cluster/config",
                                       {"modules": [{"InFlight": {"n": 1}}]}, timeout=15)

    held = pack[leader].pack_state()["document"]["held"]["version"]
    thread = threading.Thread(target=put)
    thread.start()
    # Killed as soon as it has applied the write: before or after a majority had it.
    pack.wait_until(lambda: pack[leader].pack_state()["document"]["held"]["version"] > held, 10, interval=0.001,
                    what=f"{leader} applies the write")
    pack.kill9(leader)
    thread.join(15)
    survivors = [n for n in NAMES if n != leader]
    pack.wait_until(lambda: all(pack[n].leaders() and pack[n].leaders()[0] in survivors for n in survivors), 10,
                    what="a new leader among the survivors")
    status, reply = outcome["reply"]
    pack.wait_until(lambda: len({config_of(pack[n])["digest"] for n in survivors}) == 1, 5, what="survivors agree")
    shared = modules(config_of(pack[survivors[0]]), "modules")
    if status == 200:  # acknowledged: it must have survived the leader
        assert shared == {"InFlight": {"n": 1}}, (reply, shared)
    else:              # not acknowledged: the reply says so, and either outcome is consistent
        assert status in (503,) and reply["type"] == "error", reply
    pack[leader].start()
    pack.wait_until(lambda: config_of(pack[leader])["digest"] == config_of(pack[survivors[0]])["digest"], 10,
                    what="the old leader follows")


def test_delete_removes_a_member_everywhere_and_it_leaves(pack):
    extra = pack.add("node4", "auto")
    extra.start()
    pack.wait_until(lambda: "node4" in pack["node2"].members(), 5, what="node4 seen")
    pack["node3"].client.cluster.members.get("node4").delete(force=True)
    extra.wait_for_line("removed from the pack", 10)
    assert extra.proc.wait(10) == 0
    for name in NAMES:
        pack.wait_until(lambda: "node4" not in pack[name].members(), 5, what=f"node4 gone on {name}")


# ---- join tokens ---------------------------------------------------------------------------------

def token_of(op_metadata: dict, **changes) -> str:
    md = op_metadata["metadata"]
    token = {"server_name": md["serverName"], "fingerprint": md["fingerprint"], "addresses": md["addresses"],
             "secret": md["secret"], "expires_at": md["expiresAt"], **changes}
    return base64.b64encode(json.dumps(token).encode()).decode()


def make_token(node, name: str) -> dict:
    return write(node, "POST", "/1.0/cluster/members", {"server_name": name}, expect=202)["metadata"]


def test_join_tokens_admit_once_and_refuse_revoked_reused_forged_and_expired(pack):
    op = make_token(pack["node2"], "joiner")
    token = token_of(op)
    joiner = pack.add("joiner", "auto", secret=None, pack_name=None, join_token=token)
    joiner.start()
    pack.wait_until(lambda: all("joiner" in pack[n].members() for n in NAMES), 10, what="joined everywhere")
    pack.wait_until(lambda: pack.all_online(list(NAMES) + ["joiner"]), 10, what="joiner online")

    def refused(name: str, token_text: str, reason: str) -> None:
        node = pack.add(name, "auto", secret=None, pack_name=None, join_token=token_text)
        node.start(wait=False)
        assert node.proc.wait(20) == 2, node.describe()
        assert reason in node.log(), node.describe()
        assert name not in pack["node1"].members()
        assert not (pack.dir / f"{name}.state" / "local.json").exists()

    # Reused: the same token again, by another process claiming the same name.
    joiner.kill9()
    shutil.rmtree(pack.dir / "joiner.state")
    joiner.start(wait=False)
    assert joiner.proc.wait(20) == 2 and "already used" in joiner.log()
    # Revoked.
    op = make_token(pack["node1"], "revoked")
    write(pack["node3"], "DELETE", f"/1.0/operations/{op['id']}")
    refused("revoked", token_of(op), "already used, or was revoked")
    # Forged: the right name, a secret of our own.
    op = make_token(pack["node1"], "forged")
    refused("forged", token_of(op, secret="00" * 32), "forged or altered")
    # Expired, as the token says (the joiner refuses before asking).
    op = make_token(pack["node1"], "late")
    refused("late", token_of(op, expires_at="2020-01-01T00:00:00Z"), "expired")
    # Garbage.
    refused("garbage", "not-a-token", "not a join token")


def test_internal_endpoints_refuse_strangers_and_garbage(pack):
    """The document and the join door are reachable over TCP by anyone on the network:
    without the pack's key or a token they give nothing, and bad input is a clear 4xx."""
    import http.client

    host, port = pack["node1"].listen.split(":")

    def request(method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            reply = conn.getresponse()
            return reply.status, reply.read()
        finally:
            conn.close()

    for headers in ({}, {"X-Pack-Proof": "bm90LXNlYWxlZA=="}, {"X-Pack-Proof": "%%%"}):
        status, body = request("GET", "/internal/pack/document", headers=headers)
        assert status == 403 and b"Not a member of this pack" in body, (headers, status, body)
    for body, code in ((b"garbage", 400), (json.dumps({"server_name": "x", "at": time.time(), "proof": "00"}), 403)):
        status, reply = request("POST", "/internal/pack/join", body=body)
        assert status == code, (body, status, reply)
        assert json.loads(reply)["type"] == "error"
    for name in NAMES:  # nobody was hurt
        assert {n: s for n, s in pack[name].statuses().items() if n in NAMES} == dict.fromkeys(NAMES, "Online")


def test_a_whole_pack_restarted_elects_above_its_documents_term_and_takes_writes():
    """Terms only grow across restarts: after every member stopped (the leader changes made
    the document's term 2 or more), the next leader's term is above it, so its documents
    are not refused as stale."""
    with PackProcs(listen=True, defaults={"expected_members": 3}) as procs:
        for name in NAMES:
            procs.add(name, "auto")
        procs.start_all()
        wait_leader(procs)
        write(procs["node2"], "PUT", "/1.0/cluster/config", {"modules": [{"First": {}}]})
        for index, name in enumerate(NAMES):  # one by one: each stop moves the leadership (and the term) on
            procs.terminate(name)
            remaining = NAMES[index + 1:]
            if len(remaining) >= 2:   # a majority of three: they elect one of them
                procs.wait_until(lambda rest=remaining: procs.leader(rest) in rest, 10,
                                 what=f"a leader among {', '.join(remaining)}")
        procs.start_all()
        wait_leader(procs)
        term = max(config_of(procs[n])["term"] for n in NAMES)
        reply = write(procs["node3"], "PUT", "/1.0/cluster/config", {"modules": [{"Second": {}}]})
        assert reply["metadata"]["term"] >= term
        procs.wait_until(lambda: converged(procs), 5, what="converged after the restart")
        assert modules(config_of(procs["node1"]), "modules") == {"Second": {}}


def test_the_cli_status_shows_the_configuration_version_a_member_applied(pack):
    import sys
    from pathlib import Path

    cli = Path(sys.executable).with_name("pylxd-cluster")
    node = pack["node2"]
    version = config_of(node)["version"]
    result = subprocess.run([str(cli), "--endpoint", node.socket_path, "status"], capture_output=True, text=True,
                            timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert f"Configuration: version {version} (term " in result.stdout, result.stdout
    data = json.loads(subprocess.run([str(cli), "--endpoint", node.socket_path, "status", "-f", "json"],
                                     capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL).stdout)
    assert data["document"]["version"] == version and data["document"]["digest"] == config_of(node)["digest"]
