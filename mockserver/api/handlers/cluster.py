"""/1.0/cluster and /1.0/cluster/certificate."""
from __future__ import annotations

from mockserver.api import schemas
from mockserver.api.context import ApiContext
from mockserver.api.request import ApiRequest
from mockserver.errors import bad_request
from mockserver.wire import async_reply, etag_of, sync_reply


def get_cluster(ctx: ApiContext, req: ApiRequest):
    cluster = ctx.state.cluster_to_api()
    return sync_reply(cluster, etag=etag_of(cluster))


def put_cluster(ctx: ApiContext, req: ApiRequest):
    put = ctx.decode(req, schemas.CLUSTER_PUT)
    if not put["enabled"]:
        ctx.state.disable(put["server_name"], req.requestor)
        return sync_reply({})
    if put["cluster_address"]:
        raise bad_request("Joining an existing cluster is not supported by this server; "
                          "add members with the mock's scripting API instead")
    op = ctx.state.enable(put["server_name"], req.requestor)
    return async_reply(op.to_api())


def put_certificate(ctx: ApiContext, req: ApiRequest):
    put = ctx.decode(req, schemas.CLUSTER_CERTIFICATE_PUT)
    ctx.state.update_certificate(put["cluster_certificate"], put["cluster_certificate_key"], req.requestor)
    return sync_reply({})
