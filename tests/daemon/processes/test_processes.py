"""The pack daemon as real processes on loopback: discovery, liveness bounds, leadership,
events, security (wrong secret, replay, fuzz), writes refused, and the command line.

Every pack uses its own 127.a.b.0/24 block and its own UDP port (see mockserver.daemon.harness), so
nothing here hears another test's pack; traffic only goes to 127.0.0.0/8. Unless noted,
keepalive-interval is 200 ms and dead-interval 1000 ms, the issue's reference settings.

Timing bounds are the issue's, plus SLACK for what the measurement adds: the API is polled
every ~20 ms (each poll is a request per observer), and the processes share two CPUs.
"""
from __future__ import annotations

import os
import random
import shutil
import socket
import struct
import subprocess
import time

import pytest

from mockserver.daemon.config.modules import OPTIONS
from mockserver.daemon.harness import (
    LEADER_ROLES,
    BroadcastCapture,
    PackProcs,
    daemon_command,
    hold_for,
    raw_request,
    wait_until,
)
from mockserver.daemon.protocol.crypto import HEADER, OVERHEAD
from mockserver.daemon.protocol.messages import DecodeError, decode
from tests.daemon.config.examples import EXAMPLE

KEEPALIVE = 0.2
DEAD = 1.0
DETECT_BOUND = DEAD + KEEPALIVE        # every survivor marks a kill -9ed member Offline
JOIN_BOUND = 2 * KEEPALIVE             # a new (or restarted) member is Online everywhere
SLACK = 0.15                           # polling period (~20 ms per round of requests) + CPU noise
POLL = 0.02
NAMES = ("node1", "node2", "node3")


def report(text: str) -> None:
    """Measured figures, shown with ``pytest -s`` (or in the captured output on failure)."""
    print(f"TIMING {text}", flush=True)


def make_pack(roles=("leader", "follower", "follower"), names=NAMES, start=True, **defaults) -> PackProcs:
    pack = PackProcs(defaults=defaults or None)
    try:
        for name, role in zip(names, roles):
            pack.add(name, role)
        if start:
            pack.start_all()
            pack.wait_until(lambda: pack.all_online(), 10, what="the pack to form")
    except BaseException:
        pack.close()
        raise
    return pack


@pytest.fixture
def pack3():
    """node1 (static leader), node2, node3 with broadcast on loopback."""
    pack = make_pack()
    try:
        yield pack
    finally:
        pack.close()


@pytest.fixture(scope="module")
def shared():
    """One static-leader pack for the tests that leave it as they found it (interval 1 s,
    so that the leader broadcasts an announce every second: something to capture)."""
    pack = make_pack(interval=1)
    try:
        yield pack
    finally:
        pack.close()


def assert_formed(pack: PackProcs, leader: str = "node1", names=NAMES) -> None:
    for observer in names:
        members = pack[observer].members()
        assert set(members) == set(names), (observer, members)
        for name, member in members.items():
            assert member.status == "Online", (observer, name, member)
            assert member.message == "Fully operational", (observer, name, member)
            if name == leader:
                assert tuple(member.roles) == LEADER_ROLES and member.database is True, (observer, member)
            else:
                assert tuple(member.roles) == () and member.database is False, (observer, member)


def first_times(observers, predicate, t0: float, timeout: float, pack: PackProcs) -> dict:
    """For each observer, seconds from ``t0`` until ``predicate(node)`` first held (polled
    every ~20 ms)."""
    seen = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(observers):
        for name in observers:
            if name not in seen:
                try:
                    if predicate(pack[name]):
                        seen[name] = time.monotonic() - t0
                except Exception:  # noqa: BLE001 - keep polling; the timeout reports
                    pass
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout}s only {sorted(seen)} of {list(observers)} saw it\n"
                                 f"{pack.describe()}")
        time.sleep(POLL)
    return seen


def is_leader_view(node, leader: str, names) -> bool:
    members = node.members()
    return set(members) >= set(names) and node.leaders() == [leader]


