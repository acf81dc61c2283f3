"""Who may import whom (docs/architecture.rst): the front end never imports a back end, the
back ends never import each other, the SDK never imports the server, and a sans-IO core
never imports I/O, threads or clocks."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FRONT_END = ("mockserver/api", "mockserver/state", "mockserver/http.py", "mockserver/wire.py",
             "mockserver/errors.py", "mockserver/tls.py", "mockserver/godecode.py")
SANS_IO = ("mockserver/daemon/protocol", "mockserver/daemon/sync/core.py", "mockserver/daemon/sync/commit.py",
           "mockserver/daemon/groups/config.py", "mockserver/daemon/groups/placement.py",
           "mockserver/daemon/groups/ownership.py", "mockserver/daemon/groups/monitor.py",
           "mockserver/daemon/sync/document.py", "mockserver/daemon/etcd/view.py", "mockserver/daemon/etcd/keys.py")
#: The SDK's core, shared by Client and AsyncClient: plans, envelope, models (see pylxd_cluster/protocol.py).
SDK_SHARED = ("pylxd_cluster/protocol.py", "pylxd_cluster/managers", "pylxd_cluster/models", "pylxd_cluster/server.py",
              "pylxd_cluster/exceptions.py")
HTTP_LIBRARIES = ("requests", "requests_unixsocket", "urllib3", "aiohttp", "websocket", "socket", "ssl", "threading",
                  "asyncio", "pylxd_cluster.transport", "pylxd_cluster.aio")
IO_MODULES = ("asyncio", "socket", "time", "threading", "selectors", "subprocess", "aiohttp", "requests", "ssl")


def modules(*prefixes: str) -> list[Path]:
    found = []
    for prefix in prefixes:
        path = ROOT / prefix
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
    return found


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (imports inside functions count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: use absolute imports"
            names.add(node.module)
    return names


def offending(paths, forbidden) -> dict:
    bad = {}
    for path in paths:
        hits = sorted(name for name in imported(path) if any(name == f or name.startswith(f + ".") for f in forbidden))
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    return bad


def test_the_front_end_imports_no_back_end():
    assert offending(modules(*FRONT_END), ("mockserver.mock", "mockserver.daemon")) == {}


def test_the_back_ends_do_not_import_each_other():
    assert offending(modules("mockserver/mock"), ("mockserver.daemon",)) == {}
    assert offending(modules("mockserver/daemon"), ("mockserver.mock",)) == {}


def test_the_sdk_does_not_import_the_server():
    assert offending(modules("pylxd_cluster"), ("mockserver",)) == {}


def test_only_the_plotting_module_imports_matplotlib():
    """matplotlib is an optional extra (``plot``): the rest of the SDK, timelines included,
    works without it."""
    paths = [path for path in modules("pylxd_cluster") if path.name != "plotting.py"]
    assert offending(paths, ("matplotlib",)) == {}
    assert offending(modules("pylxd_cluster/plotting.py"), ("matplotlib",))


def test_the_sdk_core_shared_by_both_clients_does_no_io():
    """Managers, models and the envelope are written once, for the sync and the async client:
    they name the requests they need (pylxd_cluster.protocol), a transport sends them."""
    assert offending(modules(*SDK_SHARED), HTTP_LIBRARIES) == {}
    assert offending(modules("pylxd_cluster/protocol.py"), IO_MODULES) == {}


def test_only_the_async_client_imports_aiohttp():
    """The sync SDK imports without aiohttp (the ``async`` extra)."""
    paths = [path for path in modules("pylxd_cluster") if "aio" not in path.relative_to(ROOT).parts]
    assert offending(paths, ("aiohttp", "yarl")) == {}
    assert offending(modules("pylxd_cluster/aio"), ("aiohttp",))


@pytest.mark.parametrize("core", SANS_IO)
def test_a_sans_io_core_imports_no_io_threads_or_clocks(core):
    paths = modules(core)
    assert paths, f"{core} is gone: update SANS_IO"
    assert offending(paths, IO_MODULES) == {}


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The walker sees imports nested in functions, and relative imports are refused."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import asyncio\n    from mockserver.daemon import x\n")
    assert imported(sample) == {"asyncio", "mockserver.daemon"}
    sample.write_text("from . import x\n")
    with pytest.raises(AssertionError, match="absolute imports"):
        imported(sample)
