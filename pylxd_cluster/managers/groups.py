"""Cluster groups: ``/1.0/cluster/groups``."""

from __future__ import annotations

from typing import Any, Iterable

from pylxd_cluster.managers.base import Manager, api_path
from pylxd_cluster.models.group import ClusterGroup

__all__ = ["GroupManager"]


class GroupManager(Manager):
    """``client.cluster.groups``: list, create, edit, rename and delete cluster groups."""

    def all(self) -> tuple[ClusterGroup, ...]:
        """Every group, in ONE request (``recursion=1``).

        Raises:
            APIError: 400 "This server is not clustered".
        """
        return self._list_models(api_path("cluster", "groups"), ClusterGroup)

    def get(self, name: str) -> ClusterGroup:
        """The group called ``name`` (with its ETag).

        Raises:
            NotFound: no such group.
        """
        return self._get_model(api_path("cluster", "groups", name), ClusterGroup)

    def exists(self, name: str) -> bool:
        """Whether a group called ``name`` exists (one GET; a 404 is False)."""
        return self._exists(api_path("cluster", "groups", name))

    def create(self, name: str, description: str = "", members: Iterable[str] = ()) -> ClusterGroup:
        """Create a group, then read it back.

        Raises:
            Conflict: it already exists (LXD 5.0 answers 500 "This cluster group already
                exists", raised as APIError).
            APIError: 400 for a bad name; 500 for an unknown member on LXD 5.0.
        """
        body = {"name": name, "description": description, "members": list(members)}
        self._request("POST", api_path("cluster", "groups"), json=body)
        return self.get(name)

    def update(self, name: str, description: str | None = None,
               members: Iterable[str] | None = None) -> None:
        """PATCH only the given fields; the others keep their values.

        Raises:
            NotFound: no such group, or an unknown member.
        """
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if members is not None:
            body["members"] = list(members)
        self._request("PATCH", api_path("cluster", "groups", name), json=body)

    def replace(self, name: str, description: str = "", members: Iterable[str] = (),
                etag: str | None = None) -> None:
        """PUT: set description and members; members not listed leave the group.

        Raises:
            NotFound: no such group, or an unknown member.
            PreconditionFailed: ``etag`` no longer matches (servers that check it).
        """
        body = {"description": description, "members": list(members)}
        self._request("PUT", api_path("cluster", "groups", name), json=body,
                      headers=self._if_match(etag))

    def save(self, group: ClusterGroup) -> None:
        """PUT ``group``'s description and members with If-Match of its ETag.

        Raises:
            NotFound, PreconditionFailed: as for :meth:`replace`.
        """
        self._request("PUT", api_path("cluster", "groups", group.name), json=group.to_put(),
                      headers=self._if_match(group.etag))

    def rename(self, name: str, new_name: str) -> None:
        """Rename a group.

        Raises:
            Forbidden: the "default" group cannot be renamed.
            APIError: 500 'Name "x" already in use' on LXD 5.0.
        """
        self._request("POST", api_path("cluster", "groups", name), json={"name": new_name})

    def delete(self, name: str) -> None:
        """Delete an empty group.

        Raises:
            Forbidden: the "default" group cannot be deleted.
            APIError: 500 "Only empty cluster groups can be removed"; LXD 5.0 answers 500
                (not 404) for an unknown group.
        """
        self._request("DELETE", api_path("cluster", "groups", name))