# ---- discovery ---------------------------------------------------------------------------

def test_broadcast_pack_forms_with_the_static_leader_everywhere(shared, tmp_path):
    assert_formed(shared)
    for name in NAMES:
        client = shared[name].client
        assert client.server_clustered and client.server_name == name
        assert client.has_api_extension("pack_membership"), client.api_extensions
        state = shared[name].pack_state()
        assert state["leader"] == "node1", state
        assert state["counters"]["udp_received_broadcast"] > 0, state["counters"]
    # The real lxc CLI against node2.
    lxc = shutil.which("lxc")
    assert lxc, "the `lxc` CLI (Debian package lxd-client) is not on PATH; these tests need it"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LXD_", "SNAP"))}
    env.update(HOME=str(home), LXD_CONF=str(home / "conf"), LXD_SOCKET=shared["node2"].socket_path,
               LANG="C.UTF-8", LC_ALL="C.UTF-8")
    for args in (("cluster", "list", "--format", "csv"), ("cluster", "list")):
        result = subprocess.run([lxc, *args], env=env, capture_output=True, text=True, timeout=30,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result
        if "csv" in args:
            rows = {line.split(",", 1)[0]: line for line in result.stdout.splitlines() if line}
            assert set(rows) == set(NAMES), result.stdout
            assert '"database-leader,database"' in rows["node1"], rows["node1"]
            for name in NAMES:
                assert ",ONLINE,Fully operational" in rows[name], rows[name]
            assert "database" not in rows["node2"] and "database" not in rows["node3"], rows
        else:
            assert "database-leader" in result.stdout and result.stdout.count("ONLINE") == 3, result.stdout


def test_multicast_pack_forms():
    pack = PackProcs(broadcast=False)
    try:
        for name, role in zip(NAMES, ("leader", "follower", "follower")):
            pack.add(name, role, mcast_group=pack.mcast_group)
        pack.start_all()
        pack.wait_until(lambda: pack.all_online(), 10, what="the multicast pack to form")
        assert_formed(pack)
        for name in NAMES:
            counters = pack[name].counters()
            assert counters["udp_received_multicast"] > 0, (name, counters)
            assert counters["udp_received_broadcast"] == 0 and counters["udp_sent_broadcast"] == 0, counters
    finally:
        pack.close()


def test_static_peers_pack_forms_without_broadcast():
    pack = PackProcs(broadcast=False)
    try:
        for name, role in zip(NAMES, ("leader", "follower", "follower")):
            pack.add(name, role)
        pack.use_static_peers()
        pack.start_all()
        pack.wait_until(lambda: pack.all_online(), 10, what="the peers-only pack to form")
        assert_formed(pack)
        for name in NAMES:
            counters = pack[name].counters()
            assert counters["udp_received_unicast"] > 0, counters
            assert counters["udp_received_broadcast"] == 0 and counters["udp_received_multicast"] == 0, counters
            assert counters["udp_sent_broadcast"] == 0 and counters["udp_sent_multicast"] == 0, counters
    finally:
        pack.close()


# ---- liveness ----------------------------------------------------------------------------

def test_kill9_of_a_follower_is_offline_everywhere_within_dead_plus_keepalive(pack3):
    survivors = ["node1", "node2"]
    t0 = pack3.kill9("node3")

    def offline(node):
        return node.members()["node3"].status == "Offline"

    times = first_times(survivors, offline, t0, 5, pack3)
    report(f"kill -9 follower -> Offline: {', '.join(f'{k} {v * 1000:.0f} ms' for k, v in times.items())}")
    for name, elapsed in times.items():
        assert elapsed <= DETECT_BOUND + SLACK, (
            f"{name} marked node3 Offline {elapsed * 1000:.0f} ms after kill -9; bound dead-interval + "
            f"keepalive = {DETECT_BOUND * 1000:.0f} ms + {SLACK * 1000:.0f} ms slack for 20 ms polling "
            f"and scheduling noise")
    for name in survivors:
        member = pack3[name].members()["node3"]
        assert member.message.startswith("No heartbeat for "), member
        assert member.database is False and tuple(member.roles) == ()
    # Offline members stay listed (as in LXD), the others are untouched.
    def listed_as_before():
        return all(pack3[name].statuses() == {"node1": "Online", "node2": "Online", "node3": "Offline"}
                   and pack3[name].leaders() == ["node1"] for name in survivors)

    hold_for(listed_as_before, 0.5, what="node3 listed Offline, node1 leading",
             describe=lambda: str({name: pack3[name].statuses() for name in survivors}))
    assert pack3["node2"].counters().get("marked_dead", 0) + pack3["node1"].counters().get("marked_dead", 0) >= 1


def test_restart_after_kill9_is_back_online_within_two_keepalives(pack3):
    before = pack3["node3"].pack_state()["incarnation"]
    pack3.kill9("node3")
    pack3.wait_until(lambda: all(pack3[n].members()["node3"].status == "Offline" for n in ("node1", "node2")),
                     5, what="node3 Offline")
    node3 = pack3.restart("node3")
    running = node3.running_at

    def all_online(node):
        statuses = node.statuses()
        return set(statuses) == set(NAMES) and set(statuses.values()) == {"Online"}

    times = first_times(NAMES, all_online, running, 5, pack3)
    report(f"restart after kill -9 -> Online (from its 'running' line): "
           f"{', '.join(f'{k} {v * 1000:.0f} ms' for k, v in times.items())}")
    for name, elapsed in times.items():
        assert elapsed <= JOIN_BOUND + SLACK, (
            f"{name} showed the restarted node3 (or the pack) Online {elapsed * 1000:.0f} ms after its "
            f"'running' line; bound 2 x keepalive = {JOIN_BOUND * 1000:.0f} ms + {SLACK * 1000:.0f} ms slack")
    after = node3.pack_state()["incarnation"]
    assert after > before, (before, after)
    assert_formed(pack3)


def test_new_node_is_online_everywhere_within_two_keepalives(pack3):
    names = NAMES + ("node4",)
    node4 = pack3.add("node4", start=True)

    def sees_four(node):
        statuses = node.statuses()
        return set(statuses) == set(names) and set(statuses.values()) == {"Online"}

    times = first_times(names, sees_four, node4.running_at, 5, pack3)
    report(f"join -> Online everywhere (from its 'running' line): "
           f"{', '.join(f'{k} {v * 1000:.0f} ms' for k, v in times.items())}")
    for name, elapsed in times.items():
        assert elapsed <= JOIN_BOUND + SLACK, (
            f"{name} saw the four members Online {elapsed * 1000:.0f} ms after node4's 'running' line; "
            f"bound 2 x keepalive = {JOIN_BOUND * 1000:.0f} ms + {SLACK * 1000:.0f} ms slack")
    assert_formed(pack3, names=names)


def test_graceful_leave_is_offline_at_once_with_its_reason(pack3):
    t0 = pack3["node3"].sigterm()

    def left(node):
        return node.members()["node3"].status == "Offline"

    times = first_times(["node1", "node2"], left, t0, 5, pack3)
    code = pack3["node3"].wait_stopped()
    assert code == 0
    report(f"SIGTERM -> Offline: {', '.join(f'{k} {v * 1000:.0f} ms' for k, v in times.items())}")
    for name, elapsed in times.items():
        assert elapsed < 0.5, f"{name} marked node3 Offline {elapsed * 1000:.0f} ms after SIGTERM (expected at once)"
        member = pack3[name].members()["node3"]
        assert member.message.startswith("Left the pack at "), member
    def still_left():   # and it stays so (no "No heartbeat" replacing the reason)
        members = [pack3[name].members()["node3"] for name in ("node1", "node2")]
        return all(m.status == "Offline" and m.message.startswith("Left the pack at ") for m in members)

    hold_for(still_left, DEAD, what="node3 shown as having left",
             describe=lambda: str([pack3[name].members()["node3"] for name in ("node1", "node2")]))


# ---- leadership --------------------------------------------------------------------------

def test_auto_leader_killed_is_replaced_and_does_not_take_over_when_back():
    pack = make_pack(roles=("auto",) * 3)
    try:
        def one_leader_everywhere():
            views = [pack[n].leaders() for n in NAMES]
            return all(len(v) == 1 for v in views) and len({v[0] for v in views}) == 1

        pack.wait_until(one_leader_everywhere, 10, what="one leader, the same on every node")
        leader = pack["node1"].leaders()[0]
        survivors = [n for n in NAMES if n != leader]
        term = pack[survivors[0]].pack_state()["term"]
        with pack[survivors[0]].new_client() as watcher, watcher.events() as stream:
            t0 = pack.kill9(leader)

            def new_leader(node):
                leaders = node.leaders()
                return len(leaders) == 1 and leaders[0] != leader

            times = first_times(survivors, new_leader, t0, 5, pack)
            event = stream.wait_for(action="cluster-leader-changed",
                                    predicate=lambda e: e.context.get("leader") not in ("", None, leader),
                                    timeout=5)
        report(f"auto: leader {leader} kill -9 -> new leader: "
               f"{', '.join(f'{k} {v * 1000:.0f} ms' for k, v in times.items())}")
        new = pack[survivors[0]].leaders()[0]
        assert pack[survivors[1]].leaders() == [new]
        for name, elapsed in times.items():
            assert elapsed <= DETECT_BOUND + SLACK, (
                f"{name} showed a new leader {elapsed * 1000:.0f} ms after the leader's kill -9; bound "
                f"dead-interval + keepalive = {DETECT_BOUND * 1000:.0f} ms + {SLACK * 1000:.0f} ms slack")
        assert event.context["leader"] == new, event.context
        assert event.source == f"/1.0/cluster/members/{new}", event
        assert event.context.get("term", 0) > term, (term, event.context)
        for name in survivors:
            assert pack[name].pack_state()["leader"] == new

        # The old leader comes back: Online everywhere, and the leadership stays put.
        with pack[new].new_client() as watcher, watcher.events() as stream:
            pack.restart(leader)
            pack.wait_until(lambda: pack.all_online(), 5, what=f"{leader} back Online everywhere")
            hold_for(lambda: all(pack[name].leaders() in ([], [new]) for name in NAMES), 3, 0.05,
                     what=f"no member shows the returning {leader} (or anyone but {new}) leading",
                     describe=pack.describe)
            for name in NAMES:
                assert pack[name].leaders() == [new], pack.describe()
                assert pack[name].pack_state()["leader"] == new
            changes = []
            while True:
                ev = stream.next_event(timeout=0.2)
                if ev is None:
                    break
                if ev.action == "cluster-leader-changed":
                    changes.append(ev.context)
            assert changes == [], f"leader changes seen by {new} after {leader} returned: {changes}"
    finally:
        pack.close()


def test_two_static_leaders_are_a_reported_conflict():
    pack = make_pack(roles=("leader", "follower"), names=("node1", "node3"))
    try:
        pack.add("node2", "leader")
        with pack["node3"].new_client() as watcher, watcher.events() as stream:
            pack["node2"].start()
            event = stream.wait_for(action="cluster-leader-conflict", timeout=5)
        assert sorted(event.context["leaders"]) == ["node1", "node2"], event.context
        expected = "Conflicting static leaders: node1, node2"

        def conflict_shown():
            for observer in NAMES:
                members = pack[observer].members()
                if set(members) != set(NAMES):
                    return False
                if members["node1"].message != expected or members["node2"].message != expected:
                    return False
            return True

        pack.wait_until(conflict_shown, 5, what="both static leaders' message to show the conflict")
        for observer in NAMES:
            members = pack[observer].members()
            assert members["node3"].message == "Fully operational", members["node3"]
            assert all(m.status == "Online" for m in members.values()), members
            # The lower name leads meanwhile.
            assert pack[observer].leaders() == ["node1"], pack.describe()
        assert "conflicting static leaders" in pack["node1"].log(100).lower(), pack["node1"].log(100)
    finally:
        pack.close()


# ---- events ------------------------------------------------------------------------------

def test_events_and_wait_helpers_against_a_daemon(pack3):
    client = pack3["node1"].client
    with client.events() as stream:
        pack3.kill9("node3")
        event = stream.wait_for(action="cluster-member-updated", source="/1.0/cluster/members/node3", timeout=5)
    assert event.name == "node3" and event.location == "node1", event
    assert client.cluster.members.get("node3").status == "Offline"
    member = pack3["node2"].client.cluster.members.wait_for_status("node3", "Offline", timeout=5)
    assert member.status == "Offline" and member.message.startswith("No heartbeat for")

    # wait_for_event: a member seen for the first time.
    # The stream is open once events() returns (the server subscribes before the upgrade).
    with pack3["node2"].new_client() as other, other.events() as stream:
        pack3.add("node4", start=True)
        event = stream.wait_for(action="cluster-member-added", source="/1.0/cluster/members/node4", timeout=15)
    assert event.name == "node4", event


# ---- API -----------------------------------------------------------------------------------

def test_writes_without_tcp_apis_or_to_enable_are_refused_clearly_and_change_nothing(shared):
    """This pack's members serve their API on unix sockets only: a write cannot reach the
    leader, and says how to fix that. Enabling or disabling a member through the API is
    refused on any pack member."""
    path = shared["node2"].socket_path
    before = {name: m.to_api() for name, m in shared["node2"].members().items()}
    attempts = [
        ("PUT", "/1.0/cluster/members/node2", {"description": "changed", "roles": [], "failure_domain": "default",
                                               "config": {}, "groups": ["default"]}, 503, "Api listen"),
        ("PATCH", "/1.0/cluster/members/node2", {"description": "changed"}, 503, "Api listen"),
        ("POST", "/1.0/cluster/members/node3", {"server_name": "renamed"}, 503, "Api listen"),
        ("DELETE", "/1.0/cluster/members/node3", None, 503, "Api listen"),
        ("POST", "/1.0/cluster/members", {"server_name": "node9"}, 503, "Api listen"),
        ("PUT", "/1.0/cluster/config", {"modules": []}, 503, "Api listen"),
        ("PUT", "/1.0/cluster", {"server_name": "node2", "enabled": False}, 400, "leaves on SIGTERM"),
    ]
    for method, url, body, code, text in attempts:
        status, reply = raw_request(path, method, url, body)
        assert status == code, (method, url, status, reply)
        assert isinstance(reply, dict) and reply.get("type") == "error" and reply.get("error_code") == code, reply
        assert text in reply["error"], reply
    after = {name: m.to_api() for name, m in shared["node2"].members().items()}
    assert after == before
    assert_formed(shared)


# ---- security ------------------------------------------------------------------------------

def test_wrong_secret_or_other_pack_never_appears(shared):
    before = {name: shared[name].counters().get("dropped_auth", 0) for name in NAMES}
    strangers = {
        "intruder": dict(secret="not-the-secret"),                       # same pack name, wrong secret
        "stranger": dict(pack_name="otherpack"),                           # right secret, other pack
    }
    try:
        for name, options in strangers.items():
            shared.add(name, "leader", interval=1, **options)
        shared.start_all(list(strangers))
        hold_for(lambda: all(set(shared[name].members()) == set(NAMES) for name in NAMES)
                 and all(set(shared[name].members()) == {name} for name in strangers), 3, 0.1,
                 what="the pack and the strangers never meet", describe=shared.describe)
        after = {name: shared[name].counters().get("dropped_auth", 0) for name in NAMES}
        for name in NAMES:
            # Each stranger announces at start and, alone, every second: >= 2 each in 3 s.
            assert after[name] - before[name] >= 4, (name, before, after)
        for name in strangers:
            counters = shared[name].counters()
            assert counters.get("dropped_auth", 0) > 0, counters  # it hears the pack, cannot read it
            assert counters.get("received", 0) == counters.get("dropped_auth", 0) + counters.get("dropped_own", 0), (
                counters
            )
    finally:
        for name in strangers:
            node = shared.nodes.pop(name, None)
            if node is not None and node.alive():
                node.terminate()
            elif node is not None:
                node.stop_quietly()
    assert_formed(shared)


def capture_announces(pack: PackProcs, sender: str, count: int, timeout: float = 5.0) -> list:
    """Datagrams broadcast by ``sender`` (the leader re-announces every ``interval``)."""
    sealer = pack.sealer()
    with BroadcastCapture(pack.port) as capture:
        def enough():
            return len(mine(capture.datagrams)) >= count

        def mine(datagrams):
            out = []
            for data, source in list(datagrams):
                try:
                    message = decode(sealer.open(data))
                except Exception:  # noqa: BLE001 - not ours to judge here
                    continue
                if message.sender == sender:
                    out.append((data, message))
            return out

        wait_until(enough, timeout, 0.05, what=f"{count} broadcasts from {sender}")
        return mine(capture.datagrams)


def send_socket(pack: PackProcs) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((pack.address(250), 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    return s


def test_replayed_datagrams_are_dropped_and_counted(shared):
    captured = capture_announces(shared, "node1", 2)
    captured_at = time.monotonic()
    target = shared["node2"]
    # node2 has had the originals once it has heard node1 since they were captured.
    wait_until(lambda: target.pack_state()["members"]["node1"]["last_heard_seconds"] < time.monotonic() - captured_at,
               5, what="node2 hears node1 after the capture")
    before_members = {n: (m.status, tuple(m.roles)) for n, m in target.members().items()}
    before = target.counters()
    sent = 0
    with send_socket(shared) as s:
        for data, _ in captured:
            s.sendto(data, (target.interface, shared.port))
            sent += 1
        for _ in range(3):  # the same one, again and again
            s.sendto(captured[0][0], (target.interface, shared.port))
            sent += 1

    def replays(counters):
        return counters.get("dropped_replay", 0) + counters.get("dropped_stale", 0)

    wait_until(lambda: replays(target.counters()) - replays(before) >= sent, 3, what="replays counted")
    hold_for(lambda: replays(target.counters()) - replays(before) == sent, 0.2, what="no replay counted twice")
    after = target.counters()
    assert replays(after) - replays(before) == sent, (sent, before, after)
    assert after.get("udp_dropped_queue_full", 0) == before.get("udp_dropped_queue_full", 0)
    for reason in ("auth", "malformed", "truncated", "not_pack", "version"):
        assert after.get(f"dropped_{reason}", 0) == before.get(f"dropped_{reason}", 0), reason
    assert {n: (m.status, tuple(m.roles)) for n, m in target.members().items()} == before_members
    assert_formed(shared)


def _expected_reason(datagram: bytes, sealed: bool) -> str:
    """Which drop counter the daemon must raise (the order of crypto.Sealer.open)."""
    if len(datagram) < OVERHEAD:
        return "truncated"
    if datagram[:2] != HEADER[:2]:
        return "not_pack"
    if datagram[2] != HEADER[2]:
        return "version"
    return "malformed" if sealed else "auth"


def _fuzz_datagrams(pack: PackProcs, captured: list, count: int, rng: random.Random) -> list:
    """``count`` (datagram, expected drop reason): random bytes, bad versions, valid header +
    garbage, truncations and bit flips of captured datagrams, and sealed (authentic) but
    malformed plaintexts."""
    sealer = pack.sealer()
    plaintexts = [sealer_open(pack, data) for data, _ in captured]
    out = []

    def rand(n):
        return bytes(rng.getrandbits(8) for _ in range(n))

    def random_bytes():
        return rand(rng.randrange(0, 1401)), False

    def bad_version():
        return b"PK" + bytes([rng.choice([0, 2, 3, 255])]) + rand(rng.randrange(28, 1398)), False

    def header_garbage():
        return HEADER + rand(rng.randrange(0, 1398)), False

    def truncated():
        data = rng.choice(captured)[0]
        return data[:rng.randrange(0, len(data))], False

    def bit_flips():
        data = bytearray(rng.choice(captured)[0])
        for _ in range(rng.randrange(1, 9)):
            bit = rng.randrange(len(data) * 8)
            data[bit // 8] ^= 1 << (bit % 8)
        return bytes(data), False

    def sealed_malformed():
        plain = rng.choice(plaintexts)
        kind = rng.randrange(4)
        if kind == 0:
            bad = plain[:rng.randrange(0, len(plain))]                  # cut short
        elif kind == 1:
            bad = plain + rand(rng.randrange(1, 40))                    # trailing bytes
        elif kind == 2:
            bad = bytes([rng.choice([0] + list(range(8, 256)))]) + plain[1:]   # unknown code
        else:
            bad = rand(rng.randrange(0, 600))                           # noise
        try:
            decode(bad)
        except DecodeError:
            return sealer.seal(bad), True
        return None

    makers = [random_bytes, bad_version, header_garbage, truncated, bit_flips, sealed_malformed]
    while len(out) < count:
        made = makers[len(out) % len(makers)]()
        if made is None:
            continue
        data, sealed = made
        if data in {c[0] for c in captured}:
            continue
        out.append((data, _expected_reason(data, sealed)))
    return out


def sealer_open(pack: PackProcs, data: bytes) -> bytes:
    return pack.sealer().open(data)


def _socket_stats(address: str, port: int) -> tuple:
    """(bytes waiting, drops) of the UDP socket bound to address:port, from /proc/net/udp:
    what the kernel holds for the daemon, and what it dropped because the buffer was full."""
    local = "{:08X}:{:04X}".format(struct.unpack("=I", socket.inet_aton(address))[0], port)
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == local:
                return int(fields[4].split(":")[1], 16), int(fields[-1])
    raise AssertionError(f"no UDP socket bound to {address}:{port} in /proc/net/udp")


def test_fuzz_10000_datagrams_leave_the_daemon_up_and_unchanged(shared):
    seed = int(os.environ.get("PACK_FUZZ_SEED", "0")) or random.randrange(1, 1 << 30)
    rng = random.Random(seed)  # PACK_FUZZ_SEED=<seed> replays a run
    captured = capture_announces(shared, "node1", 2)
    target = shared["node2"]
    datagrams = _fuzz_datagrams(shared, captured, 10_000, rng)
    expected = {}
    for _, reason in datagrams:
        expected[reason] = expected.get(reason, 0) + 1
    members_before = {n: (m.status, tuple(m.roles), m.database) for n, m in target.members().items()}
    state_before = target.pack_state()
    before = state_before["counters"]
    kernel_before = _socket_stats(target.interface, shared.port)[1]
    started = time.monotonic()
    with send_socket(shared) as s:
        # Paced: bursts of 50, each sent once the daemon has taken most of the last one out
        # of its socket buffer, so that this is about the protocol, not about how many
        # datagrams a full buffer loses (two CPUs, shared with the other daemons).
        for i in range(0, len(datagrams), 50):
            for data, _ in datagrams[i:i + 50]:
                s.sendto(data, (target.interface, shared.port))
            pace_until = time.monotonic() + 2
            while _socket_stats(target.interface, shared.port)[0] > 32_000 and time.monotonic() < pace_until:
                time.sleep(0.001)
    sending = time.monotonic() - started

    def dropped(counters):
        return sum(counters.get(f"dropped_{r}", 0) for r in expected)

    def accounted(counters) -> int:
        """Datagrams counted by the protocol, or lost before it (queue full, socket buffer)."""
        lost_before = counters["udp_dropped_queue_full"] - before["udp_dropped_queue_full"] + \
            _socket_stats(target.interface, shared.port)[1] - kernel_before
        return dropped(counters) - dropped(before) + lost_before

    wait_until(lambda: accounted(target.counters()) >= len(datagrams), 15, 0.1,
               what="every fuzz datagram counted or lost before the protocol",
               describe=lambda: f"seed {seed}: {accounted(target.counters())} of {len(datagrams)} accounted")
    elapsed = time.monotonic() - started
    after = target.counters()
    kernel = _socket_stats(target.interface, shared.port)[1] - kernel_before
    queue_full = after["udp_dropped_queue_full"] - before["udp_dropped_queue_full"]
    deltas = {r: after.get(f"dropped_{r}", 0) - before.get(f"dropped_{r}", 0) for r in expected}
    report(f"fuzz (seed {seed}): 10000 datagrams sent in {sending:.1f} s, all counted after {elapsed:.1f} s; "
           f"expected {expected}, counted {deltas}, queue full {queue_full}, kernel drops {kernel}")
    assert target.alive(), target.describe()
    all_drops = sum(v for k, v in after.items() if k.startswith("dropped_")) - \
        sum(v for k, v in before.items() if k.startswith("dropped_"))
    lost = queue_full + kernel  # never reached the protocol: nothing to count
    assert all_drops >= len(datagrams) - lost, (all_drops, lost)
    assert lost <= 100, f"{lost} of 10000 datagrams lost before the protocol (queue full {queue_full}, " \
                        f"socket buffer {kernel}) despite the pacing"
    changed = {k: (before.get(k, 0), v) for k, v in after.items() if v != before.get(k, 0)}
    for reason, count in expected.items():
        # Exactly as many as sent of each kind (less any lost before the protocol).
        assert count - lost <= deltas[reason] <= count, (
            f"seed {seed}: dropped_{reason} rose by {deltas[reason]}, expected {count} (lost {lost}); "
            f"counters changed: {changed}")
    assert after["udp_handler_errors"] == before["udp_handler_errors"], after
    assert after["udp_dropped_oversize"] == before["udp_dropped_oversize"]
    # Up, unchanged, and still a healthy member.
    assert {n: (m.status, tuple(m.roles), m.database) for n, m in target.members().items()} == members_before
    state_after = target.pack_state()
    assert (state_after["leader"], state_after["term"], state_after["incarnation"]) == \
        (state_before["leader"], state_before["term"], state_before["incarnation"])
    assert_formed(shared)


# ---- the command line ----------------------------------------------------------------------

GOOD = EXAMPLE   # a valid file: the configuration tests' example


@pytest.mark.parametrize("bad, module, key", [
    (GOOD.replace("dead-interval: 1000", "dead-interval: 400"), "Pack", "dead-interval"),
    (GOOD.replace("    port: 5252\n", "    port: 70000\n"), "Pack", "port"),
    (GOOD.replace("pack: leader", "pack: boss"), "Pack", "pack"),
    (GOOD.replace("    secret: s3cret-lab\n", ""), "Pack", "secret"),
    (GOOD.replace("listen: 127.0.0.11:8443", "listen: nowhere"), "Api", "listen"),
])
def test_check_accepts_a_good_file_and_names_module_and_key_of_a_bad_one(tmp_path, bad, module, key):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    result = subprocess.run([*daemon_command(), "--check", str(good)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result
    assert "valid" in result.stdout and "node1" in result.stdout, result.stdout
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(bad)
    result = subprocess.run([*daemon_command(), "--check", str(bad_file)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2, result
    assert f"module {module}" in result.stderr and f"'{key}'" in result.stderr, result.stderr


def test_print_template_prints_every_option():
    result = subprocess.run([*daemon_command(), "--print-template"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    for module, options in OPTIONS.items():
        assert f"- {module}:" in lines, module
        for option in options:
            matching = [line for line in lines if line.strip().startswith(f"{option.key}:")]
            assert matching, f"{module}.{option.key} missing from the template"
            assert all("# <" in line and "is: " in line for line in matching), matching
    assert "# <default: 5252; type: integer; is: optional>" in result.stdout
