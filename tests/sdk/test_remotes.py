"""Client.from_remote: lxc's and incus's client configuration (config.yml, certificates)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from pylxd_cluster import Client, ClientConnectionError, RemoteConfigError
from pylxd_cluster.remotes import config_candidates, find_config, load_remote
from tests.sdk.fakes import host_info
from tests.sdk.tls import GoldenHTTPSServer, make_certificate
from tests.sdk.unixhttp import UnixJSONServer

VARIABLES = ("LXD_CONF", "INCUS_CONF", "LXC_REMOTE", "INCUS_REMOTE", "XDG_CONFIG_HOME",
             "LXD_SOCKET", "LXD_DIR", "INCUS_SOCKET", "INCUS_DIR")


@pytest.fixture
def home(monkeypatch, tmp_path):
    """An empty HOME and no client variable set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def write_config(directory, remotes: dict, default: str | None = None, client_cert: bool = True):
    """A client configuration directory like `lxc remote add` leaves it."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {"remotes": remotes, "aliases": {}}
    if default is not None:
        document["default-remote"] = default
    (directory / "config.yml").write_text(yaml.safe_dump(document))
    if client_cert:
        make_certificate(directory, "client")
    return directory


def pin(directory, name, cert_path):
    (directory / "servercerts").mkdir(exist_ok=True)
    shutil.copy(cert_path, directory / "servercerts" / f"{name}.crt")


IMAGES = {"addr": "https://images.linuxcontainers.org", "protocol": "simplestreams", "public": True}


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_remote_with_client_cert_and_pinned_server_cert(home, tmp_path):
    cert, key, fingerprint = make_certificate(tmp_path)
    with GoldenHTTPSServer(cert, key, {"/1.0": "GET_1.0", "/1.0/cluster": "GET_1.0_cluster"}) as server:
        conf = write_config(home / ".config" / "lxc", {"prod": {"addr": server.url, "protocol": "lxd",
                                                                 "public": False}, "images": IMAGES},
                            default="prod")
        pin(conf, "prod", cert)
        for client in (Client.from_remote("prod", timeout=5), Client.from_remote(timeout=5)):
            assert client.endpoint == server.url
            assert client.transport.fingerprint == fingerprint
            assert client.transport.cert == (str(conf / "client.crt"), str(conf / "client.key"))
            assert client.server == "lxd" and client.cluster.get().server_name == "node1"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_pinned_certificate_that_differs_is_refused(home, tmp_path):
    cert, key, _ = make_certificate(tmp_path)
    other, _, _ = make_certificate(tmp_path, "other")
    with GoldenHTTPSServer(cert, key, {"/1.0": "GET_1.0"}) as server:
        conf = write_config(home / ".config" / "lxc", {"prod": {"addr": server.url, "public": False}})
        pin(conf, "prod", other)
        with pytest.raises(ClientConnectionError, match="ingerprint"):
            Client.from_remote("prod", timeout=5)


def test_without_a_pinned_certificate_the_system_cas_decide(home, tmp_path):
    cert, key, _ = make_certificate(tmp_path)
    with GoldenHTTPSServer(cert, key, {"/1.0": "GET_1.0"}) as server:
        conf = write_config(home / ".config" / "lxc", {"prod": {"addr": server.url, "public": False}})
        assert load_remote("prod").connection()["verify"] is True
        with pytest.raises(RemoteConfigError) as info:
            Client.from_remote("prod", timeout=5)       # self-signed: the CA check fails
        message = str(info.value)
        assert "TLS failure" in message and str(conf / "servercerts" / "prod.crt") in message
        assert "add the remote again" in message
        (conf / "client.ca").write_text(cert.read_text())
        assert load_remote("prod").connection()["verify"] == str(conf / "client.ca")
        assert Client.from_remote("prod", timeout=5).trusted   # the CA lxc would use


def test_local_remote_is_the_socket_of_that_clients_server(home, monkeypatch, tmp_path):
    """incus's `local` is Incus's socket, even with LXD_SOCKET set for lxc."""
    conf = write_config(tmp_path / "incus-conf", {"images": IMAGES}, client_cert=False)
    monkeypatch.setenv("INCUS_CONF", str(conf))
    monkeypatch.setenv("LXD_SOCKET", str(tmp_path / "lxd.socket"))
    path = tmp_path / "incus" / "unix.socket"
    monkeypatch.setenv("INCUS_SOCKET", str(path))
    with UnixJSONServer(path, {"/1.0": host_info(server="incus", version="6.0.4")}):
        client = Client.from_remote()                 # default-remote: local
        assert client.endpoint == f"unix://{path}" and client.server == "incus"
        assert Client.from_remote("local").server_version == "6.0.4"


def test_a_unix_remote_with_a_path(home, tmp_path):
    path = tmp_path / "other" / "unix.socket"
    write_config(home / ".config" / "lxc", {"other": {"addr": f"unix://{path}", "public": False}},
                 client_cert=False)
    assert load_remote("other").connection() == {"endpoint": str(path), "server": None}
    with UnixJSONServer(path, {"/1.0": host_info()}):
        assert Client.from_remote("other").endpoint == f"unix://{path}"


def test_default_remote_variables(home, monkeypatch):
    write_config(home / ".config" / "lxc", {"a": {"addr": "unix:///a.socket"}, "b": {"addr": "unix:///b.socket"}},
                 default="a", client_cert=False)
    assert load_remote().name == "a"
    monkeypatch.setenv("LXC_REMOTE", "b")
    assert load_remote().name == "b"
    write_config(home / ".config" / "incus", {"c": {"addr": "unix:///c.socket"}}, client_cert=False)
    monkeypatch.setenv("INCUS_REMOTE", "c")
    assert load_remote(server="incus").name == "c"
    assert find_config(server="incus").default_remote == "c"


def test_where_configurations_are_looked_for(home, monkeypatch, tmp_path):
    snap, plain = home / "snap" / "lxd" / "common" / "config", home / ".config" / "lxc"
    write_config(plain, {"plain": {"addr": "unix://"}}, client_cert=False)
    assert find_config().path == str(plain / "config.yml")
    write_config(snap, {"snap": {"addr": "unix://"}}, client_cert=False)
    assert find_config().path == str(snap / "config.yml")        # the snap's is the current one
    incus = write_config(tmp_path / "xdg" / "incus", {"i": {"addr": "unix://"}}, client_cert=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert find_config(server="incus").path == str(incus / "config.yml")
    assert find_config().server == "lxd"                          # lxc's before incus's
    monkeypatch.setenv("INCUS_CONF", str(incus))
    assert find_config().server == "incus"                        # a variable beats the default directories
    monkeypatch.setenv("LXD_CONF", str(plain))
    assert find_config().path == str(plain / "config.yml")        # LXD's variable before Incus's
    from_variables, defaults = config_candidates()
    assert [where for _, _, where in from_variables] == ["$LXD_CONF", "$INCUS_CONF"]
    assert [directory for directory, _, _ in defaults] == [str(snap), str(plain), str(tmp_path / "xdg" / "incus")]


def test_missing_configuration_names_every_file_looked_for(home, monkeypatch, tmp_path):
    with pytest.raises(RemoteConfigError) as info:
        Client.from_remote("prod")
    message = str(info.value)
    for directory in (home / "snap" / "lxd" / "common" / "config", home / ".config" / "lxc",
                      home / ".config" / "incus"):
        assert str(directory / "config.yml") in message
    assert "LXD_CONF, INCUS_CONF not set" in message and "Client()" in message
    assert isinstance(info.value, ClientConnectionError)
    monkeypatch.setenv("LXD_CONF", str(tmp_path / "nowhere"))
    write_config(home / ".config" / "lxc", {"prod": {"addr": "unix://"}}, client_cert=False)
    with pytest.raises(RemoteConfigError, match=r"no client configuration at .*nowhere/config.yml \(from \$LXD_CONF\)"):
        Client.from_remote("prod")      # set, so obeyed: no fallback to ~/.config/lxc


def test_unknown_remote_lists_the_known_ones(home):
    write_config(home / ".config" / "lxc", {"prod": {"addr": "unix://"}, "images": IMAGES}, client_cert=False)
    with pytest.raises(RemoteConfigError) as info:
        Client.from_remote("staging")
    assert "no remote 'staging'" in str(info.value) and "(remotes: images, local, prod)" in str(info.value)
    assert info.value.remote == "staging" and info.value.path == str(home / ".config" / "lxc" / "config.yml")


def test_image_servers_and_public_remotes_are_refused(home):
    write_config(home / ".config" / "lxc", {"images": IMAGES,
                                             "pub": {"addr": "https://pub.example:8443", "public": True}})
    with pytest.raises(RemoteConfigError, match="speaks simplestreams: it is an image server"):
        Client.from_remote("images")
    with pytest.raises(RemoteConfigError, match="is public"):
        Client.from_remote("pub")


def test_missing_client_certificate(home):
    conf = write_config(home / ".config" / "lxc", {"prod": {"addr": "https://127.0.0.1:8443", "public": False}},
                        client_cert=False)
    with pytest.raises(RemoteConfigError) as info:
        Client.from_remote("prod")
    message = str(info.value)
    assert str(conf / "client.crt") in message and str(conf / "client.key") in message
    assert "lxc remote list" in message and info.value.path == str(conf / "client.crt")


def test_other_authentications_and_bad_files_are_refused(home):
    conf = write_config(home / ".config" / "incus", {"sso": {"addr": "https://127.0.0.1:8443", "auth_type": "oidc"},
                                                     "bad": {"addr": "https://127.0.0.2:8443"}})
    with pytest.raises(RemoteConfigError, match="auth_type 'oidc'"):
        Client.from_remote("sso", server="incus")
    pin(conf, "bad", conf / "client.key")       # a key is not a certificate
    with pytest.raises(RemoteConfigError, match="bad.crt is not a PEM certificate"):
        Client.from_remote("bad", server="incus")
    (conf / "config.yml").write_text("remotes: [not, a, mapping]\n")
    with pytest.raises(RemoteConfigError, match="is not a client configuration"):
        Client.from_remote(config_dir=conf)
    (conf / "config.yml").write_text("remotes: {a: {addr: x\n")
    with pytest.raises(RemoteConfigError, match="cannot read the client configuration"):
        Client.from_remote(config_dir=conf)


def test_local_always_exists_and_is_the_socket(home):
    """As in lxc and incus, the file cannot make `local` anything but the local socket."""
    write_config(home / ".config" / "lxc", {"local": {"addr": "https://elsewhere:8443", "project": "p1"}},
                 client_cert=False)
    local = load_remote("local")
    assert (local.addr, local.project, local.server) == ("unix://", "p1", "lxd")
    assert local.connection() == {"endpoint": None, "server": "lxd"}
