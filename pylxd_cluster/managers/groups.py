"""Cluster groups: ``/1.0/cluster/groups``."""

from __future__ import annotations

from typing import Any, Iterable

from pylxd_cluster.managers.base import Manager, api_call, api_path, plan_of, requires
from pylxd_cluster.models.group import ClusterGroup, GroupList
from pylxd_cluster.protocol import Plan

__all__ = ["GroupManager"]


class GroupManager(Manager):
    """``client.cluster.groups``: list, create, edit, rename and delete cluster groups.

    Every call needs the API extension ``clustering_groups`` and raises ``ExtensionMissing``
    without it, before sending anything.
    """

    call_prefix = "cluster.groups"

    @api_call
    @requires("clustering_groups")
    def all(self) -> Plan[GroupList]:
        """Every group, in ONE request (``recursion=1``).

        Raises:
            APIError: 400 "This server is not clustered".
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        return GroupList((yield from self._list_models(api_path("cluster", "groups"), ClusterGroup)))

    @api_call
    @requires("clustering_groups")
    def get(self, name: str) -> Plan[ClusterGroup]:
        """The group called ``name`` (with its ETag).

        Raises:
            NotFound: no such group.
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        return (yield from self._get_model(api_path("cluster", "groups", name), ClusterGroup))

    @api_call
    @requires("clustering_groups")
    def exists(self, name: str) -> Plan[bool]:
        """Whether a group called ``name`` exists (one GET; a 404 is False).

        Raises:
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        return (yield from self._exists(api_path("cluster", "groups", name)))

    @api_call
    @requires("clustering_groups")
    def create(self, name: str, description: str = "", members: Iterable[str] = ()) -> Plan[ClusterGroup]:
        """Create a group, then read it back.

        Raises:
            Conflict: it already exists (LXD 5.0 answers 500 "This cluster group already
                exists", raised as APIError).
            APIError: 400 for a bad name; 500 for an unknown member on LXD 5.0.
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        body = {"name": name, "description": description, "members": list(members)}
        yield self._request("POST", api_path("cluster", "groups"), json=body)
        return (yield from plan_of(self.get, name))

    @api_call
    @requires("clustering_groups")
    def update(self, name: str, description: str | None = None,
               members: Iterable[str] | None = None) -> Plan[None]:
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
        yield self._request("PATCH", api_path("cluster", "groups", name), json=body)

    @api_call
    @requires("clustering_groups")
    def replace(self, name: str, description: str = "", members: Iterable[str] = (),
                etag: str | None = None) -> Plan[None]:
        """PUT: set description and members; members not listed leave the group.

        Raises:
            NotFound: no such group, or an unknown member.
            PreconditionFailed: ``etag`` no longer matches (servers that check it).
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        body = {"description": description, "members": list(members)}
        yield self._request("PUT", api_path("cluster", "groups", name), json=body,
                      headers=self._if_match(etag))

    @api_call
    @requires("clustering_groups")
    def save(self, group: ClusterGroup) -> Plan[None]:
        """PUT ``group``'s description and members with If-Match of its ETag.

        Raises:
            NotFound, PreconditionFailed, ExtensionMissing: as for :meth:`replace`.
        """
        yield self._request("PUT", api_path("cluster", "groups", group.name), json=group.to_put(),
                      headers=self._if_match(group.etag))

    @api_call
    @requires("clustering_groups")
    def rename(self, name: str, new_name: str) -> Plan[None]:
        """Rename a group.

        Raises:
            Forbidden: the "default" group cannot be renamed.
            APIError: 500 'Name "x" already in use' on LXD 5.0.
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        yield self._request("POST", api_path("cluster", "groups", name), json={"name": new_name})

    @api_call
    @requires("clustering_groups")
    def delete(self, name: str) -> Plan[None]:
        """Delete an empty group.

        Raises:
            Forbidden: the "default" group cannot be deleted.
            APIError: 500 "Only empty cluster groups can be removed"; LXD 5.0 answers 500
                (not 404) for an unknown group.
            ExtensionMissing: the server lacks ``clustering_groups`` (nothing is sent).
        """
        yield self._request("DELETE", api_path("cluster", "groups", name))
