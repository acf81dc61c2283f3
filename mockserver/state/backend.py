"""What a back end tells the cluster state, declared.

The state is the front end's model of a cluster. Who runs its members, who assigns their
roles and when a write is durable are the back end's to say: the state takes a
:class:`StateBackend` at construction. The mock's is :class:`StaticBackend`, the default.
"""
from __future__ import annotations

from typing import Callable, Protocol

# Called once a write is durable, with None, or with the error text if it could not be.
Finish = Callable[..., None]


class StateBackend(Protocol):
    #: True: the back end sets database roles (``set_roles``); False: the state assigns
    #: them as LXD does (an odd number of voters, then standbys).
    assigns_roles: bool
    #: True: members are listed by their back-end identity (kept across renames), so that
    #: every member of a pack lists them in one order.
    orders_by_ident: bool
    #: True: members run on other hosts; requests about one are forwarded to it.
    members_elsewhere: bool

    def member_api(self, ident: str) -> str | None:
        """The API address (``scheme://host:port``) of the member the back end calls
        ``ident``, or None if it serves none."""

    def member_state(self, ident: str) -> dict | None:
        """What the back end adds to the member's state (``pack`` in its reply), or None
        when only that member can say (it is another host)."""

    def after_write(self, finish: Finish) -> None:
        """Call ``finish`` once a write made outside a request (an evacuation's operation)
        is durable."""

    def configuration_problem(self, modules: tuple, members: list[str]) -> str | None:
        """Why the back end cannot take this shared configuration (``(name, options)``
        pairs) with these members, or None. A write that gets a text is refused (400)
        before anything changes."""


class StaticBackend:
    """The mock's back end: every member is here, roles are LXD's, writes are durable at once."""

    assigns_roles = False
    orders_by_ident = False
    members_elsewhere = False

    def member_api(self, ident: str) -> str | None:
        return None

    def member_state(self, ident: str) -> dict | None:
        return None

    def after_write(self, finish: Finish) -> None:
        finish()

    def configuration_problem(self, modules: tuple, members: list[str]) -> str | None:
        return None
