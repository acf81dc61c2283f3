"""A framework-neutral request, and what a handler may ask the transport to do."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from mockserver.state.operations import Operation
from mockserver.wire import Reply


@dataclass
class ApiRequest:
    """One HTTP request as the API core sees it.

    ``protocol`` is ``unix``, ``tls`` or ``http``; ``trusted`` is decided by the transport
    (unix sockets and plain HTTP are trusted; TLS clients by certificate).
    """

    method: str
    path: str
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    protocol: str = "unix"
    remote: str = "@"
    trusted: bool = True
    username: str = "root"
    routed: bool = False   # the back end's gate let it through already (after a Later)

    def __post_init__(self):
        self.method = self.method.upper()
        self.headers = {key.lower(): value for key, value in self.headers.items()}

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def segments(self) -> list[str]:
        return [unquote(part) for part in self.path.strip("/").split("/")] if self.path.strip("/") else []

    @property
    def recursion(self) -> int:
        try:
            return int(self.query.get("recursion", "0"))
        except ValueError:
            return 0

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true", "yes", "on")

    @property
    def requestor(self) -> dict:
        """LXD's lifecycle requestor for this caller."""
        return {"username": self.username, "protocol": self.protocol, "address": self.remote}

    @property
    def if_match(self) -> str | None:
        value = self.header("If-Match")
        return value.strip().strip('"') if value else None


@dataclass
class WaitForOperation:
    """Reply once ``operation`` is final or ``timeout`` seconds pass (-1: no limit)."""

    operation: Operation
    timeout: float


@dataclass
class StreamEvents:
    """Upgrade to a websocket that streams events of ``types``."""

    types: tuple


@dataclass
class ForwardTo:
    """Answer with what another member's API (``address``: scheme://host:port, or host:port
    for http) answers to the same request, as LXD forwards requests about a member to it.

    ``timeout``: seconds to wait for the answer (None: a long poll, no limit); ``abandon``:
    an awaitable that ends the wait early (the member stopped being the one to ask). Either
    way the answer is a 503, saying whether the request may have taken effect.
    """

    address: str
    member: str
    wait: bool = False   # a long poll (an operation's /wait): no overall time limit
    relay_operations: bool = False  # an operation it starts: relay its events to our clients
    timeout: float | None = 30.0
    abandon: object = None
    copy_headers: tuple = ()   # request headers (lower case) passed on, beyond If-Match and Content-Type


@dataclass
class Later:
    """Answer once ``awaitable`` is done: it gives a Reply, or None to handle the request
    then (with ``routed`` set, so that the gate lets it through)."""

    awaitable: object


@dataclass
class AwaitCommit:
    """Answer ``reply`` once the back end has made ``version`` durable (a pack daemon's
    leader: applied by a majority); the server's gate says how to wait."""

    reply: Reply
    version: int
