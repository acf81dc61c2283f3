"""Where a pack daemon's API requests are answered: writes go to the leader.

LXD forwards cluster-wide writes to the member that can make them; a pack does the same
with its leader: a member that does not lead forwards the request (once: a forwarded
request is never forwarded again) and relays the answer. The leader applies the write,
makes a new version of the pack document and answers only when a majority has applied it,
so that what a client was told succeeded survives the leader. Operations live on the
leader too (an evacuation runs there), so a follower forwards operation reads to it.
"""
from __future__ import annotations

import asyncio
import logging

from ..api import ApiRequest, AwaitCommit, ForwardTo
from ..errors import ApiError
from ..http import FORWARDED_HEADER
from ..wire import error_reply
from .sync.engine import NotCommitted, NotPublished

log = logging.getLogger("pylxd_cluster.daemon")

NO_TCP = ('Cluster-wide writes go through the pack\'s leader "{name}", which serves no TCP API: members reach '
          "the leader (and pull what it writes) over HTTP, so give every member an Api listen address")


class PackGate:
    def __init__(self, daemon, commit_timeout: float):
        self.daemon = daemon
        self.commit_timeout = commit_timeout

    def route(self, req: ApiRequest):
        """None to answer here, a ForwardTo the leader, or ApiError 503 when nobody can."""
        segments = req.segments
        if not segments or segments[0] != "1.0":
            return None
        operations = len(segments) > 1 and segments[1] == "operations"
        if req.method == "GET" and not operations:
            return None
        engine, node = self.daemon.sync, self.daemon.node
        if node is None or engine is None:
            raise ApiError(503, "The member is starting; retry in a moment")
        if req.method != "GET" and segments[1:2] == ["cluster"] and segments[2:] in ([], ["certificate"]):
            raise ApiError(400, "A pack member is not enabled, disabled or re-keyed through the API: it joins "
                                "when started (with a join_token), leaves on SIGTERM, and its TLS files are "
                                "in its Api module")
        if engine.is_leader():
            if req.method != "GET" and not self.daemon.settings.api.startswith("http"):
                raise ApiError(503, NO_TCP.format(name=self.daemon.settings.name))
            return None
        if req.header(FORWARDED_HEADER):
            if req.method == "GET":
                return None
            raise ApiError(503, f"Leadership of the pack is moving (this member follows "
                                f"{node.leader or 'no leader'}); retry in a moment")
        if not node.leader:
            if req.method == "GET":
                return None
            why = "no majority of its members is reachable" if not node.has_quorum() else "an election is running"
            raise ApiError(503, f"The pack has no leader right now ({why}); cluster-wide writes need one. "
                                "Retry shortly, or check `pylxd-cluster status`")
        peer = node.peers.get(node.leader)
        api = peer.record.api if peer is not None else ""
        if not api.startswith("http"):
            raise ApiError(503, NO_TCP.format(name=node.leader))
        return ForwardTo(api, node.leader, wait=segments[-1] == "wait", relay_operations=req.method != "GET")

    def stamp(self) -> str:
        """The document version this member (the leader) has applied, for the member that
        forwarded the request: ``term.version``."""
        document = self.daemon.sync.document
        return f"{document.term}.{document.version}"

    async def caught_up(self, stamp: str | None) -> None:
        """Before a forwarded write's reply goes back to the client: wait until this member
        has applied what the leader had when it answered, so that the client reads its own
        write here (as from any LXD member). Bounded: a member the pushes do not reach
        answers anyway after a dead-interval."""
        try:
            term, version = (int(part) for part in (stamp or "").split("."))
        except ValueError:
            return
        if not await self.daemon.sync.wait_applied(term, version, self.daemon.settings.dead_interval):
            log.info("answering a forwarded write before applying version %d (term %d) here", version, term)

    def written(self, reply):
        """After a write the leader made: publish it, and answer once it is durable (an
        AwaitCommit), or at once with the error of a write that could not be published
        (and was undone)."""
        try:
            return AwaitCommit(reply, self.daemon.sync.publish(), self)
        except NotPublished as exc:
            return error_reply(500, f"The change cannot be replicated to the pack ({exc}); nothing was changed")

    async def wait(self, pending: AwaitCommit):
        try:
            await self.daemon.sync.wait_committed(pending.version, self.commit_timeout)
        except NotCommitted as exc:
            log.warning("write (version %d) not confirmed: %s", pending.version, exc)
            return error_reply(503, f"The leader applied the change (version {pending.version}) but it is not "
                                    f"confirmed by a majority of the pack: {exc}. It may still take effect: "
                                    "read it back before retrying")
        return pending.reply

    def after_write(self, finish) -> None:
        """For writes made outside a request (an evacuation's operation): publish, then
        finish the operation once durable."""
        try:
            version = self.daemon.sync.publish()
        except NotPublished as exc:
            finish(f"The change cannot be replicated to the pack ({exc}); nothing was changed")
            return

        async def confirm():
            try:
                await self.daemon.sync.wait_committed(version, self.commit_timeout)
            except NotCommitted as exc:
                finish(f"Not confirmed by a majority of the pack: {exc}")
            else:
                finish(None)

        asyncio.ensure_future(confirm())
