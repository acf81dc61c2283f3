"""Lifelines: members every other member hears from each keepalive, declared dead after a
dead-interval of silence (a part of PackNode, see node.py for the attributes it shares).

SWIM finds a dead member when its turn to be probed comes, then suspects it: up to a
dead-interval and a keepalive, more when the dead-interval is short. That is fine for most
members, but two kinds of member matter more than the others, and they talk to everyone
anyway:

- the leader, which sends every live member a heartbeat each keepalive (as a VRRP master
  sends its adverts, or a Raft leader its empty appends), in packs of up to
  HEARTBEAT_MEMBERS;
- the owners of service groups, which ask every live member to renew their claims each
  keepalive (the daemon names them: :meth:`LifelineRules.watch`).

So a member that has heard such a one directly and then nothing for a dead-interval
declares it dead at once, as heartbeat's deadtime and VRRP's master-down timer do, and its
leadership and its groups move on from there. That is at most a dead-interval after it died.
A member that is alive refutes as it would any rumour, and members that still hear it do
not believe the rumour (see PackNode._apply), so one member's loss of sight does not spread.

Leadership moves sooner than that. A leader that is suspect (a probe went unanswered, direct
and indirect) and silent for half a dead-interval is given up: its followers follow it no
more, stand for election without it, and vote for another (Raft's minimum election timeout
with its "leader stickiness", on SWIM's suspicion). It stays a member until it is declared
dead, so its service groups wait for that. Under loss, both must happen (three heartbeats and
a probe lost through every relay) before a live leader is given up; it then steps down when
it hears of the newer term.

After this node itself stood still (a blocked loop, a paused process) the datagrams it did
not read yet may be the very heartbeats it would miss: it reads them before it judges.
"""
from __future__ import annotations

from dataclasses import replace

from mockserver.daemon.protocol.messages import LIVE, Code, Status

# The leader's heartbeat costs it one datagram per member each keepalive, which SWIM was
# chosen to avoid in large packs. So followers count on it only in packs of up to
# HEARTBEAT_MEMBERS (as each sees the pack), and the leader sends it while it sees up to a
# quarter more: views that differ by a few members (joins and deaths not yet heard of) do
# not leave a follower waiting for heartbeats that do not come. In larger packs the leader
# is watched as any member is. (Should views differ more, after a merge, a follower that
# declares a live leader dead is refuted, and follows it again.)
HEARTBEAT_MEMBERS = 64
HEARTBEAT_SENT_UP_TO = HEARTBEAT_MEMBERS * 5 // 4


class LifelineRules:
    """PackNode's silence detector (a part of PackNode)."""

    def watch(self, names, now: float) -> None:
        """Members besides the leader that send to every member each keepalive (the owners
        of service groups): each is declared dead after a dead-interval with nothing from it,
        counted from the first datagram heard from it from now on."""
        wanted = set(names) - {self.settings.name}
        self._watched = {name: self._watched.get(name, now) for name in sorted(wanted)}

    def _hears_heartbeats(self) -> bool:
        return self.alive_count() <= HEARTBEAT_MEMBERS

    def _lifelines(self) -> dict[str, float]:
        """Whom we expect to hear each keepalive: name -> since when."""
        lines = dict(self._watched)
        if self.leader and self.leader != self.settings.name and self._hears_heartbeats():
            lines[self.leader] = min(lines.get(self.leader, self._leader_since), self._leader_since)
        return lines

    def _silence_deadline(self) -> float:
        """When the first lifeline would have been silent for a dead-interval."""
        deadlines = [self._silent_from(name, since) for name, since in self._lifelines().items()]
        return max(min(deadlines, default=float("inf")), self._judge_after)

    def _silent_from(self, name: str, since: float) -> float:
        peer = self.peers.get(name)
        if peer is None or peer.record.status not in LIVE or peer.heard_directly < since:
            return float("inf")   # not heard since we expect it: SWIM alone decides
        return peer.heard_directly + self.settings.dead_interval

    def _stepped(self, now: float) -> None:
        """Called on every input: after a gap of more than a keepalive this node stood still,
        and it reads what came meanwhile before it declares anyone silent."""
        if now - self._last_step > self.settings.keepalive:
            self._judge_after = now + self.settings.keepalive / 2
        self._last_step = now

    def _check_silence(self, now: float) -> None:
        if now < self._judge_after:
            return
        for name, since in self._lifelines().items():
            if now >= self._silent_from(name, since):
                peer = self.peers[name]
                self.counters["marked_dead_silent"] += 1
                silent = round((now - peer.heard_directly) * 1000)
                self._set_record(replace(peer.record, status=Status.DEAD), now, why=f"silent for {silent} ms")
                self._tell(peer, now)   # if it lives, it refutes

    def _given_up(self, name: str, now: float) -> bool:
        """Whether ``name`` is suspect and silent for half a dead-interval (not after this
        node stood still, before it read what came meanwhile)."""
        peer = self.peers.get(name)
        return (peer is not None and peer.record.status == Status.SUSPECT and now >= self._judge_after
                and self._hears_heartbeats()
                and now >= peer.heard_directly + self.settings.dead_interval / 2)   # (as the deadline, to the bit)

    def _give_up_deadline(self) -> float:
        """When the leader, if suspect, would be given up (a static leader never is)."""
        peer = self.peers.get(self.leader) if self.leader != self.settings.name else None
        if peer is None or peer.record.status != Status.SUSPECT or self._static_leaders() \
                or not self._hears_heartbeats():
            return float("inf")
        return max(peer.heard_directly + self.settings.dead_interval / 2, self._judge_after)

    def _heartbeat(self, now: float) -> None:
        """The leader's heartbeat: one datagram to every live member each keepalive."""
        if self.leader != self.settings.name or now < self._next_heartbeat \
                or self.alive_count() > HEARTBEAT_SENT_UP_TO:
            return
        self._next_heartbeat = now + self.settings.keepalive
        live = sorted(self._live)
        self._send_each(Code.GOSSIP, [self.peers[name].record.address for name in live], now)

    def _heartbeat_deadline(self) -> float:
        if self.leader != self.settings.name or self.alive_count() > HEARTBEAT_SENT_UP_TO:
            return float("inf")
        return self._next_heartbeat
