"""/1.0/cluster/groups and one group."""
from __future__ import annotations

from mockserver.api import schemas
from mockserver.api.context import ApiContext
from mockserver.api.handlers.common import check_if_match
from mockserver.api.request import ApiRequest
from mockserver.wire import lxd_url, sync_reply


def _url(name: str) -> str:
    return lxd_url("1.0", "cluster", "groups", name)


def list_groups(ctx: ApiContext, req: ApiRequest):
    # LXD and Incus take no filter= on cluster lists: it is ignored, as they ignore it.
    if req.recursion:
        return ctx.cached("groups:1", lambda: sync_reply(ctx.state.groups_to_api()))
    return ctx.cached("groups:0", lambda: sync_reply([_url(name) for name in ctx.state.group_names()]))


def create_group(ctx: ApiContext, req: ApiRequest):
    post = ctx.decode(req, schemas.CLUSTER_GROUPS_POST)
    ctx.state.create_group(post["name"], post["description"], post["members"], req.requestor)
    return sync_reply(None, status=201, location=_url(post["name"]))


def get_group(ctx: ApiContext, req: ApiRequest, name: str):
    with ctx.state.lock:
        return sync_reply(ctx.state.group_to_api(name), etag=ctx.state.group_etag(name))


def _update(ctx: ApiContext, req: ApiRequest, name: str, patch: bool):
    state = ctx.state
    with state.lock:
        group = state.group_to_api(name)
        # LXD checks If-Match on a group PATCH; on a PUT only where the profile says so
        # (LXD 5.0.2 to 6.9 and Incus 6.0 ignore it there).
        if patch:
            check_if_match(req, state.group_patch_etag(name))
        elif state.profile.group_if_match:
            check_if_match(req, state.group_etag(name))
        # PATCH decodes the body over the current values; PUT starts from nothing.
        base = {"description": group["description"], "members": group["members"]} if patch else None
        put = ctx.decode(req, schemas.CLUSTER_GROUP_PUT, base)
        state.update_group(name, put["description"], put["members"], req.requestor)
    return sync_reply({})


def put_group(ctx: ApiContext, req: ApiRequest, name: str):
    return _update(ctx, req, name, patch=False)


def patch_group(ctx: ApiContext, req: ApiRequest, name: str):
    return _update(ctx, req, name, patch=True)


def rename_group(ctx: ApiContext, req: ApiRequest, name: str):
    post = ctx.decode(req, schemas.CLUSTER_GROUP_POST)
    ctx.state.rename_group(name, post["name"], req.requestor)
    return sync_reply(None, status=201, location=_url(post["name"]))


def delete_group(ctx: ApiContext, req: ApiRequest, name: str):
    ctx.state.delete_group(name, req.requestor)
    return sync_reply({})
