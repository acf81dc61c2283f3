"""/1.0/cluster/members, one member, its state, and join tokens (POST on the collection)."""
from __future__ import annotations

from mockserver.api import schemas
from mockserver.api.context import ApiContext
from mockserver.api.handlers.common import check_if_match
from mockserver.api.request import ApiRequest, ForwardTo
from mockserver.wire import async_reply, lxd_url, sync_reply


def _url(name: str) -> str:
    return lxd_url("1.0", "cluster", "members", name)


def list_members(ctx: ApiContext, req: ApiRequest):
    # LXD and Incus take no filter= on cluster lists: it is ignored, as they ignore it.
    if req.recursion:
        return ctx.cached("members:1", lambda: sync_reply(ctx.state.members_to_api()))
    return ctx.cached("members:0", lambda: sync_reply([_url(name) for name in ctx.state.member_names()]))


def create_token(ctx: ApiContext, req: ApiRequest):
    post = ctx.decode(req, schemas.CLUSTER_MEMBERS_POST)
    op = ctx.state.create_token(post["server_name"], req.requestor)
    return async_reply(op.to_api())


def get_member(ctx: ApiContext, req: ApiRequest, name: str):
    with ctx.state.lock:
        return sync_reply(ctx.state.member_to_api(name), etag=ctx.state.member_etag(name))


def _update(ctx: ApiContext, req: ApiRequest, name: str, patch: bool):
    state = ctx.state
    with state.lock:
        check_if_match(req, state.member_etag(name))
        put = ctx.decode(req, schemas.CLUSTER_MEMBER_PUT)
        state.update_member(name, put, patch=patch, requestor=req.requestor)
    return sync_reply({})


def put_member(ctx: ApiContext, req: ApiRequest, name: str):
    return _update(ctx, req, name, patch=False)


def patch_member(ctx: ApiContext, req: ApiRequest, name: str):
    return _update(ctx, req, name, patch=True)


def rename_member(ctx: ApiContext, req: ApiRequest, name: str):
    post = ctx.decode(req, schemas.CLUSTER_MEMBER_POST)
    ctx.state.rename_member(name, post["server_name"], req.requestor)
    return sync_reply({})


def delete_member(ctx: ApiContext, req: ApiRequest, name: str):
    ctx.state.delete_member(name, req.flag("force"), req.requestor)
    return sync_reply({})


def get_member_state(ctx: ApiContext, req: ApiRequest, name: str):
    address = ctx.state.forward_address(name)
    if address is not None:
        return ForwardTo(address, name)
    return sync_reply(ctx.state.member_state(name))


def post_member_state(ctx: ApiContext, req: ApiRequest, name: str):
    post = ctx.decode(req, schemas.CLUSTER_MEMBER_STATE_POST)
    op = ctx.state.change_member_state(name, post["action"], post["mode"], post["force"], req.requestor)
    return async_reply(op.to_api())
