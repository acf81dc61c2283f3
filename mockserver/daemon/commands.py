"""Commands the daemon runs (a group's exec services, systemd units and notify hooks; the
membership hooks), each after the previous one of its chain, with a time limit.

Per chain (a group, or the membership hooks), steps run one at a time and in order
(:class:`Chains`): a group's next transition waits for its previous one, while other groups
go on. A command is an argument
list (no shell); one that outlasts its time limit is killed with its whole process group.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from typing import Awaitable, Mapping

log = logging.getLogger(__name__)


class Chains:
    """Ordered steps per key: ``then(key, step)`` runs the coroutine ``step`` once the key's
    previous steps are over (a failed step does not stop the next)."""

    def __init__(self):
        self._tails: dict[str, asyncio.Future] = {}

    def then(self, key: str, step: Awaitable) -> asyncio.Future:
        previous = self._tails.get(key)

        async def chained():
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            return await step

        self._tails[key] = future = asyncio.ensure_future(chained())
        return future

    async def idle(self) -> None:
        """Until every step given so far is over."""
        await asyncio.gather(*self._tails.values(), return_exceptions=True)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    text: str          # why not, for the log ("" when ok)
    timed_out: bool = False


async def run_command(argv, timeout: float, env: Mapping[str, str] | None = None) -> Outcome:
    """Run ``argv`` (no shell, no input, output discarded but for stderr's start)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
            env=None if env is None else {**os.environ, **env})
    except OSError as exc:
        return Outcome(False, f"cannot run {argv[0]}: {exc}")
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # the command and whatever it started
        except ProcessLookupError:
            pass
        await proc.wait()
        return Outcome(False, f"{argv[0]} did not finish within {timeout:g} s: killed", timed_out=True)
    if proc.returncode != 0:
        return Outcome(False, f"{argv[0]} exited {proc.returncode}: "
                              f"{stderr.decode(errors='replace').strip()[:500]}")
    return Outcome(True, "")
