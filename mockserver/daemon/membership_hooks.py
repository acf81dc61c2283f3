"""Membership hooks (libcluster's connect/disconnect, Serf's event handlers): the Pack
module's ``on-join``, ``on-leave``, ``on-failed`` and ``on-leader-change`` commands.

- **In order, one at a time:** every hook waits for the previous one (one chain for all
  four), and runs beside the pack: a slow hook delays the next hook, never the protocol.
- **Numbered:** a sequence number grows with every event this daemon sees; a script can
  tell a repeat or a stale call from a new one.
- **Bounded:** a hook that outlasts ``hook-timeout`` is killed with its process group.
  Failures and timeouts are logged and counted (``membership_hooks_*``), and change nothing.

Each hook gets ``EVENT MEMBER SEQ`` as arguments, and in its environment ``PACK_EVENT``,
``PACK_MEMBER``, ``PACK_ADDRESS`` (host:port of its pack endpoint), ``PACK_SEQ`` and
``PACK_SELF`` (this member); a leader change also ``PACK_PREVIOUS`` and ``PACK_TERM``.
"""
from __future__ import annotations

import logging

from mockserver.daemon.commands import Chains, run_command
from mockserver.daemon.config.modules import PackConfig

log = logging.getLogger(__name__)

JOIN, LEAVE, FAILED, LEADER_CHANGE = "join", "leave", "failed", "leader-change"


class MembershipHooks:
    def __init__(self, pack: PackConfig, member: str):
        self.member = member
        self.commands = {JOIN: pack.on_join, LEAVE: pack.on_leave, FAILED: pack.on_failed,
                         LEADER_CHANGE: pack.on_leader_change}
        self.timeout = pack.hook_timeout_ms / 1000
        self._chain = Chains()
        self._seq = 0
        self.counters = {"membership_hooks_run": 0, "membership_hooks_failed": 0, "membership_hooks_timed_out": 0}

    def event(self, event: str, member: str, address: str = "", **extra: str) -> None:
        """Queue the hook for ``event`` (nothing when none is configured)."""
        command = self.commands[event]
        if command is None:
            return
        self._seq += 1
        env = {"PACK_EVENT": event, "PACK_MEMBER": member, "PACK_ADDRESS": address, "PACK_SEQ": str(self._seq),
               "PACK_SELF": self.member, **{f"PACK_{key.upper()}": value for key, value in extra.items()}}
        self._chain.then("membership", self._run((*command, event, member, str(self._seq)), env))

    async def _run(self, argv, env: dict) -> None:
        self.counters["membership_hooks_run"] += 1
        outcome = await run_command(argv, self.timeout, env)
        if outcome.ok:
            log.info("hook on-%s %s (seq %s) done", env["PACK_EVENT"], env["PACK_MEMBER"], env["PACK_SEQ"])
            return
        self.counters["membership_hooks_timed_out" if outcome.timed_out else "membership_hooks_failed"] += 1
        log.error("hook on-%s %s (seq %s) failed: %s", env["PACK_EVENT"], env["PACK_MEMBER"], env["PACK_SEQ"],
                  outcome.text)

    async def idle(self) -> None:
        await self._chain.idle()
