"""Cluster groups: ``/1.0/cluster/groups``."""

from __future__ import annotations

from typing import Any, Iterable

from pylxd_cluster.managers.base import Manager, api_path, requires
from pylxd_cluster.models.group import ClusterGroup, GroupList

__all__ = ["GroupManager"]


class GroupManager(Manager):
    """``client.cluster.groups``: list, create, edit, rename and delete cluster groups.

    Every call needs the API extension ``clustering_groups`` and raises ``ExtensionMissing``
    without it, before sending anything.
    """

    call_prefix = "cluster.groups"

    @requires("clustering_groups")
    def all(self) -> GroupList:
        """Every group, in ONE request (``recursion=1``).

        Raises:
            APIError: 400 "This server is not clustered".
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        return GroupList(self._list_models(api_path("cluster", "groups"), ClusterGroup))

    @requires("clustering_groups")
    def get(self, name: str) -> ClusterGroup:
        """The group called ``name`` (with its ETag).

        Raises:
            NotFound: no such group.
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        return self._get_model(api_path("cluster", "groups", name), ClusterGroup)

    @requires("clustering_groups")
    def exists(self, name: str) -> bool:
        """Whether a group called ``name`` exists (one GET; a 404 is False).

        Raises:
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        return self._exists(api_path("cluster", "groups", name))

    @requires("clustering_groups")
    def create(self, name: str, description: str = "", members: Iterable[str] = ()) -> ClusterGroup:
        """Create a group, then read it back.

        Raises:
            Conflict: it already exists (LXD 5.0 answers 500 "This cluster group already
                exists", raised as APIError).
            APIError: 400 for a bad name; 500 for an unknown member on LXD 5.0.
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        body = {"name": name, "description": description, "members": list(members)}
        self._request("POST", api_path("cluster", "groups"), json=body)
        return self.get(name)

    @requires("clustering_groups")
    def update(self, name: str, description: str | None = None,
               members: Iterable[str] | None = None) -> None:
        """PATCH only the given fields; the others keep their values.

        Raises:
            NotFound: no such group, or an unknown member.
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if members is not None:
            body["members"] = list(members)
        self._request("PATCH", api_path("cluster", "groups", name), json=body)

    @requires("clustering_groups")
    def replace(self, name: str, description: str = "", members: Iterable[str] = (),
                etag: str | None = None) -> None:
        """PUT: set description and members; members not listed leave the group.

        Raises:
            NotFound: no such group, or an unknown member.
            PreconditionFailed: ``etag`` no longer matches (servers that check it).
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        body = {"description": description, "members": list(members)}
        self._request("PUT", api_path("cluster", "groups", name), json=body,
                      headers=self._if_match(etag))

    @requires("clustering_groups")
    def save(self, group: ClusterGroup) -> None:
        """PUT ``group``'s description and members with If-Match of its ETag.

        Raises:
            NotFound, PreconditionFailed, ExtensionMissing: as for :meth:`replace`.
        """
        self._request("PUT", api_path("cluster", "groups", group.name), json=group.to_put(),
                      headers=self._if_match(group.etag))

    @requires("clustering_groups")
    def rename(self, name: str, new_name: str) -> None:
        """Rename a group.

        Raises:
            Forbidden: the "default" group cannot be renamed.
            APIError: 500 'Name "x" already in use' on LXD 5.0.
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        self._request("POST", api_path("cluster", "groups", name), json={"name": new_name})

    @requires("clustering_groups")
    def delete(self, name: str) -> None:
        """Delete an empty group.

        Raises:
            Forbidden: the "default" group cannot be deleted.
            APIError: 500 "Only empty cluster groups can be removed"; LXD 5.0 answers 500
                (not 404) for an unknown group.
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        self._request("DELETE", api_path("cluster", "groups", name))
