"""``MockCluster``: a scriptable mock LXD cluster served on real sockets from a thread."""
from __future__ import annotations

import asyncio
import os
import tempfile
import threading

from mockserver import profiles
from mockserver.http import HttpTransport
from mockserver.mock.routes import mock_api
from mockserver.mock.scripting import Fault, Script
from mockserver.state import ClusterState, LoopScheduler, MemberSpec
from mockserver.tls import TlsSettings


class MockClusterError(RuntimeError):
    """The mock server could not start (address in use, bad socket path, ...)."""


class MockCluster:
    """An in-memory LXD cluster of ``members`` members behind LXD's REST API.

    Use it as a context manager; it serves on a free loopback port (``url``) and on a unix
    socket (``unix_socket``) by default::

        with MockCluster(members=3) as mock:
            client = pylxd_cluster.Client(mock.unix_socket)
            mock.set_offline("node2")

    ``listen`` is ``HOST:PORT`` (port 0 picks one) or None for no TCP; ``unix`` is a path,
    True for a temporary one, or None. ``tls=True`` serves HTTPS with the cluster
    certificate (see ``fingerprint``). ``members=0`` is a standalone server that
    ``cluster.enable()`` can bootstrap.

    Raises:
        MockClusterError: from ``start()`` if a socket cannot be bound.
    """

    def __init__(self, members: int = 3, *, listen: str | None = "127.0.0.1:0", unix=True, tls: bool = False,
                 trusted_certs=(), strict: bool = False, operation_delay: float = 0.0, name_prefix: str = "node",
                 token_expiry: float = 3 * 3600.0, server: str = profiles.DEFAULT, friendly_errors: bool = False):
        """``server``: the profile the mock answers as (``lxd-5.0``, ``lxd-5.21``, ``lxd-6``,
        ``incus-6.0``; see mockserver/profiles.py). ``friendly_errors``: answer a 4xx where
        that server answers 500 for bad input (off by default: faithful first).

        Raises:
            ValueError: an unknown ``server``.
        """
        self._scheduler = LoopScheduler()   # attached to the server's loop at start
        self.state = ClusterState(members, name_prefix=name_prefix, operation_delay=operation_delay,
                                  token_expiry=token_expiry, scheduler=self._scheduler,
                                  profile=profiles.profile(server, friendly=friendly_errors))
        self.script = Script()
        self.api = mock_api(self.state, self.script, strict=strict)
        self._tmpdir = None
        if unix is True:
            self._tmpdir = tempfile.mkdtemp(prefix="pylxd-cluster-mock-")
            unix = os.path.join(self._tmpdir, "unix.socket")
        tls_settings = TlsSettings(self.state.certificate_pem, self.state.key_pem, list(trusted_certs)) if tls else None
        self.transport = HttpTransport(self.api, listen=[listen] if listen else [], unix=unix or None, tls=tls_settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle --------------------------------------------------------------------

    def start(self) -> MockCluster:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._scheduler.attach(self._loop)

        def serve():
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self.transport.start())
            except BaseException as exc:  # report to the starting thread, then end
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.transport.stop())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="pylxd-cluster-mock", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise MockClusterError(f"mock server could not start: {failure[0]}") from failure[0]
        if self.transport.addresses:
            self.state.set_local_address(self.transport.addresses[0])
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        if self._tmpdir:
            import shutil
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> MockCluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ---- where it listens -------------------------------------------------------------

    @property
    def url(self) -> str | None:
        """``http(s)://host:port`` of the TCP listener, or None."""
        if not self.transport.addresses:
            return None
        return f"{self.transport.scheme}://{self.transport.addresses[0]}"

    @property
    def unix_socket(self) -> str | None:
        return self.transport.unix

    @property
    def endpoint(self) -> str:
        """The unix socket if there is one, else the URL: what a client should be given."""
        return self.unix_socket or self.url

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint of the server certificate, for pinning."""
        return self.state.fingerprint

    # ---- scripting --------------------------------------------------------------------

    def set_offline(self, name: str, since: float | None = None) -> dict:
        """Make ``name`` Offline, "No heartbeat for <since>" (default 20 s, LXD's threshold)."""
        return self.state.set_member_status(name, "Offline", since=since)

    def set_online(self, name: str) -> dict:
        return self.state.set_member_status(name, "Online")

    def set_status(self, name: str, status: str, message: str | None = None) -> dict:
        return self.state.set_member_status(name, status, message=message)

    def set_leader(self, name: str) -> dict:
        """Make ``name`` the leader (the ``database-leader`` role moves to it, the previous
        leader becomes a voter), as after an election. Refused for an Offline member."""
        return self.state.set_leader(name)

    def add_member(self, name: str, **fields) -> dict:
        """Add a member as if it joined; ``fields`` are MemberSpec's (address, description...)."""
        return self.state.add_member(MemberSpec(name, **fields))

    def remove_member(self, name: str) -> None:
        self.state.remove_member(name)

    def inject_error(self, path: str, status: int, error: str, *, method: str = "*", times: int | None = None) -> Fault:
        """Answer requests matching ``path`` (a glob) with an LXD error envelope."""
        return self.script.add_fault(Fault(path, method, status, error, 0.0, times))

    def inject_latency(self, path: str, seconds: float, *, method: str = "*", times: int | None = None) -> Fault:
        """Delay replies to requests matching ``path`` by ``seconds``."""
        return self.script.add_fault(Fault(path, method, None, "", seconds, times))

    def clear_faults(self) -> None:
        self.script.clear_faults()

    @property
    def requests(self) -> list:
        """Requests served so far (method, path, query, body, status, protocol, time)."""
        return list(self.script.requests)

    def clear_requests(self) -> None:
        self.script.clear_requests()

    @property
    def events(self) -> list:
        """Events emitted so far (the last 1000)."""
        return list(self.state.events.history)

    def reset(self) -> None:
        """Back to the initial cluster; faults, request log, operations and events cleared."""
        self.state.reset()
        self.script.reset()
        if self.transport.addresses:
            self.state.set_local_address(self.transport.addresses[0])
