"""What the leader replicates: the pack document, and the merge rules of followers.

The document holds everything cluster-wide: the shared configuration modules (the seed's
PackConfiguration) and the cluster state that LXD's API writes (member descriptions, roles,
groups, names, evacuations, removals, join tokens). Every change makes a new ``version``
within the leader's ``term``; the digest covers the content, so a copy can be checked, and
``changes`` keeps the lifecycle events of the last versions so that every member emits
them when it applies the document.

The seed's contract: the leader's modules reach every follower except Pack,
PackConfiguration and ``ignore_modules``; a follower's locally configured modules are never
overwritten. Beyond the seed: a module the leader removes is removed on followers (unless
local), and a document from a stale leader (an older term) is refused.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, replace

from mockserver.state.configuration import NEVER_SHARED, ConfigDocument, canonical_json, modules_to_wire

# Versions whose lifecycle events a document carries, so that a member a few versions
# behind still emits each change's events (one that was away longer gets the state only).
HISTORY = 64


class SyncError(Exception):
    """A document that cannot be used; the message says why."""


def shareable_modules(modules, ignore=()) -> tuple:
    """The modules of a configuration that the leader shares, in file order."""
    excluded = set(NEVER_SHARED) | set(ignore)
    return tuple((name, options) for name, options in modules if name not in excluded)


@dataclass(frozen=True)
class PackDocument:
    """Version ``version`` of the pack's shared state, issued by the leader of ``term``."""

    modules: tuple = ()
    version: int = 0
    term: int = 0
    cluster: dict | None = None   # ClusterState.export_shared(); None: nothing written yet
    changes: tuple = ()           # ((version, (event, ...)), ...), oldest first

    @functools.cached_property
    def digest(self) -> str:
        # Cached: a 1 MB document is hashed once, not at every look.
        return hashlib.sha256(canonical_json({"modules": modules_to_wire(self.modules),
                                              "cluster": self.cluster})).hexdigest()

    @property
    def configuration(self) -> ConfigDocument:
        return ConfigDocument(self.modules, self.version, self.term)

    def changed(self, modules=None, cluster=None, events=()) -> PackDocument:
        """The next version with new ``modules`` and/or ``cluster`` (the same document when
        neither differs), carrying ``events`` (lifecycle event tuples) in its history."""
        modules = self.modules if modules is None else tuple(modules)
        cluster = self.cluster if cluster is None else cluster
        if canonical_json([modules_to_wire(modules), cluster]) == \
                canonical_json([modules_to_wire(self.modules), self.cluster]):
            return self
        version = self.version + 1
        changes = (self.changes + ((version, tuple(events)),))[-HISTORY:]
        return PackDocument(modules, version, self.term, cluster, changes)

    def restamped(self, term: int) -> PackDocument:
        """The same content issued by the leader of ``term`` (a new leader continues from it)."""
        return replace(self, term=term)

    def events_after(self, version: int) -> list:
        """The lifecycle events of the versions after ``version`` that the history still holds."""
        return [event for number, events in self.changes if number > version for event in events]

    def to_wire(self) -> bytes:
        head = json.dumps({"version": self.version, "term": self.term, "digest": self.digest,
                           "modules": modules_to_wire(self.modules), "cluster": self.cluster},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        history = ",".join(_encoded_change(number, events) for number, events in self.changes)
        return ('{"changes":[' + history + "]," + head[1:]).encode()

    @classmethod
    def from_wire(cls, data: bytes) -> PackDocument:
        """Raises: SyncError for anything but a complete document whose digest matches."""
        try:
            raw = json.loads(data)
            modules = tuple(module_from_wire(item) for item in raw["modules"])
            cluster = raw.get("cluster")
            if cluster is not None and not isinstance(cluster, dict):
                raise TypeError("cluster is not a mapping")
            changes = tuple((int(number), tuple(tuple(event) for event in events))
                            for number, events in raw.get("changes", ()))
            document = cls(modules, int(raw["version"]), int(raw["term"]), cluster, changes)
            digest = raw["digest"]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise SyncError(f"not a pack document: {exc}") from None
        if digest != document.digest:
            raise SyncError(f"digest mismatch: the document says {str(digest)[:12]}..., its content hashes to "
                            f"{document.digest[:12]}... (torn or altered)")
        return document


# The history's entries as JSON, by version: consecutive documents share all but one entry
# (the same objects), and encoding the whole history at every write cost more than the rest
# of the document. An entry is reused only for the very object it was made from.
_ENCODED_CHANGES: dict = {}   # version -> (events, JSON text)


def _encoded_change(number: int, events: tuple) -> str:
    cached = _ENCODED_CHANGES.get(number)
    if cached is not None and cached[0] is events:
        return cached[1]
    text = json.dumps([number, list(map(list, events))], separators=(",", ":"), ensure_ascii=False)
    if len(_ENCODED_CHANGES) >= 4 * HISTORY:
        _ENCODED_CHANGES.clear()
    _ENCODED_CHANGES[number] = (events, text)
    return text


def module_from_wire(item) -> tuple:
    if not isinstance(item, dict) or len(item) != 1:
        raise TypeError(f"a module is a one-key mapping, got {item!r}")
    (name, options), = item.items()
    if not isinstance(name, str) or not isinstance(options, dict):
        raise TypeError(f"bad module {name!r}")
    return (name, options)


def accept(current: PackDocument | None, incoming: PackDocument) -> str | None:
    """None if ``incoming`` should replace ``current``, else why not.

    A document from an older term comes from a stale leader; within one term versions only
    grow. A leader of a newer term is authoritative even at a lower version (it continues
    from what it has).
    """
    if current is None:
        return None
    if incoming.term < current.term:
        return f"stale leader: term {incoming.term} is older than the applied term {current.term}"
    if incoming.term == current.term and incoming.version <= current.version:
        return f"not newer: version {incoming.version} <= the applied version {current.version}"
    return None


def effective_modules(local, synced: PackDocument | None, ignore=()) -> tuple:
    """A follower's configuration: its own file's modules (they always win, in file order),
    then the leader's modules it does not configure itself (in the leader's order). Modules
    the leader no longer has are gone; ``ignore`` lists modules never taken from the leader.
    """
    local = tuple(local)
    if synced is None:
        return local
    own = {name for name, _ in local} | set(ignore) | set(NEVER_SHARED)
    return local + tuple((name, options) for name, options in synced.modules if name not in own)
