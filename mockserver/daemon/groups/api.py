"""Service groups through LXD's REST API (extension ``pack_service_groups``):

- ``GET /1.0/cluster/service-groups``: the groups' URLs, or with ``recursion=1`` the groups;
- ``GET /1.0/cluster/service-groups/<name>``: one group, as this member sees it (its owner,
  whether it is active, each member's state and the monitors each reaches);
- ``POST /1.0/cluster/service-groups/<name>`` ``{"member": "node2"}``: move the group to that
  member (VyOS's ``force cluster active``); ``{"member": ""}`` hands it back to the rules
  (primary first, auto-failback). The move is answered once the pack has committed it; the
  new owner takes the group over within a lease (see docs/daemon.rst).

Reads are answered by any member; a move goes to the leader, as every cluster-wide write.
"""
from __future__ import annotations

import json
from typing import Callable

from mockserver.api.router import Route
from mockserver.daemon.groups.runtime import GroupsRuntime, MoveRefused
from mockserver.godecode import STRING, Struct
from mockserver.wire import Reply, error_reply, lxd_url, sync_reply

EXTENSION = "pack_service_groups"
#: The lifecycle event every member emits when the pack moves a group.
MOVED = "cluster-service-group-moved"
SERVICE_GROUP_POST = Struct("ServiceGroupPost", {"member": STRING})
NOT_FOUND = "Service group not found"


def _names_member(body: bytes) -> bool:
    try:
        return "member" in json.loads(body)
    except (ValueError, TypeError):
        return False


def group_url(name: str) -> str:
    return lxd_url("1.0", "cluster", "service-groups", name)


class ServiceGroupsApi:
    """``written(reply)`` publishes the leader's change and answers once it is committed
    (the gate's); ``now()`` is the loop's clock; ``unavailable(text)`` is the 503 of a move
    to send again later (the gate's, with Retry-After; None: a bare 503)."""

    def __init__(self, runtime: GroupsRuntime, *, written: Callable, now: Callable[[], float],
                 unavailable: Callable[[str], Reply] | None = None):
        self._runtime, self._written, self._now = runtime, written, now
        self._unavailable = unavailable

    def routes(self) -> list[Route]:
        return [Route("/1.0/cluster/service-groups", {"GET": self.list}),
                Route("/1.0/cluster/service-groups/{name}", {"GET": self.get, "POST": self.move})]

    def list(self, ctx, req):
        runtime = self._runtime
        if req.recursion:
            return sync_reply(runtime.statuses(self._now()))
        return sync_reply([group_url(name) for name in sorted(runtime.specs)])

    def get(self, ctx, req, name: str):
        try:
            return sync_reply(self._runtime.status(name, self._now()))
        except KeyError:
            return error_reply(404, NOT_FOUND)

    def move(self, ctx, req, name: str):
        post = ctx.decode(req, SERVICE_GROUP_POST)
        if not _names_member(req.body):
            # Go would read a missing key as "": that would hand the group back to the rules.
            return error_reply(400, 'The request needs "member": the member to move the group to ("" hands it '
                                    "back to its primary and auto-failback)")
        try:
            self._runtime.request_move(name, post["member"], self._now())
        except MoveRefused as exc:
            if exc.status == 503 and self._unavailable is not None:   # no leader, no placement yet
                return self._unavailable(exc.text)
            return error_reply(exc.status, exc.text)
        return self._written(sync_reply({}))
