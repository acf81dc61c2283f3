"""A write whose outcome is unknown is not reported as a failure: OutcomeUnknown, whether a
pack daemon says so or the connection broke after the request went out. Reads ask for
linearizability when told to."""
from __future__ import annotations

import socket
import threading

import pytest
import responses

from pylxd_cluster import ClientConnectionError, ClusterError, OutcomeUnknown, Timeout
from pylxd_cluster.transport import Transport
from tests.sdk.fakes import ENDPOINT

UNKNOWN = {"type": "error", "status": "", "status_code": 0, "operation": "", "error_code": 503,
           "error": "The leader applied the change (version 7) but could not get it confirmed", "metadata": None}


def test_a_daemon_saying_the_outcome_is_unknown_raises_outcome_unknown():
    with responses.RequestsMock() as mock:
        mock.add("PUT", ENDPOINT + "/1.0/cluster/members/node1", json=UNKNOWN, status=503,
                 headers={"X-Pack-Outcome": "unknown"})
        with pytest.raises(OutcomeUnknown) as info:
            Transport(ENDPOINT).request("PUT", "/1.0/cluster/members/node1", json={})
    error = info.value
    assert isinstance(error, ClusterError) and error.status_code == 503 and error.error == UNKNOWN["error"]
    assert "read the object back" in str(error) and error.response is not None


def test_a_plain_503_is_still_an_api_error():
    with responses.RequestsMock() as mock:
        mock.add("PUT", ENDPOINT + "/1.0/cluster/members/node1", json={**UNKNOWN, "error": "no leader"}, status=503)
        with pytest.raises(ClusterError) as info:
            Transport(ENDPOINT).request("PUT", "/1.0/cluster/members/node1", json={})
    assert not isinstance(info.value, OutcomeUnknown) and info.value.status_code == 503


class _Server:
    """A loopback TCP server that reads one request, then closes (``answer=False``) or
    keeps silent."""

    def __init__(self, close: bool):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.close_after_read = close
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            conn.recv(65536)
            if self.close_after_read:
                conn.close()

    def stop(self):
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.mark.parametrize("close", [True, False], ids=["connection-dropped", "no-answer"])
def test_a_write_whose_answer_is_lost_is_outcome_unknown_a_read_is_not(close):
    server = _Server(close)
    try:
        transport = Transport(server.url, timeout=0.5)
        with pytest.raises(OutcomeUnknown) as info:
            transport.request("PATCH", "/1.0/cluster/members/node1", json={"description": "x"})
        assert info.value.status_code is None and "the request was sent" in info.value.error
        with pytest.raises(ClientConnectionError if close else Timeout):
            transport.request("GET", "/1.0/cluster/members/node1")
    finally:
        server.stop()


def test_a_write_that_could_not_connect_is_a_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]   # closed once we leave: refused
    with pytest.raises(ClientConnectionError):
        Transport(f"http://127.0.0.1:{port}", timeout=2).request("POST", "/1.0/cluster/groups", json={"name": "g"})


def test_linearizable_reads_carry_the_header_and_writes_do_not():
    with responses.RequestsMock() as mock:
        ok = {"type": "sync", "status": "Success", "status_code": 200, "operation": "", "error_code": 0, "error": "",
              "metadata": {}}
        mock.add("GET", ENDPOINT + "/1.0/cluster", json=ok)
        mock.add("PUT", ENDPOINT + "/1.0/cluster/members/node1", json=ok)
        transport = Transport(ENDPOINT, consistency="linearizable")
        transport.request("GET", "/1.0/cluster")
        transport.request("PUT", "/1.0/cluster/members/node1", json={})
        assert mock.calls[0].request.headers["X-Pack-Consistency"] == "linearizable"
        assert "X-Pack-Consistency" not in mock.calls[1].request.headers
    with pytest.raises(ValueError):
        Transport(ENDPOINT, consistency="sometimes")
