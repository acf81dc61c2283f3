"""Atomic persistence: a kill -9 at any moment leaves the old file or the new one."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from mockserver.daemon.sync import PackDocument, atomic_write, load_document

CHILD = Path(__file__).with_name("writer_child.py")
ROOT = Path(__file__).resolve().parents[3]


def test_atomic_write_replaces_and_loads(tmp_path):
    path = str(tmp_path / "synced.json")
    assert load_document(path) is None
    first = PackDocument((("A", {"x": 1}),), 1, 1)
    atomic_write(path, first.to_wire())
    assert load_document(path) == first
    second = first.changed((("A", {"x": 2}),))
    atomic_write(path, second.to_wire())
    assert load_document(path) == second
    assert sorted(os.listdir(tmp_path)) == ["synced.json"]  # no temporary files left


def test_a_torn_or_foreign_file_is_not_trusted(tmp_path):
    path = tmp_path / "synced.json"
    document = PackDocument((("A", {"x": 1}),), 1, 1).to_wire()
    path.write_bytes(document[: len(document) // 2])
    assert load_document(str(path)) is None
    path.write_bytes(b"not json at all")
    assert load_document(str(path)) is None


def test_kill_9_during_persistence_never_leaves_a_torn_file(tmp_path):
    """40 trials: a process rewriting a 1 MB document as fast as it can is killed at a
    random moment; the file is always one whole document or the other."""
    path = str(tmp_path / "synced.json")
    rng = random.Random(2026)
    seen = set()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for trial in range(40):
        child = subprocess.Popen([sys.executable, str(CHILD), path], stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.05))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        if not os.path.exists(path):
            continue  # killed before its first rename: nothing was replaced
        document = load_document(path)
        assert document is not None, f"trial {trial}: torn file"
        assert document.version in (1, 2)
        seen.add(document.version)
        for leftover in tmp_path.glob(".synced.json.*.tmp"):
            leftover.unlink()  # a crash may leave the temporary file; it never replaces the real one
    assert seen == {1, 2}, "the kills should land during both writes"
