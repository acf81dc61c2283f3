"""Forgetting the gone (a part of PackNode): a member that is dead (or has left) and that no
discovery strategy proposes any more is dropped from the member list.

Discovery proposes and the failure detector decides, so neither alone removes anyone:
- An address missing from one DNS answer or API list removes no live member (libcluster
  pruned live nodes on truncated answers, its #190).
- A dead member that discovery still proposes stays, shown Offline, as LXD shows a member
  that is down.

When both agree, the member is forgotten. Without that, a pack that scales through
Kubernetes or DNS, where every replacement comes with a new name and address, would list
every pod it ever had.

Rules:
- It applies only when discovery strategies run. A pack found by broadcast or by static
  peers keeps its dead, as before. A static peer is never forgotten.
- Forgetting waits two dead-intervals after the death, so that the news of it has spread.
- What is heard of a forgotten member is ignored unless it says the member is alive. Then
  it is a member again, as any newcomer is. Rumours of its death from members that have not
  forgotten it yet do not bring it back.
"""
from __future__ import annotations

from mockserver.daemon.protocol.effects import MemberForgotten
from mockserver.daemon.protocol.messages import MemberRecord, Status

FORGET_AFTER_DEAD_INTERVALS = 2


class ForgettingRules:
    """Mixed into PackNode; uses its peers, settings and candidate addresses."""

    def _init_forgetting(self) -> None:
        self._discovering = False                   # set once discovery proposes (PackNode.discovered)
        self._down_since: dict[str, float] = {}     # name -> when it stopped being live
        self._forgotten: set[str] = set()
        self._next_forget_check = float("-inf")

    def _note_down(self, record: MemberRecord, live: bool, now: float) -> None:
        if live:
            self._down_since.pop(record.name, None)
        else:
            self._down_since.setdefault(record.name, now)

    def _remembers(self, record: MemberRecord) -> bool:
        """False for news of a forgotten member that does not say it lives (to be ignored)."""
        if record.name not in self._forgotten:
            return True
        if record.status != Status.ALIVE:
            return False
        self._forgotten.discard(record.name)
        return True

    def _forget_the_gone(self, now: float) -> None:
        """Checked every half dead-interval (called at every tick)."""
        if not self._discovering or not self._down_since or now < self._next_forget_check:
            return
        self._next_forget_check = now + self.settings.dead_interval / 2
        proposed = set(self._candidate_peers())
        after = FORGET_AFTER_DEAD_INTERVALS * self.settings.dead_interval
        for name, since in list(self._down_since.items()):
            peer = self.peers.get(name)
            if peer is None or now - since < after or peer.record.address in proposed:
                continue
            self._forget(name, f"{peer.record.status.name.lower()} for {now - since:.1f} s and no longer"
                               f" proposed by discovery")

    def _forget(self, name: str, why: str) -> None:
        peer = self.peers.pop(name)
        for table in (self._down_since, self._suspects, self._news, self.documents, self._documents_at, self._met,
                      self._watched):
            table.pop(name, None)
        self._forgotten.add(name)
        self.counters["forgotten"] += 1
        self._effects.append(MemberForgotten(peer.record, why))
