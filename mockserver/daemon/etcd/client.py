"""aetcd's asyncio client, over TLS and with several endpoints.

aetcd (a maintained asyncio client for etcd's v3 gRPC API; etcd3 0.12 fails with protobuf 4
and later) connects to one ``host:port`` without TLS. A pack's etcd is a cluster, reached
over TLS with a client certificate, so this client holds every endpoint, connects to one at
a time, verifies each member's certificate for its own address (as etcd's clientv3 does),
and moves to the next endpoint when the current one stops answering (:meth:`rotate`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, TypeVar

import aetcd
import attrs
from aetcd import rpc
from aetcd.watcher import Watcher

from mockserver.daemon.etcd.endpoints import parse_endpoint

__all__ = ["EtcdSettings", "EtcdClient", "parse_endpoint", "cancelled", "UNAVAILABLE", "RETRY_PAUSE"]

T = TypeVar("T")
#: Seconds between two attempts of a request while etcd is unavailable (a member down, a
#: leader election under way).
RETRY_PAUSE = 0.05
#: Seconds between two log lines about the same move from one endpoint to another.
ROTATION_LOG_INTERVAL = 5.0

log = logging.getLogger(__name__)

#: What aetcd raises when the member it talks to is down, unreachable or too slow.
UNAVAILABLE = (aetcd.exceptions.ConnectionFailedError, aetcd.exceptions.ConnectionTimeoutError)


def cancelled() -> bool:
    """Whether the running task was asked to stop (``Task.cancel()``). A CancelledError
    without that comes from gRPC, which cancels a call whose channel was closed under it: a
    failed call, to be tried again, not the end of the task."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@attrs.frozen
class EtcdSettings:
    """How a member reaches the pack's etcd.

    Attributes:
        endpoints: client URLs of etcd's members (``https://host:2379``).
        cert, key: the client certificate and key (PEM files), for etcd's client-cert-auth.
        ca: the CA bundle that signed etcd's certificates (None: the system's CAs).
        prefix: where the pack's keys live (``/pylxd-cluster``); packs sharing one etcd differ
            by it and by their name.
        timeout: seconds for one request.
    """

    endpoints: tuple[str, ...]
    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    prefix: str = "/pylxd-cluster"
    timeout: float = 5.0

    @property
    def tls(self) -> bool:
        return any(parse_endpoint(endpoint)[0] == "https" for endpoint in self.endpoints)


class EtcdClient(aetcd.Client):
    """An :class:`aetcd.Client` on one of ``settings.endpoints`` at a time.

    Every call of aetcd's API works as documented by aetcd; when one raises
    :data:`UNAVAILABLE`, :meth:`rotate` moves to the next endpoint (the caller retries).
    """

    def __init__(self, settings: EtcdSettings) -> None:
        if not settings.endpoints:
            raise ValueError("an etcd backend needs at least one endpoint")
        self.settings = settings
        self._targets = [parse_endpoint(endpoint) for endpoint in settings.endpoints]
        self._current = 0
        # Counts the channels: tasks that see the same channel fail move off it once (rotate).
        self.generation = 0
        self._rotation_told: dict[tuple[str, str], float] = {}
        scheme, host, port = self._targets[0]
        super().__init__(host=host, port=port, timeout=settings.timeout,
                         options={"grpc.keepalive_time_ms": 2000, "grpc.keepalive_timeout_ms": 2000,
                                  "grpc.keepalive_permit_without_calls": 1})

    @property
    def endpoint(self) -> str:
        """The endpoint in use."""
        scheme, host, port = self._targets[self._current]
        return f"{scheme}://{host}:{port}"

    def _credentials(self):
        import grpc

        def read(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()

        return grpc.ssl_channel_credentials(root_certificates=read(self.settings.ca),
                                            private_key=read(self.settings.key),
                                            certificate_chain=read(self.settings.cert))

    async def connect(self) -> None:
        """Open a channel to the current endpoint (TLS for an https one). aetcd's own
        ``connect`` knows only plain channels; this sets up the same stubs."""
        if self._connected.is_set():
            return
        if self._is_connecting:
            await super().connect()   # another task is connecting: aetcd waits for it
            return
        scheme, host, port = self._targets[self._current]
        try:
            self._is_connecting = True
            target = f"{host}:{port}"
            options = list(self._options.items())
            if scheme == "https":
                self.channel = rpc.secure_channel(target, self._credentials(), options=options)
            else:
                self.channel = rpc.insecure_channel(target, options=options)
            self.kvstub = rpc.KVStub(self.channel)
            self.clusterstub = rpc.ClusterStub(self.channel)
            self.leasestub = rpc.LeaseStub(self.channel)
            self.maintenancestub = rpc.MaintenanceStub(self.channel)
            self._watcher = Watcher(rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata)
            self._connected.set()
        finally:
            self._is_connecting = False

    async def close(self) -> None:
        """Close the channel; bounded, as aetcd's watcher can wait forever on a full request
        queue when its stream is already gone (the channel goes all the same)."""
        try:
            await asyncio.wait_for(super().close(), 2.0)
        except asyncio.TimeoutError:
            log.info("etcd: the watcher did not shut down within 2 s; closing the channel under it")
            if self.channel is not None:
                await self.channel.close()
                self._init_channel_attrs()
            self._connected.clear()

    async def rotate(self, generation: int | None = None) -> str:
        """Close the channel and move to the next endpoint; return it. With ``generation``,
        only if the channel is still that one (several tasks seeing the same failure move
        once). Watches and lease keep-alives on the old channel end: their owners open them
        again."""
        if generation is not None and generation != self.generation:
            return self.endpoint
        self.generation += 1
        previous = self.endpoint
        await self.close()
        self._current = (self._current + 1) % len(self._targets)
        scheme, self._host, self._port = self._targets[self._current]
        # Told once per endpoint pair and ROTATION_LOG_INTERVAL: while etcd is away, every
        # request rotates, many times a second.
        now = time.monotonic()
        if self._rotation_told.get((previous, self.endpoint), float("-inf")) + ROTATION_LOG_INTERVAL <= now:
            self._rotation_told[(previous, self.endpoint)] = now
            log.info("etcd: %s does not answer; now using %s", previous, self.endpoint)
        return self.endpoint

    async def call(self, request: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """``await request()`` (a call of this client's API), tried again on the next endpoint
        while etcd is unavailable (a member down, an election under way), for up to
        ``timeout`` seconds (None: the settings' timeout).

        Raises:
            aetcd.exceptions.ConnectionFailedError, ConnectionTimeoutError: still unavailable
                when the time is up (the last failure).
            aetcd.exceptions.ClientError: any other refusal, at once.
        """
        deadline = time.monotonic() + (self.settings.timeout if timeout is None else timeout)
        while True:
            generation = self.generation
            try:
                return await request()
            except UNAVAILABLE:
                if time.monotonic() + RETRY_PAUSE >= deadline:
                    raise
                await self.rotate(generation)
            except asyncio.CancelledError:
                if cancelled():
                    raise   # the caller was cancelled
                # gRPC's: the call's channel was closed under it (another task moved it)
                if time.monotonic() + RETRY_PAUSE >= deadline:
                    raise aetcd.exceptions.ConnectionFailedError("etcd: the connection was moved to another "
                                                                 "endpoint and the time is up") from None
            await asyncio.sleep(RETRY_PAUSE)
