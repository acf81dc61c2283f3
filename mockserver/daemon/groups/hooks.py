"""Notify hooks: a group's ``notify`` command, run after each transition on this member
(keepalived's ``notify``, done right).

- **In order, one at a time, per group:** a hook starts once the group's previous hook is
  over; hooks of different groups do not wait for each other.
- **Never in the way:** hooks run beside the transitions, not inside them; a hook that hangs
  delays the next hook of its group, never an address or a service.
- **Numbered:** each carries the group's term (the epoch of its ownership, the same on every
  member) and a sequence number (per group, growing through this daemon's life), so a
  script can tell a repeat or a stale call from a new one.
- **Bounded:** a hook that outlasts ``notify-timeout`` is killed with its process group.
  Failures and timeouts are logged and counted, and change nothing else.

Events: ``active`` (the group's addresses and services are up here), ``standby`` (they are
down here), ``reannounce`` (the pack healed, and this member announced the group's
addresses again).
"""
from __future__ import annotations

import logging

from mockserver.daemon.commands import Chains, run_command
from mockserver.daemon.groups.config import GroupSpec

log = logging.getLogger(__name__)

ACTIVE, STANDBY, REANNOUNCE = "active", "standby", "reannounce"


class Notifier:
    def __init__(self, member: str):
        self.member = member
        self._chains = Chains()
        self._seq: dict[str, int] = {}
        self.counters = {"hooks_run": 0, "hooks_failed": 0, "hooks_timed_out": 0}

    def notify(self, group: GroupSpec, event: str, epoch: int, reason: str = "") -> None:
        """Queue the group's hook for ``event`` (nothing when it has none)."""
        if group.notify is None:
            return
        seq = self._seq[group.name] = self._seq.get(group.name, 0) + 1
        env = {"PACK_GROUP": group.name, "PACK_EVENT": event, "PACK_TERM": str(epoch), "PACK_SEQ": str(seq),
               "PACK_MEMBER": self.member, "PACK_REASON": reason}
        argv = (*group.notify, group.name, event, str(epoch), str(seq))
        self._chains.then(group.name, self._run(group, argv, env, group.notify_timeout_ms / 1000))

    async def _run(self, group: GroupSpec, argv, env: dict, timeout: float) -> None:
        self.counters["hooks_run"] += 1
        outcome = await run_command(argv, timeout, env)
        if outcome.ok:
            log.info("group %s: notify %s (term %s, seq %s) done", group.name, env["PACK_EVENT"], env["PACK_TERM"],
                     env["PACK_SEQ"])
            return
        self.counters["hooks_timed_out" if outcome.timed_out else "hooks_failed"] += 1
        log.error("group %s: notify %s (term %s, seq %s) failed: %s", group.name, env["PACK_EVENT"],
                  env["PACK_TERM"], env["PACK_SEQ"], outcome.text)

    async def idle(self) -> None:
        await self._chains.idle()
