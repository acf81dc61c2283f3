"""What a member keeps on disk between runs, in its state directory.

- ``document.json``: the last pack document it applied (written atomically, in version
  order, after it is applied and before it is confirmed to the leader; a restart starts
  from it until the leader answers);
- ``committed.json``: the last version it knows a majority holds: what it shows after a
  restart, until the leader answers (``document.json`` may hold a newer version that was
  never committed);
- ``term.json``: the highest term it stood or voted in, and whom it voted for: a vote is
  written (and fsynced) before it is sent, so that a restart never votes twice in a term;
- ``local.json``: facts about this member only: the digest of its own file's shareable
  modules when it last exported them (so that a leader exports its file again only when
  it was edited), and the pack key it received by joining with a token (mode 0600).
"""
from __future__ import annotations

import json
import logging
import os

from mockserver.daemon.sync.document import PackDocument
from mockserver.daemon.sync.persist import atomic_write, load_document

log = logging.getLogger(__name__)


class SyncStore:
    def __init__(self, directory: str):
        self.directory = directory
        self.document_path = os.path.join(directory, "document.json")
        self.local_path = os.path.join(directory, "local.json")
        self.committed_path = os.path.join(directory, "committed.json")
        self.term_path = os.path.join(directory, "term.json")

    def prepare(self) -> None:
        """Raises: OSError when the directory cannot be made."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)

    def load_document(self) -> PackDocument | None:
        return load_document(self.document_path)

    def save_document(self, document: PackDocument, wire: bytes | None = None) -> None:
        """``wire``: the document's to_wire() when the caller has it already."""
        atomic_write(self.document_path, document.to_wire() if wire is None else wire)

    def load_committed(self) -> PackDocument | None:
        return load_document(self.committed_path)

    def save_committed(self, document: PackDocument, wire: bytes | None = None) -> None:
        # Not fsynced: what a member shows after a restart can lag (document.json, which it
        # confirmed, is fsynced), and a copy a power cut damaged fails its digest check.
        atomic_write(self.committed_path, document.to_wire() if wire is None else wire, durable=False)

    def load_term(self) -> tuple:
        """(term, voted_for) as last written; (0, "") when there is none."""
        data = self._load_json(self.term_path)
        term, voted_for = data.get("term", 0), data.get("voted_for", "")
        if not isinstance(term, int) or not isinstance(voted_for, str):
            log.warning("ignoring %s: not a term and a vote", self.term_path)
            return 0, ""
        return term, voted_for

    def save_term(self, term: int, voted_for: str) -> None:
        """Raises: OSError (the vote must not be sent then)."""
        atomic_write(self.term_path, json.dumps({"term": term, "voted_for": voted_for}).encode())

    def _load_json(self, path: str) -> dict:
        try:
            with open(path, "rb") as handle:
                data = json.loads(handle.read())
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return {}
        except (ValueError, RecursionError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            return {}

    def load_local(self) -> dict:
        return self._load_json(self.local_path)

    def save_local(self, data: dict) -> None:
        atomic_write(self.local_path, json.dumps(data, sort_keys=True).encode())
        os.chmod(self.local_path, 0o600)
