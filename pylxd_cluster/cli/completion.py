"""``pylxd-cluster completion bash|zsh|tcsh``: print a shell completion script.

The scripts are made by shtab from the argparse parser itself, so every command, option and
choice completes as ``--help`` lists it. shtab rather than argcomplete: shtab writes a static
script once (``pylxd-cluster completion bash > /etc/bash_completion.d/pylxd-cluster``), and a
TAB then costs the shell nothing, where argcomplete needs a hook in the shell's startup
(``eval "$(register-python-argcomplete ...)"``) and starts Python, importing the SDK, at every
TAB; shtab is one pure-Python module without dependencies of its own, and also covers zsh
and tcsh with no shell-side helper installed.

Names are completed from the server: the member of ``cluster show``, ``edit``,
``evacuate`` ... and the group of ``cluster group show`` ... run ``pylxd-cluster cluster list
-f csv`` (``group list``) in the background, against the default endpoint
($PYLXD_CLUSTER_ENDPOINT, or the local socket), and complete nothing when it fails.
"""
from __future__ import annotations

import argparse
from typing import Any, Iterable

import shtab

__all__ = ["SHELLS", "script", "mark_members", "mark_groups", "mark_files"]

SHELLS = ("bash", "zsh", "tcsh")

_MEMBERS = "pylxd-cluster cluster list -f csv 2>/dev/null | cut -d, -f1"
_GROUPS = "pylxd-cluster cluster group list -f csv 2>/dev/null | cut -d, -f1"

PREAMBLE = {
    "bash": f"""
# the cluster's members and groups, from the server (nothing when it does not answer)
_pylxd_cluster_members() {{
  compgen -W "$({_MEMBERS})" -- "$1"
}}
_pylxd_cluster_groups() {{
  compgen -W "$({_GROUPS})" -- "$1"
}}
""",
    "zsh": f"""
# the cluster's members and groups, from the server (nothing when it does not answer)
_pylxd_cluster_members() {{
  local -a names
  names=(${{(f)"$({_MEMBERS})"}})
  compadd -a names
}}
_pylxd_cluster_groups() {{
  local -a names
  names=(${{(f)"$({_GROUPS})"}})
  compadd -a names
}}
""",
}

MEMBERS = {"bash": "_pylxd_cluster_members", "zsh": "_pylxd_cluster_members", "tcsh": f"`{_MEMBERS}`"}
GROUPS = {"bash": "_pylxd_cluster_groups", "zsh": "_pylxd_cluster_groups", "tcsh": f"`{_GROUPS}`"}


def _mark(actions: Iterable[Any], how: Any) -> None:
    for action in actions:
        action.complete = how


def mark_members(*actions: Any) -> None:
    """Complete these arguments with the cluster's member names."""
    _mark(actions, MEMBERS)


def mark_groups(*actions: Any) -> None:
    """Complete these arguments with the cluster's group names."""
    _mark(actions, GROUPS)


def mark_files(*actions: Any) -> None:
    """Complete these arguments with file names."""
    _mark(actions, shtab.FILE)


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser`` for ``shell`` (bash, zsh or tcsh)."""
    if shell not in SHELLS:
        raise ValueError(f"shell must be one of {', '.join(SHELLS)}, not {shell!r}")
    return shtab.complete(parser, shell=shell, preamble=PREAMBLE.get(shell, ""))
