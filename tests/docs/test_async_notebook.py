"""AsyncClient under Jupyter: the kernel's loop is already running, and cells ``await`` at
the top level (IPython's autoawait), as a user exploring a cluster types them."""
from __future__ import annotations

from tests.docs.test_notebook import venv_kernel  # noqa: F401 - the fixture

CELLS = [
    "from mockserver import MockCluster\nfrom pylxd_cluster import AsyncClient\nmock = MockCluster(3).start()",
    "client = await AsyncClient.connect(mock.unix_socket)\nmembers = await client.cluster.members.all()\nmembers",
    "operation = await members.by_name('node2').evacuate()\n"
    "(operation.status, (await client.cluster.members.get('node2')).status)",
    "async with client.events() as stream:\n"
    "    await client.cluster.members.restore('node2', wait=False)\n"
    "    event = await stream.wait_for(action='cluster-member-restored', timeout=10)\n"
    "event.source",
    "await client.close()\nmock.stop()",
]


def test_top_level_await_in_a_notebook(venv_kernel, tmp_path):  # noqa: F811 - the fixture
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    NotebookClient(nb, kernel_name=venv_kernel, timeout=60, resources={"metadata": {"path": str(tmp_path)}}).execute()

    results = [output for cell in nb.cells for output in cell.outputs if output.output_type == "execute_result"]
    assert len(results) == 3, [cell.outputs for cell in nb.cells]
    members, evacuated, restored = (result["data"] for result in results)
    assert "<table" in members["text/html"] and "node3" in members["text/html"]   # the rich display
    assert evacuated["text/plain"] == "('Success', 'Evacuated')"
    assert restored["text/plain"] == "'/1.0/cluster/members/node2'"
