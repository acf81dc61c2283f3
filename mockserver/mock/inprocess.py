"""In-process mode: the mock's state machine behind ``responses``, with no socket at all.

For unit tests of code that uses our SDK or pylxd over HTTP::

    with InProcessMock(members=3) as mock:
        client = pylxd.Client(endpoint=mock.url)
        mock.set_offline("node2")

Every request to ``url`` is answered by the same handlers the real server runs, with
injected faults and latency. Operations complete as soon as their reply is sent. Event websockets need a real server
(:class:`~mockserver.mock.cluster.MockCluster`).
"""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlsplit

from mockserver import profiles
from mockserver.api import ApiRequest, ForwardTo, StreamEvents, WaitForOperation
from mockserver.api.handlers.operations import wait_reply
from mockserver.mock.cluster import MockCluster
from mockserver.mock.routes import mock_api
from mockserver.mock.scripting import Script
from mockserver.state import ClusterState, DeferredScheduler
from mockserver.wire import error_reply

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class InProcessMock(MockCluster):
    """A MockCluster whose transport is ``responses`` instead of sockets.

    ``responses_mock`` is an existing ``responses.RequestsMock`` to register on (e.g. the
    ``responses`` fixture's); by default one is created and started for the context.
    """

    def __init__(self, members: int = 3, *, url: str = "http://127.0.0.1:8443", strict: bool = False,
                 name_prefix: str = "node", responses_mock=None, assert_all_requests_are_fired: bool = False,
                 server: str = profiles.DEFAULT, friendly_errors: bool = False):
        self.state = ClusterState(members, name_prefix=name_prefix, scheduler=DeferredScheduler(),
                                  local_address=urlsplit(url).netloc,
                                  profile=profiles.profile(server, friendly=friendly_errors))
        self.script = Script()
        self.api = mock_api(self.state, self.script, strict=strict, addresses=[urlsplit(url).netloc])
        self._url = url.rstrip("/")
        self._responses = responses_mock
        self._owns_responses = responses_mock is None
        self._assert_fired = assert_all_requests_are_fired

    def start(self) -> InProcessMock:
        import responses

        if self._responses is None:
            self._responses = responses.RequestsMock(assert_all_requests_are_fired=self._assert_fired)
        pattern = re.compile(re.escape(self._url) + r"(/.*)?$")
        for method in METHODS:
            self._responses.add_callback(method, pattern, callback=self._callback)
        if self._owns_responses:
            self._responses.start()
        return self

    def stop(self) -> None:
        if self._owns_responses and self._responses is not None:
            self._responses.stop()
            self._responses.reset()

    @property
    def url(self) -> str:
        return self._url

    @property
    def unix_socket(self):
        return None

    def reset(self) -> None:
        self.state.reset()
        self.script.reset()

    def _callback(self, prepared):
        parts = urlsplit(prepared.url)
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        req = ApiRequest(prepared.method, parts.path or "/", dict(parse_qsl(parts.query)), dict(prepared.headers),
                         body, protocol="http", remote="127.0.0.1:0")
        delay = self.api.latency(req)
        if delay:
            time.sleep(delay)
        result = self.api.handle(req)
        scheduler: DeferredScheduler = self.state.scheduler
        scheduler.drain()
        if isinstance(result, WaitForOperation):
            result = wait_reply(self.state, result.operation)
        elif isinstance(result, ForwardTo):
            result = error_reply(503, "Forwarding to another member needs a real server")
        elif isinstance(result, StreamEvents):
            result = error_reply(501, "Event streams need a real server: use MockCluster instead of InProcessMock")
        return result.status, result.headers, result.body
