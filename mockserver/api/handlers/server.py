"""GET / and GET /1.0 (server information), and the default project clients look up."""
from __future__ import annotations

import socket

from mockserver.api.context import ApiContext
from mockserver.api.request import ApiRequest
from mockserver.errors import not_found
from mockserver.wire import etag_of, sync_reply


def get_root(ctx: ApiContext, req: ApiRequest):
    return sync_reply(["/1.0"])


def _config(ctx: ApiContext) -> dict:
    if not ctx.addresses:
        return {}
    address = ctx.addresses[0]
    config = {"core.https_address": address}
    if ctx.state.clustered:
        config["cluster.https_address"] = address
    return dict(sorted(config.items()))


def get_server(ctx: ApiContext, req: ApiRequest):
    state = ctx.state
    base = {
        "api_extensions": list(ctx.extensions), "api_status": "stable", "api_version": "1.0",
        "auth": "trusted" if req.trusted else "untrusted", "public": False, "auth_methods": ["tls"],
    }
    if not req.trusted:
        return sync_reply(base)
    system, machine, release = ctx.kernel
    config = _config(ctx)
    with state.lock:
        environment = {
            "addresses": list(ctx.addresses), "architectures": [machine],
            "certificate": state.certificate_pem, "certificate_fingerprint": state.fingerprint,
            "driver": "", "driver_version": "", "firewall": "", "kernel": system,
            "kernel_architecture": machine, "kernel_features": {}, "kernel_version": release,
            "lxc_features": {}, "os_name": "pylxd-cluster mock", "os_version": "", "project": "default",
            "server": "lxd", "server_clustered": state.clustered, "server_event_mode": "full-mesh",
            "server_name": state.local_name or socket.gethostname(), "server_pid": ctx.pid,
            "server_version": ctx.server_version, "storage": "", "storage_version": "",
            "storage_supported_drivers": [],
        }
    metadata = {"config": config, **base, "environment": environment}
    return sync_reply(metadata, etag=etag_of(config))


def list_projects(ctx: ApiContext, req: ApiRequest):
    if req.recursion:
        return sync_reply([_default_project()])
    return sync_reply(["/1.0/projects/default"])


def get_project(ctx: ApiContext, req: ApiRequest, name: str):
    if name != "default":
        raise not_found("Project not found")
    return sync_reply(_default_project())


def _default_project() -> dict:
    config = {"features.images": "true", "features.networks": "true", "features.profiles": "true",
              "features.storage.buckets": "true", "features.storage.volumes": "true"}
    return {"config": config, "description": "Default LXD project", "name": "default", "used_by": []}
