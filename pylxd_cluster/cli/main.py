"""``pylxd-cluster``: look at and operate an LXD cluster (or our mock, or a pack daemon)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Sequence

from pylxd_cluster import __version__
from pylxd_cluster.cli import completion, config, edit, output, remote, service_groups, status
from pylxd_cluster.cli.progress import Spinner, wait_for_operation
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

remotes:
  A member or group name may start with a remote of lxc's or incus's client configuration
  (`lxc remote list`; $LXD_CONF, $INCUS_CONF, ~/.config/lxc, ~/.config/incus), as in lxc:
  `cluster show prod:node1`, `cluster list prod:`; --remote NAME does the same for any command.
  The remote brings its address and certificates, so --endpoint, --cert, --key and --verify
  cannot be given with it. A prefix that names no remote fails as in lxc ("The remote "x"
  doesn't exist"). Without a remote the endpoint is found as above (lxc's default-remote is
  not used: write local: or prod:).

examples:
  pylxd-cluster --endpoint /tmp/lxd.socket cluster list     # or: members
  pylxd-cluster cluster list prod: --format csv
  pylxd-cluster cluster edit prod:node2                     # in $VISUAL / $EDITOR
  pylxd-cluster --endpoint https://127.0.0.1:8443 --verify 3fb4...ab24 status
  pylxd-cluster members --format json | jq '.[].status'
  pylxd-cluster cluster evacuate node2 --action stop --force   # --force: without asking
  pylxd-cluster config set WebGui port=80
  pylxd-cluster service-group move web node3
  source <(pylxd-cluster completion bash)
"""


