"""test_plugins, plugins_importable: tests/support/plugin_dist, a plug-in package for the
daemon, installed as a real distribution (built by pip, with its entry points) into a
directory of its own. The daemons the tests start find it on their PYTHONPATH, and the
venv stays as ``make`` built it."""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("plugin_dist")


def install(directory: Path) -> Path:
    """Build and install the package; returns the directory to put on the path.

    Raises:
        RuntimeError: pip failed (its output attached).
    """
    source, target = directory / "source", directory / "site"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                           "--disable-pip-version-check", "--target", str(target), str(source)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"installing the test plug-ins failed:\n{done.stdout}\n{done.stderr}")
    return target


@pytest.fixture(scope="session")
def test_plugins(tmp_path_factory) -> Path:
    """The directory the plug-in package is installed in (once per session): give it to a
    daemon as ``node.env["PYTHONPATH"]``."""
    return install(tmp_path_factory.mktemp("plugins"))


@pytest.fixture
def plugins_importable(test_plugins):
    """The plug-in package visible to this process (its entry points found) for one test."""
    sys.path.insert(0, str(test_plugins))
    importlib.invalidate_caches()
    try:
        yield test_plugins
    finally:
        sys.path.remove(str(test_plugins))
        for name in [n for n in sys.modules if n.startswith("pack_plugins_for_tests")]:
            del sys.modules[name]
