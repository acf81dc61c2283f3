"""Progress of evacuate, restore and wait: a spinner with the elapsed time (and the operation's
own progress text when the server sends one) on stderr when it is a terminal (a pty here),
nothing of it in a pipe, and stdout clean either way. The mock holds the operation (a long
operation_delay) until the test ends it."""
from __future__ import annotations

import io
import os
import pty
import subprocess
import threading

import pytest

from mockserver.daemon.harness.waiting import poll_until
from pylxd_cluster.cli.progress import FRAMES, Spinner, progress_text
from tests.cli.test_cli import CLI

HELD = pytest.mark.mock_cluster(operation_delay=600)   # the test ends the operation itself


class Running:
    """The CLI as a process, its stderr a pty (``terminal``) or a pipe, read in a thread."""

    def __init__(self, *args: str, terminal: bool):
        if terminal:
            self.fd, other = pty.openpty()
        else:
            self.fd, other = os.pipe()
        self.proc = subprocess.Popen(CLI + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=other)
        os.close(other)
        self.data = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:   # EIO: the pty's other end closed
                return
            if not chunk:
                return
            self.data.extend(chunk)

    @property
    def err(self) -> str:
        """What came on stderr; a terminal's \\r\\n line ends (its onlcr) read as \\n."""
        return self.data.decode().replace("\r\n", "\n")

    def wait_for(self, text: str) -> None:
        poll_until(lambda: text in self.err or self.proc.poll() is not None, timeout=30, what=f"{text!r} on stderr",
                   describe=lambda: repr(self.err[-400:]))
        assert text in self.err, self.err

    def end(self) -> tuple[int, str, str]:
        out = self.proc.communicate(timeout=60)[0].decode()
        self.reader.join(timeout=30)
        os.close(self.fd)
        return self.proc.returncode, out, self.err


def held(mock):
    return poll_until(lambda: mock.state.operations.running("task"), timeout=30, what="the running operation")[0]


@HELD
@pytest.mark.parametrize("action,label", [("evacuate", "Evacuating"), ("restore", "Restoring")])
def test_a_spinner_on_a_terminal_with_the_servers_progress(mock_cluster, action, label):
    if action == "restore":
        mock_cluster.set_status("node2", "Evacuated")
    run = Running("--endpoint", mock_cluster.unix_socket, "cluster", action, "node2", "--force", terminal=True)
    run.wait_for(f"{label} cluster member node2 (")          # the spinner, before any progress text
    operation = held(mock_cluster)
    with mock_cluster.state.lock:   # what LXD 5.21 sends with op.ExtendMetadata
        operation.metadata = {"evacuation_progress": 'Stopping "c1" in project "default"'}
    run.wait_for(f'{label} cluster member node2: Stopping "c1" in project "default" (')
    mock_cluster.state.operations.finish(operation)
    code, out, err = run.end()
    assert code == 0, err
    assert "\r" not in out and out.count("\n") == 1 and out.startswith("node2: ")   # stdout stays clean
    frames = {line[0] for line in err.split("\r") if line[:2] in {f"{frame} " for frame in FRAMES}}
    assert len(frames) >= 2, err   # it turned
    assert err.endswith(f"\r{label} node2: Success in " + err.rsplit(" in ", 1)[1])
    assert err.rsplit("\r", 2)[-2].strip() == ""   # the spinner's line erased before the last line


@HELD
def test_a_failure_erases_the_spinner_and_says_why(mock_cluster):
    run = Running("--endpoint", mock_cluster.unix_socket, "evacuate", "node2", "--force", terminal=True)
    run.wait_for("Evacuating cluster member node2 (")
    mock_cluster.state.operations.finish(held(mock_cluster), "Failed to stop instance c1")
    code, out, err = run.end()
    assert (code, out) == (1, "")
    assert err.rsplit("\r", 1)[1].startswith("Error: ") and "Failed to stop instance c1" in err


@HELD
def test_no_spinner_in_a_pipe(mock_cluster):
    run = Running("--endpoint", mock_cluster.unix_socket, "cluster", "evacuate", "node2", "--force", terminal=False)
    run.wait_for("Evacuating node2 ...\n")
    operation = held(mock_cluster)
    with mock_cluster.state.lock:
        operation.metadata = {"evacuation_progress": 'Stopping "c1" in project "default"'}
    mock_cluster.state.operations.finish(operation)
    code, out, err = run.end()
    assert code == 0 and out == "node2: Online (Fully operational)\n"
    lines = err.splitlines()
    assert "\r" not in err and lines[0] == "Evacuating node2 ..." and lines[1].startswith("Evacuating node2: Success")
    assert len(lines) == 2
    # no polling without a terminal: the plain wait of the SDK
    assert not [r for r in mock_cluster.requests if r.method == "GET" and r.path == f"/1.0/operations/{operation.id}"]


def test_wait_for_members_spins_on_a_terminal(mock_cluster):
    run = Running("--endpoint", mock_cluster.unix_socket, "wait", "--members", "4", "--timeout", "60", terminal=True)
    run.wait_for("Waiting for 4 members: 3 of 3 Online (node1, node2, node3) (")
    mock_cluster.add_member("node4")
    code, out, err = run.end()
    assert code == 0, err
    assert "node4" in out and "\r" not in out
    assert err.endswith("4 of 4 members Online (node1, node2, node3, node4) after " + err.rsplit(" after ", 1)[1])


def test_wait_for_members_in_a_pipe_prints_a_line_per_change(mock_cluster):
    run = Running("--endpoint", mock_cluster.unix_socket, "wait", "--members", "4", "--timeout", "60",
                  terminal=False)
    run.wait_for("3 of 3 members Online (node1, node2, node3) after ")
    mock_cluster.add_member("node4")
    code, out, err = run.end()
    assert code == 0 and "\r" not in err
    assert [line.split(" after ")[0] for line in err.splitlines()] == [
        "3 of 3 members Online (node1, node2, node3)", "4 of 4 members Online (node1, node2, node3, node4)"]


@pytest.mark.parametrize("metadata,text", [
    (None, ""), ({}, ""), ({"evacuation_progress": "Migrating \"c1\" in project \"default\" to \"node3\""},
                           'Migrating "c1" in project "default" to "node3"'),
    ({"fs_progress": "c1: 40% (12.00MB/s)", "other": 1}, "c1: 40% (12.00MB/s)"),   # lxc's *_progress
    ({"progress": {"stage": "migrate", "percent": "40", "speed": "120"}}, "migrate 40% (120/s)"),
    ({"evacuation_progress": "", "progress": "half"}, "half"),
])
def test_progress_text_reads_metadata_as_lxc(metadata, text):
    assert progress_text(metadata) == text


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_spinner_only_on_a_terminal_and_fits_the_line():
    assert Spinner("x", stream=io.StringIO()).enabled is False
    spinner = Spinner("Evacuating cluster member node2", stream=Tty())
    assert spinner.enabled
    spinner.set("y" * 200)
    line = spinner.line()
    assert len(line) == 79 and line.endswith("...") and line.startswith("| Evacuating cluster member node2: yyy")
    spinner.set("")
    assert spinner.line().startswith("| Evacuating cluster member node2 (0.")
