"""The project's version for the server's commands: the installed distribution's, whose one
source is ``pylxd_cluster.__version__`` (setup.cfg reads it)."""
from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("pylxd-cluster")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "unknown (not installed)"
