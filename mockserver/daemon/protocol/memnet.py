"""An in-memory network for pack nodes: loss, delay, partitions and crashes, in simulated
time. It drives real :class:`~mockserver.daemon.protocol.node.PackNode` objects (crypto included) as
a discrete-event simulation, so that unit tests run with a fake clock and a thousand
nodes run on one machine.
"""
from __future__ import annotations

import collections
import heapq
import itertools
import random
from dataclasses import dataclass, field
from typing import Callable

from mockserver.daemon.protocol.node import BROADCAST, MULTICAST, PackNode, Send


@dataclass
class _Slot:
    node: PackNode
    address: tuple
    alive: bool = True
    group: int = 0
    tick_at: float | None = None
    sent: int = 0
    received: int = 0
    sent_at_second: collections.Counter = field(default_factory=collections.Counter)
    received_at_second: collections.Counter = field(default_factory=collections.Counter)


class MemoryNetwork:
    """Nodes by address; datagrams are delivered after ``delay`` unless ``loss`` drops them.

    ``on_effect(now, name, effect)`` sees every non-Send effect (member and leader changes).
    ``tap(now, datagram, source, destination)`` sees every datagram delivered (for replay tests).
    """

    def __init__(self, *, loss: float = 0.0, delay: tuple = (0.0002, 0.002), seed: int = 1,
                 on_effect: Callable | None = None, tap: Callable | None = None):
        self.loss = loss
        self.delay = delay
        self.rng = random.Random(seed)
        self.now = 0.0
        self.on_effect = on_effect
        self.tap = tap
        self.slots: dict[tuple, _Slot] = {}
        self._queue: list = []
        self._order = itertools.count()
        self.datagrams = 0
        self._cuts: set[frozenset] = set()

    # ---- topology ----------------------------------------------------------------------

    def add(self, node: PackNode, start: bool = True) -> None:
        address = (node.settings.host, node.settings.port)
        self.slots[address] = _Slot(node, address)
        if start:
            self._handle(self.slots[address], node.start(self.now))

    def node(self, name: str) -> PackNode:
        return next(slot.node for slot in self.slots.values() if slot.node.settings.name == name)

    def slot(self, name: str) -> _Slot:
        return next(slot for slot in self.slots.values() if slot.node.settings.name == name)

    def crash(self, name: str) -> None:
        """kill -9: the node stops at once, telling no one."""
        self.slot(name).alive = False

    def leave(self, name: str) -> None:
        slot = self.slot(name)
        self._handle(slot, slot.node.leave(self.now))
        slot.alive = False

    def replace(self, node: PackNode) -> None:
        """A restart: a new node object at the same address."""
        self.add(node)

    def partition(self, *groups) -> None:
        """Only nodes in the same group (a collection of names) can reach each other."""
        for slot in self.slots.values():
            slot.group = next((i + 1 for i, g in enumerate(groups) if slot.node.settings.name in g), 0)

    def heal(self) -> None:
        for slot in self.slots.values():
            slot.group = 0
        self._cuts.clear()

    def cut(self, a: str, b: str) -> None:
        """No datagram between these two nodes, either way (each still reaches the others)."""
        self._cuts.add(frozenset((self.slot(a).address, self.slot(b).address)))

    def carry(self, name: str, effects: list) -> None:
        """Carry out what a node's method returned outside the network's own calls (a test
        that calls ``send_document`` directly, as the daemon does)."""
        self._handle(self.slot(name), effects)

    def inject(self, datagram: bytes, source: tuple, destination: tuple, at: float | None = None) -> None:
        """Deliver raw bytes (a replay, garbage) as if they came from ``source``."""
        heapq.heappush(self._queue, (self.now if at is None else at, next(self._order), "deliver",
                                     (destination, source, datagram)))

    def schedule(self, at: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` at simulated time ``at`` (what a layer above the nodes does
        later: a disk write that completes, an HTTP reply)."""
        heapq.heappush(self._queue, (max(at, self.now), next(self._order), "call", callback))

    # ---- running ------------------------------------------------------------------------

    def run(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until(self, end: float, stop: Callable[[], bool] | None = None) -> None:
        while self._queue and self._queue[0][0] <= end:
            when, _, kind, payload = heapq.heappop(self._queue)
            self.now = when
            if kind == "call":
                payload()
            elif kind == "tick":
                slot = self.slots.get(payload)
                if slot is None or not slot.alive or slot.tick_at != when:
                    continue
                slot.tick_at = None
                self._handle(slot, slot.node.tick(when))
            else:
                destination, source, datagram = payload
                slot = self.slots.get(destination)
                if slot is None or not slot.alive:
                    continue
                slot.received += 1
                slot.received_at_second[int(when)] += 1
                if self.tap:
                    self.tap(when, datagram, source, destination)
                self._handle(slot, slot.node.receive(datagram, source, when))
            if stop is not None and stop():
                return
        self.now = max(self.now, end)

    def _handle(self, slot: _Slot, effects: list) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self._send(slot, effect)
            elif self.on_effect:
                self.on_effect(self.now, slot.node.settings.name, effect)
        if slot.alive:
            deadline = slot.node.next_deadline()
            if slot.tick_at is None or deadline < slot.tick_at:
                slot.tick_at = max(deadline, self.now)
                heapq.heappush(self._queue, (slot.tick_at, next(self._order), "tick", slot.address))

    def _send(self, slot: _Slot, send: Send) -> None:
        slot.sent += 1
        slot.sent_at_second[int(self.now)] += 1
        if send.to in (BROADCAST, MULTICAST):
            destinations = [a for a, other in self.slots.items() if a != slot.address]
        else:
            destinations = [tuple(send.to)]
        for destination in destinations:
            other = self.slots.get(destination)
            if other is None or other.group != slot.group or frozenset((slot.address, destination)) in self._cuts:
                continue
            if self.loss and self.rng.random() < self.loss:
                continue
            self.datagrams += 1
            at = self.now + self.rng.uniform(*self.delay)
            heapq.heappush(self._queue, (at, next(self._order), "deliver", (destination, slot.address, send.datagram)))
