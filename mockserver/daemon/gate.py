"""Where a pack daemon's API requests are answered: writes go to the leader, reads show
only what a majority holds.

LXD forwards cluster-wide writes to the member that can make them; a pack does the same
with its leader: a member that does not lead forwards the request (once: a forwarded
request is never forwarded again) and relays the answer. The leader applies the write,
makes a new version of the pack document and answers only when a majority holds it, so
that what a client was told succeeded survives the leader. Operations live on the leader
too (an evacuation runs there), so a follower forwards operation reads to it.

Reads (see docs/daemon.rst, "What a read promises"):

- by default a member answers from the last version it knows a majority holds. The leader
  holds its newest writes before a majority does: a read there waits until they are
  committed, and writes that arrive meanwhile wait behind it, so that reads are not
  starved. A read never shows a write that may still be lost; it may be stale on a member
  that lags.
- with ``X-Pack-Consistency: linearizable``, the read goes to the leader, which first makes
  sure a majority still follows it (asked after the read arrived), then answers when
  everything it holds is committed: the read reflects every write acknowledged before it.
"""
from __future__ import annotations

import asyncio
import logging
import math

from mockserver.api import ApiRequest, AwaitCommit, ForwardTo, Later
from mockserver.daemon.sync.core import NotApplied, NotCommitted, NotPublished
from mockserver.errors import ApiError
from mockserver.wire import Reply, error_reply

log = logging.getLogger(__name__)

# The daemon's headers (the SDK knows CONSISTENCY_HEADER and OUTCOME_HEADER too):
# set on requests one member forwards to another, so that they are never forwarded twice;
FORWARDED_HEADER = "X-Pack-Forwarded"
# on a 503 for a write that may or may not have taken effect: "unknown" (the SDK raises
# OutcomeUnknown for it);
OUTCOME_HEADER = "X-Pack-Outcome"
# asked by a client for a read through the leader, once it confirmed it leads.
CONSISTENCY_HEADER = "X-Pack-Consistency"
# On the daemon's own 503s that waiting mends (no leader yet, leadership moving, writes not
# committed yet): whole seconds to wait before sending the request again (RFC 9110 10.2.3),
# which the SDK's retries of GET and HEAD honour. LXD never sends it, and the mock back end's
# replies, LXD's, do not either; nor does a write whose outcome is unknown (to be read back,
# not sent again).
RETRY_AFTER_HEADER = "Retry-After"
# On the reply to a forwarded request: the pack document version the leader had applied
# ("term.version"); the forwarding member waits until it has it too (read your writes).
DOCUMENT_HEADER = "X-Pack-Document"
# On any reply of a member that may be answering from an old view (cut off from its engine of
# record): why, for a program to see (the text of the reply is LXD's).
STALE_HEADER = "X-Pack-Stale"
LINEARIZABLE = "linearizable"
READ_BACK = ("read it back with the header X-Pack-Consistency: linearizable (pylxd_cluster: "
             'consistency="linearizable") before you send it again')
NO_TCP = ('Cluster-wide writes go through the pack\'s leader "{name}", which serves no TCP API: members reach '
          "the leader (and pull what it writes) over HTTP, so give every member an Api listen address")


def retry_later(text: str, seconds: int) -> Reply:
    """A 503 that a client may send again as it is, after ``seconds`` (Retry-After)."""
    reply = error_reply(503, text)
    reply.headers[RETRY_AFTER_HEADER] = str(seconds)
    return reply


def outcome_unknown(text: str) -> Reply:
    """A 503 for a write that may or may not have taken effect (the header says so to
    programs, the text says what to do)."""
    reply = error_reply(503, text)
    reply.headers[OUTCOME_HEADER] = "unknown"
    return reply


