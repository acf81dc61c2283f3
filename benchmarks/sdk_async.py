"""AsyncClient against bare aiohttp and the sync Client, on one 100-member mock, in one run:

* ``members.all()`` (one request, 100 models built), against a bare
  ``session.get(...?recursion=1)`` + ``json()`` through aiohttp, and the sync SDK's call;
* 50 concurrent ``members.get(name)`` (``asyncio.gather``), against 50 bare aiohttp GETs
  gathered the same way, and the sync SDK's 50 calls one after the other.

Every contender runs on the same event loop (``run_until_complete`` per call, for all of
them alike), in interleaved rounds.
"""
from __future__ import annotations

import asyncio

import aiohttp

import pylxd_cluster
from benchmarks.common import interleaved, mock_server, table
from mockserver.daemon.harness import free_tcp_port
from pylxd_cluster import AsyncClient

MEMBERS = 100
CONCURRENT = 50


def run() -> dict:
    port = free_tcp_port("127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    loop = asyncio.new_event_loop()
    with mock_server(MEMBERS, port):
        session = loop.run_until_complete(_session())
        ours = loop.run_until_complete(AsyncClient.connect(base))
        sync = pylxd_cluster.Client(base)
        names = [f"node{1 + i % MEMBERS}" for i in range(CONCURRENT)]

        async def bare_all():
            async with session.get(base + "/1.0/cluster/members?recursion=1") as reply:
                members = (await reply.json())["metadata"]
            assert len(members) == MEMBERS

        async def async_all():
            members = await ours.cluster.members.all()
            assert len(members) == MEMBERS and all(m.status == "Online" for m in members)

        def sync_all():
            members = sync.cluster.members.all()
            assert len(members) == MEMBERS and all(m.status == "Online" for m in members)

        async def bare_get(name: str):
            async with session.get(f"{base}/1.0/cluster/members/{name}") as reply:
                return (await reply.json())["metadata"]

        async def bare_gets():
            got = await asyncio.gather(*(bare_get(name) for name in names))
            assert [m["server_name"] for m in got] == names

        async def async_gets():
            got = await asyncio.gather(*(ours.cluster.members.get(name) for name in names))
            assert [m.server_name for m in got] == names

        def sync_gets():
            got = [sync.cluster.members.get(name) for name in names]
            assert [m.server_name for m in got] == names

        def on_loop(coroutine_function):
            return lambda: loop.run_until_complete(coroutine_function())

        listing = interleaved({"bare": on_loop(bare_all), "async": on_loop(async_all), "sync": sync_all})
        gets = interleaved({"bare": on_loop(bare_gets), "async": on_loop(async_gets), "sync": sync_gets},
                           repeat=21, number=1)
        loop.run_until_complete(ours.close())
        loop.run_until_complete(session.close())
        sync.close()
    loop.close()

    def row(label: str, times: dict, key: str) -> list:
        return [label, f"{times[key] * 1000:.2f}", f"{times[key] / times['bare']:.2f}"]

    table(f"AsyncClient: members.all() on {MEMBERS} members (median of interleaved rounds, same server, same run)",
          ["client", "ms per call", "ratio to bare aiohttp"],
          [row("bare aiohttp GET ?recursion=1 + json()", listing, "bare"),
           row("AsyncClient members.all() (models built)", listing, "async"),
           row("sync Client members.all()", listing, "sync")])
    table(f"AsyncClient: {CONCURRENT} concurrent members.get() (asyncio.gather; the sync client one by one)",
          ["client", "ms for all", "ratio to bare aiohttp"],
          [row(f"bare aiohttp, {CONCURRENT} GETs gathered", gets, "bare"),
           row(f"AsyncClient, {CONCURRENT} members.get() gathered", gets, "async"),
           row(f"sync Client, {CONCURRENT} members.get() in turn", gets, "sync")])
    return {"all_ms": {k: v * 1000 for k, v in listing.items()}, "gets_ms": {k: v * 1000 for k, v in gets.items()},
            "all_ratio": listing["async"] / listing["bare"], "gets_ratio": gets["async"] / gets["bare"],
            "sync_all_ratio": listing["sync"] / listing["bare"]}


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


if __name__ == "__main__":
    run()
