"""The API core: one request in, one reply (or a wait/stream instruction) out. No I/O here.

Both transports use it: the aiohttp server and the in-process ``responses`` adapter.
"""
from __future__ import annotations

import logging

from ..errors import ApiError
from ..scripting import RecordedRequest, Script
from ..state import ClusterState
from ..wire import Reply, error_reply
from . import control
from .context import ApiContext
from .handlers import cluster, configuration, groups, members, operations, server
from .request import ApiRequest
from .router import Router, require_trust

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
CONTROL_PREFIX = "mock"


def build_router() -> Router:
    router = Router()
    router.add("/", get=server.get_root)
    router.add("/1.0", get=server.get_server)
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
    return router


class ApiServer:
    """Routes requests to handlers and renders every failure as an LXD error envelope.

    ``script`` carries the mock's faults and request log; ``scripting`` enables the
    control routes under ``/mock`` (the mock back end has them, a daemon would not).
    """

    def __init__(self, state: ClusterState, *, script: Script | None = None, scripting: bool = True,
                 strict: bool = False, addresses: list | None = None, max_body: int = MAX_BODY,
                 writable: bool | str = True):
        self.script = script or Script()
        self.context = ApiContext(state=state, strict=strict, script=self.script, addresses=list(addresses or []))
        self.scripting = scripting
        self.max_body = max_body
        # A back end that cannot take writes yet gives this text (a str) instead of True.
        self.writes_refused = None if writable is True else str(writable)
        # A back end that replicates writes (a pack daemon) routes requests to its leader
        # and holds write replies until they are durable; see mockserver/pack/gate.py.
        self.gate = None
        self.router = build_router()
        self.control_router = control.build_router()

    @property
    def state(self) -> ClusterState:
        return self.context.state

    def latency(self, req: ApiRequest) -> float:
        """Seconds the transport should wait before handling ``req`` (injected latency)."""
        if self._is_control(req):
            return 0.0
        return self.script.latency(req.method, req.path)

    def _is_control(self, req: ApiRequest) -> bool:
        segments = req.segments
        return self.scripting and bool(segments) and segments[0] == CONTROL_PREFIX

    def handle(self, req: ApiRequest):
        """Answer ``req``: a Reply, or a WaitForOperation / StreamEvents for the transport."""
        if self._is_control(req):
            return self._dispatch(self.control_router, req)
        self.state.events.log("debug", "Handling API request", {
            "ip": req.remote, "method": req.method, "protocol": req.protocol,
            "url": req.path + ("?" + "&".join(f"{k}={v}" for k, v in req.query.items()) if req.query else ""),
            "username": req.username})
        result = self._dispatch(self.router, req, faults=True)
        if not req.routed:   # a request handled again after waiting is logged once
            status = result.status if isinstance(result, Reply) else 200
            self.script.record(RecordedRequest(req.method, req.path, dict(req.query),
                                               req.body[:4096].decode("utf-8", "replace"), status, req.protocol))
        return result

    def _dispatch(self, router: Router, req: ApiRequest, faults: bool = False):
        try:
            if len(req.body) > self.max_body:
                raise ApiError(413, f"Request body too large (limit {self.max_body} bytes)")
            handler, params = router.resolve(req.method, req.segments)
            require_trust(handler, req.trusted)
            if self.writes_refused and req.method != "GET" and not self._is_control(req):
                raise ApiError(501, self.writes_refused)
            if faults:
                fault = self.script.error(req.method, req.path)
                if fault is not None:
                    raise ApiError(fault.status, fault.error or "Injected failure")
            gated = self.gate is not None and not getattr(handler, "ungated", False)
            if gated and not req.routed:
                routed = self.gate.route(req)
                if routed is not None:
                    return routed
            result = handler(self.context, req, **params)
            if gated and req.method != "GET" and isinstance(result, Reply) and result.status < 400:
                return self.gate.written(result)
            return result
        except ApiError as exc:
            return error_reply(exc.status, exc.message)
        except Exception as exc:  # a bug: still answer with an envelope, and say so in the log
            log.exception("unhandled error for %s %s", req.method, req.path)
            return error_reply(500, f"Internal server error: {type(exc).__name__}: {exc}")
