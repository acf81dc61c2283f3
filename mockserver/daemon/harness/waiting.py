"""Waiting on conditions (never on sleeps), with a description of what was awaited."""
from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Callable


class WaitTimeout(AssertionError, TimeoutError):
    """:func:`poll_until` gave up: an AssertionError for tests, a TimeoutError for others."""


def _poll(predicate: Callable[[], Any], timeout: float, interval: float, what: str,
          describe: Callable[[], str] | None, error: type,
          abort: Callable[[], str | None] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        reason = abort() if abort is not None else None
        if reason:
            state = f"\n{describe()}" if describe else ""
            raise error(f"waiting for {what or predicate}: {reason}{state}")
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - e.g. a node not answering yet
            last_error = exc
        if time.monotonic() > deadline:
            detail = f"; last error: {last_error!r}" if last_error else ""
            state = f"\n{describe()}" if describe else ""
            raise error(f"timed out after {timeout}s waiting for {what or predicate}{detail}{state}")
        time.sleep(interval)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02, what: str = "",
               describe: Callable[[], str] | None = None) -> float:
    """Poll ``predicate`` every ``interval`` seconds until it returns true; return the
    monotonic time at which it did. Exceptions from the predicate count as false (the last
    one is reported)."""
    _poll(predicate, timeout, interval, what, describe, AssertionError)
    return time.monotonic()


def poll_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.02, what: str = "",
               describe: Callable[[], str] | None = None, *, abort: Callable[[], str | None] | None = None,
               error: type = WaitTimeout) -> Any:
    """As :func:`wait_until`, but return the predicate's first truthy value (e.g. the time
    an event says something happened, rather than when the poll noticed it). ``abort``:
    checked first at every round; a reason it returns ends the wait at once (a process the
    condition depends on has died).

    Raises:
        WaitTimeout (both an AssertionError and a TimeoutError), or ``error``: on timeout
            or abort.
    """
    return _poll(predicate, timeout, interval, what, describe, error, abort)


def hold_for(predicate: Callable[[], bool], seconds: float, interval: float = 0.02, what: str = "",
             describe: Callable[[], str] | None = None) -> None:
    """Check that ``predicate`` stays true for ``seconds`` (polled every ``interval``): a
    state that must last, such as a member that stays Offline, or a count that must not grow.

    Raises:
        AssertionError: the first time it is false, saying since when it held.
    """
    started = time.monotonic()
    while True:
        if not predicate():
            state = f"\n{describe()}" if describe else ""
            raise AssertionError(f"{what or predicate} held for {time.monotonic() - started:.2f}s only, "
                                 f"not {seconds}s{state}")
        if time.monotonic() - started >= seconds:
            return
        time.sleep(interval)


async def async_wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005,
                           what: str = "") -> None:
    """:func:`wait_until` for a test running on an event loop: the loop runs meanwhile (what
    the predicate waits for arrives through it). The predicate may be a coroutine function
    (a condition read from a server: ``lambda: tokens_gone()``); its result is awaited.

    Raises:
        AssertionError: on timeout.
    """
    deadline = time.monotonic() + timeout

    async def holds() -> bool:
        value = predicate()
        return bool(await value) if inspect.isawaitable(value) else bool(value)

    while not await holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)


async def async_hold_for(predicate: Callable[[], bool], seconds: float, interval: float = 0.005,
                         what: str = "") -> None:
    """:func:`hold_for` for a test running on an event loop.

    Raises:
        AssertionError: the first time ``predicate`` is false.
    """
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not predicate():
            raise AssertionError(f"{what or predicate} held for {time.monotonic() - started:.2f}s only, "
                                 f"not {seconds}s")
        await asyncio.sleep(interval)
