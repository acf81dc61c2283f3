"""The API core: one request in, one reply (or a wait/stream instruction) out. No I/O here.

Both transports use it: the aiohttp server and the in-process ``responses`` adapter. A back
end plugs in through what the constructor takes (see ``seams``); nothing is set later.
"""
from __future__ import annotations

import logging
from typing import Iterable

from mockserver.api.context import MOCK_EXTENSIONS, ApiContext
from mockserver.api.handlers import cluster, configuration, groups, members, operations, server
from mockserver.api.request import ApiRequest
from mockserver.api.router import Route, Router, require_trust
from mockserver.api.seams import Gate, NoHooks, RequestHooks
from mockserver.errors import ApiError
from mockserver.state import ClusterState
from mockserver.wire import Reply, error_reply

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


def build_router(extra_routes: Iterable[Route] = ()) -> Router:
    router = Router()
    router.add("/", get=server.get_root, untrusted=True)
    router.add("/1.0", get=server.get_server, untrusted=True)
    router.add("/1.0/projects", get=server.list_projects)
    router.add("/1.0/projects/{name}", get=server.get_project)
    router.add("/1.0/cluster", get=cluster.get_cluster, put=cluster.put_cluster)
    router.add("/1.0/cluster/certificate", put=cluster.put_certificate)
    router.add("/1.0/cluster/config", get=configuration.get_configuration, put=configuration.put_configuration,
               patch=configuration.patch_configuration)
    router.add("/1.0/cluster/members", get=members.list_members, post=members.create_token)
    router.add("/1.0/cluster/members/{name}", get=members.get_member, put=members.put_member,
               patch=members.patch_member, post=members.rename_member, delete=members.delete_member)
    router.add("/1.0/cluster/members/{name}/state", get=members.get_member_state, post=members.post_member_state)
    router.add("/1.0/cluster/groups", get=groups.list_groups, post=groups.create_group)
    router.add("/1.0/cluster/groups/{name}", get=groups.get_group, put=groups.put_group, patch=groups.patch_group,
               post=groups.rename_group, delete=groups.delete_group)
    router.add("/1.0/operations", get=operations.list_operations)
    router.add("/1.0/operations/{op_id}", get=operations.get_operation, delete=operations.cancel_operation)
    router.add("/1.0/operations/{op_id}/wait", get=operations.wait_operation)
    router.add("/1.0/events", get=operations.stream_events)
    for route in extra_routes:
        router.add_route(route)
    return router


class ApiServer:
    """Routes requests to handlers and renders every failure as an LXD error envelope.

    - ``hooks``: called for every request on LXD's routes (the mock's faults and log).
    - ``gate``: a replicating back end's (a pack daemon): where requests are answered and
      when write replies go out. None: here, at once.
    - ``control``: a back end's control routes under ``/<control.prefix>`` (the mock's
      ``/mock``): no hooks, no gate, answered even when writes are refused.
    - ``extra_routes``: a back end's own routes beside LXD's.
    - ``writable``: True, or the text that refuses writes (a back end not ready for them).
    """

    def __init__(self, state: ClusterState, *, hooks: RequestHooks | None = None, gate: Gate | None = None,
                 control: Router | None = None, control_prefix: str = "mock", extra_routes: Iterable[Route] = (),
                 strict: bool = False, addresses: list | None = None, max_body: int = MAX_BODY,
                 writable: bool | str = True, extensions: tuple = MOCK_EXTENSIONS, withheld_extensions: tuple = ()):
        self.hooks: RequestHooks = hooks if hooks is not None else NoHooks()
        self.gate = gate
        self.context = ApiContext(state=state, strict=strict, addresses=list(addresses or []),
                                  own_extensions=extensions, withheld_extensions=withheld_extensions)
        self.max_body = max_body
        self.writes_refused = None if writable is True else str(writable)
        self.router = build_router(extra_routes)
        self.control_router = control
        self.control_prefix = control_prefix

    @property
    def state(self) -> ClusterState:
        return self.context.state

    def latency(self, req: ApiRequest) -> float:
        """Seconds the transport should wait before handling ``req`` (injected latency)."""
        if self._is_control(req):
            return 0.0
        return self.hooks.latency(req.method, req.path)

    def _is_control(self, req: ApiRequest) -> bool:
        segments = req.segments
        return self.control_router is not None and bool(segments) and segments[0] == self.control_prefix

    def handle(self, req: ApiRequest):
        """Answer ``req``: a Reply, or an instruction (WaitForOperation, StreamEvents,
        ForwardTo, Later, AwaitCommit) for the transport."""
        if self._is_control(req):
            return self._dispatch(self.control_router, req, control=True)
        self.state.events.log("debug", "Handling API request", {
            "ip": req.remote, "method": req.method, "protocol": req.protocol,
            "url": req.path + ("?" + "&".join(f"{k}={v}" for k, v in req.query.items()) if req.query else ""),
            "username": req.username})
        result = self._dispatch(self.router, req)
        if not req.routed:   # a request handled again after waiting is logged once
            self.hooks.handled(req, result.status if isinstance(result, Reply) else 200)
        return result

    def _dispatch(self, router: Router, req: ApiRequest, control: bool = False):
        try:
            if len(req.body) > self.max_body:
                raise ApiError(413, f"Request body too large (limit {self.max_body} bytes)")
            match = router.resolve(req.method, req.segments)
            require_trust(match, req.trusted)
            if control:
                return match.handler(self.context, req, **match.params)
            if self.writes_refused and req.method != "GET":
                raise ApiError(501, self.writes_refused)
            injected = self.hooks.injected_error(req.method, req.path)
            if injected is not None:
                raise injected
            gated = self.gate is not None and match.route.gated
            if gated and not req.routed:
                routed = self.gate.route(req)
                if routed is not None:
                    return routed
            result = match.handler(self.context, req, **match.params)
            if gated and req.method != "GET" and isinstance(result, Reply) and result.status < 400:
                return self.gate.written(result)
            return result
        except ApiError as exc:
            return error_reply(exc.status, exc.message)
        except Exception as exc:  # a bug: still answer with an envelope, and say so in the log
            log.exception("unhandled error for %s %s", req.method, req.path)
            return error_reply(500, f"Internal server error: {type(exc).__name__}: {exc}")
