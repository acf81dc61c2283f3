"""``pylxd-cluster-mock``: serve a mock LXD cluster until SIGTERM or SIGINT."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import NoReturn

from mockserver import profiles
from mockserver.http import HttpTransport, parse_hostport
from mockserver.mock.routes import mock_api
from mockserver.mock.scripting import Script
from mockserver.state import ClusterState, LoopScheduler
from mockserver.tls import TlsSettings
from mockserver.version import VERSION

DESCRIPTION = """\
Serve an in-memory LXD cluster over LXD's REST API, for integration tests of code
written for pylxd, pylxd-cluster or the lxc CLI.

The API is LXD's (/1.0/cluster, members, groups, join tokens, operations, events).
Tests script the cluster under /mock:
  PUT    /mock/members/NAME/status  {"status": "Offline"}     take a member offline
  PUT    /mock/members/NAME/leader                            make a member the leader
  POST   /mock/members              {"server_name": "node4"}  add a member
  DELETE /mock/members/NAME                                   remove a member
  POST   /mock/faults  {"path": "/1.0/cluster*", "status": 503, "error": "busy"}
  POST   /mock/faults  {"path": "/1.0/cluster/members", "latency": 0.5}
  GET    /mock/requests                                       the request log
  POST   /mock/reset                                          start over
"""

EPILOG = """\
examples:
  pylxd-cluster-mock --members 3 --unix /tmp/lxd.socket
  LXD_SOCKET=/tmp/lxd.socket lxc cluster list
  pylxd-cluster-mock --members 5 --listen 127.0.0.1:8443 --tls
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pylxd-cluster-mock", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    parser.add_argument("--members", type=int, default=3, metavar="N",
                        help="cluster members to start with; 0 is a standalone server (default: 3)")
    parser.add_argument("--listen", action="append", metavar="HOST:PORT",
                        help="serve on TCP (repeatable); port 0 picks a free port. "
                             "Default: 127.0.0.1:8443 when --unix is not given")
    parser.add_argument("--unix", metavar="PATH", help="serve on a unix socket at PATH (as LXD's unix.socket)")
    parser.add_argument("--tls", action="store_true",
                        help="serve TCP over HTTPS with a fresh self-signed certificate (fingerprint printed)")
    parser.add_argument("--trust-cert", action="append", default=[], metavar="PEM",
                        help="with --tls, trust only these client certificates (default: trust every client)")
    parser.add_argument("--name-prefix", default="node", help="member names are PREFIX1, PREFIX2, ... (default: node)")
    parser.add_argument("--operation-delay", type=float, default=0.0, metavar="SECONDS",
                        help="how long evacuate/restore/bootstrap operations run (default: 0)")
    parser.add_argument("--strict", action="store_true",
                        help="reject unknown JSON fields (LXD ignores them; this catches client typos)")
    parser.add_argument("--server", default=profiles.DEFAULT, choices=list(profiles.PROFILES), metavar="PROFILE",
                        help="the server and version to answer as, with its API extensions, modes and its own"
                             f" answers to bad input, 500s included: {', '.join(profiles.PROFILES)}"
                             f" (default: {profiles.DEFAULT})")
    parser.add_argument("--friendly-errors", action="store_true",
                        help="answer a 4xx where the real server answers 500 for bad input (not what the server"
                             " does: for tests that want the clearer status)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    return parser


def _fail(message: str) -> NoReturn:
    print(f"pylxd-cluster-mock: error: {message}", file=sys.stderr)
    sys.exit(2)


async def serve(args) -> int:
    if args.members < 0:
        _fail("--members must be 0 or more")
    listen = args.listen if args.listen else ([] if args.unix else ["127.0.0.1:8443"])
    try:
        listen = [parse_hostport(item) for item in listen]
    except ValueError as exc:
        _fail(str(exc))
    trusted = []
    for path in args.trust_cert:
        try:
            with open(path) as handle:
                trusted.append(handle.read())
        except OSError as exc:
            _fail(f"cannot read --trust-cert {path}: {exc.strerror}")
    loop = asyncio.get_running_loop()
    state = ClusterState(args.members, name_prefix=args.name_prefix, scheduler=LoopScheduler(loop),
                         operation_delay=args.operation_delay,
                         profile=profiles.profile(args.server, friendly=args.friendly_errors))
    api = mock_api(state, Script(), strict=args.strict)
    tls = TlsSettings(state.certificate_pem, state.key_pem, trusted) if args.tls else None
    transport = HttpTransport(api, listen=listen, unix=args.unix, tls=tls)
    # Handlers first: a SIGTERM that arrives as soon as we print our addresses must still stop cleanly.
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await transport.start()
    except OSError as exc:
        _fail(f"cannot listen: {exc.strerror or exc} (is another server using that address or socket?)")
    if transport.addresses:
        state.set_local_address(transport.addresses[0])
    names = ", ".join(state.members) if state.clustered else "standalone, not clustered"
    print(f"pylxd-cluster mock: {args.members} member(s) ({names}), answering as {state.profile.name}"
          f" ({state.profile.server} {state.profile.version})", flush=True)
    for address in transport.addresses:
        print(f"  listening on {transport.scheme}://{address}", flush=True)
    if args.unix:
        print(f"  listening on unix:{args.unix}", flush=True)
    if tls:
        print(f"  certificate fingerprint: {state.fingerprint}", flush=True)
    print("  scripting API under /mock; stop with Ctrl-C or SIGTERM", flush=True)
    await stop.wait()
    await transport.stop()
    print("pylxd-cluster mock: stopped", flush=True)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
