"""members.all() on a 100-member mock cluster: our SDK, pylxd reading every member's status,
and a bare ``requests.get(...?recursion=1).json()``, against the same server in the same run.
"""
from __future__ import annotations

import pylxd
import requests

import pylxd_cluster
from benchmarks.common import best_of, interleaved, mock_server, table
from mockserver.daemon.harness import free_tcp_port

MEMBERS = 100


def count_requests(base: str) -> int:
    return len(requests.get(base + "/mock/requests", timeout=10).json()["metadata"])


def run() -> dict:
    port = free_tcp_port("127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    with mock_server(MEMBERS, port):
        session = requests.Session()
        ours = pylxd_cluster.Client(base)
        theirs = pylxd.Client(endpoint=base)

        def bare():
            members = session.get(base + "/1.0/cluster/members?recursion=1", timeout=30).json()["metadata"]
            assert len(members) == MEMBERS

        def sdk():
            members = ours.cluster.members.all()
            assert len(members) == MEMBERS and all(m.status == "Online" for m in members)

        def with_pylxd():
            members = theirs.cluster.members.all()
            assert len(members) == MEMBERS and all(m.status == "Online" for m in members)

        counts = {}
        for name, func in (("bare", bare), ("sdk", sdk), ("pylxd", with_pylxd)):
            before = count_requests(base)
            func()
            counts[name] = count_requests(base) - before
        times = interleaved({"bare": bare, "sdk": sdk})
        times["pylxd"] = best_of(with_pylxd, 3)
    rows = [
        ["bare requests.get(?recursion=1).json()", counts["bare"], f"{times['bare'] * 1000:.2f}", "1.00"],
        ["pylxd-cluster members.all() (models built)", counts["sdk"], f"{times['sdk'] * 1000:.2f}",
         f"{times['sdk'] / times['bare']:.2f}"],
        ["pylxd 2.4 members.all() + .status of each", counts["pylxd"], f"{times['pylxd'] * 1000:.2f}",
         f"{times['pylxd'] / times['bare']:.2f}"],
    ]
    table(f"members.all() on a {MEMBERS}-member mock cluster (median of interleaved rounds, same server, same run)",
          ["client", "requests", "ms per call", "ratio to bare GET"], rows)
    return {"counts": counts, "ms": {k: v * 1000 for k, v in times.items()},
            "sdk_ratio": times["sdk"] / times["bare"], "pylxd_ratio": times["pylxd"] / times["bare"]}


if __name__ == "__main__":
    run()
