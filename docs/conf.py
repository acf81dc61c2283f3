"""Sphinx configuration for the pylxd-cluster documentation.

Build with ``make docs`` (``python -m sphinx -W --keep-going -b html -q docs docs/_build/html``):
warnings are errors. Only extensions that ship with Sphinx are used, and nothing is
fetched from the network (no intersphinx).
"""
from __future__ import annotations

import os
import sys

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
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]

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