class PackGate:
    """The daemon's Gate (``mockserver.api.seams.Gate``)."""

    # A follower relays the leader's Retry-After with the leader's 503.
    kept_reply_headers = (OUTCOME_HEADER.lower(), RETRY_AFTER_HEADER.lower(), STALE_HEADER.lower())
    def __init__(self, daemon, commit_timeout: float):
        self.daemon = daemon
        self.commit_timeout = commit_timeout
        self._readers = 0                        # reads waiting on the leader for a commit
        self._writers_wait: list[asyncio.Future] = []
        self._leader_moved: asyncio.Future | None = None

    @property
    def _dead_interval(self) -> float:
        return self.daemon.settings.dead_interval

    @property
    def retry_after(self) -> int:
        """Whole seconds a client should wait before it sends again a request refused for want
        of a leader (or of a majority): a keepalive interval, at least 1 s. Leadership is
        claimed after two keepalives of grace, and news of it reaches every member within
        about one, so the SDK's three retries span an election."""
        return max(1, math.ceil(self.daemon.settings.keepalive))

    def unavailable(self, text: str) -> Reply:
        """The daemon's 503 for a request that can be sent again as it is, a little later."""
        return retry_later(text, self.retry_after)

    def route(self, req: ApiRequest):
        """None to answer here now, a Later, a ForwardTo the leader, a 503 reply with
        Retry-After when nobody can answer yet (no leader, leadership moving), or ApiError 503
        when waiting would not help (a leader that serves no TCP API)."""
        segments = req.segments
        if not segments or segments[0] != "1.0":
            return None
        operations = len(segments) > 1 and segments[1] in ("operations", "events")
        linearizable = (req.header(CONSISTENCY_HEADER) or "").strip().lower() == LINEARIZABLE
        engine, daemon = self.daemon.sync, self.daemon
        if req.method == "GET" and not linearizable:
            if operations and segments[1] == "events":
                return None
            if not operations:
                if engine is not None and engine.is_leader() and not engine.settled():
                    return Later(self._settled_read())
                return None
        if not daemon.running() or engine is None:
            return self.unavailable("The member is starting; retry in a moment")
        if req.method != "GET" and segments[1:2] == ["cluster"] and segments[2:] in ([], ["certificate"]):
            raise ApiError(400, "A pack member is not enabled, disabled or re-keyed through the API: it joins "
                                "when started (with a join_token), leaves on SIGTERM, and its TLS files are "
                                "in its Api module")
        if engine.is_leader():
            if req.method != "GET" and not self.daemon.settings.api.startswith("http"):
                raise ApiError(503, NO_TCP.format(name=self.daemon.settings.name))
            if linearizable and req.method == "GET":
                return Later(self._linearizable_read())
            if req.method != "GET" and self._readers:
                return Later(self._writable())
            return None
        if req.header(FORWARDED_HEADER):
            if req.method == "GET" and not linearizable:
                return None
            return self.unavailable(f"Leadership of the pack is moving (this member follows "
                                    f"{daemon.leader_name() or 'no leader'}); nothing was changed, retry in a moment")
        leader = daemon.leader_name()
        if not leader:
            if req.method == "GET" and not linearizable:
                return None
            why = daemon.no_leader_reason()
            return self.unavailable(f"The pack has no leader right now ({why}); cluster-wide writes and "
                                    "linearizable reads need one. Nothing was changed: retry shortly, or check "
                                    "`pylxd-cluster status`")
        api = daemon.member_api(leader)
        if not api.startswith("http"):
            raise ApiError(503, NO_TCP.format(name=leader))
        wait = segments[-1] == "wait"
        # Give up on the leader when another one is elected, and at the latest after a
        # dead-interval: a leader cut off from us would otherwise hold the client until the
        # partition heals.
        return ForwardTo(api, leader, wait=wait, relay_operations=req.method != "GET",
                         timeout=None if wait else self._dead_interval + self.commit_timeout,
                         abandon=self._next_leader_change(), copy_headers=(CONSISTENCY_HEADER.lower(),))

    # ---- reads on the leader --------------------------------------------------------------

    async def _settled_read(self):
        """Until the leader's writes are all committed; then the read is answered (writes
        that arrive meanwhile wait behind it)."""
        self._readers += 1
        try:
            settled = await self.daemon.sync.wait_settled(self.commit_timeout)
        finally:
            self._readers -= 1
            if not self._readers:
                self._release_writers()
        if settled or not self.daemon.sync.is_leader():
            return None   # committed now; or no longer leading: our state is the committed one
        return self.unavailable(f"The leader cannot get its latest writes confirmed by a majority of the pack "
                                f"within {self.commit_timeout:g} s; a read now could show a write that may "
                                "still be lost. Retry shortly, or read from another member")

    async def _linearizable_read(self):
        if not await self.daemon.sync.confirm_leadership(self._dead_interval):
            return self.unavailable("This member could not confirm with a majority that it still leads the "
                                    "pack; a linearizable read needs that. Retry shortly")
        waited = await self._settled_read()
        if waited is None and not self.daemon.sync.is_leader():
            return self.unavailable("Leadership of the pack moved during a linearizable read; retry")
        return waited

    async def _writable(self):
        """Until no read waits; a write held meanwhile goes ahead only if we still lead."""
        while self._readers:
            future = asyncio.get_running_loop().create_future()
            self._writers_wait.append(future)
            await future
        if not self.daemon.sync.is_leader():
            return self.unavailable("Leadership of the pack moved while this write waited; nothing was "
                                    "changed, retry in a moment")
        return None

    def _release_writers(self) -> None:
        waiting, self._writers_wait = self._writers_wait, []
        for future in waiting:
            if not future.done():
                future.set_result(None)

    # ---- forwarding -----------------------------------------------------------------------

    def _next_leader_change(self) -> asyncio.Future:
        if self._leader_moved is None or self._leader_moved.done():
            self._leader_moved = asyncio.get_running_loop().create_future()
        return self._leader_moved

    def leader_changed(self) -> None:
        """The daemon tells us: forwards still waiting on the old leader give up now."""
        if self._leader_moved is not None and not self._leader_moved.done():
            self._leader_moved.set_result(None)
        self._release_writers()

    def forward_headers(self) -> dict:
        return {FORWARDED_HEADER: "1"}

    def unknown_outcome(self, text: str) -> Reply:
        return outcome_unknown(f"{text}; {READ_BACK}")

    def retry_reply(self, text: str) -> Reply:
        """The answer to a request that could not be forwarded to the leader, or a read whose
        forward got no answer: nothing was changed, send it again after Retry-After."""
        return self.unavailable(text)

    def reply_headers(self, req_headers) -> dict:
        """On every reply of a member that may show an old view: why (STALE_HEADER). On the
        reply to a request another member forwarded: the document version this member (the
        leader) shows, ``term.version``, for it to catch up to."""
        stale = self.daemon.stale()
        headers = {STALE_HEADER: stale} if stale else {}
        if req_headers.get(FORWARDED_HEADER) and self.daemon.sync is not None:
            document = self.daemon.sync.document
            headers[DOCUMENT_HEADER] = f"{document.term}.{document.version}"
        return headers

    async def caught_up(self, reply_headers) -> None:
        """Before a forwarded write's reply goes back to the client: wait until this member
        shows what the leader showed when it answered, so that the client reads its own
        write here (as from any LXD member). Bounded: a member the commits do not reach
        answers anyway after a dead-interval."""
        try:
            term, version = (int(part) for part in (reply_headers.get(DOCUMENT_HEADER) or "").split("."))
        except ValueError:
            return
        if not await self.daemon.sync.wait_applied(term, version, self._dead_interval):
            log.info("answering a forwarded write before showing version %d (term %d) here", version, term)

    # ---- writes on the leader -------------------------------------------------------------

    def written(self, reply):
        """After a write the leader made: publish it, and answer once it is committed (an
        AwaitCommit), or at once with the error of a write that could not be published
        (and was undone)."""
        if not self.daemon.sync.is_leader():   # never published by a member that does not lead
            self.daemon.sync.undo_write()
            return self.unavailable("Leadership of the pack moved during this write; nothing was changed, "
                                    "retry in a moment")
        try:
            return AwaitCommit(reply, self.daemon.sync.publish())
        except NotPublished as exc:
            return error_reply(500, f"The change cannot be replicated to the pack ({exc}); nothing was changed")

    async def wait(self, pending: AwaitCommit):
        try:
            await self.daemon.sync.wait_committed(pending.version, self.commit_timeout)
        except NotApplied as exc:
            log.info("write (version %d) refused: %s", pending.version, exc)
            return self.unavailable(f"The change was not applied ({exc}); nothing was changed, retry in a moment")
        except NotCommitted as exc:
            log.warning("write (version %d) not confirmed: %s", pending.version, exc)
            return outcome_unknown(f"The leader applied the change (version {pending.version}) but could not get it "
                                   f"confirmed by a majority of the pack: {exc}. It may or may not take effect: "
                                   + READ_BACK)
        return pending.reply

    def after_write(self, finish) -> None:
        """For writes made outside a request (an evacuation's operation): publish, then
        finish the operation once committed."""
        try:
            version = self.daemon.sync.publish()
        except NotPublished as exc:
            finish(f"The change cannot be replicated to the pack ({exc}); nothing was changed")
            return

        async def confirm():
            try:
                await self.daemon.sync.wait_committed(version, self.commit_timeout)
            except NotApplied as exc:
                finish(f"Refused ({exc}); nothing was changed")
            except NotCommitted as exc:
                finish(f"Not confirmed by a majority of the pack: {exc}. It may or may not take effect")
            else:
                finish(None)

        asyncio.ensure_future(confirm())
