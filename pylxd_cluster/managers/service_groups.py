"""Service groups: ``/1.0/cluster/service-groups`` (API extension ``pack_service_groups``).

Addresses and services that fail over between the members of a pack (VyOS's ``cluster
group``). The pack daemons serve them, not LXD nor the mock server: the manager checks
once, on its first call, that the server advertises ``pack_service_groups``.
"""

from __future__ import annotations

import time

from pylxd_cluster.exceptions import Timeout
from pylxd_cluster.managers.base import Manager, api_call, api_path, plan_of, requires
from pylxd_cluster.models.service_group import ServiceGroup, ServiceGroupList
from pylxd_cluster.protocol import Plan, Sleep

__all__ = ["ServiceGroupManager", "EXTENSION", "DEFAULT_WAIT_TIMEOUT"]

#: The API extension a server advertises in ``GET /1.0`` when it serves service groups.
EXTENSION = "pack_service_groups"
#: Seconds :meth:`ServiceGroupManager.move` and :meth:`~ServiceGroupManager.wait_active`
#: wait when given ``timeout=None``.
DEFAULT_WAIT_TIMEOUT = 60.0


class ServiceGroupManager(Manager):
    """``client.cluster.service_groups``: list and show a pack's service groups, and move
    them by hand (VyOS's ``force cluster active``).

    Every method first checks that the server has the ``pack_service_groups`` API extension,
    in the ``GET /1.0`` the client read when it connected (a manager built on its own reads it
    on its first call, once), and raises ``ExtensionMissing`` without it, sending nothing.
    Building the manager, or reading ``client.cluster.service_groups``, sends nothing.

    Reads are answered by any member of the pack, each as it sees the group; a move goes to
    the pack's leader, and is answered once the pack has committed it. The new owner takes
    the group over within about a lease (the pack's ``dead-interval``): :meth:`move` with
    ``wait=True`` waits for that.

    Args:
        transport, operations, server, api_extensions: as for every
            :class:`~pylxd_cluster.managers.Manager`.
    """

    call_prefix = "cluster.service_groups"
    #: The API extension every method needs.
    extension = EXTENSION

    @property
    def path(self) -> str:
        return api_path("cluster", "service-groups")

    def _group_path(self, name: str) -> str:
        return api_path("cluster", "service-groups", name)

    # ---- reading -------------------------------------------------------------------

    @api_call
    @requires(EXTENSION)
    def all(self) -> Plan[ServiceGroupList]:
        """Every service group, in ONE request (``recursion=1``), as the answering member
        sees them.

        Raises:
            ExtensionMissing: the server lacks the ``pack_service_groups`` extension
                (LXD, Incus, the mock server, or an older daemon); nothing is sent.
            APIError: any other refusal.
        """
        return ServiceGroupList((yield from self._list_models(self.path, ServiceGroup)))

    @api_call
    @requires(EXTENSION)
    def get(self, name: str) -> Plan[ServiceGroup]:
        """The service group called ``name``, as the answering member sees it.

        Raises:
            NotFound: no such group ("Service group not found").
            ExtensionMissing: the server lacks the ``pack_service_groups`` extension.
            APIError: any other refusal.
        """
        path = self._group_path(name)
        return (yield from self._get_model(path, ServiceGroup))

    @api_call
    @requires(EXTENSION)
    def exists(self, name: str) -> Plan[bool]:
        """Whether a service group called ``name`` exists (one GET; a 404 is False).

        Raises:
            ExtensionMissing: the server lacks the ``pack_service_groups`` extension.
        """
        path = self._group_path(name)
        return (yield from self._exists(path))

    # ---- moving --------------------------------------------------------------------

    @api_call
    @requires(EXTENSION)
    def move(self, name: str, member: str | None, *, wait: bool = False,
             timeout: float | None = None, poll_interval: float = 0.1) -> Plan[ServiceGroup | None]:
        """Move the group to ``member`` (``POST {"member": member}``; VyOS's ``force cluster
        active`` on that member). The move lasts while that member can own the group: it
        is the group's ``requested`` member until then.

        ``member`` None (or "") hands the group back to the rules instead: primary first,
        and auto-failback if the group has it; the group stays where it is until a rule
        moves it. :meth:`clear_request` says the same.

        The reply comes once the pack has committed the move; the new owner takes the group
        over within about a lease. With ``wait``, the group is read again (every
        ``poll_interval`` seconds) until it is Active on ``member`` (for None: Active
        anywhere with no request left) and returned; without, None is returned.

        Raises:
            NotFound: no such group.
            APIError: 400 for a member that is neither the group's primary nor one of its
                secondaries, or one that cannot own it now (not alive, evacuated, missing
                a monitor address another member reaches): the server's message says
                which; 503 on a pack without a leader (retry in a moment).
            OutcomeUnknown: the pack could not say whether the move was committed (read the
                group back before moving it again).
            Timeout: ``wait``, and the group was not Active there within ``timeout``
                seconds (None: :data:`DEFAULT_WAIT_TIMEOUT`); the message gives what was
                last seen.
            ExtensionMissing: the server lacks the ``pack_service_groups`` extension.
        """
        path = self._group_path(name)
        yield self._request("POST", path, json={"member": member or ""})
        if not wait:
            return None
        return (yield from plan_of(self.wait_active, name, member or None, timeout=timeout,
                                   poll_interval=poll_interval, no_request=not member))

    @api_call
    @requires(EXTENSION)
    def clear_request(self, name: str) -> Plan[None]:
        """Hand the group back to the rules (``POST {"member": ""}``): forget the member an
        operator moved it to. The group stays where it is until a rule moves it (its owner
        fails, or auto-failback brings it to its primary). Same as ``move(name, None)``.

        Raises:
            NotFound: no such group.
            APIError: 503 on a pack without a leader.
            OutcomeUnknown: the pack could not say whether the change was committed.
            ExtensionMissing: the server lacks the ``pack_service_groups`` extension.
        """
        yield from plan_of(self.move, name, None)

    @api_call
    @requires(EXTENSION)
    def wait_active(self, name: str, member: str | None = None, *, timeout: float | None = None,
                    poll_interval: float = 0.1, no_request: bool = False) -> Plan[ServiceGroup]:
        """Read the group every ``poll_interval`` seconds until it is Active (on ``member``,
        when given; with ``no_request``, also with no operator's request left) and return it.

        A group changes status without a lifecycle event (a takeover ends when the new owner
        takes it), hence the polling.

        Raises:
            Timeout: not so within ``timeout`` seconds (None: :data:`DEFAULT_WAIT_TIMEOUT`);
                the message gives the group's last status, owner and message.
            NotFound: no such group.
            ExtensionMissing: the server lacks the ``pack_service_groups`` extension.
        """
        limit = DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            group = yield from plan_of(self.get, name)
            if (group.active and (member is None or group.owner == member)
                    and not (no_request and group.requested)):
                return group
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                wanted = f"Active on {member}" if member else "Active"
                raise Timeout(f"service group {name!r} on {self._transport.endpoint} was not {wanted} within "
                              f"{limit:g} s (last seen: status {group.status}, owner {group.owner or 'none'}, "
                              f"epoch {group.epoch}, requested {group.requested or 'none'}: "
                              f"{group.message or 'no message'})")
            yield Sleep(min(poll_interval, remaining))
