"""What handlers share: the state, decoding strictness and facts about the server."""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

from mockserver.api.request import ApiRequest
from mockserver.godecode import Struct, decode
from mockserver.state import ClusterState

# The mock's own additions to its profile's extensions (mockserver/profiles.py): the shared
# configuration of a pack, /1.0/cluster/config.
MOCK_EXTENSIONS = ("pack_configuration",)


@dataclass
class ApiContext:
    state: ClusterState
    strict: bool = False
    addresses: list = field(default_factory=list)
    own_extensions: tuple = MOCK_EXTENSIONS
    withheld_extensions: tuple = ()     # the profile's, that this server does not implement
    pid: int = field(default_factory=os.getpid)
    kernel: tuple = field(default_factory=lambda: (platform.system(), platform.machine(), platform.release()))

    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def extensions(self) -> tuple:
        """What GET /1.0 advertises: the profile's extensions (those this server implements),
        then its own."""
        withheld = self.withheld_extensions
        return tuple(e for e in self.state.profile.extensions if e not in withheld) + self.own_extensions

    @property
    def server_version(self) -> str:
        return self.state.profile.version

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
