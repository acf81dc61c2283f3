"""Where a pack keeps its state in etcd: one directory per pack, ``<prefix>/<pack>/``.

============================  ===========================================================
``members/<name>``            the member's record (JSON: its API address, when it started),
                              under its lease: it disappears when the member stops renewing
``left/<name>``               written by a member that leaves on purpose, before it revokes
                              its lease (tells a departure from a failure)
``election/<lease id, hex>``  the member's candidacy, under its lease: the lowest
                              create_revision leads, and that revision is the term
``document``                  the shared document (JSON); its mod_revision is the version
``groups/<group>``            a service group's owner, under the owner's lease (fencing)
``reach/<name>``              which monitor addresses the member reaches (JSON), under its
                              lease: the leader places groups by it
============================  ===========================================================

``etcdctl get --prefix /pylxd-cluster/<pack>/`` shows it all (see docs/backends.rst).
"""
from __future__ import annotations

import attrs

__all__ = ["PackKeys"]


@attrs.frozen
class PackKeys:
    """The keys of one pack (bytes, as etcd takes them)."""

    prefix: str
    pack: str

    @property
    def root(self) -> bytes:
        return f"{self.prefix.rstrip('/')}/{self.pack}/".encode()

    @property
    def members(self) -> bytes:
        return self.root + b"members/"

    def member(self, name: str) -> bytes:
        return self.members + name.encode()

    @property
    def departures(self) -> bytes:
        return self.root + b"left/"

    def left(self, name: str) -> bytes:
        return self.departures + name.encode()

    @property
    def election(self) -> bytes:
        return self.root + b"election/"

    def candidacy(self, lease_id: int) -> bytes:
        return self.election + f"{lease_id:016x}".encode()

    @property
    def document(self) -> bytes:
        return self.root + b"document"

    @property
    def groups(self) -> bytes:
        return self.root + b"groups/"

    def group(self, name: str) -> bytes:
        return self.groups + name.encode()

    @property
    def reaches(self) -> bytes:
        return self.root + b"reach/"

    def reach(self, name: str) -> bytes:
        return self.reaches + name.encode()

    def name_of(self, key: bytes, directory: bytes) -> str:
        """``members/node1`` -> ``node1`` (the part after ``directory``)."""
        return key[len(directory):].decode()
