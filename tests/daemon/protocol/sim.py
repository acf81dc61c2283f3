"""Build small packs on the in-memory network for protocol tests (simulated time)."""
from __future__ import annotations

import random
import zlib

from mockserver.daemon.protocol.crypto import Sealer
from mockserver.daemon.protocol.memnet import MemoryNetwork
from mockserver.daemon.protocol.messages import Role, Status
from mockserver.daemon.protocol.node import LeaderChange, MemberChange, NodeSettings, PackNode, PersistTerm

KEEPALIVE, DEAD = 0.2, 1.0
SEALER = Sealer.for_pack("s3cret-lab", "lab")


class Pack:
    def __init__(self, names=("node1", "node2", "node3"), *, role=Role.AUTO, loss=0.0, seed=1, sealer=SEALER,
                 expected=None, broadcast=True, peers=False, **settings):
        self.events = []
        self.persisted = {}   # name -> (term, voted_for): what each member keeps on disk
        self.net = MemoryNetwork(loss=loss, seed=seed, on_effect=self._effect)
        self.role, self.expected, self.broadcast, self.settings = role, expected, broadcast, settings
        self.addresses = {name: (f"127.0.0.{11 + i}", 5252) for i, name in enumerate(names)}
        self.use_peers = peers
        self.boots = {}
        for name in names:
            self.start(name, sealer=sealer)

    def _effect(self, when, name, effect):
        self.events.append((when, name, effect))
        if isinstance(effect, PersistTerm):
            self.persisted[name] = (effect.term, effect.voted_for)

    def settings_for(self, name, **overrides):
        host, port = self.addresses[name]
        peers = tuple(a for n, a in self.addresses.items() if n != name) if self.use_peers else ()
        values = dict(role=self.role, keepalive=KEEPALIVE, dead_interval=DEAD, broadcast=self.broadcast,
                      peers=peers, expected_members=self.expected)
        values.update(self.settings)
        values.update(overrides)
        return NodeSettings(name, host, port, **values)

    def start(self, name, sealer=SEALER, **overrides):
        if name not in self.addresses:
            self.addresses[name] = (f"127.0.0.{11 + len(self.addresses)}", 5252)
        self.boots[name] = self.boots.get(name, 1000) + 1000
        term, voted_for = self.persisted.get(name, (0, ""))
        node = PackNode(self.settings_for(name, **overrides), sealer, boot=self.boots[name], now=self.net.now,
                        rng=random.Random(zlib.crc32(name.encode())), term=term, voted_for=voted_for)
        self.net.add(node)
        return node

    def node(self, name):
        return self.net.node(name)

    def status(self, observer, name):
        record = self.node(observer).members().get(name)
        return record.status if record else None

    def statuses(self, observer):
        return {name: record.status for name, record in self.node(observer).members().items()}

    def run(self, seconds):
        self.net.run(seconds)

    def run_until(self, predicate, timeout):
        self.net.run_until(self.net.now + timeout, stop=predicate)
        return predicate()

    def alive(self):
        return [slot.node.settings.name for slot in self.net.slots.values() if slot.alive]

    def first_time(self, observer, kind, since=0.0, **match):
        for when, name, effect in self.events:
            if when < since or name != observer or not isinstance(effect, kind):
                continue
            if all(_get(effect, key) == value for key, value in match.items()):
                return when
        return None


def _get(effect, key):
    if key == "member":
        return effect.member.name
    if key == "status":
        return effect.member.status
    return getattr(effect, key)


def leaders_by_term(events) -> dict:
    """term -> every member that took leadership of it (LeaderChange to itself)."""
    terms = {}
    for _, name, effect in events:
        if isinstance(effect, LeaderChange) and effect.leader == name:
            terms.setdefault(effect.term, set()).add(name)
    return terms


__all__ = ["Pack", "KEEPALIVE", "DEAD", "Role", "Status", "MemberChange", "LeaderChange", "PersistTerm", "SEALER",
           "leaders_by_term"]
