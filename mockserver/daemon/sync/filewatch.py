"""The member's configuration file, watched while it runs: an edit that is valid is handed
on (the leader exports its shared modules), one that is not is refused and logged, and the
running configuration stays."""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Callable

from mockserver.daemon.config import ConfigError, DaemonConfig, load
from mockserver.daemon.sync.document import shareable_modules

log = logging.getLogger(__name__)

FILE_POLL = 0.5              # seconds between checks of the configuration file


class ConfigFileWatcher:
    """Polls ``config.source``.

    Args:
        config: the configuration the member started with.
        leading: whether this member leads (what it would export must be taken by the pack).
        problem: why the pack cannot take these shareable modules (for these members), or None.
        changed: called with ``(modules, ignore_modules)`` of a valid edit.
        refused: called when an edit is refused.
    """

    def __init__(self, config: DaemonConfig, *, leading: Callable[[], bool],
                 problem: Callable[[tuple], str | None], changed: Callable[[tuple, tuple], None],
                 refused: Callable[[], None]) -> None:
        self.config = config
        self._leading, self._problem, self._changed, self._refused = leading, problem, changed, refused
        self._stamp = self._stat()

    def _stat(self):
        try:
            info = os.stat(self.config.source)
            return (info.st_mtime_ns, info.st_size, info.st_ino)
        except OSError:
            return None

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            await asyncio.sleep(FILE_POLL)
            try:
                self.check()
            except Exception:  # a bug must not stop replication: say so and go on
                log.exception("error while reading the edited configuration file; continuing")

    def check(self) -> None:
        stamp = self._stat()
        if stamp == self._stamp or stamp is None:
            return
        self._stamp = stamp
        try:
            config = load(self.config.source)
        except ConfigError as exc:
            self._refused()
            log.error("the edited configuration file is refused, the running configuration stays: %s", exc)
            return
        if config.pack != self.config.pack or config.api != self.config.api:
            log.warning("%s: Pack and Api changes take effect at the next restart", self.config.source)
        sync = config.pack_configuration
        ignore = tuple(sync.ignore_modules) if sync else ()
        if self._leading():   # what the leader exports must be taken by the pack: checked before
            problem = self._problem(shareable_modules(config.modules, ignore))
            if problem:
                self._refused()
                log.error("the edited configuration file is refused, the running configuration stays: %s: %s",
                          self.config.source, problem)
                return
        self._changed(config.modules, ignore)