def _verify(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("yes", "true", "1"):
        return True
    if lowered in ("no", "false", "0"):
        return False
    return value  # a fingerprint or a CA bundle path: the transport tells them apart


GLOBAL_DEFAULTS = {"endpoint": None, "cert": None, "key": None, "verify": "yes", "format": "table", "timeout": 30.0,
                   "remote": None}

FORMATTER = argparse.RawDescriptionHelpFormatter


def _global_options(parser: argparse.ArgumentParser) -> None:
    # Defaults are suppressed here and applied once after parsing, so that an option may
    # come before the command (as lxc users write it) or after it (as scripts often do).
    add = parser.add_argument
    endpoint = add("--endpoint", "-e", metavar="E", default=argparse.SUPPRESS,
                   help="unix socket path or http(s):// URL of the server")
    add("--remote", "-r", metavar="NAME", default=argparse.SUPPRESS,
        help="a remote of lxc's or incus's client configuration (`lxc remote list`), with its address and "
             "certificates; the same as a NAME: prefix (`cluster list prod:`), and not with --endpoint")
    cert = add("--cert", metavar="FILE", default=argparse.SUPPRESS, help="client certificate for https (with --key)")
    key = add("--key", metavar="FILE", default=argparse.SUPPRESS, help="client key for https (with --cert)")
    add("--verify", metavar="yes|no|FINGERPRINT|CA_FILE", default=argparse.SUPPRESS,
        help="how to check the server certificate: against the system CAs (yes), not at all (no), "
             "a pinned SHA-256 fingerprint, or a CA bundle file (default: yes)")
    add("--format", "-f", choices=output.FORMATS, default=argparse.SUPPRESS,
        help="output format (default: table); csv and compact for listings only")
    add("--timeout", type=float, metavar="SECONDS", default=argparse.SUPPRESS,
        help="network timeout and longest wait for operations (default: 30)")
    completion.mark_files(endpoint, cert, key)


EVACUATE_MODES = ["auto", "stop", "migrate", "live-migrate", "stateful-stop", "force-stop"]

EVACUATE_DESCRIPTION = """\
Evacuate a cluster member: the server moves its instances away (or stops them, per --action)
and marks it Evacuated, in a background operation the command waits for (at most --timeout
seconds). On a terminal it first asks "Are you sure ...? (yes/no)"; --force, or a stdin that is
not a terminal, skips the question.

Progress goes to stderr. On a terminal it is a spinner with the elapsed time, and what the
server says it is doing when it says it (LXD 5.21 and later: "Stopping "c1" in project
"default"", "Migrating ..."); in a pipe or a file, one line when it starts and one when it
ends. stdout gets the member's state at the end (--format json or yaml: the member).
"""

RESTORE_DESCRIPTION = """\
Bring an evacuated member back: the server restarts (or moves back) its instances and marks it
Online again, in a background operation the command waits for, showing progress as `evacuate`
does. It asks first on a terminal unless --force. --action skip leaves the instances where they
are (LXD 5.21.4 / 6.4 and Incus 6.22 or later).
"""

EDIT_DESCRIPTION = """\
Edit a cluster member's writable fields as YAML, as `lxc cluster edit` does: roles,
failure_domain, description, config and groups.

With a terminal on stdin they open in $VISUAL (else $EDITOR, else `editor`, else vi) under
lxc's two ### lines; save and quit to apply. The change is sent with If-Match of what was
shown: if the member changed meanwhile, nothing is written, and the message names the file
your edit is kept in. When the YAML cannot be read or the server refuses it, the error is
shown ("Config parsing error: ...") with lxc's "Press enter to open the editor again or ctrl+c
to abort change": Enter re-opens your own text, Ctrl-C (or Ctrl-D) gives up and keeps it in a
file. Emptying the file aborts. Saving it unchanged writes nothing.

Without a terminal the YAML is read from stdin and sent as it is, as lxc does: a field it
leaves out is sent empty (so start from `cluster show`, whose other keys are ignored).
"""

EDIT_EPILOG = """\
examples:
  pylxd-cluster cluster edit node2
  pylxd-cluster cluster edit prod:node2                  # a remote of lxc's configuration
  pylxd-cluster cluster show node2 > member.yaml; vi member.yaml
  pylxd-cluster cluster edit node2 < member.yaml         # as `lxc cluster edit node2 < member.yaml`
"""

GROUP_EDIT_DESCRIPTION = """\
Edit a cluster group as YAML, as `lxc cluster group edit` does: its description and members
(its name and other keys are shown, and ignored). The editor, If-Match, errors and stdin
behave as for `cluster edit`: a member left out of `members` leaves the group.
"""

UPDATE_CERTIFICATE_DESCRIPTION = """\
Replace the cluster's certificate and key (PEM files) on every member, as `lxc cluster
update-certificate` does (PUT /1.0/cluster/certificate; the server needs the API extension
clustering_update_cert). With a remote (prod:), a certificate of that remote pinned in the
client configuration (servercerts/prod.crt) is replaced by the new one too, as lxc does, so the
remote stays usable.
"""

WAIT_DESCRIPTION = """\
Wait until at least N members of the cluster are Online, then print them and exit 0; exit 1
after --timeout seconds (default 30) saying who was Online and who was not. A server that does
not answer yet (a daemon starting) is waited for too. Progress goes to stderr: on a terminal a
spinner with the elapsed time and who is Online, in a pipe one line whenever that changes. For
scripts that must not start before the pack has formed, e.g.
`pylxd-cluster wait --members 3 --timeout 120 && start-the-service`.
"""

COMPLETION_DESCRIPTION = """\
Print a completion script for bash, zsh or tcsh (made by shtab from this command's own
parser: every command, option and choice). Member and group names complete from the server
the default endpoint reaches ($PYLXD_CLUSTER_ENDPOINT, or the local socket).
"""

COMPLETION_EPILOG = """\
examples:
  source <(pylxd-cluster completion bash)                          # this shell
  pylxd-cluster completion bash > /etc/bash_completion.d/pylxd-cluster
  pylxd-cluster completion zsh > "${fpath[1]}/_pylxd-cluster"      # then: compinit
"""


def _evacuate_parser(evacuate: argparse.ArgumentParser) -> None:
    name = evacuate.add_argument("name", metavar="[REMOTE:]MEMBER", help="the member to evacuate")
    completion.mark_members(name)
    evacuate.add_argument("--mode", "--action", dest="mode", choices=EVACUATE_MODES,
                          help="what to do with the member's instances (server default: auto); --action is "
                               "incus's name for it; stateful-stop and force-stop are Incus's")
    evacuate.add_argument("--force", action="store_true",
                          help="evacuate without asking for confirmation (as lxc; there is no question "
                               "without a terminal either)")
    evacuate.add_argument("--force-quorum", action="store_true",
                          help="ask the server to skip its quorum safety check (LXD's "
                               "clustering_evacuation_force extension)")
    evacuate.set_defaults(action="evacuate", remote_arg="name", remote_what="cluster member name")


def _restore_parser(restore: argparse.ArgumentParser) -> None:
    name = restore.add_argument("name", metavar="[REMOTE:]MEMBER", help="the member to bring back")
    completion.mark_members(name)
    restore.add_argument("--mode", "--action", dest="mode", choices=["skip"],
                         help="skip: do not restart the member's instances")
    restore.add_argument("--force", action="store_true",
                         help="restore without asking for confirmation (as lxc; there is no question "
                              "without a terminal either)")
    restore.set_defaults(action="restore", remote_arg="name", remote_what="cluster member name")


def _remote_target(parser: argparse.ArgumentParser) -> None:
    """An optional ``[REMOTE:]`` argument (lxc's ``cluster list [<remote>:]``)."""
    parser.add_argument("target", metavar="[REMOTE:]", nargs="?",
                        help="a remote of lxc's or incus's client configuration, with its colon (prod:)")
    parser.set_defaults(remote_arg="target", remote_only=True)


# What each positional argument is, for --help and for completion.
_ARGUMENTS: dict[str, tuple[str, str, Any]] = {
    "name": ("[REMOTE:]MEMBER", "the member's name, with a remote prefix if wanted (prod:node1)",
             completion.mark_members),
    "group": ("[REMOTE:]GROUP", "the cluster group's name, with a remote prefix if wanted", completion.mark_groups),
    "new_name": ("NEW_NAME", "the new name", None),
    "config_key": ("KEY", "the configuration key (scheduler.instance ...)", None),
}


def _cluster_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """``cluster ...``: lxc's ``lxc cluster`` commands, by lxc's names."""
    cluster = commands.add_parser("cluster", parents=[common], help="manage the cluster's members, join tokens and "
                                                                    "groups, by the names `lxc cluster` uses",
                                  description="The cluster's members, join tokens, groups and certificate, by the "
                                              "names and aliases `lxc cluster` uses. A member or group name may "
                                              "carry a remote prefix (prod:node1), as in lxc.")
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION")
    actions.required = True

    def action(name: str, help: str, *args: str, aliases: Sequence[str] = (), description: str | None = None,
               epilog: str | None = None, what: str = "cluster member name") -> argparse.ArgumentParser:
        parser = actions.add_parser(name, parents=[common], help=help, aliases=list(aliases),
                                    description=description or help[0].upper() + help[1:] + ".", epilog=epilog,
                                    formatter_class=FORMATTER)
        for arg in args:
            metavar, arg_help, mark = _ARGUMENTS[arg]
            added = parser.add_argument(arg, metavar=metavar if arg == args[0] else metavar.removeprefix("[REMOTE:]"),
                                        help=arg_help)
            if mark is not None:
                mark(added)
        parser.set_defaults(action=name, remote_arg=args[0] if args else None, remote_what=what)
        return parser

    _remote_target(action("list", "list the members, as `lxc cluster list` prints them", aliases=["ls"]))
    action("show", "show one member (YAML)", "name")
    action("edit", "edit a member's roles, failure domain, description, config and groups as YAML", "name",
           description=EDIT_DESCRIPTION, epilog=EDIT_EPILOG)
    action("rename", "rename a member", "name", "new_name", aliases=["mv"])
    remove = action("remove", "remove a member from the cluster", "name", aliases=["rm"])
    remove.add_argument("--force", action="store_true", help="remove it even if degraded (asks for confirmation "
                                                             "on a terminal unless --yes)")
    remove.add_argument("--yes", action="store_true", help="don't ask for confirmation of --force")
    _evacuate_parser(actions.add_parser("evacuate", parents=[common], aliases=["evac"],
                                        help="evacuate a member (asks first on a terminal unless --force; waits for "
                                             "the operation, showing its progress)",
                                        description=EVACUATE_DESCRIPTION, formatter_class=FORMATTER))
    _restore_parser(actions.add_parser("restore", parents=[common],
                                       help="bring an evacuated member back (asks first on a terminal unless "
                                            "--force; waits for the operation, showing its progress)",
                                       description=RESTORE_DESCRIPTION, formatter_class=FORMATTER))
    _remote_target(action("list-tokens", "list pending join tokens"))
    action("add", "create a join token for a new member and print it", "name")
    action("revoke-token", "revoke a join token (by member name or token)", "name")
    set_ = action("set", "set a member's configuration keys", "name")
    set_.add_argument("assignments", metavar="KEY=VALUE", nargs="+", type=_assignment)
    action("get", "print the value of a member's configuration key", "name", "config_key")
    action("unset", "remove a member's configuration key", "name", "config_key")
    action("enable", "enable clustering on a single non-clustered server, naming it", "name")
    update = actions.add_parser(
        "update-certificate", parents=[common], aliases=["update-cert"],
        help="replace the cluster certificate and key (PEM files) on every member",
        usage="%(prog)s [REMOTE:] CERT.CRT CERT.KEY [options]",
        description=UPDATE_CERTIFICATE_DESCRIPTION, formatter_class=FORMATTER,
        epilog="examples:\n  pylxd-cluster cluster update-certificate cluster.crt cluster.key\n"
               "  pylxd-cluster cluster update-certificate prod: cluster.crt cluster.key\n")
    files = update.add_argument("paths", metavar="[REMOTE:] CERT.CRT CERT.KEY", nargs="+",
                                help="an optional remote (prod:), then the certificate and key files")
    completion.mark_files(files)
    update.set_defaults(action="update-certificate", remote_arg="target", remote_only=True)
    role = actions.add_parser("role", parents=[common], help="add or remove a member's roles")
    roles = role.add_subparsers(dest="role_command", metavar="ACTION")
    roles.required = True
    for verb in ("add", "remove"):
        parser = roles.add_parser(verb, parents=[common], help=f"{verb} roles (ROLE[,ROLE...]) of a member")
        completion.mark_members(parser.add_argument("name", metavar="[REMOTE:]MEMBER"))
        parser.add_argument("roles", metavar="ROLE[,ROLE...]")
        parser.set_defaults(action=f"role {verb}", remote_arg="name", remote_what="cluster member name")

    group = actions.add_parser("group", parents=[common], help="manage cluster groups")
    groups = group.add_subparsers(dest="group_command", metavar="ACTION")
    groups.required = True

    def group_action(name: str, help: str, *args: str, aliases: Sequence[str] = (),
                     description: str | None = None) -> argparse.ArgumentParser:
        parser = groups.add_parser(name, parents=[common], help=help, aliases=list(aliases),
                                   description=description or help[0].upper() + help[1:] + ".",
                                   formatter_class=FORMATTER)
        for arg in args:
            metavar, arg_help, mark = _ARGUMENTS[arg]
            added = parser.add_argument(arg, metavar=metavar if arg == args[0] else metavar.removeprefix("[REMOTE:]"),
                                        help=arg_help)
            if mark is not None:
                mark(added)
        parser.set_defaults(action=f"group {name}", remote_arg=args[0] if args else None,
                            remote_what="cluster group name" if args and args[0] == "group" else "cluster member name")
        return parser

    _remote_target(group_action("list", "list the cluster groups", aliases=["ls"]))
    group_action("show", "show one group (YAML)", "group")
    group_action("edit", "edit a group's description and members as YAML", "group",
                 description=GROUP_EDIT_DESCRIPTION)
    create = group_action("create", "create a cluster group", "group")
    create.add_argument("--description", default="", help="its description")
    group_action("delete", "delete a cluster group", "group", aliases=["rm"])
    group_action("rename", "rename a cluster group", "group", "new_name", aliases=["mv"])
    group_action("assign", "set a member's groups (GROUP[,GROUP...])", "name", "group", aliases=["apply"])
    group_action("remove", "remove a member from a group", "name", "group")


def _assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pylxd-cluster", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=FORMATTER)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    members = commands.add_parser("members", parents=[common], help="list the members (alias of `cluster list`)")
    _remote_target(members)
    members.set_defaults(action="list")
    show = commands.add_parser("show", parents=[common], help="show one member (alias of `cluster show`)")
    completion.mark_members(show.add_argument("name", metavar="[REMOTE:]MEMBER"))
    show.set_defaults(action="show", remote_arg="name", remote_what="cluster member name")
    commands.add_parser("status", parents=[common],
                        help="status report: this node, the leader, each member's state (and on a pack daemon, "
                             "each service group's)")
    groups = commands.add_parser("groups", parents=[common], help="list cluster groups (alias of `cluster group list`)")
    _remote_target(groups)
    groups.set_defaults(action="group list")
    tokens = commands.add_parser("tokens", parents=[common],
                                 help="list pending join tokens (alias of `cluster list-tokens`)")
    _remote_target(tokens)
    tokens.set_defaults(action="list-tokens")
    add = commands.add_parser("add", parents=[common], help="create a join token for a new member and print it "
                                                            "(alias of `cluster add`)")
    add.add_argument("name", metavar="[REMOTE:]NAME", help="the server name the new member will join as")
    add.set_defaults(action="add", remote_arg="name", remote_what="cluster member name")
    revoke = commands.add_parser("revoke", parents=[common],
                                 help="revoke a join token, by member name or token (alias of `cluster revoke-token`)")
    revoke.add_argument("name", metavar="[REMOTE:]NAME")
    revoke.set_defaults(action="revoke-token", remote_arg="name", remote_what="cluster member name")
    _evacuate_parser(commands.add_parser("evacuate", parents=[common], help="evacuate a member (alias of `cluster "
                                                                            "evacuate`; waits for the operation)",
                                         description=EVACUATE_DESCRIPTION, formatter_class=FORMATTER))
    _restore_parser(commands.add_parser("restore", parents=[common],
                                        help="bring an evacuated member back (alias of `cluster restore`; waits for "
                                             "the operation)", description=RESTORE_DESCRIPTION,
                                        formatter_class=FORMATTER))
    events = commands.add_parser("events", parents=[common], help="print events as they happen (Ctrl-C to stop)")
    events.add_argument("--type", default="lifecycle", metavar="T[,T]",
                        help="event types: lifecycle, operation, logging (default: lifecycle)")
    events.add_argument("--count", type=int, metavar="N", help="stop after N events")
    wait = commands.add_parser("wait", parents=[common], help="wait until N members are Online (a start-up barrier)",
                               description=WAIT_DESCRIPTION, formatter_class=FORMATTER)
    wait.add_argument("--members", type=int, required=True, metavar="N", help="how many members must be Online")
    _cluster_parser(commands, common)
    config.add_parser(commands, common)
    service_groups.add_parser(commands, common)
    shell = commands.add_parser("completion", help="print a shell completion script (bash, zsh or tcsh)",
                                description=COMPLETION_DESCRIPTION, epilog=COMPLETION_EPILOG,
                                formatter_class=FORMATTER)
    shell.add_argument("shell", choices=completion.SHELLS, help="the shell to complete in")
    return parser


def default_endpoint() -> str | None:
    """$PYLXD_CLUSTER_ENDPOINT; None lets the SDK find the local socket ($LXD_SOCKET first)."""
    return os.environ.get("PYLXD_CLUSTER_ENDPOINT") or None


def connect(args) -> Client:
    if getattr(args, "remote", None):
        return remote.connect(args.remote, args.timeout)
    if bool(args.cert) != bool(args.key):
        raise SystemExit("pylxd-cluster: error: --cert and --key go together")
    cert = (args.cert, args.key) if args.cert else None
    return Client(args.endpoint or default_endpoint(), cert=cert, verify=_verify(args.verify), timeout=args.timeout)


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout stays clean for --format json."""
    print(message, file=sys.stderr, flush=True)


class Aborted(ClusterError):
    """The user answered no to a confirmation question: nothing was done."""


def confirm(question: str) -> bool:
    """Ask ``question`` (yes/no, default no) on stderr when stdin is a terminal; True without one."""
    if sys.stdin is None or not sys.stdin.isatty():
        return True
    sys.stderr.write(f"{question} (yes/no) [default=no]: ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    return answer.strip().lower() in ("yes", "y")


def run(args, client: Client) -> str:
    if args.command == "status":
        pack = None
        members_api = client.cluster.members
        # A pack daemon knows when it last heard each member (in member state).
        if client.has_api_extension("pack_membership") and client.has_api_extension("cluster_member_state"):
            state = members_api.state(client.server_name)
            pack = state.pack.to_api() if state.pack is not None else None
        groups = None
        if client.has_api_extension(ServiceGroupManager.extension):  # a pack daemon with service groups
            groups = client.cluster.service_groups.all()
        data = status.status_data(client.server_name, members_api.all(), client.cluster.groups.all(), pack, groups)
        return output.render(data, args.format, status.status_report)
    if getattr(args, "action", None) is not None:
        return run_cluster(args, client)
    if args.command == "events":
        return _follow_events(args, client)
    if args.command == "wait":
        if args.members < 1:
            raise SystemExit("pylxd-cluster: error: --members must be at least 1")
        return _wait_for_members(args, client)
    if args.command == "config":
        return config.run(args, client)
    if args.command == "service-group":
        return service_groups.run(args, client, progress)
    raise AssertionError(args.command)


def _wait_for_members(args, client: Client) -> str:
    """``wait --members N``: a spinner on a terminal, a line per change of who is Online otherwise."""
    started = time.monotonic()
    spinner = Spinner(f"Waiting for {args.members} member{'s' if args.members != 1 else ''}")
    said = ""

    def report(online: list, total: int) -> None:
        nonlocal said
        said = f"{len(online)} of {total} members Online ({', '.join(online) or 'none'})"
        if spinner.enabled:
            spinner.set(f"{len(online)} of {total} Online ({', '.join(online) or 'none'})")
        else:
            progress(f"{said} after {time.monotonic() - started:.1f}s")

    with spinner:
        members = client.cluster.members.wait_for_members(args.members, timeout=args.timeout, progress=report)
    if spinner.enabled:
        progress(f"{said} after {time.monotonic() - started:.1f}s")
    return output.render(members, args.format, None, output.member_rows)


def _split(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def run_cluster(args, client: Client) -> str:
    """``cluster ACTION`` (and today's short verbs, its aliases); returns what to print."""
    members_api = client.cluster.members
    action = args.action
    if action == "list":
        return output.render(members_api.all(), args.format, None, output.member_rows)
    if action == "show":
        member = members_api.get(args.name)
        return output.render(member, "yaml" if args.format == "table" else args.format, None)
    if action == "edit":
        return edit.edit_member(client, args.name)
    if action == "update-certificate":
        return _update_certificate(args, client)
    if action == "rename":
        members_api.rename(args.name, args.new_name)
        return f"Member {args.name} renamed to {args.new_name}"
    if action == "remove":
        if args.force and not args.yes and not confirm(
                f"Forcefully removing a server from the cluster should only be done as a last resort.\n"
                f"Are you really sure you want to force removing {args.name}?"):
            raise Aborted(f"removal of {args.name} aborted: nothing was done")
        members_api.delete(args.name, force=args.force)
        return f"Member {args.name} removed"
    if action == "list-tokens":
        return output.render(client.cluster.tokens.all(), args.format, None, output.token_rows)
    if action == "add":
        token = client.cluster.tokens.create(args.name)
        return output.render(token, args.format, lambda t: f"Member {t.server_name} join token:\n{t.token}")
    if action == "revoke-token":
        client.cluster.tokens.revoke(args.name)
        return f"Cluster join token for {args.name} deleted"
    if action in ("evacuate", "restore"):
        return _evacuate_or_restore(args, client)
    if action == "set":
        member = members_api.get(args.name)
        members_api.update(member, config={**member.config, **dict(args.assignments)})
        return ""
    if action == "get":
        return str(members_api.get(args.name).config.get(args.config_key, ""))
    if action == "unset":
        member = members_api.get(args.name)
        members_api.update(member, config={k: v for k, v in member.config.items() if k != args.config_key})
        return ""
    if action == "enable":
        client.cluster.enable(args.name, timeout=args.timeout)
        return f"Clustering enabled; this server is now member {args.name}"
    if action in ("role add", "role remove"):
        member = members_api.get(args.name)
        wanted = _split(args.roles)
        if action == "role add":
            present = [role for role in wanted if role in member.roles]
            if present:
                raise ClusterError(f"member {args.name} already has role(s) {', '.join(present)}")
            roles = [*member.roles, *wanted]
        else:
            missing = [role for role in wanted if role not in member.roles]
            if missing:
                raise ClusterError(f"member {args.name} has no role(s) {', '.join(missing)}")
            roles = [role for role in member.roles if role not in wanted]
        members_api.update(member, roles=roles)
        return ""
    if action.startswith("group "):
        return _run_group(args, client)
    raise AssertionError(action)


def _evacuate_or_restore(args, client: Client) -> str:
    members_api = client.cluster.members
    evacuate = args.action == "evacuate"
    if not args.force and not confirm(f"Are you sure you want to {args.action} cluster member {args.name!r}?"):
        raise Aborted(f"{'evacuation' if evacuate else 'restoration'} of {args.name} aborted: nothing was done")
    verb = "Evacuating" if evacuate else "Restoring"
    started = time.monotonic()
    kwargs: dict[str, Any] = {"mode": args.mode}
    if evacuate:
        kwargs["force"] = args.force_quorum
    call = members_api.evacuate if evacuate else members_api.restore
    # lxc's words ("Evacuating cluster member: <progress>"), with a spinner and the time on a terminal.
    spinner = Spinner(f"{verb} cluster member {args.name}")
    if spinner.enabled:
        running = call(args.name, wait=False, **kwargs)
        with spinner:
            operation = wait_for_operation(client.operations, running, args.timeout, spinner)
    else:
        progress(f"{verb} {args.name} ...")
        operation = call(args.name, timeout=args.timeout, **kwargs)
    progress(f"{verb} {args.name}: {operation.status} in {time.monotonic() - started:.2f}s")
    member = members_api.get(args.name)
    return output.render(member, args.format, lambda m: f"{m.server_name}: {m.status} ({m.message})")


def _read_pem(path: str, what: str) -> str:
    """A PEM file's text, with lxc's messages when it is missing or unreadable."""
    if not os.path.exists(path):
        raise ClusterError(f"Could not find {what} path: {path}")
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ClusterError(f"Could not read {what}: {path} with error: {exc}") from None


def _update_certificate(args, client: Client) -> str:
    """``cluster update-certificate [REMOTE:] CERT.CRT CERT.KEY``, as lxc: the files are read,
    the server must be clustered, and a pinned certificate of the remote is replaced too."""
    cert_file, key_file = args.paths
    cert = _read_pem(cert_file, "certificate file")
    key = _read_pem(key_file, "certificate key file")
    if not client.cluster.get().enabled:
        # lxc's words; incus says "Server isn't part of a cluster".
        raise ClusterError(f"{'Server' if client.server_info.server == 'incus' else 'LXD server'} isn't part of a "
                           "cluster")
    client.cluster.certificate.put(cert, key)
    if args.remote:
        config = remote.known_remotes()
        if config is not None and args.remote in config.remotes:
            pinned = config.remotes[args.remote].server_cert_path
            if os.path.exists(pinned):
                try:
                    with open(pinned, "w", encoding="utf-8") as stream:
                        stream.write(cert)
                except OSError as exc:
                    raise ClusterError(f"Could not write new remote certificate for remote '{args.remote}' with "
                                       f"error: {exc}") from None
                progress(f"The certificate pinned for remote {args.remote} ({pinned}) is now the new one")
    # lxc's words; without a remote, the local server is lxc's remote "local".
    where = args.remote or ("local" if not (args.endpoint or default_endpoint()) else client.endpoint)
    return f"Successfully updated cluster certificates for remote {where}"


def _run_group(args, client: Client) -> str:
    groups_api = client.cluster.groups
    action = args.action.removeprefix("group ")
    if action == "list":
        return output.render(groups_api.all(), args.format, None, output.group_rows)
    if action == "show":
        group = groups_api.get(args.group)
        return output.render(group, "yaml" if args.format == "table" else args.format, None)
    if action == "edit":
        return edit.edit_group(client, args.group)
    if action == "create":
        groups_api.create(args.group, description=args.description)
        return f"Cluster group {args.group} created"
    if action == "delete":
        groups_api.delete(args.group)
        return f"Cluster group {args.group} deleted"
    if action == "rename":
        groups_api.rename(args.group, args.new_name)
        return f"Cluster group {args.group} renamed to {args.new_name}"
    members_api = client.cluster.members
    member = members_api.get(args.name)
    if action == "assign":
        members_api.update(member, groups=_split(args.group))
        return f"Cluster member {args.name} added to cluster groups {args.group}"
    if action == "remove":
        if args.group not in member.groups:
            raise ClusterError(f"cluster group {args.group} doesn't have {args.name}")
        members_api.update(member, groups=[g for g in member.groups if g != args.group])
        return f"Cluster member {args.name} removed from group {args.group}"
    raise AssertionError(action)


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
    """Parse the command line and apply the defaults of the global options (the options given
    are kept in ``args.given``). A ``REMOTE:`` prefix is not resolved here (see :func:`main`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.given = {name for name in GLOBAL_DEFAULTS if hasattr(args, name)}
    # A command may have its own default for a global option (`config show`: --format yaml).
    command_defaults = getattr(args, "command_defaults", {})
    for name, value in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, command_defaults.get(name, value))
    if getattr(args, "action", None) == "update-certificate":
        # lxc's `update-certificate [<remote>:] <cert.crt> <cert.key>`: two or three arguments.
        if len(args.paths) not in (2, 3):
            parser.error(f"cluster update-certificate takes [REMOTE:] CERT.CRT CERT.KEY, not {len(args.paths)} "
                         "argument(s)")
        args.target = args.paths[0] if len(args.paths) == 3 else None
        args.paths = args.paths[-2:]
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
    if args.command == "completion":
        print(completion.script(build_parser(), args.shell), end="")
        return 0
    try:
        remote.resolve(args, args.given)
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
