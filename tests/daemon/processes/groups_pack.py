"""The pack the service-group process tests run on: three daemons formed, with groups
defined through the leader."""
from __future__ import annotations

import contextlib
from typing import Callable

from mockserver.daemon.harness import PackProcs, write
from tests.support.backends import ENGINES, engine_options  # noqa: F401 - ENGINES: the tests' parameters

NAMES = ("node1", "node2", "node3")
@contextlib.contextmanager
def pack_with_groups(groups: dict | None = None, ready: Callable | None = None, what: str = "",
                     engine: str = "pack"):
    """Yield the pack (on ``engine``) once it has formed and, when ``groups`` are given, once
    ``ready(procs, name)`` holds as every member sees it."""
    with engine_options(engine) as options, PackProcs(listen=True, **options) as procs:
        procs.form(NAMES)
        if groups:
            write(procs[procs.leader()], "PATCH", "/1.0/cluster/config", {"modules": [{"ServiceGroups": groups}]})
            procs.wait_until(lambda: all(ready(procs, name) for name in NAMES), 15, what=what)
        yield procs
