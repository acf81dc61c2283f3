"""What every pack member does whatever its engine of record (the pack's protocol or etcd):
its clocks, showing a new leader in the cluster state, publishing the service-group
assignments, and admitting a member that presents a join token.

The engines differ in how they learn these things, not in what the member then does; the
two daemons (``process.PackDaemon``, ``etcd.daemon.EtcdDaemon``) derive from
:class:`MemberDaemon` and provide ``sync``, ``gate``, ``groups``, ``hooks``, ``state``,
``settings``, ``leader_name()``, ``member_api()`` and ``_join_answer()``.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import logging
from typing import Callable

from mockserver.api import ForwardTo
from mockserver.daemon.gate import FORWARDED_HEADER
from mockserver.daemon.groups.api import MOVED, group_url
from mockserver.daemon.join import check_join, join_reply
from mockserver.daemon.membership_hooks import LEADER_CHANGE
from mockserver.daemon.sync.core import NotPublished
from mockserver.errors import ApiError
from mockserver.wire import error_reply

log = logging.getLogger(__name__)

# The pack's leader shows as LXD shows its database leader; followers hold no role.
LEADER_ROLES = ["database-leader", "database"]
# Lifecycle actions of our own (LXD has none for these); see docs/daemon.rst.
LEADER_CHANGED = "cluster-leader-changed"


class MemberDaemon:
    """The part of a member daemon that does not depend on its engine of record."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wall_offset = 0.0

    # ---- clocks -----------------------------------------------------------------------------

    def now(self) -> float:
        """The loop's clock, which the cores' times are on."""
        return self._loop.time()

    def wall(self, monotonic: float) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(monotonic + self._wall_offset, _dt.timezone.utc)

    # ---- leadership into the cluster state ----------------------------------------------------

    def _show_leader(self, leader: str, term: int, previous: str,
                     note: Callable[[str], str | None] = lambda name: None) -> None:
        """``leader`` leads in ``term`` (it was ``previous``): hooks, roles, the engine of the
        document, forwards waiting on the old leader, the lifecycle event, the groups."""
        self.hooks.event(LEADER_CHANGE, leader, previous=previous, term=str(term))
        if previous:
            self.state.set_roles(previous, [], False, note=note(previous))
        if leader:
            self.state.set_roles(leader, LEADER_ROLES, True, note=note(leader))
        self.sync.on_leader_change(leader, term, previous)
        self.gate.leader_changed()
        source = f"/1.0/cluster/members/{leader}" if leader else "/1.0/cluster"
        self.state.emit(LEADER_CHANGED, source, {"leader": leader, "previous": previous, "term": term})
        log.info("leader: %s (term %d; was %s)", leader or "none", term, previous or "none")
        self._groups_step(self.groups.pack_changed)

    # ---- service groups ---------------------------------------------------------------------

    def _groups_step(self, step) -> None:
        step(self._loop.time())
        self._groups_timer.arm()

    def _publish_groups(self) -> None:
        """The leader placed a group anew: publish it with the next version (soon, not from
        inside the step that decided it)."""
        if self._loop is not None:
            self._loop.call_soon(self._publish_now)

    def _publish_now(self) -> None:
        if self.sync is None or not self.sync.is_leader():
            return
        try:
            self.sync.publish()
        except NotPublished as exc:
            log.error("cannot publish the service-group assignments: %s", exc)

    def _group_moved(self, group: str, previous: str | None, owner: str | None, epoch: int, reason: str) -> None:
        self.state.emit(MOVED, group_url(group), {"owner": owner or "", "previous": previous or "", "epoch": epoch,
                                                  "reason": reason})

    # ---- joining ------------------------------------------------------------------------------

    def _serve_join(self, ctx, req):
        """POST /internal/pack/join: a new member proves a join token (see join.py); the
        leader consumes it (a replicated write) and answers with ``_join_answer()``."""
        if not self.sync.is_leader():
            leader = self.leader_name()
            api = self.member_api(leader)
            if req.header(FORWARDED_HEADER) or not api.startswith("http"):
                return self.gate.unavailable("The pack has no leader reachable over TCP right now; retry shortly")
            return ForwardTo(api, leader)
        try:
            op, name = check_join(self.state, req.body)
        except ApiError as exc:
            log.warning("refused a join from %s: %s", req.remote, exc.message)
            return error_reply(exc.status, exc.message)
        self.state.consume_join_token(op)
        log.info("%s joins the pack with its join token", name)
        return self.gate.written(join_reply(op.metadata["secret"], self._join_answer()))

    def _join_answer(self) -> dict:
        """What a member that joins is told (sealed with its token's secret)."""
        raise NotImplementedError
