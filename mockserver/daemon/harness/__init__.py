"""Run packs of ``pylxd-cluster-daemon`` processes: for tests, benchmarks and demos.

The daemon's counterpart of memberlist's mock transport: free addresses, waiting on
conditions, and packs of real processes to start, kill -9, stop gracefully and restart.

Every node is a real process started with :class:`subprocess.Popen` from a YAML file written
into a temporary directory; its API is reached through its unix socket with the SDK.

Each :class:`PackProcs` picks its own loopback block ``127.<a>.<b>.0/24`` and its own free
UDP port (and multicast group), so packs of different tests (or of parallel runs) never hear
each other: on loopback the broadcast address is always ``127.255.255.255``, and what tells
two packs apart is the port. Traffic only ever goes to 127.0.0.0/8, or stays inside network
namespaces the caller made (``netns=``, see ``mockserver/daemon/harness/netns.py``).

Usage::

    with PackProcs() as pack:
        pack.add("node1", pack="leader")
        pack.add("node2"); pack.add("node3")      # pack: follower by default
        pack.start_all()
        pack.wait_until(lambda: pack.all_online(), 5, what="pack formed")
        t0 = pack.kill9("node3")
        ...

Teardown (``close()``, also on errors in ``with``) kills every process still running and
removes the directory.

For benchmarks and demos there is more (none of it changes the above):

- ``PackProcs(pdeathsig=True)``: every daemon is SIGKILLed by the kernel if this process dies
  (even of SIGKILL), see :func:`die_with_parent`;
- :meth:`PackProcs.stop_all` / :meth:`Node.stop`: a graceful stop that asserts nothing and
  never raises (SIGTERM to every node at once, SIGKILL for any that outstays the grace);
- wall-clock times, comparable with the daemons' event timestamps: :attr:`Node.spawned_wall`,
  :meth:`Node.line_time` (when the reader read an output line), :meth:`Node.socket_ctime`
  (when the daemon bound its API socket);
- :func:`poll_until`: :func:`wait_until` that returns the predicate's value;
- :class:`MemberWatcher`: a thread that follows one node's view of the pack through its
  lifecycle events, timed by the events' own timestamps (no polling load on the daemons),
  and :func:`all_show` over several of them.
"""
from mockserver.daemon.harness.addresses import LO_BROADCAST, free_tcp_port, free_udp_port, random_block
from mockserver.daemon.harness.configfile import DEFAULTS, render_yaml, yaml_scalar
from mockserver.daemon.harness.processes import (
    IMPORT_ROOT,
    LEADER_ROLES,
    READY,
    STOPPED,
    DaemonError,
    Node,
    PackProcs,
    daemon_command,
    die_with_parent,
)
from mockserver.daemon.harness.unixhttp import config_of, modules, raw_request, write
from mockserver.daemon.harness.waiting import (
    WaitTimeout,
    async_hold_for,
    async_wait_until,
    hold_for,
    poll_until,
    wait_until,
)
from mockserver.daemon.harness.watch import BroadcastCapture, DocumentSampler, MemberWatcher, all_show, event_time

__all__ = [
    "LO_BROADCAST",
    "free_udp_port",
    "free_tcp_port",
    "random_block",
    "DEFAULTS",
    "yaml_scalar",
    "render_yaml",
    "WaitTimeout",
    "wait_until",
    "poll_until",
    "hold_for",
    "async_wait_until",
    "async_hold_for",
    "IMPORT_ROOT",
    "READY",
    "STOPPED",
    "LEADER_ROLES",
    "daemon_command",
    "die_with_parent",
    "DaemonError",
    "Node",
    "PackProcs",
    "raw_request",
    "config_of",
    "modules",
    "write",
    "DocumentSampler",
    "event_time",
    "MemberWatcher",
    "all_show",
    "BroadcastCapture",
]
