"""What a pack node is configured with (the daemon fills it from the Pack module)."""
from __future__ import annotations

from dataclasses import dataclass

from mockserver.daemon.protocol.messages import Role

BROADCAST = "broadcast"
MULTICAST = "multicast"


@dataclass(frozen=True)
class NodeSettings:
    name: str
    host: str
    port: int
    role: Role = Role.LEADER
    keepalive: float = 5.0            # seconds: the probe period (VyOS keepalive-interval)
    dead_interval: float = 20.0       # seconds: VyOS dead-interval, > 2 x keepalive
    announce_interval: float = 10.0   # seconds: the seed's `interval`
    broadcast: bool = False
    multicast: bool = False
    peers: tuple = ()                 # static (host, port) peers
    expected_members: int | None = None
    api: str = ""
    # The members exchange which pack document they have (pack/sync): then no one claims
    # leadership before it has heard, from every live candidate, which one it has since it
    # met that candidate and since it lost its leader.
    documents: bool = False
    indirect_checks: int = 3
    gossip_fanout: int = 2
    retransmit_mult: int = 3
    max_datagram: int = 1400
    max_skew: float = 30.0

    @property
    def probe_timeout(self) -> float:
        return self.keepalive / 2

    @property
    def suspicion_timeout(self) -> float:
        # A member dies at most just after an answered probe; the next probe of it comes
        # within 2 periods (each member is probed once per period) and fails by the end of
        # the 3rd. Suspicion then
        # runs this long, so a dead member is Offline within dead-interval, and everywhere
        # within dead-interval + keepalive once gossip carries it. At least one period, so
        # that a suspect that is alive has time to refute.
        return max(self.keepalive, self.dead_interval - 3 * self.keepalive)

    @property
    def gossip_interval(self) -> float:
        return self.keepalive / 2

    @property
    def election_grace(self) -> float:
        # Time to hear the existing pack (and its leader) before claiming leadership.
        return 2 * self.keepalive
