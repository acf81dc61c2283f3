"""Following a watch for as long as a member runs: opened again when it breaks, from where it
stopped, and resynchronised from a snapshot after a compaction."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import aetcd

from mockserver.daemon.etcd.client import UNAVAILABLE, EtcdClient, cancelled

__all__ = ["follow"]

log = logging.getLogger(__name__)


async def follow(client: EtcdClient, open_watch: Callable[[], Awaitable[Any]], on_event: Callable[[Any], None], *,
                 resync: Callable[[], Awaitable[None]], stopping: Callable[[], bool], counters: dict,
                 pause: float) -> None:
    """Deliver every event of ``open_watch()`` (a new watch, from where the last one stopped)
    to ``on_event`` until ``stopping()``.

    A watch that breaks (etcd unavailable: the client moves to its next endpoint after
    ``pause`` seconds; or its channel closed under it by another task's move) is opened again;
    after a compaction, ``resync()`` reloads from a snapshot first. ``counters["watch_restarts"]``
    counts them. A cancellation of the caller ends it.
    """
    while not stopping():
        generation = client.generation
        try:
            watch = await open_watch()
            try:
                async for event in watch:
                    on_event(event)
            finally:
                if not stopping():   # (stopping: the client's close ends every watch)
                    await _cancel(watch)
        except aetcd.exceptions.RevisionCompactedError:
            counters["watch_restarts"] += 1
            await resync()
        except asyncio.CancelledError:
            if stopping() or cancelled():
                raise
            counters["watch_restarts"] += 1   # gRPC's: the channel was closed under it; watch again
        except (*UNAVAILABLE, aetcd.exceptions.ClientError):
            counters["watch_restarts"] += 1
            await asyncio.sleep(pause)
            try:
                await client.rotate(generation)
            except Exception:  # noqa: BLE001 - the next round tries again
                pass
        except Exception:  # noqa: BLE001 - a member that stops following shows a frozen view forever
            counters["watch_restarts"] += 1
            log.exception("etcd: a watch failed; opening it again")
            await asyncio.sleep(pause)


async def _cancel(watch) -> None:
    """Cancel a watch whose channel may be gone already (the client moved meanwhile): that
    it no longer runs is all that matters."""
    try:
        await asyncio.wait_for(watch.cancel(), 1.0)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - see above
        pass
