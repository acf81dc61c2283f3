"""The hosts-file strategy: one ``host[:port]`` per line, ``#`` starts a comment, re-read
when the file changes (as Erlang's ``.hosts.erlang``)."""
from __future__ import annotations

import asyncio
import os
import socket

from mockserver.daemon.config import options as o
from mockserver.daemon.config.discovery import HostsFile
from mockserver.daemon.config.errors import Invalid


def parse_hosts(text: str, default_port: int) -> tuple[list, list]:
    """``([(host, port), ...], [problem, ...])``: every line that reads as ``host[:port]``
    (a name or an IPv4 address), and what is wrong with the others (by line number). A bad
    line costs only itself."""
    lines = ((f"line {number}", line.split("#", 1)[0].strip()) for number, line in enumerate(text.splitlines(), 1))
    return read_peers(((where, line) for where, line in lines if line), default_port)


def read_peers(items, default_port: int) -> tuple[list, list]:
    """``([(host, port), ...], ["<where>: <problem>", ...])`` from ``(where, "host[:port]")``
    pairs; a missing port is ``default_port``."""
    entries, problems = [], []
    for where, text in items:
        try:
            host, port = o.peer(text)
        except Invalid as exc:
            problems.append(f"{where}: {exc.text}")
            continue
        entries.append((host, default_port if port is None else port))
    return entries, problems


class HostsFileStrategy:
    """Reads the file when its modification time or size changes; names are resolved (IPv4)
    at each poll, so that a name that moves is followed.

    ``poll()`` raises OSError (the file cannot be read, a name does not resolve) with what
    went wrong; lines that do not parse are reported in ``problems``, the others used."""

    def __init__(self, spec: HostsFile, default_port: int):
        self.spec, self.default_port = spec, default_port
        self.interval = spec.polling_interval_ms / 1000
        self.name = f"hosts-file {spec.path}"
        self.problems: list = []
        self._stamp: tuple | None = None
        self._entries: list = []

    async def poll(self) -> set:
        stat = os.stat(self.spec.path)
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp != self._stamp:
            with open(self.spec.path, encoding="utf-8", errors="replace") as f:
                self._entries, self.problems = parse_hosts(f.read(), self.default_port)
            self._stamp = stamp
        return await resolve_all(self._entries)


async def resolve_all(entries) -> set:
    """``{(ipv4, port), ...}`` for ``[(host, port), ...]``. Raises OSError naming the first
    name that does not resolve (the others are still returned through ``partial``)."""
    loop = asyncio.get_running_loop()
    found, failed = set(), []
    for host, port in entries:
        try:
            infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
        except OSError as exc:
            failed.append(f"{host}: {exc.strerror or exc}")
            continue
        found |= {(info[4][0], port) for info in infos}
    if failed:
        raise PartialResult(found, "cannot resolve " + "; ".join(failed))
    return found


class PartialResult(OSError):
    """Some of the answer, and what went wrong with the rest."""

    def __init__(self, found: set, message: str):
        super().__init__(message)
        self.found = found
