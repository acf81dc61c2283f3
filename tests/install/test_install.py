"""The project installed as a user installs it: into a fresh virtualenv, from a built wheel.

``pip install pylxd-cluster`` alone is the SDK: it must import, its command must run, and
the pytest plugin it registers must not break pytest on a project that never uses it. The
``server`` extra brings everything the mock needs (``InProcessMock`` included).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 600


def run(*argv, cwd=None, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                            stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, ROOT)
    (built,) = out.glob("pylxd_cluster-*.whl")
    return built


def fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin"


def test_the_wheel_carries_the_license_the_type_marker_and_both_packages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "pylxd_cluster/py.typed" in names and "mockserver/py.typed" in names
    assert any(name.endswith("/LICENSE") for name in names), names
    metadata = next(n for n in names if n.endswith("/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Python: >=3.10" in text
    assert "Requires-Dist: requests-unixsocket>=0.4" in text
    assert "Requires-Dist: responses>=0.22; extra == \"server\"" in text


def test_the_sdk_alone_installs_runs_and_leaves_pytest_working(wheel, tmp_path):
    bin_dir = fresh_venv(tmp_path / "venv")
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, "pytest")
    version = run(bin_dir / "python", "-c", "import pylxd_cluster; print(pylxd_cluster.__version__)").stdout.strip()
    assert run(bin_dir / "pylxd-cluster", "--version").stdout.strip() == f"pylxd-cluster {version}"
    assert run(bin_dir / "python", "-m", "pylxd_cluster", "--version").stdout.strip().endswith(version)
    # Without the server extra, the server is not importable...
    missing = run(bin_dir / "python", "-c", "import aiohttp", check=False)
    assert missing.returncode != 0
    # ...yet pytest, which loads our plugin, runs another project's tests,
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_other.py").write_text("def test_other():\n    assert 1 + 1 == 2\n")
    result = run(bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    # and a test that uses a mock fixture is told what to install.
    (project / "test_mock.py").write_text("def test_mock(mock_cluster):\n    pass\n")
    result = run(bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mock.py", cwd=project,
                 check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pip install 'pylxd-cluster[server]'" in result.stdout


def test_the_server_extra_runs_the_mock_in_process_and_every_command_has_a_version(wheel, tmp_path):
    bin_dir = fresh_venv(tmp_path / "venv")
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", f"{wheel}[server]")
    script = textwrap.dedent("""
        from mockserver import InProcessMock
        import pylxd_cluster
        with InProcessMock(members=3) as mock:
            client = pylxd_cluster.Client(mock.url)
            print(sorted(client.cluster.members.all().names))
    """)
    assert run(bin_dir / "python", "-c", script).stdout.strip() == "['node1', 'node2', 'node3']"
    for command in ("pylxd-cluster-mock", "pylxd-cluster-daemon"):
        assert run(bin_dir / command, "--version").stdout.startswith(f"{command} ")


FLOORS = ("attrs==21.3.0", "requests-unixsocket==0.4.0", "websocket-client==1.2.0", "PyYAML==6.0.1")


def test_the_declared_floors_are_enough(wheel, tmp_path):
    """The oldest versions setup.cfg accepts: the SDK over a unix socket (requests-unixsocket),
    models (attrs), events (websocket-client) and the daemon's YAML (PyYAML)."""
    bin_dir = fresh_venv(tmp_path / "venv")
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", f"{wheel}[server]", *FLOORS)
    script = textwrap.dedent("""
        from mockserver import MockCluster
        from mockserver.daemon.config import parse
        import pylxd_cluster
        with MockCluster(3) as mock:
            client = pylxd_cluster.Client(mock.unix_socket)
            with client.events() as stream:
                client.cluster.members.update("node2", description="floors")
                event = stream.wait_for(action="cluster-member-updated", timeout=10)
            print(event.action, client.cluster.members.get("node2").description)
        print(parse("- Pack:\\n    name: lab\\n    secret: s\\n    broadcast: 198.51.100.255\\n", "n.yaml").pack.name)
    """)
    assert run(bin_dir / "python", "-c", script).stdout.split() == ["cluster-member-updated", "floors", "lab"]
    installed = run(bin_dir / "python", "-m", "pip", "freeze").stdout.lower()
    for pin in FLOORS:
        assert pin.lower() in installed, installed
