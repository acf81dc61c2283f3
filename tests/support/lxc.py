"""Shared helpers for the integration tests: real clients (pylxd, the ``lxc`` and ``incus``
CLIs) and real processes against the mock LXD cluster, over loopback TCP and unix sockets only.

:class:`Cli` runs either client (``Cli("incus", socket_path, home)``); the ``cli`` fixture
runs a test once per client, each against a mock of its own server's flavour (``cli_mock``).
"""
from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

COMMAND_TIMEOUT = 60  # seconds for one CLI command; they take milliseconds against the mock


# ---- the mock as a separate process ------------------------------------------------------

def mock_console_script() -> str:
    """The ``pylxd-cluster-mock`` console script installed next to this interpreter."""
    script = Path(sys.executable).with_name("pylxd-cluster-mock")
    if not script.exists():
        found = shutil.which("pylxd-cluster-mock")
        if found is None:
            pytest.fail("pylxd-cluster-mock is not installed: run `make venv` (pip install -e '.[server,test]')")
        return found
    return str(script)


class MockProcess:
    """``pylxd-cluster-mock`` run with Popen; its stdout is read line by line in a thread."""

    def __init__(self, *args: str, ready: str = "listening on unix:", timeout: float = 30.0):
        self.argv = [mock_console_script(), *args]
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self._wait_for(ready, timeout)
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"mock did not print {text!r} within {timeout}s: {self.lines}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                stderr = self.proc.stderr.read()
                raise AssertionError(f"mock exited ({self.proc.wait()}) before printing {text!r}: "
                                     f"stdout={self.lines} stderr={stderr!r}")
            self.lines.append(line)
            if text in line:
                return

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``signum`` (if still running) and wait; kill it if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
            raise AssertionError(f"mock did not stop within {timeout}s of signal {signum}")
        finally:
            self._reader.join(timeout=timeout)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream and not stream.closed:
                    stream.close()
        while True:  # whatever the reader collected after the ready line
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return code


@pytest.fixture
def short_tmp():
    """A short temporary directory (unix socket paths are limited to 107 bytes)."""
    path = tempfile.mkdtemp(prefix="lxdit-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


# ---- the lxc and incus CLIs --------------------------------------------------------------

@dataclass(frozen=True)
class CliFlavour:
    """What differs between the two clients the integration tests drive."""

    name: str               # the command: "lxc" or "incus"
    package: str            # its Debian package (for the failure message)
    conf_env: str           # the configuration directory's variable
    socket_env: str         # the unix socket's variable
    server: str             # the server flavour it belongs with (GET /1.0 environment.server)
    mock_profile: str | None  # the mock profile its integration tests run against (None: the default, an LXD)
    status_column: str      # the table column of a member's status
    not_clustered: str      # its refusal of `cluster list` on a standalone server


CLIS: dict[str, CliFlavour] = {
    "lxc": CliFlavour("lxc", "lxd-client", "LXD_CONF", "LXD_SOCKET", "lxd", None, "STATE",
                      "Error: LXD server isn't part of a cluster"),
    "incus": CliFlavour("incus", "incus-client (bookworm-backports)", "INCUS_CONF", "INCUS_SOCKET", "incus",
                        "incus-6.0", "STATUS", "Error: Server isn't part of a cluster"),
}


def cli_binary(name: str) -> str:
    """The path of the ``lxc`` or ``incus`` client; fails the test (never skips) without it."""
    flavour = CLIS[name]
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"the `{name}` CLI (Debian package {flavour.package}) is not on PATH: run "
                    "`make system-deps` to install it; these integration tests need the real client")
    return path


def lxc_binary() -> str:
    return cli_binary("lxc")


def incus_binary() -> str:
    return cli_binary("incus")


