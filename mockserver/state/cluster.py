"""Cluster state: one server's picture of its cluster, and LXD's rules for changing it.

Every method enforces LXD's rules and raises :class:`~mockserver.errors.ApiError` with
LXD's status and text. Methods that change state emit LXD's lifecycle events. The REST
layer only parses requests and renders replies around these methods.

ClusterState is assembled from one part per concern: ``members``, ``groups``, ``tokens``,
and ``replicated`` (the view a live back end drives). This module keeps what they share:
the lock, the revision, the lifecycle events, clustering itself, the certificate and the
shared configuration. What the back end decides is declared in ``backend``.
"""
from __future__ import annotations

import threading
import time

from mockserver import profiles
from mockserver.errors import ApiError, bad_request
from mockserver.profiles import ServerProfile
from mockserver.state import certificate
from mockserver.state.backend import StateBackend, StaticBackend
from mockserver.state.configuration import (
    ConfigDocument,
    ModuleListError,
    modules_to_wire,
    parse_modules,
    patched_modules,
)
from mockserver.state.events import EventBus
from mockserver.state.groups import DEFAULT_GROUP, Group, GroupRules
from mockserver.state.members import Member, MemberRules, MemberSpec
from mockserver.state.names import stored
from mockserver.state.operations import Operation, OperationTable
from mockserver.state.replicated import ReplicatedView
from mockserver.state.scheduler import DeferredScheduler, Scheduler
from mockserver.state.tokens import TokenRules
from mockserver.wire import lxd_url

NOT_CLUSTERED = "Server is not clustered"

__all__ = ["ClusterState", "MemberSpec", "Member", "Group", "stored"]


