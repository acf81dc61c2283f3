"""``pylxd-cluster-daemon``: run one node of a pack, check a configuration, or print templates."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from mockserver.daemon.config import ConfigError, discovery, load, render_template
from mockserver.version import VERSION

DESCRIPTION = """\
Run one node of a pack: nodes find each other over UDP (broadcast, multicast, static peers,
or the discovery list: hosts files, DNS, Kubernetes, plug-ins), check each other's liveness,
follow a leader, and each serves the live membership through LXD's REST API, so `lxc cluster
list`, pylxd and pylxd-cluster work against any node. With `backend: etcd` in the Pack module,
an etcd cluster is the engine of record instead (leases, elections, the shared document).
"""

EPILOG = """\
examples:
  pylxd-cluster-daemon --print-template > node.yaml     # every module and option, documented
  pylxd-cluster-daemon --check node.yaml                # validate, print a summary, exit
  pylxd-cluster-daemon --config node.yaml               # run until SIGTERM/SIGINT (then leave the pack)
  LXD_SOCKET=/tmp/lab/node1.socket lxc cluster list
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pylxd-cluster-daemon", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--config", "-c", metavar="FILE", help="run a node with this configuration")
    what.add_argument("--check", metavar="FILE", help="validate FILE and exit (0 valid, 2 refused)")
    what.add_argument("--print-template", action="store_true", help="print every module's options and exit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="log at debug detail: every membership change and every pack document version applied")
    return parser


def summary(config) -> str:
    pack = config.pack
    channels = [f"broadcast {pack.broadcast}"] if pack.broadcast else []
    if pack.mcast_group:
        channels.append(f"multicast {pack.mcast_group}")
    if pack.peers:
        channels.append("peers " + ", ".join(f"{h}:{p}" for h, p in pack.peers))
    if pack.discovery:
        channels.append("discovery " + ", ".join(discovery.label(spec) for spec in pack.discovery))
    which = f"pack '{pack.name}'" if pack.name else "the pack its join_token names"
    if pack.backend == "etcd":
        where = f"on etcd {', '.join(pack.etcd_endpoints)} (keys under {pack.etcd_prefix.rstrip('/')}/)"
    else:
        where = f"on {pack.interface}:{pack.port}; {'; '.join(channels)}"
    lines = [f"node {pack.server_name} of {which} ({pack.pack}) {where}",
             f"  keepalive {pack.keepalive_interval_ms} ms, dead after {pack.dead_interval_ms} ms"
             + (f", expects {pack.expected_members} members" if pack.expected_members else "")]
    if config.api is not None:
        if config.api.listen:
            host, port = config.api.listen
            lines.append(f"  API on {'https' if config.api.tls_cert else 'http'}://{host}:{port}")
        if config.api.unix:
            lines.append(f"  API on unix:{config.api.unix}")
    else:
        lines.append("  no Api module: the node serves no API")
    return "\n".join(lines)


async def run(config) -> int:
    from mockserver.daemon.join import JoinError

    unreachable: tuple = ()
    try:
        if config.pack.backend == "etcd":
            # gRPC's C core logs a line on stderr for every TLS peer that goes away.
            os.environ.setdefault("GRPC_VERBOSITY", "NONE")
            import aetcd

            from mockserver.daemon.etcd.daemon import EtcdDaemon

            unreachable = (aetcd.exceptions.ClientError,)
            daemon = EtcdDaemon(config)
        else:
            from mockserver.daemon.process import PackDaemon

            daemon = PackDaemon(config)
    except ValueError as exc:   # a discovery strategy this version cannot run
        print(f"pylxd-cluster-daemon: {exc}", file=sys.stderr)
        return 2
    # Handlers first: a SIGTERM that arrives as soon as we say we run must still leave gracefully.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await daemon.start()
    except JoinError as exc:
        print(f"pylxd-cluster-daemon: cannot join: {exc}", file=sys.stderr)
        await daemon.stop(graceful=False)
        return 2
    except OSError as exc:
        print(f"pylxd-cluster-daemon: error: {exc}", file=sys.stderr)
        return 2
    except unreachable as exc:
        print(f"pylxd-cluster-daemon: cannot use etcd at {', '.join(config.pack.etcd_endpoints)}: "
              f"{type(exc).__name__}: {exc or 'no answer'}; check etcd-endpoints, etcd-cert, etcd-key and etcd-ca",
              file=sys.stderr)
        await daemon.stop(graceful=False)
        return 2
    print(f"pylxd-cluster daemon: {summary(config)}", flush=True)
    print("  running; SIGTERM or Ctrl-C leaves the pack", flush=True)
    stopping, removed = asyncio.ensure_future(stop.wait()), asyncio.ensure_future(daemon.removed.wait())
    await asyncio.wait({stopping, removed}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    removed.cancel()
    await daemon.stop(graceful=True)
    if daemon.removed.is_set():
        print("pylxd-cluster daemon: removed from the pack by a cluster member delete; left the pack, stopped",
              flush=True)
        return 0
    print("pylxd-cluster daemon: left the pack, stopped", flush=True)
    return 0


def cannot_run(config) -> str | None:
    """Why a valid file still cannot run here (a discovery strategy whose extra is not
    installed, a plug-in that cannot be loaded or refuses its options), or None."""
    from mockserver.daemon.discovery.runner import build
    from mockserver.daemon.membership_hooks import MembershipHooks

    try:
        build(config.pack.discovery, config.pack.port)
        MembershipHooks(config.pack, config.pack.server_name or "")
    except ValueError as exc:
        return str(exc)
    return None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_template:
        print(render_template())
        return 0
    try:
        config = load(args.check or args.config)
    except ConfigError as exc:
        print(f"pylxd-cluster-daemon: {exc}", file=sys.stderr)
        return 2
    if args.check:
        problem = cannot_run(config)
        if problem:
            print(f"pylxd-cluster-daemon: {args.check}: {problem}", file=sys.stderr)
            return 2
        print(f"{args.check}: valid\n{summary(config)}")
        return 0
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    return asyncio.run(run(config))


if __name__ == "__main__":
    sys.exit(main())
