"""/1.0/cluster/config: the pack's shared configuration (our extension pack_configuration).

GET shows the modules the pack shares with their version, term and digest (and which
modules this member keeps from its own file); PUT replaces them, PATCH merges them by
module name (``{"Name": null}`` removes one). Both honour If-Match, as LXD's PUT/PATCH do.
"""
from __future__ import annotations

from mockserver.api.context import ApiContext
from mockserver.api.handlers.common import check_if_match
from mockserver.api.request import ApiRequest
from mockserver.errors import bad_request
from mockserver.godecode import parse_json
from mockserver.wire import sync_reply


def get_configuration(ctx: ApiContext, req: ApiRequest):
    with ctx.state.lock:
        return sync_reply(ctx.state.configuration_to_api(), etag=ctx.state.configuration_etag())


def _modules(req: ApiRequest):
    body = parse_json(req.body) if req.body.strip() else None
    if not isinstance(body, dict) or "modules" not in body:
        raise bad_request('Expected a JSON object with "modules": [{"ModuleName": {options}}, ...]')
    return body["modules"]


def _update(ctx: ApiContext, req: ApiRequest, patch: bool):
    state = ctx.state
    with state.lock:
        check_if_match(req, state.configuration_etag())
        document = state.update_configuration(_modules(req), patch=patch, requestor=req.requestor)
    return sync_reply({"version": document.version, "term": document.term, "digest": document.digest})


def put_configuration(ctx: ApiContext, req: ApiRequest):
    return _update(ctx, req, patch=False)


def patch_configuration(ctx: ApiContext, req: ApiRequest):
    return _update(ctx, req, patch=True)