class ClusterState(MemberRules, GroupRules, TokenRules, ReplicatedView):
    """The in-memory cluster one server shows. ``members=0`` is a standalone server.

    All reads and writes take ``self.lock`` so that a test thread may script the state
    while the server's loop serves it. ``backend`` says what the back end decides (see
    ``backend``); the mock's is the default.
    """

    def __init__(self, members: int = 3, *, name_prefix: str = "node", local_address: str = "127.0.0.1:8443",
                 scheduler: Scheduler | None = None, operation_delay: float = 0.0,
                 token_expiry: float = 3 * 3600.0, operation_retention: float = 5.0, clock=time.monotonic,
                 backend: StateBackend | None = None, profile: ServerProfile | None = None):
        self.lock = threading.RLock()
        # Which server and version this state answers as (mockserver/profiles.py).
        self.profile: ServerProfile = profile if profile is not None else profiles.profile(profiles.DEFAULT)
        self.backend: StateBackend = backend if backend is not None else StaticBackend()
        self.events = EventBus(location=lambda: self.announced_name if self.clustered else "none")
        # LXD 5.0.2 keeps calling itself by its old name after its own member was renamed.
        self.stale_local_name: str | None = None
        self.operations = OperationTable(self.events, self.lock, retention=operation_retention, clock=clock)
        self.scheduler: Scheduler = scheduler or DeferredScheduler()
        self.operation_delay = operation_delay
        self.token_expiry = token_expiry
        self._initial = (members, name_prefix, local_address)
        self.certificate_pem, self.key_pem = certificate.generate()
        self.fingerprint = certificate.fingerprint(self.certificate_pem)
        # Moves on every change; readers cache what they render per revision.
        self.revision = 0
        # The shared configuration (our extension pack_configuration), and the names of the
        # modules this member keeps from its own file instead (a pack daemon's local modules).
        self.configuration = ConfigDocument()
        self.local_modules: tuple = ()
        self.effective_modules: tuple | None = None  # what this member runs with; None: the shared ones
        # Members removed from the cluster, by ident: what their back end still reports of
        # them is not shown (a removed pack node that keeps running stays out).
        self.removed: set = set()
        # What the shared document says of members this view has not met (yet), by ident
        # (a replicated view: see ReplicatedView.import_shared).
        self.unmet_members: dict = {}
        self.unmet_group_members: dict = {}
        self._build(members, name_prefix, local_address)

    def _build(self, count: int, prefix: str, local_address: str) -> None:
        self.revision += 1
        self.members: dict[str, Member] = {}
        self.groups: dict[str, Group] = {}
        self.scripted_leader: Member | None = None   # set_leader's choice (the mock's scripting)
        self.local_address = local_address
        self.clustered = count > 0
        self.local_name = ""
        if not self.clustered:
            return
        self.groups[DEFAULT_GROUP] = Group(DEFAULT_GROUP, "Default cluster group")
        host, _, port = local_address.rpartition(":")
        for index in range(count):
            address = local_address if index == 0 else f"127.0.0.{index + 1}:{port or 8443}"
            self._insert(Member(f"{prefix}{index + 1}", address))
        self.local_name = f"{prefix}1"

    def set_local_address(self, address: str) -> None:
        """Where this server really listens; the local member's url follows it."""
        with self.lock:
            self.local_address = address
            self.revision += 1
            self._initial = (self._initial[0], self._initial[1], address)
            member = self.members.get(self.local_name)
            if member is not None:
                member.address = address

    def reset(self) -> None:
        """Back to the cluster this state was created with; operations and events cleared."""
        with self.lock:
            self.operations.clear()
            self.events.clear()
            self.configuration, self.local_modules, self.effective_modules = ConfigDocument(), (), None
            self.removed = set()
            self._build(*self._initial)

    def _lifecycle(self, action: str, source: str, requestor: dict | None, context: dict | None = None,
                   emit: bool = True, location: str | None = None) -> None:
        """A change: the revision moves, and the lifecycle event goes out unless ``emit`` is
        False (a change the profile's server emits no event for). ``location``: the member
        the server sends it from, when not this one."""
        self.revision += 1
        if emit:
            self.events.lifecycle(action, source, requestor, context, location=location)

    @property
    def time_dependent(self) -> bool:
        """True when a read depends on the clock (an Offline member's heartbeat age)."""
        return any(member.offline for member in self.members.values())

    def _require_clustered(self, message: str = NOT_CLUSTERED, status: int = 500) -> None:
        if not self.clustered:
            raise ApiError(status, message)

    @property
    def announced_name(self) -> str:
        """The name this server gives itself (GET /1.0/cluster, events' location)."""
        return self.stale_local_name or self.local_name

    def cluster_to_api(self) -> dict:
        with self.lock:
            return {"server_name": self.announced_name, "enabled": self.clustered, "member_config": []}

    def enable(self, server_name: str, requestor: dict | None) -> Operation:
        """Bootstrap a cluster on a standalone server (PUT /1.0/cluster enabled=true).

        Raises:
            ApiError: 400 already clustered or no server name.
        """
        with self.lock:
            if self.clustered and self.profile.enable_when_clustered == "refuse":
                raise bad_request("This server is already clustered")
            if not server_name:
                raise bad_request("ServerName may not be empty")
            op = self.operations.start(Operation("task", "Creating bootstrap node",
                                                 location=self.local_name if self.clustered else "none",
                                                 resources={"cluster": None}))
            if self.clustered:   # LXD 5.0.2 starts the bootstrap anyway, and it fails
                self.scheduler.call_later(self.operation_delay, lambda: self.operations.finish(
                    op, "Inconsistent state: found leftover cluster certificate"))
                return op

        def bootstrap():
            with self.lock:
                self.clustered = True
                self.groups = {DEFAULT_GROUP: Group(DEFAULT_GROUP, "Default cluster group")}
                self.members = {}
                self._insert(Member(server_name, self.local_address))
                self.local_name = server_name
                op.location = server_name
                self._lifecycle("cluster-enabled", lxd_url("1.0", "cluster", server_name), requestor)
                self.operations.finish(op)

        self.scheduler.call_later(self.operation_delay, bootstrap)
        return op

    def disable(self, server_name: str, requestor: dict | None) -> None:
        """Leave the cluster and become standalone (PUT /1.0/cluster enabled=false)."""
        with self.lock:
            self._require_clustered(NOT_CLUSTERED, 400)
            self._lifecycle("cluster-disabled", lxd_url("1.0", "cluster", server_name), requestor)
            self.clustered, self.members, self.groups, self.local_name = False, {}, {}, ""
            self.revision += 1

    def update_certificate(self, cert_pem: str, key_pem: str, requestor: dict | None) -> None:
        """Replace the cluster certificate.

        Raises:
            ApiError: 400 if either PEM does not parse.
        """
        fingerprint = certificate.fingerprint(cert_pem)
        certificate.check_key(key_pem)
        with self.lock:
            self.certificate_pem, self.key_pem, self.fingerprint = cert_pem, key_pem, fingerprint
            self._lifecycle("cluster-certificate-updated", "/1.0/cluster/certificate", requestor)

    def configuration_to_api(self) -> dict:
        with self.lock:
            document = self.configuration
            effective = document.modules if self.effective_modules is None else self.effective_modules
            return {"modules": modules_to_wire(document.modules), "version": document.version,
                    "term": document.term, "digest": document.digest, "local_modules": list(self.local_modules),
                    "effective": modules_to_wire(effective)}

    def configuration_etag(self) -> str:
        """The modules' digest: options are maps (Go sorts their keys), so the order in which a
        write gave them, which a replicated copy may not keep, does not count."""
        with self.lock:
            return self.configuration.digest

    def update_configuration(self, raw_modules, *, patch: bool, requestor: dict | None) -> ConfigDocument:
        """Replace (PUT) or merge (PATCH: modules by name, null removes one) the shared modules.

        Raises:
            ApiError: 400 for a module list that is not ``[{"Name": {options}}, ...]``, that
            names a per-member module (Pack, PackConfiguration, Api), or that the back end
            cannot take (a pack daemon: a service group that is not valid).
        """
        try:
            modules = parse_modules(raw_modules, removals=patch)
        except ModuleListError as exc:
            raise bad_request(str(exc)) from None
        with self.lock:
            if patch:
                modules = patched_modules(self.configuration.modules, modules)
            problem = self.backend.configuration_problem(tuple(modules), list(self.members))
            if problem:
                raise bad_request(problem)
            document = self.configuration.changed(modules)
            if document is not self.configuration:
                self.configuration = document
                self._lifecycle("cluster-configuration-updated", "/1.0/cluster/config", requestor,
                                self._configuration_context())
            return document

    def _configuration_context(self) -> dict:
        document = self.configuration
        return {"version": document.version, "term": document.term, "digest": document.digest}

    def set_configuration(self, document: ConfigDocument, local_modules=(), effective=None,
                          announce: bool = True) -> bool:
        """A back end applies a configuration (a pack member: the synced one, merged with its
        own file into ``effective``). Emits cluster-configuration-updated when the shared
        modules or what this member runs with changed; True if so."""
        with self.lock:
            before = (self.configuration.digest, self.effective_modules)
            self.configuration, self.local_modules = document, tuple(local_modules)
            self.effective_modules = None if effective is None else tuple(effective)
            self.revision += 1
            if (document.digest, self.effective_modules) == before or not announce:
                return False
            self._lifecycle("cluster-configuration-updated", "/1.0/cluster/config", None,
                            self._configuration_context())
            return True
