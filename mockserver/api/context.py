"""What handlers share: the state, decoding strictness and facts about the server."""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

from mockserver.api.request import ApiRequest
from mockserver.godecode import Struct, decode
from mockserver.state import ClusterState

# Exactly the API extensions this server implements; clients gate features on them.
API_EXTENSIONS = (
    "etag", "patch", "operation_description", "clustering", "event_lifecycle", "clustering_join", "projects",
    "event_location", "clustering_roles", "clustering_architecture", "api_filtering",
    "clustering_edit_roles", "clustering_failure_domains", "clustering_join_token",
    "clustering_description", "clustering_update_cert", "event_lifecycle_requestor_address",
    "clustering_evacuation", "clustering_config", "clustering_groups", "clustering_evacuation_live",
    "clustering_evacuation_mode", "cluster_member_state", "clustering_restore_skip_mode",
    "clustering_evacuation_force",
    "pack_configuration",  # ours: /1.0/cluster/config, the shared configuration of a pack
)

SERVER_VERSION = "5.0.2"


@dataclass
class ApiContext:
    state: ClusterState
    strict: bool = False
    addresses: list = field(default_factory=list)
    extensions: tuple = API_EXTENSIONS
    server_version: str = SERVER_VERSION
    pid: int = field(default_factory=os.getpid)
    kernel: tuple = field(default_factory=lambda: (platform.system(), platform.machine(), platform.release()))

    _cache: dict = field(default_factory=dict, repr=False)

    def cached(self, key: str, render):
        """Reuse a rendered reply until the state changes (lists are read far more than written)."""
        state = self.state
        with state.lock:
            if state.time_dependent:
                return render()
            hit = self._cache.get(key)
            if hit is not None and hit[0] == state.revision:
                return hit[1]
            reply = render()
            self._cache[key] = (state.revision, reply)
            return reply

    def decode(self, request: ApiRequest, struct: Struct, current: dict | None = None) -> dict:
        return decode(request.body, struct, current, strict=self.strict)
