"""The daemon as the cluster state's back end (``mockserver.state.backend.StateBackend``):
members run on other hosts, the pack assigns roles, and a write is durable once a majority
of the pack holds it."""
from __future__ import annotations

import os

from mockserver.daemon.groups.config import configuration_problem
from mockserver.wire import go_timestamp


class PackBackend:
    assigns_roles = True       # the pack's leader shows as LXD's database leader; see process.py
    orders_by_ident = True     # every member lists the pack in one order
    members_elsewhere = True

    def __init__(self, daemon):
        self._daemon = daemon

    def member_api(self, ident: str) -> str | None:
        return self._daemon.member_api(ident) or None

    def member_state(self, ident: str) -> dict | None:
        """This member's pack counters and view; other members are asked for theirs."""
        daemon = self._daemon
        node = daemon.node
        if ident != daemon.settings.name or node is None:
            return None
        counters = dict(node.counters)
        if daemon.udp is not None:
            counters.update({f"udp_{key}": value for key, value in daemon.udp.counters.items()})
        counters.update(daemon.groups.counters())
        counters.update(daemon.hooks.counters)
        now = daemon.now()

        def shown(name: str) -> str:  # the name the API shows (a member may have been renamed)
            member = daemon.state.member_by_ident(name)
            return member.server_name if member is not None else name

        members = {shown(peer_name): {"status": peer.record.status.name.lower(),
                                      "incarnation": peer.record.incarnation,
                                      "last_heard": go_timestamp(daemon.wall(peer.last_heard)),
                                      "last_heard_seconds": round(now - peer.last_heard, 3)}
                   for peer_name, peer in sorted(node.peers.items())}
        return {"incarnation": node.incarnation, "leader": node.leader, "term": node.term,
                "conflict": list(node.conflict), "members": members,
                "counters": dict(sorted(counters.items())), "pid": os.getpid(), "document": daemon.sync.describe(),
                "groups": daemon.groups.describe(), "monitors": daemon.monitoring.describe(now),
                "discovery": daemon.discovery.describe(), "barrier": daemon.barrier.describe()}

    def after_write(self, finish) -> None:
        self._daemon.gate.after_write(finish)

    def configuration_problem(self, modules: tuple, members: list[str]) -> str | None:
        return configuration_problem(modules, members)
