"""`make demo` runs docs/examples/demo.py: it must walk the cluster and leave nothing behind."""
from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "docs" / "examples" / "demo.py"


def test_demo_walks_the_cluster_and_cleans_up():
    before = set(glob.glob("/tmp/pylxd-cluster-demo-*"))
    result = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for text in ("Starting a 3-member mock LXD cluster", "| node3 |", "A join token for a new member node4",
                 "decoded: server_name=node4", "Evacuating node2", "Member node2: Evacuated",
                 "node2: Online (Fully operational)", "cluster-member-evacuated", "cluster-member-restored",
                 "cluster-token-created", "pylxd-cluster mock: stopped"):
        assert text in out, text
    assert set(glob.glob("/tmp/pylxd-cluster-demo-*")) == before
