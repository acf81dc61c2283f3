"""What a member keeps on disk between runs, in its state directory.

- ``document.json``: the last pack document it applied (written atomically, in version
  order, after it is applied and before it is confirmed to the leader; a restart starts
  from it until the leader answers);
- ``local.json``: facts about this member only: the digest of its own file's shareable
  modules when it last exported them (so that a leader exports its file again only when
  it was edited), and the pack key it received by joining with a token (mode 0600).
"""
from __future__ import annotations

import json
import logging
import os

from .document import PackDocument
from .persist import atomic_write, load_document

log = logging.getLogger(__name__)


class SyncStore:
    def __init__(self, directory: str):
        self.directory = directory
        self.document_path = os.path.join(directory, "document.json")
        self.local_path = os.path.join(directory, "local.json")

    def prepare(self) -> None:
        """Raises: OSError when the directory cannot be made."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)

    def load_document(self) -> PackDocument | None:
        return load_document(self.document_path)

    def save_document(self, document: PackDocument, wire: bytes | None = None) -> None:
        """``wire``: the document's to_wire() when the caller has it already."""
        atomic_write(self.document_path, document.to_wire() if wire is None else wire)

    def load_local(self) -> dict:
        try:
            with open(self.local_path, "rb") as handle:
                data = json.loads(handle.read())
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            log.warning("ignoring %s: %s", self.local_path, exc)
            return {}

    def save_local(self, data: dict) -> None:
        atomic_write(self.local_path, json.dumps(data, sort_keys=True).encode())
        os.chmod(self.local_path, 0o600)
