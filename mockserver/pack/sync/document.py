"""The leader's configuration as a versioned document, and the merge rules of followers.

The seed's contract (PackConfiguration): the leader's modules reach every follower except
Pack, PackConfiguration and ``ignore_modules``; a follower's locally configured modules are
never overwritten. Beyond the seed: a module the leader removes is removed on followers
(unless local), every document has a version and a digest, and a document from a stale
leader (an older term) is refused.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

NEVER_SHARED = ("Pack", "PackConfiguration")


class SyncError(Exception):
    """A document that cannot be used; the message says why."""


def _canonical(modules) -> bytes:
    return json.dumps([{name: options} for name, options in modules], sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def shareable_modules(modules, ignore=()) -> tuple:
    """The modules of a configuration that the leader shares, in file order."""
    excluded = set(NEVER_SHARED) | set(ignore)
    return tuple((name, options) for name, options in modules if name not in excluded)


@dataclass(frozen=True)
class ConfigDocument:
    """What the leader shares: its shareable modules, numbered by ``version`` within the
    leader's ``term``. The digest covers the modules, so a copy can be checked."""

    modules: tuple
    version: int
    term: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(_canonical(self.modules)).hexdigest()

    def to_wire(self) -> bytes:
        return json.dumps({"version": self.version, "term": self.term, "digest": self.digest,
                           "modules": [{name: options} for name, options in self.modules]},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_wire(cls, data: bytes) -> "ConfigDocument":
        """Raises: SyncError for anything but a complete document whose digest matches."""
        try:
            raw = json.loads(data)
            modules = tuple(_module(item) for item in raw["modules"])
            document = cls(modules, int(raw["version"]), int(raw["term"]))
            digest = raw["digest"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SyncError(f"not a configuration document: {exc}") from None
        if digest != document.digest:
            raise SyncError(f"digest mismatch: the document says {digest[:12]}..., its modules hash to "
                            f"{document.digest[:12]}... (torn or altered)")
        return document

    def changed(self, modules) -> "ConfigDocument":
        """The next version with ``modules`` (the same document if nothing changed)."""
        modules = tuple(modules)
        if _canonical(modules) == _canonical(self.modules):
            return self
        return ConfigDocument(modules, self.version + 1, self.term)


def _module(item) -> tuple:
    if not isinstance(item, dict) or len(item) != 1:
        raise TypeError(f"a module is a one-key mapping, got {item!r}")
    (name, options), = item.items()
    if not isinstance(name, str) or not isinstance(options, dict):
        raise TypeError(f"bad module {name!r}")
    return (name, options)


def accept(current: ConfigDocument | None, incoming: ConfigDocument) -> str | None:
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


def effective_modules(local, synced: ConfigDocument | None, ignore=()) -> tuple:
    """A follower's configuration: its own file's modules (they always win, in file order),
    then the leader's modules it does not configure itself (in the leader's order). Modules
    the leader no longer has are gone; ``ignore`` lists modules never taken from the leader.
    """
    local = tuple(local)
    if synced is None:
        return local
    own = {name for name, _ in local} | set(ignore) | set(NEVER_SHARED)
    return local + tuple((name, options) for name, options in synced.modules if name not in own)
