"""Writing the synced configuration to disk so that a crash never leaves a torn file.

The new content goes to a temporary file in the same directory, is flushed and fsynced,
then renamed over the old file (rename is atomic within a file system), and the directory
is fsynced so that the rename itself survives a power cut. A ``kill -9`` at any moment
leaves either the old file or the new one.
"""
from __future__ import annotations

import logging
import os
import tempfile

from mockserver.daemon.sync.document import PackDocument, SyncError

log = logging.getLogger(__name__)


def atomic_write(path: str, data: bytes, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring).

    ``durable=False`` skips both fsyncs: after a crash the file is the old one, the new
    one, or (after a power cut) one that fails its digest check; never a torn file read as
    good. For copies that can be rebuilt (what a member shows), not for votes or what it
    confirmed.

    Raises:
        OSError: the directory is not writable, the disk is full, ...; the old file is intact.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    if not durable:
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_document(path: str) -> PackDocument | None:
    """The persisted document, or None if there is none or it cannot be trusted (logged)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    try:
        return PackDocument.from_wire(data)
    except SyncError as exc:
        log.warning("ignoring the synced configuration in %s: %s", path, exc)
        return None
