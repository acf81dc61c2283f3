"""Cluster members: ``/1.0/cluster/members``."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping

from pylxd_cluster.exceptions import ClientConnectionError, ClusterError, Timeout
from pylxd_cluster.managers.base import Manager, api_call, api_path, plan_of, requires
from pylxd_cluster.models.member import ClusterMember, MemberList
from pylxd_cluster.models.operation import Operation
from pylxd_cluster.models.state import MemberState
from pylxd_cluster.protocol import AwaitEvent, CloseEvents, OpenEvents, Plan, Sleep

__all__ = ["MemberManager"]

_NOT_GIVEN: Any = object()


class MemberManager(Manager):
    """``client.cluster.members``: list, read, edit, rename, remove, evacuate and restore.

    Every call needs the API extension ``clustering``; evacuate and restore need
    ``clustering_evacuation``, ``force=True`` also ``clustering_evacuation_force``, restore mode
    ``"skip"`` also ``clustering_restore_skip_mode`` (Incus 6.22 on Incus), and :meth:`state`
    ``cluster_member_state``. Without them a call raises ``ExtensionMissing`` before sending.
    """

    call_prefix = "cluster.members"

    @api_call
    @requires("clustering")
    def all(self) -> Plan[MemberList]:
        """Every member, in ONE request (``GET /1.0/cluster/members?recursion=1``).

        Raises:
            APIError: 500 "Server is not clustered" on a standalone server.
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        return MemberList((yield from self._list_models(api_path("cluster", "members"), ClusterMember)))

    @api_call
    @requires("clustering")
    def get(self, name: str) -> Plan[ClusterMember]:
        """The member called ``name``, with the ETag that :meth:`ClusterMember.save` sends back.

        Raises:
            NotFound: no such member.
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        return (yield from self._get_model(api_path("cluster", "members", name), ClusterMember))

    @api_call
    @requires("clustering")
    def exists(self, name: str) -> Plan[bool]:
        """Whether a member called ``name`` exists (one GET; a 404 is False).

        Raises:
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        return (yield from self._exists(api_path("cluster", "members", name)))

    @api_call
    @requires("clustering")
    def save(self, member: ClusterMember) -> Plan[None]:
        """PUT ``member``'s writable fields, with If-Match of the ETag it was read with.

        Raises:
            PreconditionFailed: the member changed since it was read.
            NotFound: no such member.
            APIError: the server refused the values.
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        yield self._request(
            "PUT",
            api_path("cluster", "members", member.server_name),
            json=member.to_put(),
            headers=self._if_match(member.etag),
        )

    @api_call
    @requires("clustering")
    def update(
        self,
        name_or_member: str | ClusterMember,
        *,
        description: str | None = None,
        roles: Iterable[str] | None = None,
        failure_domain: str | None = None,
        config: Mapping[str, str] | None = None,
        groups: Iterable[str] | None = None,
        etag: str | None = None,
    ) -> Plan[None]:
        """Change some writable fields and leave the others as they are.

        Reads the member, merges the given fields and PUTs the result (LXD 5.0's
        PATCH replaces everything but ``config``, so a merge has to happen here).
        ``config`` replaces the whole config map. If-Match is ``etag`` if given,
        else the ETag of the member object passed in, else that of the fresh read,
        so a concurrent change between the read and the write is refused.

        Raises:
            PreconditionFailed: the member changed since that ETag was read.
            NotFound: no such member.
            APIError: the server refused the values.
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        if isinstance(name_or_member, ClusterMember):
            name, etag = name_or_member.server_name, etag or name_or_member.etag
        else:
            name = name_or_member
        current = yield from plan_of(self.get, name)
        given = {
            "description": description,
            "roles": None if roles is None else tuple(roles),
            "failure_domain": failure_domain,
            "config": None if config is None else dict(config),
            "groups": None if groups is None else tuple(groups),
        }
        changes: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
        yield from plan_of(self.save, current.evolve(etag=etag or current.etag, **changes))

    @api_call
    @requires("clustering")
    def rename(self, name: str, new_name: str) -> Plan[None]:
        """Rename a member (``POST {"server_name": new_name}``).

        Raises:
            NotFound: no such member (newer servers).
            APIError: LXD 5.0 answers 500 "expected to update one row, not 0" for an
                unknown member.
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        yield self._request("POST", api_path("cluster", "members", name), json={"server_name": new_name})

    @api_call
    @requires("clustering")
    def delete(self, name: str, force: bool = False) -> Plan[None]:
        """Remove a member from the cluster; ``force`` (``?force=1``) skips its own cleanup.

        Raises:
            NotFound: no such member.
            APIError: e.g. 500 "Member is the only member in the cluster".
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        yield self._request("DELETE", api_path("cluster", "members", name),
                            params={"force": 1} if force else None)

    def _change_state(self, name: str, body: Mapping[str, Any], wait: bool,
                      timeout: float | None) -> Plan[Operation]:
        result = yield self._request("POST", api_path("cluster", "members", name, "state"), json=body)
        return (yield from self._finish(result, wait, timeout))

    @api_call
    @requires("clustering")
    @requires("clustering_evacuation")
    @requires("clustering_evacuation_force", when=lambda call: bool(call["force"]))
    def evacuate(self, name: str, mode: str | None = None, force: bool = False,
                 wait: bool = True, timeout: float | None = None) -> Plan[Operation]:
        """Move the member's instances away and mark it Evacuated.

        ``mode``: stop, migrate, live-migrate or auto, and on Incus also stateful-stop or
        force-stop (None: the server's default). ``force``
        skips LXD's quorum safety check (LXD 6.9's ``clustering_evacuation_force``; a server
        without it would ignore the field, so the call is refused instead).
        Returns the final Operation when ``wait`` (else the running one).

        Raises:
            OperationError: the evacuation failed (e.g. "Cluster member is already evacuated").
            Timeout: not finished after ``timeout`` seconds.
            NotFound: no such member.
            ExtensionMissing: the server lacks ``clustering_evacuation``, or ``force`` and
                it lacks ``clustering_evacuation_force`` (nothing is sent).
        """
        body = {"action": "evacuate", "mode": mode or "", "force": bool(force)}
        return (yield from self._change_state(name, body, wait, timeout))

    @api_call
    @requires("clustering")
    @requires("clustering_evacuation")
    @requires("clustering_restore_skip_mode", when=lambda call: call["mode"] == "skip", versions={"incus": "6.22"})
    def restore(self, name: str, mode: str | None = None, wait: bool = True,
                timeout: float | None = None) -> Plan[Operation]:
        """Bring an evacuated member back (``mode="skip"``: without restarting its instances).

        ``"skip"`` needs ``clustering_restore_skip_mode`` on LXD (6.4, 5.21.4); Incus takes it
        from 6.22 on without advertising an extension, and an older one would ignore the mode
        and restart the instances, so there the call needs Incus 6.22 or later.
        Returns the final Operation when ``wait`` (else the running one).

        Raises:
            OperationError: the restore failed (e.g. "Cluster member is already restored").
            Timeout: not finished after ``timeout`` seconds.
            NotFound: no such member.
            ExtensionMissing: the server lacks ``clustering_evacuation``, or for
                ``mode="skip"`` LXD lacks ``clustering_restore_skip_mode`` or Incus is older
                than 6.22 (nothing is sent).
        """
        body = {"action": "restore", "mode": mode or "", "force": False}
        return (yield from self._change_state(name, body, wait, timeout))

    @api_call
    @requires("clustering")
    @requires("cluster_member_state")
    def state(self, name: str) -> Plan[MemberState]:
        """The member's resources (``GET .../state``).

        Raises:
            ExtensionMissing: the server lacks ``cluster_member_state`` (LXD before 5.11,
                e.g. 5.0; nothing is sent). A :class:`NotImplementedByServer`, as the 501 a
                server answers when it lacks the endpoint.
            NotFound: no such member.
        """
        result = yield self._request("GET", api_path("cluster", "members", name, "state"))
        return MemberState.from_api(result.metadata or {})

    @api_call
    @requires("clustering")
    def wait_for_status(self, name: str, status: str, timeout: float = 60,
                        poll_interval: float = 2.0) -> Plan[ClusterMember]:
        """Wait until the member's status is ``status`` (case-insensitive); return the member.

        Lifecycle events about the member trigger an immediate re-read; the member is
        also re-read every ``poll_interval`` seconds, because some changes (a member
        going Offline) produce no event, and when events are not available at all.

        Raises:
            Timeout: the status was not reached within ``timeout`` seconds (the
                message gives the last status seen).
            NotFound: no such member.
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        deadline = time.monotonic() + timeout
        wanted = status.lower()
        member = yield from plan_of(self.get, name)
        if member.status.lower() == wanted:
            return member
        source = api_path("cluster", "members", name)
        try:
            stream: Any = yield OpenEvents(("lifecycle",))
        except ClusterError:
            stream = None
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(
                        f"cluster member {name!r} on {self._transport.endpoint} did not reach "
                        f"status {status!r} within {timeout} s (last status: {member.status!r})"
                    )
                stream = yield from self._pause(stream, source, min(poll_interval, remaining))
                member = yield from plan_of(self.get, name)
                if member.status.lower() == wanted:
                    return member
        finally:
            if stream is not None:
                yield CloseEvents(stream)

    @api_call
    def wait_for_members(self, count: int, timeout: float = 60, poll_interval: float = 0.5,
                         progress: Callable[[list, int], None] | None = None) -> Plan[MemberList]:
        """Wait until at least ``count`` members are Online (a start-up barrier, as
        libcluster's users build by hand); return the member list then.

        The server may not be answering yet (a daemon starting): that is waited out too,
        until the deadline. ``progress(online_names, total)`` is called whenever who is
        Online changes.

        Raises:
            Timeout: fewer than ``count`` members were Online after ``timeout`` seconds (the
                message says who was, and who was not, or what the server said).
            ExtensionMissing: the server lacks ``clustering`` (nothing is sent).
        """
        deadline = time.monotonic() + timeout
        seen: list | None = None
        last = "no answer yet"
        while True:
            try:
                members = yield from plan_of(self.all)
            except ClientConnectionError as exc:
                last = f"no answer: {exc}"
            else:
                online = sorted(m.server_name for m in members if m.status.lower() == "online")
                if online != seen:
                    seen = online
                    if progress is not None:
                        progress(online, len(members))
                if len(online) >= count:
                    return members
                offline = sorted(f"{m.server_name} ({m.status})" for m in members if m.status.lower() != "online")
                last = (f"{len(online)} Online ({', '.join(online) or 'none'})"
                        + (f", not Online: {', '.join(offline)}" if offline else ""))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(f"fewer than {count} members Online on {self._transport.endpoint} after {timeout:.1f} s:"
                              f" {last}")
            yield Sleep(min(poll_interval, remaining))

    @staticmethod
    def _pause(stream: Any, source: str, seconds: float) -> Plan[Any]:
        """Sleep up to ``seconds``, returning early on an event about ``source``.

        Returns the stream, or None once it has failed (polling carries on).
        """
        if stream is None:
            yield Sleep(seconds)
            return None
        try:
            yield AwaitEvent(stream, source=source, timeout=seconds)
        except Timeout:
            pass
        except ClusterError:
            yield CloseEvents(stream)
            return None
        return stream
