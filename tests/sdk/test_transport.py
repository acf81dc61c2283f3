"""Transport: endpoints, verify/fingerprint/cert per request, connection errors."""

import os
import socket

import pytest
import responses

from pylxd_cluster import Client, ClientConnectionError, Timeout
from pylxd_cluster.transport import FingerprintAdapter, Transport, normalize_fingerprint
from tests.sdk.fakes import ENDPOINT, golden
from tests.sdk.tls import GoldenHTTPSServer, make_certificate

FP = "3fb432145bd76cc71039db0e5caa9415c6591eabf54978fb5f6e2b1781a8ab24"


def add_host_info(mock, base):
    status, headers, body = golden("GET_1.0")
    mock.add("GET", base + "/1.0", body=body, status=status, content_type="application/json")


def test_verify_false_survives_requests_ca_bundle(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with responses.RequestsMock() as mock:
        add_host_info(mock, "https://lxd.example:8443")
        Client("https://lxd.example:8443", verify=False)
        assert mock.calls[0].request.req_kwargs["verify"] is False


def test_ca_bundle_path_is_passed_per_request(monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    with responses.RequestsMock() as mock:
        add_host_info(mock, "https://lxd.example:8443")
        Client("https://lxd.example:8443", verify=str(bundle), cert=("c.crt", "c.key"))
        kwargs = mock.calls[0].request.req_kwargs
        assert kwargs["verify"] == str(bundle)
        assert kwargs["cert"] == ("c.crt", "c.key")


def test_fingerprint_pins_through_the_adapter(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    colons = ":".join(FP[i:i + 2] for i in range(0, 64, 2)).upper()
    with responses.RequestsMock() as mock:
        add_host_info(mock, "https://lxd.example:8443")
        client = Client("https://lxd.example:8443", verify=colons)
        assert mock.calls[0].request.req_kwargs["verify"] is False  # no CA check ...
    adapter = client.transport.session.get_adapter("https://lxd.example:8443/1.0")
    assert isinstance(adapter, FingerprintAdapter)  # ... the fingerprint is checked instead
    assert adapter.poolmanager.connection_pool_kw["assert_fingerprint"] == FP
    # Other hosts are not pinned to this certificate.
    assert not isinstance(client.transport.session.get_adapter("https://other:8443/"), FingerprintAdapter)


def test_normalize_fingerprint():
    assert normalize_fingerprint(FP.upper()) == FP
    assert normalize_fingerprint("sha256:" + FP) == FP
    assert normalize_fingerprint("/etc/ssl/ca.pem") is None
    assert normalize_fingerprint(FP[:-2]) is None


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_real_tls_server_with_pinned_fingerprint(tmp_path):
    cert, key, fingerprint = make_certificate(tmp_path)
    with GoldenHTTPSServer(cert, key, {"/1.0": "GET_1.0", "/1.0/cluster": "GET_1.0_cluster"}) as server:
        client = Client(server.url, verify=fingerprint, timeout=5)
        assert client.cluster.get().server_name == "node1"
        assert Client(server.url, verify=False, timeout=5).trusted
        assert Client(server.url, verify=str(cert), timeout=5).server_clustered

        wrong = "00" * 32
        with pytest.raises(ClientConnectionError) as info:
            Client(server.url, verify=wrong, timeout=5)
        assert server.url in str(info.value) and "TLS" in str(info.value)
        assert "ingerprint" in str(info.value)

        with pytest.raises(ClientConnectionError, match="TLS failure"):
            Client(server.url, verify=True, timeout=5)  # self-signed: CA check fails


def test_unix_endpoint_url_quotes_the_path():
    transport = Transport("/tmp/some dir/unix.socket")
    assert transport.kind == "unix"
    assert transport.base_url == "http+unix://%2Ftmp%2Fsome%20dir%2Funix.socket"
    assert transport.endpoint == "unix:///tmp/some dir/unix.socket"
    assert Transport("unix:///tmp/x.socket").socket_path == "/tmp/x.socket"


def test_missing_socket_file_is_a_connection_error(tmp_path):
    path = tmp_path / "gone.socket"
    with pytest.raises(ClientConnectionError) as info:
        Client(str(path))
    assert f"unix://{path}" in str(info.value)
    assert "GET /1.0" in str(info.value)


def test_refused_socket_is_a_connection_error(tmp_path):
    path = tmp_path / "dead.socket"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.close()  # the file stays, nobody listens: ECONNREFUSED
    assert os.path.exists(path)
    with pytest.raises(ClientConnectionError, match="is the server running"):
        Client(str(path))


def test_refused_tcp_is_a_connection_error():
    with pytest.raises(ClientConnectionError, match=ENDPOINT):
        Client(ENDPOINT, timeout=5)


def test_read_timeout_is_a_timeout(tmp_path):
    path = tmp_path / "slow.socket"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)  # accepts the connection, never answers
    try:
        with pytest.raises(Timeout) as info:
            Client(str(path), timeout=0.2)
        assert isinstance(info.value, TimeoutError) and "0.2" in str(info.value)
    finally:
        listener.close()


def test_session_is_reused_and_passed_in():
    import requests

    session = requests.Session()
    with responses.RequestsMock() as mock:
        add_host_info(mock, ENDPOINT)
        client = Client(ENDPOINT, session=session)
    assert client.transport.session is session
    assert repr(client) == f"<Client endpoint='{ENDPOINT}' server_name='node1' server='LXD 5.0.2'>"


def test_event_websocket_honours_fingerprint_over_tls(tmp_path):
    from pylxd_cluster import APIError

    cert, key, fingerprint = make_certificate(tmp_path)
    with GoldenHTTPSServer(cert, key, {"/1.0": "GET_1.0"}) as server:
        # The right fingerprint gets through TLS; this server then refuses the upgrade (404).
        with pytest.raises(APIError) as info:
            Transport(server.url, verify=fingerprint, timeout=5).open_websocket("/1.0/events?type=lifecycle")
        assert info.value.status_code == 404
        assert server.seen_paths == ["/1.0/events?type=lifecycle"]
        with pytest.raises(ClientConnectionError, match="fingerprint"):
            Transport(server.url, verify="11" * 32, timeout=5).open_websocket("/1.0/events")
        assert len(server.seen_paths) == 1  # refused before the handshake was sent
