import socket

import pytest

from mockserver.daemon.config import (
    ApiConfig,
    ConfigError,
    DaemonConfig,
    PackConfig,
    PackConfigurationConfig,
    load,
    parse,
    validate,
)
from tests.daemon.config.examples import EXAMPLE, MINIMAL, pack_with


def test_the_issue_example_loads_from_a_file(tmp_path):
    path = tmp_path / "node.yaml"
    path.write_text(EXAMPLE)
    config = load(path)
    assert isinstance(config, DaemonConfig)
    assert config.source == str(path)
    assert config.pack == PackConfig(
        name="lab", secret="s3cret-lab", broadcast="127.255.255.255", interface="127.0.0.11", port=5252,
        interval=10, pack="leader", server_name="node1", keepalive_interval_ms=200, dead_interval_ms=1000,
        mcast_group=None, peers=(), expected_members=None)
    assert config.api == ApiConfig(listen=("127.0.0.11", 8443), unix="/tmp/lab/node1.socket")
    assert config.api.https is False
    assert config.pack_configuration is None
    assert [name for name, _ in config.modules] == ["Pack", "Api"]
    assert config.pack.keepalive_interval == 0.2 and config.pack.dead_interval == 1.0


def test_the_example_copies_for_node2_and_node3_load():
    for number in (2, 3):
        text = (EXAMPLE.replace("127.0.0.11", f"127.0.0.1{number}").replace("node1", f"node{number}")
                .replace("pack: leader", "pack: follower"))
        config = parse(text)
        assert config.pack.pack == "follower"
        assert config.pack.server_name == f"node{number}"
        assert config.pack.interface == f"127.0.0.1{number}"
        assert config.api.listen == (f"127.0.0.1{number}", 8443)
        assert config.api.unix == f"/tmp/lab/node{number}.socket"


def test_defaults():
    config = parse(MINIMAL)
    pack = config.pack
    assert (pack.interface, pack.port, pack.interval, pack.pack) == ("0.0.0.0", 5252, 10, "leader")
    assert pack.server_name == socket.gethostname()
    assert (pack.keepalive_interval_ms, pack.dead_interval_ms) == (5000, 20000)
    assert (pack.mcast_group, pack.peers, pack.expected_members) == (None, (), None)
    assert config.api is None
    assert config.source == "<config>"


def test_null_values_mean_the_default():
    config = parse(pack_with("port:", "interval: null", "pack:"))
    assert (config.pack.port, config.pack.interval, config.pack.pack) == (5252, 10, "leader")


def test_the_classes_are_frozen():
    config = parse(EXAMPLE)
    for obj, attr in ((config, "pack"), (config.pack, "port"), (config.api, "unix")):
        with pytest.raises(AttributeError):
            setattr(obj, attr, None)


def test_all_pack_options():
    config = parse(pack_with("interval: 3", "pack: auto", "keepalive-interval: 100", "dead-interval: 201",
                             "mcast-group: 239.251.252.253", "peers: [198.51.100.2, 'node3.lab:6000', 'db-1']",
                             "expected_members: 3", "port: 7000"))
    pack = config.pack
    assert pack.interval == 3 and pack.pack == "auto"
    assert (pack.keepalive_interval_ms, pack.dead_interval_ms) == (100, 201)
    assert pack.mcast_group == "239.251.252.253"
    # A peer without a port uses the Pack port.
    assert pack.peers == (("198.51.100.2", 7000), ("node3.lab", 6000), ("db-1", 7000))
    assert pack.expected_members == 3


def test_broadcast_is_not_needed_with_mcast_group_or_peers():
    base = "- Pack:\n    name: lab\n    secret: s\n"
    assert parse(base + "    mcast-group: 224.0.0.251\n").pack.broadcast is None
    assert parse(base + "    peers: [127.0.0.12]\n").pack.peers == (("127.0.0.12", 5252),)


def test_pre_shared_secret_is_the_same_option_as_secret():
    base = "- Pack:\n    name: lab\n    broadcast: 198.51.100.255\n"
    assert parse(base + "    pre-shared-secret: S3cr#t\n").pack.secret == "S3cr#t"
    both = parse(base + "    secret: same\n    pre-shared-secret: same\n")
    assert both.pack.secret == "same"


def test_user_modules_are_kept_in_file_order_as_given():
    text = ("- WebGui:\n    port: 8080\n    users: [a, b]\n" + MINIMAL + "- Empty:\n"
            "- Api:\n    unix: /run/x.socket\n- Nested: {a: {b: [1, 2, {c: null}]}}\n")
    config = parse(text)
    assert config.modules == (
        ("WebGui", {"port": 8080, "users": ["a", "b"]}),
        ("Pack", {"name": "lab", "secret": "s3cret", "broadcast": "198.51.100.255"}),
        ("Empty", {}),
        ("Api", {"unix": "/run/x.socket"}),
        ("Nested", {"a": {"b": [1, 2, {"c": None}]}}),
    )
    assert [name for name, _ in config.user_modules] == ["WebGui", "Empty", "Nested"]
    assert parse(__import__("yaml").safe_dump(config.to_data())).modules == config.modules


def test_pack_configuration():
    config = parse(MINIMAL + "- PackConfiguration:\n    ignore_modules: [WebGui, LocalModule]\n    interval: 10\n")
    assert config.pack_configuration == PackConfigurationConfig(pack="Pack", ignore_modules=("WebGui", "LocalModule"),
                                                                interval=10)
    defaults = parse(MINIMAL + "- PackConfiguration:\n").pack_configuration
    assert defaults == PackConfigurationConfig(pack="Pack", ignore_modules=(), interval=60)


def test_api_forms():
    def api(*lines):
        return parse(MINIMAL + "- Api:\n" + "".join(f"    {line}\n" for line in lines)).api

    assert api("listen: '[::1]:8443'").listen == ("::1", 8443)
    assert api("listen: localhost:80").listen == ("localhost", 80)
    assert api("listen: 0.0.0.0:8443").unix is None
    tls = api("listen: 127.0.0.1:8443", "tls_cert: /etc/x/cert.pem", "tls_key: /etc/x/key.pem")
    assert (tls.tls_cert, tls.tls_key, tls.https) == ("/etc/x/cert.pem", "/etc/x/key.pem", True)


def test_validate_takes_parsed_data():
    config = validate([{"Pack": {"name": "lab", "secret": "s", "broadcast": "198.51.100.255"}}, {"X": None}], "sync")
    assert config.source == "sync" and config.modules[1] == ("X", {})
    with pytest.raises(ConfigError, match=r"^sync: module Pack, key 'port': expected an integer"):
        validate([{"Pack": {"name": "lab", "secret": "s", "broadcast": "198.51.100.255", "port": "x"}}], "sync")


def test_load_reports_an_unreadable_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the file: No such file"):
        load(missing)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"- Pack: \xff\n")
    with pytest.raises(ConfigError, match=r"bin\.yaml: not UTF-8"):
        load(binary)


def test_error_messages_name_the_path_given_to_load(tmp_path):
    path = tmp_path / "node.yaml"
    path.write_text(pack_with("port: 0"))
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == f"{path}: module Pack, key 'port': expected an integer from 1 to 65535, got 0"
    assert info.value.line == 5
