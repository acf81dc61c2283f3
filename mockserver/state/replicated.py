"""The view a live back end drives: one member's picture of a cluster whose members
run elsewhere (a pack daemon).

The back end reports what it observes (members appearing, their status, roles, its own
lifecycle events) and replicates what API writes changed (``export_shared`` on the
writer, ``import_shared`` on the others).
"""
from __future__ import annotations

import datetime as _dt

from mockserver.state.groups import DEFAULT_GROUP, Group
from mockserver.state.members import AUTOMATIC_ROLES, MANUAL_ROLES, Member


class ReplicatedView:
    """ClusterState's replicated view (a part of ClusterState; see cluster.py for the attributes)."""

    @classmethod
    def member_view(cls, local_name: str, local_address: str, *, backend, **options):
        """One member's view of a cluster its back end runs: clustered, itself the only
        member known so far, roles set by the back end (see set_roles). ``options`` go to
        ClusterState (scheduler, token_expiry, ...)."""
        state = cls(0, local_address=local_address, backend=backend, **options)
        with state.lock:
            state.clustered = True
            state.groups = {DEFAULT_GROUP: Group(DEFAULT_GROUP, "Default cluster group")}
            state.members = {}
            state.local_name = local_name
            state._insert(Member(local_name, local_address, roles=[], database=False))
            state.revision += 1
        return state

    def member_by_ident(self, ident: str) -> Member | None:
        with self.lock:
            for member in self.members.values():
                if member.ident == ident:
                    return member
            return None

    def observe_member(self, ident: str, *, address: str, online: bool, heartbeat: _dt.datetime,
                       offline_message: str | None = None) -> None:
        """What the back end knows of the member it calls ``ident`` now. A new member emits
        cluster-member-added; a change of status or message emits cluster-member-updated.
        A removed member is not shown."""
        with self.lock:
            if ident in self.removed:
                return
            member = self.member_by_ident(ident)
            if member is None:
                member = Member(ident, address, roles=[], database=False, heartbeat=heartbeat, offline=not online,
                                offline_message=offline_message)
                self._insert(member)
                self._meet(member)
                self._lifecycle("cluster-member-added", self._member_source(member.server_name), None)
                return
            name = member.server_name
            def visible():  # what a reader sees change (not the heartbeat age, which always moves)
                return member.status()[0], member.offline_message, member.address

            before = visible()
            member.address, member.offline, member.offline_message = address, not online, offline_message
            member.heartbeat = heartbeat
            if visible() != before:
                self._lifecycle("cluster-member-updated", self._member_source(name), None)

    def _meet(self, member: Member) -> None:
        """A member the shared document already knew, met only now: it takes what was
        written of it (name, description, configuration, roles, groups), which this view
        has kept (see import_shared) and goes on writing (see export_shared)."""
        entry = self.unmet_members.pop(member.ident, None)
        if entry is not None:
            if entry["server_name"] != member.server_name and entry["server_name"] not in self.members:
                self.members = {(entry["server_name"] if key == member.server_name else key): value
                                for key, value in self.members.items()}
                member.server_name = entry["server_name"]
            self._apply_entry(member, entry)
        for group_name, idents in self.unmet_group_members.items():
            if member.ident in idents:
                idents.remove(member.ident)
                group = self.groups.get(group_name)
                if group is not None and member.server_name not in group.members:
                    group.members.append(member.server_name)

    @staticmethod
    def _apply_entry(member: Member, entry: dict) -> None:
        member.description, member.failure_domain = entry["description"], entry["failure_domain"]
        member.config = dict(entry["config"])
        member.roles = [r for r in member.roles if r in AUTOMATIC_ROLES] + list(entry["roles"])
        member.evacuated = entry["evacuated"]

    def forget_member(self, ident: str) -> None:
        """The back end no longer counts the member it calls ``ident`` (gone, and no longer
        discovered): it leaves the list, with cluster-member-removed. Unlike a removal, it is
        shown again if it comes back."""
        with self.lock:
            member = self.member_by_ident(ident)
            if member is None or member.server_name == self.local_name:
                return
            # What was written of it stays in the document, for when it comes back.
            self.unmet_members[ident] = self._entry(member)
            for group in self.groups.values():
                if member.server_name in group.members:
                    self.unmet_group_members.setdefault(group.name, []).append(ident)
            self._drop_member(member.server_name)
            self._lifecycle("cluster-member-removed", self._member_source(member.server_name), None)

    def set_roles(self, ident: str, roles: list, database: bool, note: str | None = None) -> bool:
        """Set the automatic roles of the member the back end calls ``ident`` (and an optional
        note in its message); manual roles (written through the API) are kept. True if it changed."""
        with self.lock:
            member = self.member_by_ident(ident)
            if member is None:
                return False
            roles = list(roles) + [r for r in member.roles if r in MANUAL_ROLES and r not in roles]
            if (member.roles, member.database, member.note) == (roles, database, note):
                return False
            member.roles, member.database, member.note = roles, database, note
            self._lifecycle("cluster-member-updated", self._member_source(member.server_name), None)
            return True

    def emit(self, action: str, source: str, context: dict | None = None, requestor: dict | None = None) -> None:
        """A lifecycle event of the back end's own (a leader change, a conflict, a write the
        leader of a pack made, replayed here)."""
        with self.lock:
            self._lifecycle(action, source, requestor, context)

    def export_shared(self) -> dict:
        """Everything API writes change, keyed by the members' idents, as JSON data."""
        with self.lock:
            members = {m.ident: self._entry(m) for m in self.members.values()}
            # Members the document knows that this view has not met (yet): kept as written.
            for ident, entry in self.unmet_members.items():
                if ident not in members and ident not in self.removed:
                    members[ident] = entry
            idents = {m.server_name: m.ident for m in self.members.values()}
            met = set(idents.values())

            def group_idents(group) -> list:
                unmet = [i for i in self.unmet_group_members.get(group.name, ()) if i in members and i not in met]
                return [idents[name] for name in group.members if name in idents] + unmet
            groups = [{"name": g.name, "description": g.description, "members": group_idents(g)}
                      for g in self.groups.values()]
            tokens = [{"operation": op.id, "created_at": op.created_at, "metadata": op.metadata}
                      for op in self.operations.running("token")]
            return {"members": members, "groups": groups, "removed": sorted(self.removed), "tokens": tokens}

    @staticmethod
    def _entry(m: Member) -> dict:
        return {"server_name": m.server_name, "description": m.description, "failure_domain": m.failure_domain,
                "config": dict(sorted(m.config.items())), "roles": [r for r in m.roles if r in MANUAL_ROLES],
                "evacuated": m.evacuated}

    def import_shared(self, shared: dict) -> None:
        """Take what the leader wrote (see export_shared), without emitting events: the
        back end emits the events the leader recorded. Members the document does not know
        yet keep their defaults; live facts (address, status, automatic roles) stay."""
        with self.lock:
            # Who we are, by pack identity, before the renames below change our name.
            local_ident = self._local_ident()
            self.removed = set(shared.get("removed", ()))
            for ident in self.removed:
                member = self.member_by_ident(ident)
                if member is not None:
                    self._drop_member(member.server_name)
            written = shared.get("members", {})
            renamed = {}
            known = {member.ident for member in self.members.values()}
            # Entries of members not met yet are kept: a member met later takes its own (and a
            # leader that has not met it writes it back unchanged, rather than a default).
            self.unmet_members = {ident: dict(entry) for ident, entry in written.items() if ident not in known}
            for member in list(self.members.values()):
                entry = written.get(member.ident)
                if entry is None:
                    continue
                renamed[member.server_name] = entry["server_name"]
                member.server_name = entry["server_name"]
                self._apply_entry(member, entry)
            if renamed:
                self.members = {renamed.get(key, key): value for key, value in self.members.items()}
                local = self.member_by_ident(local_ident)
                self.local_name = local.server_name if local is not None else self.local_name
            names = {m.ident: m.server_name for m in self.members.values()}
            self.unmet_group_members = {entry["name"]: [i for i in entry["members"] if i not in names]
                                        for entry in shared.get("groups", ())}
            groups = {}
            for entry in shared.get("groups", ()):
                groups[entry["name"]] = Group(entry["name"], entry["description"],
                                              [names[ident] for ident in entry["members"] if ident in names])
            if DEFAULT_GROUP in groups:
                grouped = {name for group in groups.values() for name in group.members}
                # Members the writer had not met yet belong to the default group, as on joining.
                groups[DEFAULT_GROUP].members += [m.server_name for m in self.members.values()
                                                  if m.server_name not in grouped and m.ident not in written]
                self.groups = groups
            self._import_tokens(shared.get("tokens", ()))
            self.revision += 1

    def _local_ident(self) -> str:
        member = self.members.get(self.local_name)
        return member.ident if member is not None else self.local_name
