"""The mock's scripting API over HTTP, under /mock (outside LXD's /1.0).

Lets a test written in any language, or a user with curl, do what MockCluster does from
Python: take members offline, add or remove them, inject faults, read the request log,
reset. Replies use LXD's envelope so the same clients can read them.
"""
from __future__ import annotations

from functools import partial

from mockserver.api.router import Router
from mockserver.api.server import ApiServer
from mockserver.errors import bad_request
from mockserver.godecode import ANY, BOOL, INT64, STRING, ListOf, MapOf, Struct, decode
from mockserver.mock.scripting import Fault, Script
from mockserver.state import ClusterState, MemberSpec
from mockserver.wire import lxd_url, sync_reply

MEMBER_POST = Struct("MockMemberPost", {
    "server_name": STRING, "address": STRING, "architecture": STRING, "description": STRING,
    "failure_domain": STRING, "roles": ListOf(STRING), "config": MapOf(STRING)})
STATUS_PUT = Struct("MockStatusPut", {"status": STRING, "message": STRING, "since": ANY})
FAULT_POST = Struct("MockFaultPost", {
    "path": STRING, "method": STRING, "status": INT64, "error": STRING, "latency": ANY, "times": ANY})
RESET_POST = Struct("MockResetPost", {"requests": BOOL})


# Bounds of the scripting numbers: checked before anything changes, so that a value that
# would overflow later (a heartbeat 1e300 s ago) is refused whole.
MAX_SINCE = 10 * 365 * 86400.0     # seconds a member may have been without heartbeat
MAX_LATENCY = 3600.0               # seconds of injected latency
MAX_TIMES = 2**31 - 1


def _number(value, field: str, minimum: float = 0.0, maximum: float = MAX_TIMES):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value <= maximum:
        raise bad_request(f'"{field}" must be a number from {minimum:g} to {maximum:g}')
    return value


def describe(ctx, req, *, script: Script):
    state = ctx.state
    return sync_reply({
        "members": state.member_names() if state.clustered else [],
        "faults": [f.to_api() for f in script.faults],
        "routes": ["/mock/requests", "/mock/members", "/mock/members/{name}", "/mock/members/{name}/status",
                   "/mock/members/{name}/leader", "/mock/faults", "/mock/events", "/mock/reset"],
    })


def get_requests(ctx, req, *, script: Script):
    return sync_reply([r.to_api() for r in script.requests])


def clear_requests(ctx, req, *, script: Script):
    script.clear_requests()
    return sync_reply({})


def add_member(ctx, req):
    body = decode(req.body, MEMBER_POST)
    if not body["server_name"]:
        raise bad_request("server_name is required")
    spec = MemberSpec(body["server_name"], body["address"] or None, body["architecture"] or "x86_64",
                      body["description"], body["failure_domain"] or "default", tuple(body["roles"] or ()),
                      dict(body["config"] or {}))
    member = ctx.state.add_member(spec)
    return sync_reply(member, status=201, location=lxd_url("1.0", "cluster", "members", spec.server_name))


def remove_member(ctx, req, name):
    ctx.state.remove_member(name)
    return sync_reply({})


def set_status(ctx, req, name):
    body = decode(req.body, STATUS_PUT)
    since = _number(body["since"], "since", maximum=MAX_SINCE)
    member = ctx.state.set_member_status(name, body["status"], message=body["message"] or None, since=since)
    return sync_reply(member)


def set_leader(ctx, req, name):
    return sync_reply(ctx.state.set_leader(name))


def list_faults(ctx, req, *, script: Script):
    return sync_reply([f.to_api() for f in script.faults])


def add_fault(ctx, req, *, script: Script):
    body = decode(req.body, FAULT_POST)
    if not body["path"]:
        raise bad_request('"path" is required (a pattern such as /1.0/cluster/members/*)')
    status = body["status"] or None
    latency = _number(body["latency"], "latency", maximum=MAX_LATENCY) or 0.0
    times = _number(body["times"], "times", 1)
    if status is None and not latency:
        raise bad_request('give "status" (with "error") to fail requests, or "latency" to slow them')
    try:
        fault = script.add_fault(Fault(body["path"], body["method"] or "*", status, body["error"],
                                           float(latency), int(times) if times is not None else None))
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return sync_reply(fault.to_api(), status=201)


def clear_faults(ctx, req, *, script: Script):
    script.clear_faults()
    return sync_reply({})


def get_events(ctx, req):
    return sync_reply(list(ctx.state.events.history))


def reset(ctx, req, *, script: Script):
    ctx.state.reset()
    script.reset()
    return sync_reply({})


def build_router(script: Script) -> Router:
    """The routes under /mock, acting on the state and on ``script``."""
    def bound(handler):
        return partial(handler, script=script)

    router = Router()
    router.add("/mock", get=bound(describe))
    router.add("/mock/requests", get=bound(get_requests), delete=bound(clear_requests))
    router.add("/mock/members", post=add_member)
    router.add("/mock/members/{name}", delete=remove_member)
    router.add("/mock/members/{name}/status", put=set_status)
    router.add("/mock/members/{name}/leader", put=set_leader)
    router.add("/mock/faults", get=bound(list_faults), post=bound(add_fault), delete=bound(clear_faults))
    router.add("/mock/events", get=get_events)
    router.add("/mock/reset", post=bound(reset))
    return router


def mock_api(state: ClusterState, script: Script, **options) -> ApiServer:
    """LXD's API over ``state`` as the mock serves it: ``script``'s faults, latency and
    request log on every request, and the /mock control routes. ``options`` go to ApiServer."""
    return ApiServer(state, hooks=script, control=build_router(script), control_prefix="mock", **options)
