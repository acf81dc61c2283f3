"""Notify hooks on a running pack of three daemons: each member runs a group's hook after each
transition there, in order, numbered, with the group's term; a hook that hangs is killed at
its timeout and one that fails is counted, and neither holds a transition up."""
from __future__ import annotations

import pytest

from mockserver.daemon.harness import write
from tests.daemon.processes.groups_pack import pack_with_groups

QUIET = {"exec": {"start": "true", "stop": "true"}}


@pytest.fixture
def pack():
    with pack_with_groups() as procs:
        yield procs


def recorder(directory) -> list[str]:
    """A hook that appends "SEQ EVENT TERM" (from its environment) and its arguments to
    DIRECTORY/MEMBER.log."""
    return ["sh", "-c", f'echo "$PACK_SEQ $PACK_EVENT $PACK_TERM | $0 $1 $2 $3" >> {directory}/$PACK_MEMBER.log']


def lines(directory, member: str) -> list[str]:
    path = directory / f"{member}.log"
    return path.read_text().splitlines() if path.exists() else []


def active_on(pack, group: str = "web") -> str | None:
    shown = write(pack["node3"], "GET", f"/1.0/cluster/service-groups/{group}")["metadata"]
    return shown["owner"] if shown["status"] == "Active" else None


def test_hooks_run_in_order_numbered_with_the_term_on_each_transition(pack, tmp_path):
    web = {"primary": "node1", "secondary": ["node2"], "service": [QUIET], "notify": recorder(tmp_path)}
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": web}}]})
    pack.wait_until(lambda: lines(tmp_path, "node1") == ["1 active 1 | web active 1 1"], 10,
                    what="node1's hook told it is active")
    write(pack["node3"], "POST", "/1.0/cluster/service-groups/web", {"member": "node2"})
    pack.wait_until(lambda: len(lines(tmp_path, "node2")) == 1, 10, what="node2's hook told it is active")
    write(pack["node3"], "POST", "/1.0/cluster/service-groups/web", {"member": "node1"})
    pack.wait_until(lambda: len(lines(tmp_path, "node1")) == 3 and len(lines(tmp_path, "node2")) == 2, 10,
                    what="both hooks told of the move back")
    assert lines(tmp_path, "node1") == ["1 active 1 | web active 1 1", "2 standby 1 | web standby 1 2",
                                        "3 active 3 | web active 3 3"]
    assert lines(tmp_path, "node2") == ["1 active 2 | web active 2 1", "2 standby 2 | web standby 2 2"]
    assert lines(tmp_path, "node3") == []     # never an owner: never told anything


def test_a_hanging_hook_is_killed_at_its_timeout_and_a_failing_one_counted_neither_holding_up_a_move(pack, tmp_path):
    marks = tmp_path / "marks"
    hangs = ["sh", "-c", f'echo "$PACK_MEMBER $PACK_SEQ $PACK_EVENT" >> {marks}; exec sleep 60']
    web = {"primary": "node1", "secondary": ["node2"], "service": [QUIET], "notify": hangs, "notify-timeout": 300}
    db = {"primary": "node1", "secondary": ["node2"], "service": [QUIET], "notify": ["sh", "-c", "exit 3"]}
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": web, "db": db}}]})
    pack.wait_until(lambda: marks.exists() and marks.read_text() == "node1 1 active\n", 10, what="web's hook started")
    write(pack["node2"], "POST", "/1.0/cluster/service-groups/web", {"member": "node2"})
    # The move does not wait for node1's hanging hook: node2 holds web, and its own hook starts.
    pack.wait_until(lambda: active_on(pack) == "node2", 10, what="web active on node2")
    pack.wait_until(lambda: sorted(marks.read_text().splitlines()) == ["node1 1 active", "node1 2 standby",
                                                                       "node2 1 active"], 10,
                    what="node1's standby hook, after its killed active hook")
    node1 = [line for line in marks.read_text().splitlines() if line.startswith("node1")]
    assert node1 == ["node1 1 active", "node1 2 standby"]

    def counters(name):
        return pack[name].pack_state()["counters"]

    pack.wait_until(lambda: counters("node1")["groups_hooks_timed_out"] == 2, 10, what="node1's two hooks killed")
    assert counters("node1")["groups_hooks_failed"] == 1            # db's hook exited 3
    assert counters("node1")["groups_hooks_run"] == 3
    assert active_on(pack, "db") == "node1"                          # and db is held all the same
