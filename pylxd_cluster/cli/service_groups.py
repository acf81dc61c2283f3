"""``pylxd-cluster service-group``: a pack's service groups (``/1.0/cluster/service-groups``).

``list`` prints a table, ``show NAME`` a group in the manner of VyOS's ``show cluster
status``, ``move NAME MEMBER`` moves a group by hand (VyOS's ``force cluster active``) and
waits until it is Active there, ``clear NAME`` hands it back to the rules.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from pylxd_cluster.cli import output, status
from pylxd_cluster.client import Client

__all__ = ["add_parser", "run", "HELP"]

HELP = "list, show and move a pack's service groups (/1.0/cluster/service-groups)"

DESCRIPTION = """\
A pack's service groups: addresses and services that one member holds at a time, failing
over between the group's primary and its secondaries (VyOS's `cluster group`). They are
defined in the shared configuration (the ServiceGroups module, see `config`) and served by
the pack daemons (the API extension pack_service_groups; LXD and the mock server do not
have it).

Each group is shown as the member that answers sees it. A group is Active (its owner holds
it), Starting (assigned, the takeover is under way) or Down (no member can run it). In a
group, a member is Active (it holds it), Standby (it could take it over), Offline or
Evacuated; `status` and `show` say it as VyOS did: Active, Active (standby), Down,
Down (evacuated). Exec services are shown by their program only (their arguments may hold
credentials); --format json or yaml gives them whole.
"""

EPILOG = """\
examples:
  pylxd-cluster service-group list
  pylxd-cluster service-group show web
  pylxd-cluster service-group move web node3        # waits until web is Active on node3
  pylxd-cluster service-group move web node3 --no-wait
  pylxd-cluster service-group clear web             # back to the rules (primary first, auto-failback)
  pylxd-cluster service-group list --format json | jq '.[] | {name, owner, status}'
"""

LIST_DESCRIPTION = """\
One row per group: its status (ACTIVE, STARTING or DOWN), its owner, the member an operator
moved it to (REQUESTED), its primary and secondaries, its services, its monitor addresses
with what the owner reports of each (Reachable, Unreachable, Unknown), and its message.

--format compact is the same table without borders; --format csv has the same columns without
a header line, the secondaries, services and monitors of a group joined with commas (as
`lxc cluster list --format csv` joins a member's roles); json and yaml give the groups whole.
"""

SHOW_DESCRIPTION = """\
One group, in the manner of VyOS's `show cluster status`: each member's state, where the
resources run (Active or Starting on the owner, or Down and why), what the owner reports of
each monitor address, then auto-failback, the epoch (it grows with every change of owner)
and the message. --format json or yaml prints the group as the API gives it; --format csv
and compact list the group's members, one row each: NAME, ROLE (primary, secondary), STATUS
(ACTIVE, STANDBY, OFFLINE, EVACUATED) and MONITORS (what that member reports of each address).
"""

MOVE_DESCRIPTION = """\
Move a group to MEMBER, as VyOS's `force cluster active` on that member: the pack's leader
assigns it there, and the member takes it over within about a lease (the pack's
dead-interval). The move lasts while MEMBER can own the group (it is the group's REQUESTED
member until then); `clear` gives up the request.

MEMBER must be the group's primary or one of its secondaries, alive, not evacuated, and
reach the group's monitor addresses (those another member reaches); otherwise the move is
refused and the error says why. The command waits until the group is Active on MEMBER, at
most --timeout seconds (then it fails, saying what it last saw); --no-wait returns once the
pack has committed the move.
"""

CLEAR_DESCRIPTION = """\
Hand a group back to the rules: forget the member an operator moved it to. The group stays
where it is until a rule moves it: its owner fails, or auto-failback (when the group has it)
brings it back to its primary once that has been healthy for the failback delay.
"""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``service-group`` (and its actions) on the main parser's subcommands."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = commands.add_parser("service-group", parents=[common], help=HELP, description=DESCRIPTION,
                                 epilog=EPILOG, formatter_class=formatter)
    actions = parser.add_subparsers(dest="service_group_command", metavar="ACTION")
    actions.required = True
    actions.add_parser("list", parents=[common], help="list the service groups (a table, compact, csv, json, yaml)",
                       description=LIST_DESCRIPTION, formatter_class=formatter)
    show = actions.add_parser("show", parents=[common], help="show one group, as VyOS's `show cluster status`",
                              description=SHOW_DESCRIPTION, formatter_class=formatter)
    show.add_argument("name", metavar="NAME", help="the group's name")
    move = actions.add_parser("move", parents=[common],
                              help="move a group to a member and wait until it is Active there",
                              description=MOVE_DESCRIPTION, formatter_class=formatter)
    move.add_argument("name", metavar="NAME", help="the group's name")
    move.add_argument("member", metavar="MEMBER", help="the member to move it to: its primary or a secondary")
    move.add_argument("--no-wait", dest="wait", action="store_false",
                      help="return once the pack has committed the move, without waiting for the takeover")
    clear = actions.add_parser("clear", parents=[common],
                               help="hand a group back to the rules (forget the member it was moved to)",
                               description=CLEAR_DESCRIPTION, formatter_class=formatter)
    clear.add_argument("name", metavar="NAME", help="the group's name")


def show_text(group: Any) -> str:
    return "\n".join(status.service_group_lines(group.to_api(), details=True))


def run(args: argparse.Namespace, client: Client, progress: Any = None) -> str:
    """Run one ``service-group`` action; returns what to print on stdout.

    Raises:
        ClusterError: from the SDK (NotImplementedByServer without the extension).
    """
    # The client read GET /1.0 already: the manager checks the extension without another request.
    manager = client.cluster.service_groups
    say = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    action = args.service_group_command
    if action == "list":
        return output.render(manager.all(), args.format, None, output.service_group_rows)
    if action == "show":
        return output.render(manager.get(args.name), args.format, show_text, output.service_group_member_rows)
    if action == "move":
        started = time.monotonic()
        if not args.wait:
            manager.move(args.name, args.member)
            return output.render(manager.get(args.name), args.format,
                                 lambda g: f"Service group {args.name} moved to {args.member}; now {g.describe()}")
        say(f"Moving service group {args.name} to {args.member} ...")
        group = manager.move(args.name, args.member, wait=True, timeout=args.timeout)
        say(f"Service group {args.name}: Active on {args.member} in {time.monotonic() - started:.2f}s")
        return output.render(group, args.format, lambda g: g.describe())
    if action == "clear":
        manager.clear_request(args.name)
        return output.render(manager.get(args.name), args.format,
                             lambda g: f"Service group {args.name} handed back to the rules; now {g.describe()}")
    raise AssertionError(action)
