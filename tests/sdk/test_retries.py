"""Retries on a real network: idempotent requests retried on 503 and dropped connections with
backoff and Retry-After, writes never sent twice, and the debug log of each request."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import socketserver
import threading

import pytest
import responses
import urllib3.util.retry
from urllib3.util.retry import Retry

from pylxd_cluster import APIError, Client, ClientConnectionError, OutcomeUnknown
from pylxd_cluster.transport import DEFAULT_RETRIES, IdempotentRetry, Transport, make_retry
from tests.sdk.fakes import ENDPOINT, golden

HOST_INFO = golden("GET_1.0")[2]
CLUSTER = json.dumps({"type": "sync", "status": "Success", "status_code": 200, "operation": "", "error_code": 0,
                      "error": "", "metadata": {"server_name": "node1", "enabled": True,
                                                "member_config": []}}).encode()
BUSY = b'{"type":"error","status":"","status_code":0,"operation":"","error_code":503,' \
       b'"error":"The member is starting; retry in a moment","metadata":null}'
DROP = "drop"   # read the request, then close the connection without a word


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ScriptedServer:
    """An HTTP server on loopback: GET /1.0 is answered with the golden capture; every other
    request takes the next step of ``script`` (``(status, headers, body)`` or DROP), and the
    last step repeats. ``seen`` lists ``(method, path)`` of those requests."""

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.seen: list[tuple[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except ConnectionError:
                    self.close_connection = True

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path == "/1.0":
                    step = (200, {}, HOST_INFO)
                else:
                    server.seen.append((self.command, self.path))
                    step = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if step == DROP:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, headers, body = step
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer  # noqa: N815 - http.server's naming

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sleeps(monkeypatch):
    """The pauses urllib3 makes between attempts, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", slept.append)
    return slept


def test_a_503_to_a_get_is_retried_with_backoff(sleeps):
    with ScriptedServer([(503, {}, BUSY), (503, {}, BUSY), (200, {}, CLUSTER)]) as server:
        with Client(server.url) as client:
            assert client.cluster.get().server_name == "node1"
    assert server.seen == [("GET", "/1.0/cluster")] * 3
    assert len(sleeps) == 2 and 0.2 <= sleeps[0] < sleeps[1] <= 2.0 + 0.05


def test_retry_after_is_honoured(sleeps):
    with ScriptedServer([(503, {"Retry-After": "3"}, BUSY), (200, {}, CLUSTER)]) as server:
        with Client(server.url) as client:
            client.cluster.get()
    assert sleeps == [3.0]


def test_retry_after_is_capped(sleeps):
    with ScriptedServer([(503, {"Retry-After": "3600"}, BUSY), (200, {}, CLUSTER)]) as server:
        with Client(server.url) as client:
            client.cluster.get()
    assert sleeps == [10.0]


def test_a_503_to_a_write_is_not_retried(sleeps):
    with ScriptedServer([(503, {}, BUSY), (200, {}, CLUSTER)]) as server:
        with Client(server.url) as client, pytest.raises(APIError) as caught:
            client.transport.request("PUT", "/1.0/cluster", json={"enabled": True})
    assert caught.value.status_code == 503 and "retry in a moment" in caught.value.error
    assert server.seen == [("PUT", "/1.0/cluster")] and sleeps == []


def test_a_dropped_connection_is_retried_for_a_get(sleeps):
    with ScriptedServer([DROP, (200, {}, CLUSTER)]) as server:
        with Client(server.url) as client:
            assert client.cluster.get().enabled is True
    assert server.seen == [("GET", "/1.0/cluster")] * 2


def test_a_dropped_connection_is_never_retried_for_a_write(sleeps):
    with ScriptedServer([DROP, (200, {}, CLUSTER)]) as server:
        with Client(server.url) as client, pytest.raises(OutcomeUnknown):
            client.transport.request("POST", "/1.0/cluster/members", json={"server_name": "x"})
    assert server.seen == [("POST", "/1.0/cluster/members")]


def test_retries_zero_disables_them(sleeps):
    with ScriptedServer([(503, {}, BUSY), (200, {}, CLUSTER)]) as server:
        with Client(server.url, retries=0) as client, pytest.raises(APIError) as caught:
            client.cluster.get()
    assert caught.value.status_code == 503 and server.seen == [("GET", "/1.0/cluster")]


def test_a_refused_connection_is_retried_then_reported(sleeps):
    with socket.socket() as probe:          # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ClientConnectionError, match="cannot connect"):
        Client(f"http://127.0.0.1:{port}", retries=2)
    assert len(sleeps) == 2


def test_a_refused_write_is_retried_as_it_never_reached_the_server():
    retry = make_retry(3)
    error = urllib3.exceptions.NewConnectionError(None, "refused")
    assert retry.increment("POST", "/1.0/cluster/members", error=error).connect == 2


def test_timeouts_are_not_retried():
    retry = make_retry(3)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        retry.increment("GET", "/1.0", error=urllib3.exceptions.ReadTimeoutError(None, "/1.0", "slow"))


def test_the_policy_is_configurable():
    assert isinstance(make_retry(None), IdempotentRetry) and make_retry(None).total == DEFAULT_RETRIES
    assert make_retry(None).allowed_methods == frozenset({"GET", "HEAD"})
    assert make_retry(None).status_forcelist == frozenset({503})
    own = Retry(total=7)
    transport = Transport(ENDPOINT, retries=own)
    assert transport.session.get_adapter(ENDPOINT + "/1.0").max_retries is own
    with pytest.raises(ValueError, match="retries"):
        make_retry(-1)


def test_the_unix_socket_adapter_has_the_policy(tmp_path):
    transport = Transport(str(tmp_path / "lxd.socket"), retries=5)
    assert transport.session.get_adapter(transport.url("/1.0")).max_retries.total == 5


def test_each_request_is_logged_without_secrets(caplog):
    token = {"type": "async", "status": "Operation created", "status_code": 100, "operation": "/1.0/operations/1",
             "error_code": 0, "error": "", "metadata": {"id": "1", "metadata": {"secret": "s3cr3t-value"}}}
    with responses.RequestsMock() as mock:
        mock.add("GET", ENDPOINT + "/1.0", body=HOST_INFO, content_type="application/json")
        mock.add("POST", ENDPOINT + "/1.0/cluster/members", json=token, status=202)
        mock.add("GET", ENDPOINT + "/1.0/operations", json={"type": "sync", "metadata": {}})
        with caplog.at_level(logging.DEBUG, logger="pylxd_cluster"):
            client = Client(ENDPOINT)
            client.transport.request("POST", "/1.0/cluster/members", json={"server_name": "new"})
            client.transport.request("GET", "/1.0/operations", params={"secret": "s3cr3t-value"})
    lines = [record.getMessage() for record in caplog.records if record.name == "pylxd_cluster.transport"]
    assert lines[0].startswith("GET /1.0 -> 200 in ") and lines[0].endswith(" ms")
    assert lines[1].startswith("POST /1.0/cluster/members -> 202 in ")
    assert lines[2].startswith("GET /1.0/operations?secret=%2A%2A%2A -> 200")
    assert not any("s3cr3t" in line or "new" in line for line in lines)


def test_a_failure_is_logged(caplog):
    with caplog.at_level(logging.DEBUG, logger="pylxd_cluster.transport"), pytest.raises(ClientConnectionError):
        Client(ENDPOINT, retries=0)
    assert any(r.getMessage().startswith("GET /1.0 -> ConnectionError after") for r in caplog.records)
