"""The sync core's view of the pack (``core.Membership``), read from the membership core."""
from __future__ import annotations

from typing import Callable

from mockserver.daemon.protocol.node import PackNode


class NodeMembership:
    """Answers from ``node()``, the member's PackNode (None before it exists: no leader,
    nobody else alive)."""

    def __init__(self, node: Callable[[], PackNode | None]):
        self._node = node

    @property
    def leader(self) -> str:
        node = self._node()
        return node.leader if node is not None else ""

    @property
    def term(self) -> int:
        node = self._node()
        return node.term if node is not None else 0

    @property
    def max_payload(self) -> int:
        node = self._node()
        return node.max_document_payload if node is not None else 0

    def live_members(self) -> list[str]:
        node = self._node()
        return [name for name in node.alive_names() if name != node.settings.name] if node is not None else []

    def alive_count(self) -> int:
        node = self._node()
        return node.alive_count() if node is not None else 1

    def api_of(self, name: str) -> str:
        node = self._node()
        peer = node.peers.get(name) if node is not None else None
        return peer.record.api if peer is not None else ""
