"""Configuration sync (the seed's PackConfiguration), without its weaknesses.

- ``document``: the leader's shareable configuration as a versioned, digested document;
  which modules are shared, and how a follower merges it with its own file (its local
  modules always win; modules the leader removed disappear).
- ``persist``: writing the synced copy to disk atomically, so that a crash at any moment
  leaves the old file or the new one, never a torn one.
"""
from mockserver.daemon.sync.document import PackDocument, SyncError, accept, effective_modules, shareable_modules
from mockserver.daemon.sync.persist import atomic_write, load_document

__all__ = ["PackDocument", "SyncError", "accept", "effective_modules", "shareable_modules", "atomic_write",
           "load_document"]
