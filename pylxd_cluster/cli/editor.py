"""Editing YAML in the user's editor, as ``lxc ... edit`` does: the editor is ``$VISUAL``, then
``$EDITOR``, then ``editor`` (Debian's alternative) if it is on the PATH, then ``vi``.

:func:`edit_loop` is the loop ``lxc cluster edit`` runs: open the text in the editor, try to
apply what was saved; on an error show it and offer to open the editor again on the user's own
text ("Press enter to open the editor again or ctrl+c to abort change"), or give up keeping the
text in a file it names. ``config edit`` (cli/config.py) uses the same editor helpers.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import Callable

from pylxd_cluster.exceptions import APIError, ClusterError

__all__ = ["EditError", "Abandon", "find_editor", "run_editor", "is_empty", "ask_to_edit_again", "edit_loop"]

#: lxc's words, asked after an error (lxc 5.0.2 and incus 6.0.4 alike).
LXC_AGAIN = "Press enter to open the editor again or ctrl+c to abort change"


class EditError(ClusterError):
    """The edited YAML cannot be used; the message says where and why."""


class Abandon(ClusterError):
    """Raised by an ``apply`` of :func:`edit_loop`: stop without offering the editor again
    (e.g. the object changed on the server meanwhile); the message says what to do."""


def find_editor() -> str:
    """The editor to run: $VISUAL, then $EDITOR, then `editor` if on PATH, then `vi`."""
    return (os.environ.get("VISUAL") or os.environ.get("EDITOR")
            or ("editor" if shutil.which("editor") else "vi"))


def run_editor(path: str) -> None:
    """Run the editor on ``path`` and wait for it.

    Raises:
        EditError: it cannot be started, or exited with a non-zero status.
    """
    editor = find_editor()
    command = shlex.split(editor) + [path]
    try:
        status = subprocess.call(command)
    except OSError as exc:
        raise EditError(f"cannot start the editor {editor!r} ($VISUAL, $EDITOR): {exc}") from None
    if status != 0:
        raise EditError(f"the editor {editor!r} exited with status {status}; nothing was written "
                        f"(the file it edited: {path})")


def is_empty(text: str) -> bool:
    """Nothing but comments and blank lines (an emptied file aborts an interactive edit)."""
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def ask_to_edit_again(problem: str, prompt: str = "Press Enter to open the editor again, or Ctrl-C to abort: ",
                      label: str = "Error") -> bool:
    """Print ``problem`` and ``prompt`` on stderr and read a line from stdin: True on Enter,
    False on Ctrl-C or end of input (Ctrl-D)."""
    sys.stderr.write(f"{label}: {problem}\n{prompt}")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return False
    return answer != ""


def edit_loop(text: str, apply: Callable[[str], str], *, prefix: str, retry: str) -> str:
    """Edit ``text`` until ``apply`` accepts it; returns what ``apply`` returned.

    ``apply(edited)`` raises :class:`EditError` or :class:`~pylxd_cluster.exceptions.APIError`
    for a text that cannot be used (shown as lxc shows it, ``Config parsing error: ...``, then
    the editor is offered again on the user's own text), or :class:`Abandon` to stop at once.
    The temporary file is removed once the edit is applied (or emptied); when the user gives
    up it is kept, and the error names it with ``retry`` (a command, ``{path}`` in it replaced
    by the file's path) to apply it later.

    Raises:
        EditError: the file was emptied, the editor failed, or the user gave up after an
            error (nothing was written).
        Abandon: from ``apply`` (the file kept: ``{path}`` in its message is replaced by the
            file's path).
    """
    handle, path = tempfile.mkstemp(prefix=prefix, suffix=".yaml")
    os.close(handle)
    done = False  # the file is removed once the edit is applied (or emptied), else kept
    try:
        while True:
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text)
            run_editor(path)
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
            if is_empty(text):
                done = True
                raise EditError("the file was emptied: edit aborted, nothing was written")
            try:
                result = apply(text)
                done = True
                return result
            except Abandon as exc:
                raise Abandon(str(exc).replace("{path}", shlex.quote(path))) from None
            except (EditError, APIError) as exc:
                problem = str(exc)
            if not ask_to_edit_again(problem, LXC_AGAIN + " ", label="Config parsing error"):
                raise EditError(f"{problem}; nothing was written. Your edit is kept in {path}: fix it and run "
                                f"`{retry.format(path=shlex.quote(path))}`")
    finally:
        if done:
            os.unlink(path)
