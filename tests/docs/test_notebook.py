"""The documentation: the example notebook runs, and Sphinx builds the docs without a warning."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
NOTEBOOK = DOCS / "examples" / "explore.ipynb"
KERNEL_NAME = "pylxd-cluster-docs"


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch) -> str:
    """A kernelspec that runs THIS interpreter (the venv's), whatever else is installed.

    The kernel must import pylxd_cluster and mockserver, so it has to be the Python the
    tests run under; a ``python3`` kernelspec found elsewhere could be another one.
    """
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "pylxd-cluster docs (venv Python)",
        "language": "python",
        "env": {"MPLBACKEND": "module://matplotlib_inline.backend_inline"},   # plots as PNG outputs
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert spec.argv[0] == sys.executable
    return KERNEL_NAME


def test_notebook_is_committed_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "mock.stop()" in code[-1].source


def test_notebook_runs_and_shows_the_offline_member_in_colour(venv_kernel, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, kernel_name=venv_kernel, timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError if any cell fails

    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    html = [output["data"]["text/html"] for output in outputs
            if output.output_type in ("execute_result", "display_data") and "text/html" in output.get("data", {})]
    tables = [text for text in html if "<table" in text and "node3" in text]
    offline = [text for text in tables if 'class="lxd-status lxd-status-offline"' in text]
    assert offline, "no HTML member table shows node3 Offline"
    from pylxd_cluster.display import STATUS_COLOURS

    assert f"background:{STATUS_COLOURS['Offline']}" in offline[0]
    assert ">Offline</span>" in offline[0]
    # node2 was shown Evacuated, and the group table lists its members.
    assert any("lxd-status-evacuated" in text for text in html)
    assert any("rack1" in text and "node1<br>node2" in text for text in html)
    # The timeline: its table with the one leader change, the change itself, and the plot.
    timelines = [text for text in html if re.search(r"Cluster timeline: \d+ samples over", text)]
    assert timelines and "1 leader change" in timelines[0] and "lxd-status-offline" in timelines[0]
    texts = [output["data"]["text/plain"] for output in outputs
             if output.output_type == "execute_result" and "text/plain" in output.get("data", {})]
    assert "[('node1', 'node2')]" in texts
    # The AsyncClient section: top-level await in the kernel's running loop, 50 reads gathered.
    assert "(50, ['Online'])" in texts
    images = [output for output in outputs if output.output_type == "display_data" and "image/png" in output.data]
    assert images, "the timeline's plot is not in the outputs"


def test_sphinx_builds_the_docs_without_warnings(tmp_path):
    """The notebook is a page, executed during the build (myst-nb): its outputs are there."""
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "html" / "index.html").is_file()
    for page in ("quickstart", "sdk", "mockserver", "daemon", "cli", "testing", "api", "examples/explore"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page
    notebook = (tmp_path / "html" / "examples" / "explore.html").read_text()
    assert "lxd-status-offline" in notebook and re.search(r"Cluster timeline: \d+ samples over", notebook)
    assert '<img alt="../_images/' in notebook           # the timeline's plot
    # The example scripts are not pages.
    assert not (tmp_path / "html" / "examples" / "demo.html").exists()
