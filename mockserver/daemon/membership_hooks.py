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

Python callables come through the entry-point group ``pylxd_cluster.membership_hooks``,
named by the Pack module's ``hook-plugins``. Each is called with a :class:`MembershipEvent`
for every event, after the event's command, in the same chain and within the same
``hook-timeout``. It may be a coroutine function, awaited on the daemon's loop, or a plain
function, run in a worker thread. A thread cannot be killed: a plain function that
overruns is counted as timed out and left to finish on its own.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass

from mockserver.daemon.commands import Chains, run_command
from mockserver.daemon.config.modules import PackConfig
from mockserver.daemon.config.plugins import HOOK_GROUP, load

log = logging.getLogger(__name__)

JOIN, LEAVE, FAILED, LEADER_CHANGE = "join", "leave", "failed", "leader-change"


@dataclass(frozen=True)
class MembershipEvent:
    """What a Python membership hook is called with."""
    event: str              # "join", "leave", "failed" or "leader-change"
    member: str             # the member it is about (the new leader; "" for none)
    address: str            # its pack endpoint, "host:port" ("" when unknown)
    seq: int                # grows with every event this daemon sees
    self_name: str          # the member running the hook
    previous: str = ""      # leader-change: the leader before
    term: str = ""          # leader-change: the new term


class MembershipHooks:
    """Raises ValueError at construction: a ``hook-plugins`` entry point cannot be loaded or
    is not callable."""

    def __init__(self, pack: PackConfig, member: str):
        self.member = member
        self.commands = {JOIN: pack.on_join, LEAVE: pack.on_leave, FAILED: pack.on_failed,
                         LEADER_CHANGE: pack.on_leader_change}
        self.callables = [(name, load(HOOK_GROUP, name)) for name in pack.hook_plugins]
        for name, hook in self.callables:
            if not callable(hook):
                raise ValueError(f"membership hook plug-in {name!r} is a {type(hook).__name__}, not a callable")
        self.timeout = pack.hook_timeout_ms / 1000
        self._chain = Chains()
        self._seq = 0
        self.counters = {"membership_hooks_run": 0, "membership_hooks_failed": 0, "membership_hooks_timed_out": 0}

    def event(self, event: str, member: str, address: str = "", **extra: str) -> None:
        """Queue the hooks for ``event``: its command, then every Python hook (nothing when
        none is configured)."""
        command = self.commands[event]
        if command is None and not self.callables:
            return
        self._seq += 1
        if command is not None:
            env = {"PACK_EVENT": event, "PACK_MEMBER": member, "PACK_ADDRESS": address, "PACK_SEQ": str(self._seq),
                   "PACK_SELF": self.member, **{f"PACK_{key.upper()}": value for key, value in extra.items()}}
            self._chain.then("membership", self._run((*command, event, member, str(self._seq)), env))
        happened = MembershipEvent(event, member, address, self._seq, self.member, **extra)
        for name, hook in self.callables:
            self._chain.then("membership", self._call(name, hook, happened))

    async def _run(self, argv, env: dict) -> None:
        self.counters["membership_hooks_run"] += 1
        outcome = await run_command(argv, self.timeout, env)
        if outcome.ok:
            log.info("hook on-%s %s (seq %s) done", env["PACK_EVENT"], env["PACK_MEMBER"], env["PACK_SEQ"])
            return
        self._failed(f"on-{env['PACK_EVENT']}", env["PACK_MEMBER"], env["PACK_SEQ"], outcome.text, outcome.timed_out)

    async def _call(self, name: str, hook, happened: MembershipEvent) -> None:
        self.counters["membership_hooks_run"] += 1
        try:
            if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(getattr(hook, "__call__", None)):
                await asyncio.wait_for(hook(happened), self.timeout)
            else:
                await asyncio.wait_for(asyncio.to_thread(hook, happened), self.timeout)
        except asyncio.TimeoutError:
            self._failed(f"plug-in {name}", happened.member, happened.seq, f"{happened.event}: did not finish"
                         f" within {self.timeout:g} s", True)
        except Exception as exc:                       # the hook's bug: logged and counted, never fatal
            self._failed(f"plug-in {name}", happened.member, happened.seq,
                         f"{happened.event}: {type(exc).__name__}: {exc}", False)
        else:
            log.info("hook plug-in %s: %s %s (seq %s) done", name, happened.event, happened.member, happened.seq)

    def _failed(self, hook: str, member: str, seq, text: str, timed_out: bool) -> None:
        self.counters["membership_hooks_timed_out" if timed_out else "membership_hooks_failed"] += 1
        log.error("hook %s %s (seq %s) failed: %s", hook, member, seq, text)

    async def idle(self) -> None:
        await self._chain.idle()
