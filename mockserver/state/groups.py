"""Cluster groups and the rules of /1.0/cluster/groups."""
from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.errors import bad_request, forbidden, not_found
from mockserver.state.names import stored
from mockserver.wire import etag_of, lxd_url

DEFAULT_GROUP = "default"


@dataclass
class Group:
    name: str
    description: str = ""
    members: list = field(default_factory=list)

    def writable(self) -> dict:
        return {"description": self.description, "members": list(self.members)}

    def to_api(self) -> dict:
        return {"description": self.description, "members": list(self.members), "name": self.name}


class GroupRules:
    """ClusterState's groups (a part of ClusterState; see cluster.py for the attributes)."""

    def _get_group(self, name: str) -> Group:
        group = self.groups.get(stored(name))
        if group is None:
            raise self.profile.refuse("group-not-found")
        return group

    def _group_api(self, group: Group) -> dict:
        rendered = {**group.to_api(), "used_by": []}   # no project or instance uses a group here
        if self.profile.group_members_sorted:   # LXD 5.0.2 reads them back ordered by name
            rendered["members"] = sorted(rendered["members"])
        return {key: rendered[key] for key in self.profile.group_keys}

    def _require_groups(self) -> None:
        self._require_clustered("This server is not clustered", 400)

    def group_names(self) -> list[str]:
        with self.lock:
            self._require_groups()
            return list(self.groups)

    def groups_to_api(self) -> list[dict]:
        with self.lock:
            self._require_groups()
            return [self._group_api(g) for g in self.groups.values()]

    def group_to_api(self, name: str) -> dict:
        name = stored(name)
        with self.lock:
            self._require_groups()
            return self._group_api(self._get_group(name))

    def group_etag(self, name: str) -> str:
        name = stored(name)
        with self.lock:
            rendered = self._group_api(self._get_group(name))
            return etag_of({"description": rendered["description"], "members": rendered["members"]})

    def group_patch_etag(self, name: str) -> str:
        """What a group PATCH checks If-Match against: LXD hashes ``[description, members]``
        there, not the object its GET hashed, so a GET's ETag never matches a PATCH."""
        name = stored(name)
        with self.lock:
            rendered = self._group_api(self._get_group(name))
            return etag_of([rendered["description"], rendered["members"]])

    @staticmethod
    def _validate_group_name(name: str) -> None:
        if not name:
            raise bad_request("No name provided")
        if "/" in name:
            raise bad_request("Cluster group names may not contain slashes")

    def _check_known_members(self, members, creating: bool = False) -> None:
        for member in members or []:
            if member not in self.members:
                if creating:   # LXD 5.0.2 fails in its database there
                    raise self.profile.refuse("group-create-unknown-member")
                raise not_found("Failed to get node info: Cluster member not found")

    def create_group(self, name: str, description: str, members: list | None, requestor: dict | None) -> None:
        """Raises: ApiError 400 bad name; 409 exists; 404 unknown member (nothing created)."""
        name, description, members = stored(name), stored(description), [stored(m) for m in members or []]
        with self.lock:
            self._require_groups()
            self._validate_group_name(name)
            if name in self.groups:
                raise self.profile.refuse("group-exists", name=name)
            self._check_known_members(members, creating=True)
            self.groups[name] = Group(name, description, list(dict.fromkeys(members or [])))
            self._lifecycle("cluster-group-created", lxd_url("1.0", "cluster", "groups", name), requestor)

    def update_group(self, name: str, description: str, members: list | None, requestor: dict | None) -> None:
        """Set a group's description and members.

        Raises:
            ApiError: 404 unknown group or member; 400 if a member would be left in no group.
        """
        name, description, members = stored(name), stored(description), [stored(m) for m in members or []]
        with self.lock:
            group = self._get_group(name)
            members = list(dict.fromkeys(members or []))
            self._check_known_members(members)
            policy = self.profile.members_left_groupless
            for removed in [m for m in group.members if m not in members and policy != "allow"]:
                if all(removed not in g.members for g in self.groups.values() if g.name != name):
                    if policy == "refuse":
                        raise self.profile.refuse("group-member-needs-group", name=removed)
                    members.append(removed)   # Incus keeps it in the group, and says nothing
            group.description, group.members = description, members
            self._lifecycle("cluster-group-updated", lxd_url("1.0", "cluster", "groups", name), requestor,
                            {"description": description, "members": list(members)})

    def rename_group(self, name: str, new_name: str, requestor: dict | None) -> None:
        """Raises: ApiError 403 default; 404 unknown; 400 bad name; 409 name in use."""
        name, new_name = stored(name), stored(new_name)
        with self.lock:
            if name == DEFAULT_GROUP:
                raise forbidden('The "default" group cannot be renamed')
            if name not in self.groups:
                raise self.profile.refuse("group-rename-unknown")
            group = self.groups[name]
            self._validate_group_name(new_name)
            if new_name in self.groups:
                raise self.profile.refuse("group-rename-in-use", name=new_name)
            group.name = new_name
            self.groups = {(new_name if key == name else key): value for key, value in self.groups.items()}
            self._lifecycle(
                "cluster-group-renamed", lxd_url("1.0", "cluster", "groups", new_name), requestor, {"old_name": name}
            )

    def delete_group(self, name: str, requestor: dict | None) -> None:
        """Raises: ApiError 403 default; 404 unknown; 400 not empty."""
        name = stored(name)
        with self.lock:
            if name == DEFAULT_GROUP:
                raise forbidden("The 'default' cluster group cannot be deleted")
            if name not in self.groups:
                raise self.profile.refuse("group-delete-unknown")
            if self.groups[name].members:
                raise self.profile.refuse("group-not-empty")
            del self.groups[name]
            self._lifecycle("cluster-group-deleted", lxd_url("1.0", "cluster", "groups", name), requestor,
                            emit=self.profile.group_deleted_event)
