"""Service groups on a running pack of three daemons: the leader assigns each group, its owner
holds it (and nobody else), and a killed owner's group is held by the next secondary.
Addresses and services are not moved yet: holding shows in each member's state."""
from __future__ import annotations

import time

import pytest

from mockserver.daemon.harness import hold_for, write
from tests.daemon.processes.groups_pack import ENGINES, NAMES, pack_with_groups

WEB = {"primary": "node2", "secondary": ["node3", "node1"], "service": ["198.51.100.10/24/absent0"]}
DB = {"primary": "node3", "secondary": ["node1"], "service": ["db.service"]}


@pytest.fixture
def pack():
    with pack_with_groups() as procs:
        yield procs


@pytest.fixture(params=ENGINES)
def any_pack(request):
    with pack_with_groups(engine=request.param) as procs:
        yield procs


def holders(pack, names=NAMES) -> dict:
    """group -> the members that say they hold it."""
    found: dict = {}
    for name in names:
        for group, view in pack[name].pack_state()["groups"].items():
            if view["held_here"]:
                found.setdefault(group, []).append(name)
    return found


def test_each_group_is_held_by_its_primary_alone(any_pack):
    pack = any_pack
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB, "db": DB}}]})
    pack.wait_until(lambda: holders(pack) == {"web": ["node2"], "db": ["node3"]}, 10, what="primaries hold")
    hold_for(lambda: holders(pack) == {"web": ["node2"], "db": ["node3"]}, 1.0, what="and keep holding")
    views = {name: pack[name].pack_state()["groups"]["web"] for name in NAMES}
    assert {(v["owner"], v["epoch"]) for v in views.values()} == {("node2", 1)}   # one assignment everywhere


def test_a_killed_owners_group_is_held_by_the_next_secondary(pack):
    write(pack[pack.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": {"web": WEB}}]})
    pack.wait_until(lambda: holders(pack) == {"web": ["node2"]}, 10, what="node2 holds web")
    killed = pack.kill9("node2")
    survivors = ("node1", "node3")
    pack.wait_until(lambda: holders(pack, survivors) == {"web": ["node3"]}, 10, what="node3 holds web")
    took = time.monotonic() - killed
    assert took < 1.0 + 1.0, f"took {took:.2f} s (dead-interval 1 s)"
    assert pack["node3"].pack_state()["groups"]["web"]["epoch"] == 2
