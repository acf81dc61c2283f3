"""/1.0/operations, waiting on one, and the /1.0/events websocket."""
from __future__ import annotations

from mockserver.api.context import ApiContext
from mockserver.api.request import ApiRequest, StreamEvents, WaitForOperation
from mockserver.errors import bad_request
from mockserver.state.events import EVENT_TYPES
from mockserver.wire import Reply, error_reply, sync_reply


def list_operations(ctx: ApiContext, req: ApiRequest):
    return sync_reply(ctx.state.operations.by_status(bool(req.recursion)))


def get_operation(ctx: ApiContext, req: ApiRequest, op_id: str):
    return sync_reply(ctx.state.operations.get(op_id).to_api())


def cancel_operation(ctx: ApiContext, req: ApiRequest, op_id: str):
    ctx.state.operations.cancel(op_id, req.requestor)
    return sync_reply({})


def wait_reply(state, operation) -> Reply:
    """What ``GET .../wait`` answers once the operation ended or the wait timed out: the
    operation; on Incus, an error envelope with HTTP 200 when it failed, or when it still
    runs (``context deadline exceeded``)."""
    with state.lock:
        rendered = operation.to_api()
    if state.profile.wait_errors_as_envelope:
        if not operation.done:
            return error_reply(500, "context deadline exceeded", http_status=200)
        if rendered["status"] == "Failure":
            return error_reply(500, rendered["err"], http_status=200)
    reply = sync_reply(rendered)
    if state.profile.wait_nosniff:
        reply.headers["X-Content-Type-Options"] = "nosniff"
    return reply


def wait_operation(ctx: ApiContext, req: ApiRequest, op_id: str):
    op = ctx.state.operations.get(op_id)
    try:
        timeout = float(req.query.get("timeout", "-1"))
    except ValueError:
        raise bad_request(f'Invalid timeout value "{req.query.get("timeout")}"') from None
    return WaitForOperation(op, timeout)


def stream_events(ctx: ApiContext, req: ApiRequest):
    requested = [t for t in req.query.get("type", "").split(",") if t]
    for event_type in requested:
        if event_type not in EVENT_TYPES:
            raise bad_request(f"'{event_type}' isn't a supported notification type")
    return StreamEvents(tuple(requested) or EVENT_TYPES)