class Cli:
    """Runs the real ``lxc`` or ``incus`` against a unix socket (``LXD_SOCKET`` /
    ``INCUS_SOCKET``), with its own HOME and configuration directory (``LXD_CONF`` /
    ``INCUS_CONF``), no proxies, and a timeout."""

    def __init__(self, name: str, socket_path: str, home: Path, binary: str | None = None):
        self.flavour = CLIS[name]
        self.name = name
        self.binary = binary or cli_binary(name)
        self.socket_path = socket_path
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.conf = home / f"{name}-conf"
        # With the daemon installed too, a client greets a new configuration directory with
        # "If this is your first time running ..." on stderr: give it one already made.
        self.conf.mkdir(exist_ok=True)
        if not (self.conf / "config.yml").exists():
            (self.conf / "config.yml").write_text("default-remote: local\n")
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LXD_", "INCUS_", "SNAP"))
            and key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
        }
        env.update({"HOME": str(home), self.flavour.conf_env: str(self.conf), self.flavour.socket_env: socket_path,
                    "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb", "NO_PROXY": "*"})
        self.env = env

    def __repr__(self) -> str:
        return f"<{self.name} on {self.socket_path}>"

    def run(
        self, *args: str, input: str | None = None, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.binary, *args], env=self.env, cwd=str(self.home), input=input,
                                  capture_output=True, text=True, timeout=timeout,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
            raise AssertionError(f"`{self.name} {' '.join(args)}` did not finish within {timeout}s "
                                 f"(stdout={exc.stdout!r}, stderr={exc.stderr!r})") from None

    def ok(self, *args: str, **kwargs) -> str:
        """Run and require exit 0 with nothing on stderr; return stdout."""
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, (f"`{self.name} {' '.join(args)}` exited {result.returncode}: "
                                        f"stdout={result.stdout!r} stderr={result.stderr!r}")
        assert result.stderr == "", f"`{self.name} {' '.join(args)}` wrote to stderr: {result.stderr!r}"
        return result.stdout

    def fails(self, *args: str, **kwargs) -> str:
        """Run and require exit 1 with nothing on stdout; return stderr."""
        result = self.run(*args, **kwargs)
        assert (result.returncode, result.stdout) == (1, ""), (
            f"`{self.name} {' '.join(args)}` exited {result.returncode} (1 expected): stdout={result.stdout!r} "
            f"stderr={result.stderr!r}")
        return result.stderr


class Lxc(Cli):
    """``lxc`` (the historical name of :class:`Cli`, with its old signature)."""

    def __init__(self, binary: str, socket_path: str, home: Path):
        super().__init__("lxc", socket_path, home, binary=binary)


@pytest.fixture
def lxc_path() -> str:
    return lxc_binary()


@pytest.fixture
def incus_path() -> str:
    return incus_binary()


@pytest.fixture
def lxc(lxc_path, mock_cluster, tmp_path) -> Lxc:
    """``lxc`` pointed at ``mock_cluster`` (configure it with ``@pytest.mark.mock_cluster``)."""
    assert mock_cluster.unix_socket and os.path.exists(mock_cluster.unix_socket)
    return Lxc(lxc_path, mock_cluster.unix_socket, tmp_path / "home")


@pytest.fixture(params=sorted(CLIS))
def cli_name(request) -> str:
    """Each client in turn (``incus``, ``lxc``)."""
    return request.param


@pytest.fixture
def cli_mock(request, cli_name, mock_cluster_factory):
    """A mock answering as the server of ``cli_name``'s flavour (``lxc``: the default LXD
    profile, ``incus``: ``incus-6.0``); ``@pytest.mark.mock_cluster(...)`` adds options."""
    marker = request.node.get_closest_marker("mock_cluster")
    options = dict(marker.kwargs) if marker else {}
    if CLIS[cli_name].mock_profile is not None:
        options.setdefault("server", CLIS[cli_name].mock_profile)
    return mock_cluster_factory(**options)


@pytest.fixture
def cli(cli_name, cli_mock, tmp_path) -> Cli:
    """``lxc`` or ``incus`` (the test runs once with each) pointed at ``cli_mock``."""
    assert cli_mock.unix_socket and os.path.exists(cli_mock.unix_socket)
    return Cli(cli_name, cli_mock.unix_socket, tmp_path / "home")


def parse_table(text: str) -> list[dict]:
    """Parse lxc's or incus's default table output into rows of {HEADER: [cell lines]}.

    A record spans the ``|`` lines between two ``+---+`` rules; a cell that wraps over
    several lines (ROLES) becomes a list of its non-empty lines.
    """
    header: list[str] | None = None
    rows: list[dict] = []
    block: list[list[str]] = []

    def flush():
        nonlocal header
        if not block:
            return
        columns = len(block[0])
        cells = [[line[i] for line in block if line[i]] for i in range(columns)]
        if header is None:
            header = [" ".join(cell) for cell in cells]
        else:
            rows.append(dict(zip(header, cells)))
        block.clear()

    for line in text.splitlines():
        if line.startswith("+"):
            flush()
        elif line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif line.strip():
            raise AssertionError(f"unexpected line in table output: {line!r}\n{text}")
    flush()
    if header is None:
        raise AssertionError(f"no table in the output: {text!r}")
    return rows


def one(cell: list) -> str:
    """A single-line table cell's text ('' if empty)."""
    assert len(cell) <= 1, cell
    return cell[0] if cell else ""
