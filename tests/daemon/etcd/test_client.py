"""The client's retry rule (no etcd needed: a request is any awaitable the caller passes).

gRPC cancels a call whose channel is closed under it (another task moved the client to the
next endpoint) by raising CancelledError in the caller. That is a failed call, tried again;
only a cancellation of the calling task itself ends the caller.
"""
from __future__ import annotations

import asyncio

import aetcd
import pytest

from mockserver.daemon.etcd.client import EtcdClient, EtcdSettings

SETTINGS = EtcdSettings(("http://127.0.0.1:1",), timeout=1.0)


def test_a_call_cancelled_by_grpc_is_tried_again():
    async def scenario():
        client, attempts = EtcdClient(SETTINGS), []

        async def request():
            attempts.append(1)
            if len(attempts) == 1:
                raise asyncio.CancelledError()   # as gRPC does when the channel closes under the call
            return "answered"

        assert await client.call(request) == "answered"
        assert len(attempts) == 2

    asyncio.run(scenario())


def test_a_call_cancelled_by_grpc_until_the_time_is_up_is_a_connection_failure():
    async def scenario():
        client = EtcdClient(SETTINGS)

        async def request():
            raise asyncio.CancelledError()

        with pytest.raises(aetcd.exceptions.ConnectionFailedError):
            await client.call(request, timeout=0.2)

    asyncio.run(scenario())


def test_cancelling_the_caller_ends_the_call():
    async def scenario():
        client, started = EtcdClient(SETTINGS), asyncio.Event()

        async def request():
            started.set()
            await asyncio.Event().wait()   # never answers: only a cancellation ends it

        task = asyncio.ensure_future(client.call(request))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
