"""Finding LXD's and Incus's local sockets: variables, default paths, their order, the errors."""

from __future__ import annotations

import socket

import pytest

from pylxd_cluster import Client, ClientConnectionError
from pylxd_cluster import sockets as sockets_module
from pylxd_cluster.sockets import find_socket
from pylxd_cluster.transport import Transport, resolve_endpoint
from tests.sdk.fakes import host_info
from tests.sdk.unixhttp import UnixJSONServer

VARIABLES = ("LXD_SOCKET", "LXD_DIR", "INCUS_SOCKET", "INCUS_DIR")


def listening(path) -> socket.socket:
    """A real listening unix socket at ``path`` (its directory created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(1)
    return sock


@pytest.fixture
def places(monkeypatch, tmp_path):
    """No variable set; the default paths moved under tmp_path (nothing exists there yet).
    Returns {name: path} for the four default sockets."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    paths = {"snap": tmp_path / "snap" / "unix.socket", "deb": tmp_path / "lib-lxd" / "unix.socket",
             "run-incus": tmp_path / "run-incus" / "unix.socket", "lib-incus": tmp_path / "lib-incus" / "unix.socket"}
    monkeypatch.setattr(sockets_module, "LXD_SOCKET_PATHS", (str(paths["snap"]), str(paths["deb"])))
    monkeypatch.setattr(sockets_module, "INCUS_SOCKET_PATHS", (str(paths["run-incus"]), str(paths["lib-incus"])))
    opened = []
    yield paths, opened
    for sock in opened:
        sock.close()


def make(places, *names):
    paths, opened = places
    for name in names:
        opened.append(listening(paths[name]))


def test_default_paths_in_order_lxd_before_incus(places):
    paths, _ = places
    make(places, "lib-incus")
    assert find_socket() == str(paths["lib-incus"])
    make(places, "run-incus")
    assert find_socket() == str(paths["run-incus"])       # /run/incus before /var/lib/incus, as incus
    make(places, "deb")
    assert find_socket() == str(paths["deb"])             # LXD before Incus
    make(places, "snap")
    assert find_socket() == str(paths["snap"])            # the snap before the package
    assert find_socket("incus") == str(paths["run-incus"])
    assert find_socket("lxd") == str(paths["snap"])


def test_lxd_socket_beats_lxd_dir_and_every_default_path(places, monkeypatch, tmp_path):
    make(places, "snap", "run-incus")
    opened = places[1]
    opened.append(listening(tmp_path / "dir" / "unix.socket"))
    opened.append(listening(tmp_path / "explicit.socket"))
    monkeypatch.setenv("LXD_DIR", str(tmp_path / "dir"))
    assert find_socket() == str(tmp_path / "dir" / "unix.socket")
    monkeypatch.setenv("LXD_SOCKET", str(tmp_path / "explicit.socket"))
    assert find_socket() == str(tmp_path / "explicit.socket")


def test_incus_variables_beat_default_paths_but_not_lxd_variables(places, monkeypatch, tmp_path):
    make(places, "snap")
    opened = places[1]
    opened.append(listening(tmp_path / "incus-dir" / "unix.socket"))
    opened.append(listening(tmp_path / "incus.socket"))
    opened.append(listening(tmp_path / "lxd.socket"))
    monkeypatch.setenv("INCUS_DIR", str(tmp_path / "incus-dir"))
    assert find_socket() == str(tmp_path / "incus-dir" / "unix.socket")   # a variable beats LXD's snap path
    monkeypatch.setenv("INCUS_SOCKET", str(tmp_path / "incus.socket"))
    assert find_socket() == str(tmp_path / "incus.socket")
    monkeypatch.setenv("LXD_SOCKET", str(tmp_path / "lxd.socket"))
    assert find_socket() == str(tmp_path / "lxd.socket")                   # LXD's variables first
    assert find_socket("incus") == str(tmp_path / "incus.socket")          # ... unless Incus is asked for
    monkeypatch.delenv("LXD_SOCKET")
    assert find_socket("lxd") == places[0]["snap"].as_posix()              # Incus's variables are not LXD's


def test_a_variable_naming_no_socket_is_an_error_not_a_fallback(places, monkeypatch, tmp_path):
    make(places, "snap", "run-incus")
    monkeypatch.setenv("LXD_SOCKET", str(tmp_path / "gone.socket"))
    monkeypatch.setenv("INCUS_SOCKET", str(tmp_path / "other.socket"))
    with pytest.raises(ClientConnectionError) as info:
        find_socket()
    message = str(info.value)
    assert f"no unix socket at {tmp_path / 'gone.socket'} (from $LXD_SOCKET)" in message
    assert "$INCUS_SOCKET" in message and "was not tried" in message and "unset $LXD_SOCKET" in message
    monkeypatch.delenv("LXD_SOCKET")
    monkeypatch.setenv("LXD_DIR", str(tmp_path / "empty"))
    with pytest.raises(ClientConnectionError, match=r"from \$LXD_DIR/unix.socket"):
        Client()


def test_nothing_found_names_every_place_looked_at(places):
    paths, _ = places
    with pytest.raises(ClientConnectionError) as info:
        Client()
    message = str(info.value)
    assert "no LXD or Incus unix socket found" in message and "is the server running" in message
    for path in paths.values():
        assert str(path) in message
    for variable in VARIABLES:
        assert variable in message
    with pytest.raises(ClientConnectionError) as info:
        Client(server="incus")
    assert "no Incus unix socket found" in str(info.value) and str(paths["snap"]) not in str(info.value)
    assert "LXD_SOCKET" not in str(info.value)


def test_server_argument_is_checked(places, tmp_path):
    with pytest.raises(ValueError, match="'lxd', 'incus'"):
        find_socket("docker")
    with pytest.raises(ValueError, match="without an endpoint"):
        Transport(str(tmp_path / "x.socket"), server="lxd")
    assert resolve_endpoint("unix:///tmp/x.socket") == ("unix", "/tmp/x.socket")


def test_client_finds_and_talks_to_incus(places, monkeypatch, tmp_path):
    """A real HTTP server on the socket INCUS_SOCKET names: the client knows it is Incus."""
    path = tmp_path / "incus" / "unix.socket"
    monkeypatch.setenv("INCUS_SOCKET", str(path))
    with UnixJSONServer(path, {"/1.0": host_info(server="incus", version="6.0.4")}) as server:
        client = Client()
        assert client.endpoint == f"unix://{path}"
        assert (client.server, client.server_version) == ("incus", "6.0.4")
        assert server.seen == ["/1.0"]
        client.close()
