"""GET / and GET /1.0 (server information), and the default project clients look up."""
from __future__ import annotations

import getpass
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
    """GET /1.0, with the keys its profile's server has, in that server's order."""
    state = ctx.state
    profile = state.profile
    base = {
        "api_extensions": list(ctx.extensions), "api_status": "stable", "api_version": "1.0",
        "auth": "trusted" if req.trusted else "untrusted", "public": False, "auth_methods": ["tls"],
    }
    if not req.trusted:
        return sync_reply(base)
    system, machine, release = ctx.kernel
    config = _config(ctx)
    with state.lock:
        known = {
            "addresses": list(ctx.addresses), "architectures": [machine],
            "backup_metadata_version_range": [1, 2],
            "certificate": state.certificate_pem, "certificate_fingerprint": state.fingerprint,
            "driver": "", "driver_version": "", "instance_types": ["container"], "firewall": "", "kernel": system,
            "kernel_architecture": machine, "kernel_features": {}, "kernel_version": release,
            "lxc_features": {}, "os_name": "pylxd-cluster mock", "os_version": "", "project": "default",
            "server": profile.server, "server_clustered": state.clustered, "server_event_mode": "full-mesh",
            "server_name": state.local_name or socket.gethostname(), "server_pid": ctx.pid,
            "server_version": ctx.server_version, "server_lts": profile.version.startswith("5.21"),
            "storage": "", "storage_version": "", "storage_supported_drivers": [],
        }
    environment = {key: known[key] for key in profile.environment_keys}
    unix = req.protocol == "unix"
    top = {"config": config, **base, "client_certificate": not unix and req.trusted,
           "auth_user_name": getpass.getuser() if unix else "", "auth_user_method": "unix" if unix else "tls",
           "environment": environment}
    return sync_reply({key: top[key] for key in profile.server_keys}, etag=etag_of(config))


def list_projects(ctx: ApiContext, req: ApiRequest):
    if req.recursion:
        return sync_reply([_default_project(ctx)])
    return sync_reply(["/1.0/projects/default"])


def get_project(ctx: ApiContext, req: ApiRequest, name: str):
    if name != "default":
        raise not_found("Project not found")
    project = _default_project(ctx)
    # LXD and Incus hash [description, config] for a project's ETag.
    return sync_reply(project, etag=etag_of([project["description"], project["config"]]))


def _default_project(ctx: ApiContext) -> dict:
    profile = ctx.state.profile
    return {"config": dict(profile.project_config), "description": profile.project_description, "name": "default",
            "used_by": []}
