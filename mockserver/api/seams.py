"""What a back end plugs into the API core, declared: request hooks, and a gate.

The front end (this package, ``state``, ``http``) never imports a back end. A back end
hands these to :class:`~mockserver.api.server.ApiServer` at construction:

- the mock gives :class:`RequestHooks` (its injected faults, latency and request log) and
  its ``/mock`` control routes;
- the reference daemon gives a :class:`Gate` (requests go to the pack's leader, write
  replies wait for a commit) and its members' internal routes.
"""
from __future__ import annotations

from typing import Mapping, Protocol

from mockserver.api.request import ApiRequest, AwaitCommit
from mockserver.errors import ApiError
from mockserver.wire import Reply


class RequestHooks(Protocol):
    """Called for every request on LXD's routes (not on control routes)."""

    def latency(self, method: str, path: str) -> float:
        """Seconds to wait before handling the request (0: none)."""

    def injected_error(self, method: str, path: str) -> ApiError | None:
        """An error to answer instead of handling the request, or None."""

    def handled(self, req: ApiRequest, status: int) -> None:
        """The request was answered with ``status`` (the mock's request log)."""


class NoHooks:
    """No latency, no injected errors, nothing recorded."""

    def latency(self, method: str, path: str) -> float:
        return 0.0

    def injected_error(self, method: str, path: str) -> ApiError | None:
        return None

    def handled(self, req: ApiRequest, status: int) -> None:
        return None


class Gate(Protocol):
    """Where a replicating back end decides how a request is answered.

    ``route`` runs before the handler: it returns an instruction (ForwardTo, Later, a
    Reply) to answer otherwise, or None to handle the request here. ``written`` takes a
    successful write's reply and returns what to answer (usually an AwaitCommit).
    """

    def route(self, req: ApiRequest):
        ...

    def written(self, reply: Reply):
        ...

    async def wait(self, pending: AwaitCommit) -> Reply:
        """The reply of ``pending`` once its write is durable (or an error reply)."""

    def reply_headers(self, req_headers: Mapping[str, str]) -> dict:
        """Headers to add to a reply (to a member that forwarded the request: what it must
        catch up to)."""

    async def caught_up(self, reply_headers: Mapping[str, str]) -> None:
        """After a forwarded request's successful answer: wait until what it changed shows
        here (read your writes)."""

    def forward_headers(self) -> dict:
        """Headers added to every request this member forwards (the far side must know)."""

    #: Headers of a forwarded request's answer passed back to the client (lower case),
    #: beyond Content-Type, ETag and Location.
    kept_reply_headers: tuple

    def unknown_outcome(self, text: str) -> Reply:
        """The answer to a write whose forwarded request was sent and whose answer was
        lost (``text`` says so)."""

    def retry_reply(self, text: str) -> Reply:
        """The 503 answer to a request that could not be forwarded, or to a read whose
        forward got no answer: nothing was changed, it can be sent again (``text`` says why)."""
