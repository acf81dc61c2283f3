"""A property-based fuzz of the REST API, on the mock and on a pack of three daemons, over
TCP and the unix socket (see hostile.py for what is sent, targets.py for what is checked)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver import MockCluster
from mockserver.daemon.harness import PackProcs
from tests.fuzz.hostile import MOCK_ROUTES, MOCK_WRITES, PACK_ROUTES, PACK_WRITES, ROUTES, WRITES, requests
from tests.fuzz.targets import MockTarget, PackTarget, check_reply


def batches(routes, writes):
    """Lists of (member, transport, request): the member of a pack it goes to, and TCP (0)
    or the unix socket (1)."""
    return st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), requests(routes, writes)), min_size=8, max_size=24)


@pytest.fixture(scope="module")
def mock_target():
    with MockCluster(3) as mock:
        yield MockTarget(mock)


@pytest.fixture(scope="module")
def pack_target():
    with PackProcs(listen=True, defaults={"expected_members": 3}) as pack:
        for name in ("node1", "node2", "node3"):
            pack.add(name, "auto")
        pack.start_all()

        def settle():
            pack.wait_until(lambda: len(pack.documents()) == 1, 15, what="every member holds the same document")

        pack.wait_until(lambda: pack.all_online() and all(pack[n].leaders() == ["node1"] for n in
                                                          ("node1", "node2", "node3")), 20, what="node1 leads")
        settle()
        yield PackTarget(pack, settle)


STATS_MOCK: dict = {}
STATS_PACK: dict = {}


@given(batch=batches(ROUTES + MOCK_ROUTES, WRITES + MOCK_WRITES))
def test_fuzz_the_mock(mock_target, batch):
    for member, transport, request in batch:
        check_reply(request, mock_target.send(member, request, transport), STATS_MOCK)
    mock_target.check_batch()


def _harmless_on_a_pack(request) -> bool:
    # Deleting a member makes its daemon leave the pack and stop: not sent here.
    return not (request.method == "DELETE" and request.path.startswith("/1.0/cluster/members/"))


@settings(max_examples=max(5, settings().max_examples // 2))   # a pack batch costs more
@given(
    batch=batches(ROUTES + PACK_ROUTES, WRITES + PACK_WRITES).map(
        lambda items: [i for i in items if _harmless_on_a_pack(i[2])]
    )
)
def test_fuzz_a_pack_of_three_daemons(pack_target, batch):
    for member, transport, request in batch:
        check_reply(request, pack_target.send(member, request, transport), STATS_PACK)
    pack_target.check_batch()


def test_the_fuzz_reached_every_kind_of_answer():
    """The fuzz did more than bounce off the decoder: writes went through, and were refused."""
    for stats in (STATS_MOCK, STATS_PACK):
        if stats:
            # Writes went through: created (201) or accepted as an operation (202). (Against
            # the pack one request in the fixed seed's run is a 201, and it may meet a
            # leadership change: then it is a 503, and the 202s still show writes went through.)
            assert stats.get(200, 0) > 0 and stats.get(201, 0) + stats.get(202, 0) > 0, stats
            assert stats.get(400, 0) > 0 and stats.get(404, 0) > 0, stats
    print("replies by status: mock", dict(sorted(STATS_MOCK.items())), "pack", dict(sorted(STATS_PACK.items())))
