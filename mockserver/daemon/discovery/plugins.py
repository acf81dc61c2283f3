"""Discovery strategies from other packages, through the entry-point group
``pylxd_cluster.discovery``.

The entry point's name is the strategy's name in the ``discovery`` list. Its object is a
factory: it is called once at start with the item's options as a dict (``polling-interval``
is the daemon's and is not passed). It returns one of two things:

- **a poll function**: ``async def poll() -> Iterable[address]`` (or a plain function,
  kept short: it runs on the daemon's loop). It is called every
  ``polling-interval`` ms (default 5000), and each call returns everything it proposes now.
- **an async iterator of address sets**: an async generator, for instance. Each item is
  everything proposed from then on. This suits sources that push changes, such as a watch.
  If it ends or raises, the factory is called again a polling interval later.

An address is ``"host"``, ``"host:port"`` or ``(host, port)``. A name is resolved (IPv4),
and a missing port is the Pack module's.

If the factory raises ValueError or TypeError, the daemon refuses to start and names the
plug-in and its message. Any exception from a poll or from the iterator later on is
reported in the strategy's status, and what it found before is kept: a plug-in's bug never
stops the daemon, and never removes a member.
"""
from __future__ import annotations

import inspect
import logging
from typing import AsyncIterator

from mockserver.daemon.config.discovery import PLUGIN_GROUP, Plugin
from mockserver.daemon.config.plugins import load
from mockserver.daemon.discovery.hostsfile import read_peers, resolve_all

log = logging.getLogger(__name__)


def read_addresses(items, default_port: int) -> tuple[list, list]:
    """``([(host, port), ...], [problem, ...])`` from what a plug-in proposed."""
    pairs = ((repr(item), f"{item[0]}:{item[1]}" if isinstance(item, tuple) and len(item) == 2 else item)
             for item in items)
    return read_peers(pairs, default_port)


class PluginStrategy:
    """A plug-in, as the runner sees it. ``streaming`` tells which form it has: a poller
    (``poll()``) or a stream (``stream()`` of address lists, each put through
    ``resolve()``)."""

    def __init__(self, spec: Plugin, default_port: int):
        self.spec, self.default_port = spec, default_port
        self.name = spec.name
        self.interval = spec.polling_interval_ms / 1000
        self.problems: list = []
        self._factory = load(PLUGIN_GROUP, spec.name)
        self._source = self._make_source()
        self.streaming = hasattr(self._source, "__aiter__")

    def _make_source(self):
        """Raises ValueError: the plug-in refused its options, or returned neither form."""
        try:
            source = self._factory(dict(self.spec.options))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"discovery plug-in {self.spec.name!r} refused its options: {exc}") from None
        if not (callable(source) or hasattr(source, "__aiter__")):
            raise ValueError(f"discovery plug-in {self.spec.name!r} returned {type(source).__name__}: expected an"
                             f" async poll function or an async iterator of address sets")
        return source

    async def resolve(self, items) -> set:
        """Raises PartialResult: a name did not resolve (the others are in it)."""
        entries, self.problems = read_addresses(items, self.default_port)
        return await resolve_all(entries)

    async def poll(self) -> set:
        try:
            items = self._source()
            if inspect.isawaitable(items):         # a plain function works too
                items = await items
            items = list(items)
        except Exception as exc:                   # the plug-in's failure: reported, never fatal
            raise OSError(f"{type(exc).__name__}: {exc}") from None
        return await self.resolve(items)

    async def stream(self) -> AsyncIterator[list]:
        """Each address list the plug-in yields. Raises OSError when its iterator fails or
        ends (the runner calls ``stream()`` again after a polling interval, which calls the
        factory again)."""
        source, self._source = self._source, None
        try:
            if source is None:
                source = self._make_source()
            async for items in source:
                yield list(items)
        except Exception as exc:
            raise OSError(f"{type(exc).__name__}: {exc}") from None
        raise OSError("its iterator of address sets ended")
