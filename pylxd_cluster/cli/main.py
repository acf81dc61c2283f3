"""``pylxd-cluster``: look at and operate an LXD cluster (or our mock, or a pack daemon)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from pylxd_cluster import __version__, display
from pylxd_cluster.cli import config, output, service_groups, status
from pylxd_cluster.client import Client
from pylxd_cluster.exceptions import ClientConnectionError, ClusterError, Timeout
from pylxd_cluster.managers.service_groups import ServiceGroupManager

DESCRIPTION = """\
Look at and operate an LXD cluster through LXD's REST API: the members and their
state, a status report, groups, join tokens, evacuation and events. Works against
LXD itself, the pylxd-cluster mock server and pack daemons alike; `config` (a pack's
shared configuration) only against the mock server and pack daemons, `service-group`
(addresses and services failing over between a pack's members) only against pack daemons.
"""

EPILOG = """\
endpoint:
  --endpoint takes a unix socket path or an http(s):// URL. Without it:
  $PYLXD_CLUSTER_ENDPOINT, then the local socket as lxc and incus find theirs:
  $LXD_SOCKET, $LXD_DIR/unix.socket, $INCUS_SOCKET, $INCUS_DIR/unix.socket (a variable
  that is set is obeyed), then /var/snap/lxd/common/lxd/unix.socket,
  /var/lib/lxd/unix.socket, /run/incus/unix.socket, /var/lib/incus/unix.socket.

examples:
  pylxd-cluster --endpoint /tmp/lxd.socket members
  pylxd-cluster --endpoint https://127.0.0.1:8443 --verify 3fb4...ab24 status
  pylxd-cluster members --format json | jq '.[].status'
  pylxd-cluster evacuate node2 --mode stop
  pylxd-cluster config set WebGui port=80
  pylxd-cluster service-group move web node3
"""


def _verify(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("yes", "true", "1"):
        return True
    if lowered in ("no", "false", "0"):
        return False
    return value  # a fingerprint or a CA bundle path: the transport tells them apart


GLOBAL_DEFAULTS = {"endpoint": None, "cert": None, "key": None, "verify": "yes", "format": "table", "timeout": 30.0}


def _global_options(parser: argparse.ArgumentParser) -> None:
    # Defaults are suppressed here and applied once after parsing, so that an option may
    # come before the command (as lxc users write it) or after it (as scripts often do).
    add = parser.add_argument
    add("--endpoint", "-e", metavar="E", default=argparse.SUPPRESS,
        help="unix socket path or http(s):// URL of the server")
    add("--cert", metavar="FILE", default=argparse.SUPPRESS, help="client certificate for https (with --key)")
    add("--key", metavar="FILE", default=argparse.SUPPRESS, help="client key for https (with --cert)")
    add("--verify", metavar="yes|no|FINGERPRINT|CA_FILE", default=argparse.SUPPRESS,
        help="how to check the server certificate: against the system CAs (yes), not at all (no), "
             "a pinned SHA-256 fingerprint, or a CA bundle file (default: yes)")
    add("--format", "-f", choices=output.FORMATS, default=argparse.SUPPRESS, help="output format (default: table)")
    add("--timeout", type=float, metavar="SECONDS", default=argparse.SUPPRESS,
        help="network timeout and longest wait for operations (default: 30)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pylxd-cluster", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    commands.add_parser("members", parents=[common], help="list the members (as `lxc cluster list`)")
    show = commands.add_parser("show", parents=[common], help="show one member")
    show.add_argument("name")
    commands.add_parser("status", parents=[common],
                        help="status report: this node, the leader, each member's state (and on a pack daemon, "
                             "each service group's)")
    commands.add_parser("groups", parents=[common], help="list cluster groups")
    commands.add_parser("tokens", parents=[common], help="list pending join tokens")
    add = commands.add_parser("add", parents=[common], help="create a join token for a new member and print it")
    add.add_argument("name", help="the server name the new member will join as")
    revoke = commands.add_parser("revoke", parents=[common], help="revoke a join token (by member name or token)")
    revoke.add_argument("name")
    evacuate = commands.add_parser("evacuate", parents=[common], help="evacuate a member (waits for the operation)")
    evacuate.add_argument("name")
    evacuate.add_argument("--mode", choices=["auto", "stop", "migrate", "live-migrate", "stateful-stop", "force-stop"],
                          help="what to do with the member's instances (server default: auto); stateful-stop and"
                               " force-stop are Incus's")
    evacuate.add_argument("--force", action="store_true", help="evacuate without asking the member's instances")
    restore = commands.add_parser(
        "restore", parents=[common], help="bring an evacuated member back (waits for the operation)"
    )
    restore.add_argument("name")
    restore.add_argument("--mode", choices=["skip"], help="skip: do not restart the member's instances")
    events = commands.add_parser("events", parents=[common], help="print events as they happen (Ctrl-C to stop)")
    events.add_argument("--type", default="lifecycle", metavar="T[,T]",
                        help="event types: lifecycle, operation, logging (default: lifecycle)")
    events.add_argument("--count", type=int, metavar="N", help="stop after N events")
    wait = commands.add_parser(
        "wait", parents=[common], help="wait until N members are Online (a start-up barrier)",
        description="Wait until at least N members of the cluster are Online, then print them and exit 0; "
                    "exit 1 after --timeout seconds (default 30) saying who was Online and who was not. "
                    "A server that does not answer yet (a daemon starting) is waited for too. Progress goes "
                    "to stderr. For scripts that must not start before the pack has formed, e.g. "
                    "`pylxd-cluster wait --members 3 --timeout 120 && start-the-service`.")
    wait.add_argument("--members", type=int, required=True, metavar="N", help="how many members must be Online")
    config.add_parser(commands, common)
    service_groups.add_parser(commands, common)
    return parser


def default_endpoint() -> str | None:
    """$PYLXD_CLUSTER_ENDPOINT; None lets the SDK find the local socket ($LXD_SOCKET first)."""
    return os.environ.get("PYLXD_CLUSTER_ENDPOINT") or None


def connect(args) -> Client:
    if bool(args.cert) != bool(args.key):
        raise SystemExit("pylxd-cluster: error: --cert and --key go together")
    cert = (args.cert, args.key) if args.cert else None
    return Client(args.endpoint or default_endpoint(), cert=cert, verify=_verify(args.verify), timeout=args.timeout)


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout stays clean for --format json."""
    print(message, file=sys.stderr, flush=True)


def run(args, client: Client) -> str:
    members_api = client.cluster.members
    if args.command == "members":
        return output.render(members_api.all(), args.format, display.members_table)
    if args.command == "show":
        member = members_api.get(args.name)
        return output.render(member, "yaml" if args.format == "table" else args.format, None)
    if args.command == "status":
        pack = None
        # A pack daemon knows when it last heard each member (in member state).
        if client.has_api_extension("pack_membership") and client.has_api_extension("cluster_member_state"):
            state = members_api.state(client.server_name)
            pack = state.pack.to_api() if state.pack is not None else None
        groups = None
        if client.has_api_extension(ServiceGroupManager.extension):  # a pack daemon with service groups
            groups = client.cluster.service_groups.all()
        data = status.status_data(client.server_name, members_api.all(), client.cluster.groups.all(), pack, groups)
        return output.render(data, args.format, status.status_report)
    if args.command == "groups":
        return output.render(client.cluster.groups.all(), args.format, display.groups_table)
    if args.command == "tokens":
        tokens = client.cluster.tokens.all()
        rows = [(t.server_name, t.token, t.expires_at.strftime("%Y/%m/%d %H:%M UTC") if t.expires_at else "")
                for t in tokens]
        return output.render(tokens, args.format, lambda _: display.text_table(("NAME", "TOKEN", "EXPIRES AT"), rows))
    if args.command == "add":
        token = client.cluster.tokens.create(args.name)
        return output.render(token, args.format, lambda t: f"Member {t.server_name} join token:\n{t.token}")
    if args.command == "revoke":
        client.cluster.tokens.revoke(args.name)
        return f"Cluster join token for {args.name} deleted"
    if args.command in ("evacuate", "restore"):
        verb = "Evacuating" if args.command == "evacuate" else "Restoring"
        progress(f"{verb} {args.name} ...")
        started = time.monotonic()
        action = members_api.evacuate if args.command == "evacuate" else members_api.restore
        kwargs = {"mode": args.mode, "timeout": args.timeout}
        if args.command == "evacuate":
            kwargs["force"] = args.force
        operation = action(args.name, **kwargs)
        progress(f"{verb} {args.name}: {operation.status} in {time.monotonic() - started:.2f}s")
        member = members_api.get(args.name)
        return output.render(member, args.format, lambda m: f"{m.server_name}: {m.status} ({m.message})")
    if args.command == "events":
        return _follow_events(args, client)
    if args.command == "wait":
        if args.members < 1:
            raise SystemExit("pylxd-cluster: error: --members must be at least 1")
        started = time.monotonic()
        members = members_api.wait_for_members(
            args.members, timeout=args.timeout,
            progress=lambda online, total: progress(f"{len(online)} of {total} members Online"
                                                    f" ({', '.join(online) or 'none'}) after"
                                                    f" {time.monotonic() - started:.1f}s"))
        return output.render(members, args.format, display.members_table)
    if args.command == "config":
        return config.run(args, client)
    if args.command == "service-group":
        return service_groups.run(args, client, progress)
    raise AssertionError(args.command)


def _follow_events(args, client: Client) -> str:
    types = tuple(t for t in args.type.split(",") if t)
    seen = 0
    with client.events(types=types) as stream:
        progress(f"Listening for {', '.join(types)} events on {client.endpoint} (Ctrl-C to stop)")
        for event in stream:
            if args.format == "table":
                what = event.action or event.metadata.get("description", "") if event.type != "logging" \
                    else event.metadata.get("message", "")
                print(f"{event.timestamp} {event.location:<8} {event.type:<9} {what} {event.source or ''}".rstrip(),
                      flush=True)
            else:
                print(output.render(event, args.format, None), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                break
    return ""


def parse_args(argv=None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    # A command may have its own default for a global option (`config show`: --format yaml).
    command_defaults = getattr(args, "command_defaults", {})
    for name, value in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, command_defaults.get(name, value))
    return args


def connect_when_up(args) -> Client:
    """``connect``, waiting (up to --timeout) for a server that does not answer yet.

    Raises:
        Timeout: still no answer at the deadline (with the last error).
    """
    deadline = time.monotonic() + args.timeout
    where = args.endpoint or default_endpoint() or "the local socket"
    told = False
    while True:
        try:
            return connect(args)
        except ClientConnectionError as exc:
            if time.monotonic() >= deadline:
                raise Timeout(f"no server answered at {where} within {args.timeout:g} s: {exc}") from None
            if not told:
                told = True
                progress(f"Waiting for the server at {where} to answer ...")
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "wait":
            started = time.monotonic()
            client = connect_when_up(args)
            args.timeout = max(0.0, args.timeout - (time.monotonic() - started))   # one deadline for both
        else:
            client = connect(args)
        text = run(args, client)
    except ClusterError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if text:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
