"""The real ``pylxd`` (2.4.2) against the mock LXD cluster, over loopback TCP and the unix socket.

pylxd is the client most existing code uses, so what it requests and how it reads the
replies is the contract: these tests drive it through real sockets (and once against the
mock running as its own process) and compare what it sees with the mock's state.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import signal

import pylxd
import pylxd.exceptions
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mockserver import MockCluster
from tests.support.lxc import MockProcess

MEMBER_FIELDS = ("server_name", "url", "database", "status", "message", "roles", "architecture",
                 "failure_domain", "description", "config", "groups")
OFFLINE_MESSAGE = re.compile(r"^No heartbeat for \d[\dhms.]*s \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC\)$")


@pytest.fixture(params=["tcp", "unix"])
def transport(request):
    return request.param


def connect(mock: MockCluster, transport: str) -> pylxd.Client:
    endpoint = mock.url if transport == "tcp" else mock.unix_socket
    assert endpoint, f"the mock has no {transport} listener"
    return pylxd.Client(endpoint=endpoint)


@pytest.fixture
def cluster(transport):
    with MockCluster(members=3) as mock:
        yield mock, connect(mock, transport)


def requests_of(mock: MockCluster) -> list[tuple]:
    return [(r.method, r.path, r.query, r.status) for r in mock.requests]


def assert_protocol(mock: MockCluster, transport: str) -> None:
    protocols = {r.protocol for r in mock.requests}
    assert protocols, "the mock logged no request"
    if transport == "unix":
        assert protocols == {"unix"}, protocols
    else:
        assert "unix" not in protocols, protocols


# ---- construction and /1.0/cluster -------------------------------------------------------

def test_client_construction_reads_server_info(cluster, transport):
    mock, _ = cluster
    mock.clear_requests()
    client = connect(mock, transport)
    assert requests_of(mock) == [("GET", "/1.0", {}, 200)]
    assert_protocol(mock, transport)
    assert client.trusted is True
    assert client.server_clustered is True
    assert client.host_info["api_version"] == "1.0"
    assert client.host_info["environment"]["server_name"] == "node1"
    assert client.host_info["environment"]["certificate_fingerprint"] == mock.fingerprint
    # the extensions pylxd gates cluster.get() and cluster.certificate.put() on
    for extension in ("clustering", "clustering_update_cert"):
        assert client.has_api_extension(extension), f"GET /1.0 does not advertise {extension!r}"
    if transport == "unix":
        assert client.api.scheme == "http+unix"
    else:
        assert client.api._api_endpoint == mock.url + "/1.0"


def test_cluster_get(cluster, transport):
    mock, client = cluster
    mock.clear_requests()
    info = client.cluster.get()
    assert info.server_name == "node1"
    assert info.enabled is True
    assert info.member_config == []
    assert (info.server_name, info.enabled, info.member_config) == tuple(
        mock.state.cluster_to_api()[k] for k in ("server_name", "enabled", "member_config"))
    assert requests_of(mock) == [("GET", "/1.0/cluster", {}, 200)]
    assert_protocol(mock, transport)


def test_members_all_reads_every_member_lazily_n_plus_one(cluster, transport):
    mock, client = cluster
    mock.clear_requests()
    members = client.cluster.members.all()
    # pylxd lists the URLs only (no recursion) ...
    assert requests_of(mock) == [("GET", "/1.0/cluster/members", {}, 200)]
    assert [m.server_name for m in members] == ["node1", "node2", "node3"]
    assert len(mock.requests) == 1, "server_name comes from the URL list, without a request"

    # ... then the first attribute read on each member GETs that member: N+1 requests.
    for member in members:
        expected = mock.state.member_to_api(member.server_name)
        assert member.url == expected["url"]
        for field in MEMBER_FIELDS:
            assert getattr(member, field) == expected[field], field
    names = [m.server_name for m in members]
    assert requests_of(mock) == [("GET", "/1.0/cluster/members", {}, 200)] + [
        ("GET", f"/1.0/cluster/members/{name}", {}, 200) for name in names]
    assert len(mock.requests) == len(members) + 1
    assert_protocol(mock, transport)

    # The values are the mock's state, for every member.
    assert members[0].url == "https://" + mock.url.split("://", 1)[1]  # the local member is where the mock listens
    assert members[0].roles == ["database-leader", "database"]
    assert [(m.status, m.message, m.database) for m in members] == [("Online", "Fully operational", True)] * 3


def test_members_get_and_not_found(cluster):
    mock, client = cluster
    mock.clear_requests()
    member = client.cluster.members.get("node2")
    assert requests_of(mock) == [("GET", "/1.0/cluster/members/node2", {}, 200)]
    expected = mock.state.member_to_api("node2")
    assert {field: getattr(member, field) for field in MEMBER_FIELDS} == {f: expected[f] for f in MEMBER_FIELDS}

    with pytest.raises(pylxd.exceptions.NotFound) as caught:
        client.cluster.members.get("nope")
    assert caught.value.response.status_code == 404
    assert str(caught.value) == "Cluster member not found"
    assert requests_of(mock)[-1] == ("GET", "/1.0/cluster/members/nope", {}, 404)


def test_cluster_object_members_manager_is_broken_in_pylxd(cluster):
    """pylxd 2.4.2 bug (not the mock's): Cluster.members is built without the client's
    partial, so ``cluster.get().members.get(name)`` passes the name as the client."""
    mock, client = cluster
    with pytest.raises(TypeError):
        client.cluster.get().members.get("node1")
    assert client.cluster.members.get("node1").server_name == "node1"


def test_offline_member_is_seen_by_pylxd(cluster):
    mock, client = cluster
    before = client.cluster.members.get("node3")
    assert (before.status, before.message) == ("Online", "Fully operational")

    mock.set_offline("node3")
    member = client.cluster.members.get("node3")
    assert member.status == "Offline"
    assert member.message.startswith("No heartbeat for "), member.message
    assert OFFLINE_MESSAGE.match(member.message), member.message
    assert member.database is True and member.url == mock.state.member_to_api("node3")["url"]
    # the others are untouched, and a fresh listing sees the change too
    statuses = {m.server_name: m.status for m in client.cluster.members.all()}
    assert statuses == {"node1": "Online", "node2": "Online", "node3": "Offline"}

    mock.set_online("node3")
    again = client.cluster.members.get("node3")
    assert (again.status, again.message) == ("Online", "Fully operational")


def test_members_added_and_removed_by_script_are_seen(cluster):
    mock, client = cluster
    mock.add_member("node4", description="added by the test")
    names = [m.server_name for m in client.cluster.members.all()]
    assert names == ["node1", "node2", "node3", "node4"]
    node4 = client.cluster.members.get("node4")
    assert node4.description == "added by the test" and node4.status == "Online"
    mock.remove_member("node2")
    assert [m.server_name for m in client.cluster.members.all()] == ["node1", "node3", "node4"]
    with pytest.raises(pylxd.exceptions.NotFound):
        client.cluster.members.get("node2")


def test_injected_error_reaches_pylxd(cluster):
    mock, client = cluster
    mock.inject_error("/1.0/cluster/members", 503, "cluster database is busy", times=1)
    with pytest.raises(pylxd.exceptions.LXDAPIException) as caught:
        client.cluster.members.all()
    assert caught.value.response.status_code == 503
    assert str(caught.value) == "cluster database is busy"
    assert len(client.cluster.members.all()) == 3  # times=1: the next request succeeds


# ---- enabling clustering on a standalone server ----------------------------------------------

def test_cluster_enable_bootstraps_a_standalone_server(transport):
    with MockCluster(0) as mock:
        client = connect(mock, transport)
        assert client.server_clustered is False
        before = client.cluster.get()
        assert (before.server_name, before.enabled, before.member_config) == ("", False, [])
        with pytest.raises(pylxd.exceptions.LXDAPIException) as caught:
            client.cluster.members.all()
        assert caught.value.response.status_code == 500 and str(caught.value) == "Server is not clustered"

        # pylxd's Cluster.enable gates on the "clustering_join" extension, which LXD
        # advertises whether or not the server is clustered yet.
        assert client.has_api_extension("clustering_join"), (
            "a standalone LXD advertises 'clustering_join' in GET /1.0 api_extensions; without it "
            "pylxd's cluster.enable() raises LXDAPIExtensionNotAvailable")
        mock.clear_requests()
        result = client.cluster.enable("solo")
        assert result is None  # pylxd 2.4.2 returns nothing; it raises if the operation failed

        # What pylxd 2.4.2 does: PUT /1.0/cluster, then GET the operation and GET .../wait.
        log = mock.requests
        assert [(r.method, r.path, r.status) for r in log[:1]] == [("PUT", "/1.0/cluster", 202)]
        assert json.loads(log[0].body) == {"server_name": "solo", "enabled": True}
        op_paths = [r.path for r in log[1:]]
        assert len(op_paths) == 2 and op_paths[0].startswith("/1.0/operations/")
        assert op_paths[1] == op_paths[0] + "/wait"
        assert all(r.status == 200 for r in log[1:])

        after = client.cluster.get()
        assert (after.server_name, after.enabled) == ("solo", True)
        assert list(mock.state.members) == ["solo"]
        member = client.cluster.members.get("solo")
        assert member.status == "Online" and member.database is True
        assert member.roles == ["database-leader", "database"]
        assert pylxd.Client(endpoint=mock.endpoint).server_clustered is True
        actions = [e["metadata"].get("action") for e in mock.events if e["type"] == "lifecycle"]
        assert "cluster-enabled" in actions

        # As LXD does: the bootstrap operation starts, and fails.
        with pytest.raises(pylxd.exceptions.LXDAPIException) as again:
            client.cluster.enable("solo")
        assert "Inconsistent state: found leftover cluster certificate" in str(again.value)


# ---- the cluster certificate -----------------------------------------------------------------

def make_certificate(common_name: str = "integration-test") -> tuple[str, str, str]:
    """A fresh self-signed ECDSA certificate: (cert PEM, key PEM, SHA-256 fingerprint)."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA384()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return cert_pem, key_pem, fingerprint


def test_certificate_put_replaces_the_cluster_certificate(cluster, transport):
    mock, client = cluster
    old = mock.fingerprint
    cert_pem, key_pem, fingerprint = make_certificate()
    assert fingerprint != old
    mock.clear_requests()
    assert client.cluster.certificate.put(cert_pem, key_pem) is None
    assert requests_of(mock) == [("PUT", "/1.0/cluster/certificate", {}, 200)]
    assert mock.fingerprint == fingerprint
    assert mock.state.certificate_pem == cert_pem
    # A client connecting afterwards sees the new certificate in GET /1.0.
    fresh = connect(mock, transport)
    assert fresh.host_info["environment"]["certificate_fingerprint"] == fingerprint
    assert fresh.host_info["environment"]["certificate"] == cert_pem
    events = [e for e in mock.events if e["type"] == "lifecycle"]
    assert events[-1]["metadata"]["action"] == "cluster-certificate-updated"
    assert events[-1]["metadata"]["source"] == "/1.0/cluster/certificate"


def test_certificate_put_with_bad_pem_is_refused(cluster):
    mock, client = cluster
    old = mock.fingerprint
    cert_pem, key_pem, _ = make_certificate()

    with pytest.raises(pylxd.exceptions.LXDAPIException) as caught:
        client.cluster.certificate.put("-----BEGIN CERTIFICATE-----\nnot base64!\n", key_pem)
    assert not isinstance(caught.value, pylxd.exceptions.NotFound)
    assert caught.value.response.status_code == 400
    assert caught.value.response.json()["type"] == "error"
    assert str(caught.value).startswith("Certificate must be base64 encoded PEM certificate"), str(caught.value)

    with pytest.raises(pylxd.exceptions.LXDAPIException) as caught_key:
        client.cluster.certificate.put(cert_pem, "this is no key")
    assert caught_key.value.response.status_code == 400
    assert str(caught_key.value).startswith("Private key must be base64 encoded PEM key"), str(caught_key.value)

    assert mock.fingerprint == old
    assert [r.status for r in mock.requests if r.path == "/1.0/cluster/certificate"] == [400, 400]


# ---- the mock as its own process ---------------------------------------------------------------

def test_pylxd_against_the_mock_process(short_tmp):
    sock = str(short_tmp / "lxd.socket")
    server = MockProcess("--members", "3", "--unix", sock)
    try:
        assert any(line.strip() == f"listening on unix:{sock}" for line in server.lines), server.lines
        assert "node1, node2, node3" in server.lines[0]
        assert os.path.exists(sock)

        client = pylxd.Client(endpoint=sock)
        assert client.server_clustered is True
        info = client.cluster.get()
        assert (info.server_name, info.enabled) == ("node1", True)
        members = client.cluster.members.all()
        assert [m.server_name for m in members] == ["node1", "node2", "node3"]
        assert [m.status for m in members] == ["Online"] * 3
        assert members[1].url == "https://127.0.0.2:8443"
        with pytest.raises(pylxd.exceptions.NotFound):
            client.cluster.members.get("node9")
        client.cluster.certificate.put(*make_certificate()[:2])
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0, f"mock exited {code}: {server.lines}"
    assert server.lines[-1].strip().endswith("stopped"), server.lines
    assert not os.path.exists(sock), "the mock left its unix socket behind"
