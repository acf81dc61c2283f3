"""Sphinx configuration for the pylxd-cluster documentation.

Build with ``make docs`` (``python -m sphinx -W --keep-going -b html -q docs docs/_build/html``):
warnings are errors, and nothing is fetched from the network (no intersphinx). Besides the
extensions that ship with Sphinx, myst-nb (the ``docs`` extra) renders the example notebook
``examples/explore.ipynb`` as a page, executed at every build against the mock cluster it
starts (a failing cell fails the build). No pandoc is needed.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile

# The packages are installed (editable) in the venv; this also lets a plain checkout build.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

project = "pylxd-cluster"
author = "the pylxd-cluster authors"
copyright = "the pylxd-cluster authors"
version = release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the docstrings use Google style (Args:, Raises:, Returns:)
    "sphinx.ext.viewcode",
    "myst_nb",  # the example notebook, executed at build time
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".ipynb": "myst-nb"}
# Of examples/, only the notebook is a page (the .py scripts are not documents anyway).
exclude_patterns = ["_build", "jupyter_execute", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]

# The notebook is committed without outputs and run at each build, in the interpreter that
# runs Sphinx (the venv's, which has pylxd_cluster and mockserver), from its own folder.
nb_execution_mode = "force"
nb_execution_raise_on_error = True   # a failing cell fails the build
nb_execution_show_tb = True          # ... with the traceback in the log
nb_execution_timeout = 180
nb_merge_streams = True
myst_enable_extensions: list = []


def _venv_kernel() -> str:
    """A kernelspec that runs THIS interpreter, found first (JUPYTER_PATH): a ``python3``
    kernelspec installed elsewhere could run another Python, without pylxd_cluster."""
    name = "pylxd-cluster-docs"
    folder = tempfile.mkdtemp(prefix="pylxd-cluster-docs-jupyter-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    spec_dir = os.path.join(folder, "kernels", name)
    os.makedirs(spec_dir)
    with open(os.path.join(spec_dir, "kernel.json"), "w") as spec:
        json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                            "--IPKernelApp.log_level=ERROR"],  # not its TCP notice
                   "display_name": "pylxd-cluster docs", "language": "python",
                   # Plots as PNG outputs, whatever backend the environment asks for.
                   "env": {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}}, spec)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [folder, os.environ.get("JUPYTER_PATH")]))
    return name


nb_kernel_rgx_aliases = {".*": _venv_kernel()}

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # signatures carry the defaults; types are in the text
autodoc_default_options = {"members": True, "undoc-members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "alabaster"
html_title = "pylxd-cluster"
html_static_path: list = []
highlight_language = "none"  # "::" blocks are shell sessions and text; Python uses code-block
pygments_style = "sphinx"
