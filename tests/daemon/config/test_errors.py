"""Every validation rule, with the exact message: file, module, key, what was expected."""
import pytest

from mockserver.daemon.config import ConfigError, parse
from tests.daemon.config.examples import EXAMPLE, MINIMAL, pack_with

F = "node.yaml"


# --- the file's shape ---------------------------------------------------------------------

def test_yaml_syntax_error_reports_the_line(refused):
    error = refused("- Pack:\n    name: lab\n    secret: a: b\n")
    assert str(error).startswith(f"{F}: line 3: YAML syntax error: mapping values are not allowed here")
    assert error.line == 3


def test_yaml_syntax_error_in_an_unclosed_flow_mapping(refused):
    error = refused("- Pack: {name: lab,\n\n\n- Api: x\n")
    assert str(error).startswith(f"{F}: line ")
    assert "YAML syntax error" in str(error)
    assert error.line is not None and error.line >= 2


@pytest.mark.parametrize("text, got", [
    ("Pack:\n  name: lab\n", "a mapping"),
    ("", "an empty file"),
    ("# only a comment\n", "an empty file"),
    ("hello\n", "'hello'"),
])
def test_the_file_must_be_a_list_of_modules(refused, text, got):
    assert str(refused(text)) == f"{F}: expected a list of modules (- ModuleName: {{...}}), got {got}"


def test_a_list_item_must_be_one_module(refused):
    assert str(refused("- Pack\n")) == f"{F}: item 1: expected '- ModuleName: {{options}}', got 'Pack'"
    error = refused(MINIMAL + "- Api:\n  listen: 127.0.0.1:80\n")
    assert str(error) == (f"{F}: item 2: expected one module per list item, got keys 'Api', 'listen'"
                          " (are the options indented under the module name?)")
    assert error.line == 5


def test_module_options_must_be_a_mapping(refused):
    assert (
        str(refused(MINIMAL + "- Extra: [1, 2]\n")) == f"{F}: module Extra: expected a mapping of options, got a list"
    )
    assert str(refused("- Pack: lab\n")) == f"{F}: module Pack: expected a mapping of options, got 'lab'"


def test_pack_is_required(refused):
    assert str(refused("- Api:\n    unix: /x\n")) == f"{F}: missing required module Pack"
    assert str(refused("- Pakc:\n    name: x\n")) == f"{F}: missing required module Pack (did you mean 'Pakc'?)"


def test_known_modules_appear_once(refused):
    assert str(refused(MINIMAL + MINIMAL)) == f"{F}: module Pack given twice (items 1 and 2)"
    api = "- Api:\n    unix: /x\n"
    error = refused(MINIMAL + api + api)
    assert str(error) == f"{F}: module Api given twice (items 2 and 3)"
    assert (error.module, error.line) == ("Api", 7)
    conf = "- PackConfiguration:\n"
    assert str(refused(MINIMAL + conf + conf)) == f"{F}: module PackConfiguration given twice (items 2 and 3)"


def test_a_known_module_name_in_the_wrong_case_is_refused(refused):
    assert str(refused(MINIMAL + "- api:\n    unix: /x\n")) == (
        f"{F}: module api: did you mean 'Api'? (module names are case-sensitive)")


def test_duplicate_keys_are_refused(refused):
    error = refused(pack_with("port: 1", "port: 2"))
    assert str(error) == f"{F}: module Pack, key 'port': given twice (lines 5 and 6)"
    assert str(refused(MINIMAL + "- Mine:\n    a: {b: 1, b: 2}\n")) == (
        f"{F}: module Mine, key 'b': given twice (lines 6 and 6)")


def test_recursive_aliases_in_user_modules_are_refused_without_hanging(refused):
    # Config sync sends user modules as JSON, which has no cycles: refused at load, named.
    error = refused(MINIMAL + "- Mine: &m {self: *m}\n")
    assert (error.module, error.key) == ("Mine", "self")
    assert "nested deeper than 64 levels (a YAML alias inside itself?)" in str(error)


@pytest.mark.parametrize("value, reason", [
    ("2024-01-01", "a date is not a JSON value (quote it to make it a string)"),
    (".inf", "the number inf cannot be carried in JSON"),
    ('"\\ud800x"', "a lone UTF-16 surrogate (such as \\ud800) cannot be carried in UTF-8"),
])
def test_user_module_values_json_cannot_carry_are_refused(refused, value, reason):
    error = refused(MINIMAL + f"- Mine:\n    when: {value}\n")
    assert str(error) == f"{F}: module Mine, key 'when': {reason}"
    assert (error.module, error.key) == ("Mine", "when")


# --- Pack ---------------------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["name", "secret"])
def test_missing_required_key(refused, missing):
    lines = [line for line in MINIMAL.splitlines(True) if not line.strip().startswith(missing + ":")]
    error = refused("".join(lines))
    alternatives = "'join_token'" if missing == "name" else "'join_token' or 'etcd-endpoints'"
    assert str(error) == f"{F}: module Pack: missing required key {missing!r} (or give {alternatives})"
    assert (error.source, error.module, error.key) == (F, "Pack", None)


def test_a_required_key_given_as_null_is_missing(refused):
    assert str(refused("- Pack:\n    name:\n    secret: s\n    broadcast: 1.2.3.4\n")) == (
        f"{F}: module Pack: missing required key 'name' (or give 'join_token')")


def test_missing_broadcast_names_the_alternatives(refused):
    expected = (f"{F}: module Pack: missing required key 'broadcast' (or give 'mcast-group' or 'peers' or"
                " 'join_token' or 'discovery' or 'etcd-endpoints')")
    assert str(refused("- Pack:\n    name: lab\n    secret: s\n")) == expected
    assert str(refused("- Pack:\n    name: lab\n    secret: s\n    peers: []\n")) == expected


ETCD = "- Pack:\n    name: lab\n    backend: etcd\n"


@pytest.mark.parametrize("lines, key, reason", [
    ("", None, "missing required key 'secret' (or give 'join_token' or 'etcd-endpoints')"),
    ("    etcd-endpoints: []\n", None,
     "missing required key 'secret' (or give 'join_token' or 'etcd-endpoints')"),
    ("    etcd-endpoints: [ftp://127.0.0.1:2379]\n", "etcd-endpoints",
     "item 1: an etcd endpoint is http(s)://host:port, not 'ftp://127.0.0.1:2379'"),
    ("    etcd-endpoints: [https://127.0.0.1:2379/v3]\n", "etcd-endpoints",
     "item 1: an etcd endpoint is http(s)://host:port with no path, not 'https://127.0.0.1:2379/v3'"),
    ("    etcd-endpoints: [https://127.0.0.1:2379]\n    etcd-cert: /etc/hostname\n", "etcd-key",
     "required when 'etcd-cert' is given (both or neither)"),
    ("    etcd-endpoints: [https://127.0.0.1:2379]\n    etcd-ca: /nonexistent/ca.pem\n", "etcd-ca",
     "cannot read '/nonexistent/ca.pem' (a PEM file this member's user can read)"),
    ("    etcd-endpoints: [https://127.0.0.1:2379]\n    etcd-prefix: pylxd\n", "etcd-prefix",
     "an absolute key prefix such as '/pylxd-cluster', got 'pylxd'"),
])
def test_etcd_backend_keys_are_checked(refused, lines, key, reason):
    error = refused(ETCD + lines)
    where = f"module Pack, key {key!r}" if key else "module Pack"
    assert str(error) == f"{F}: {where}: {reason}"
    assert (error.module, error.key) == ("Pack", key)


def test_etcd_keys_mean_nothing_to_the_pack_backend(refused):
    error = refused(MINIMAL.replace("- Pack:\n", "- Pack:\n    etcd-endpoints: [https://127.0.0.1:2379]\n"))
    assert str(error) == f"{F}: module Pack, key 'etcd-endpoints': only used with 'backend: etcd' (this member's " \
                         "backend is 'pack')"


def test_an_etcd_member_needs_no_secret_nor_broadcast(tmp_path):
    from mockserver.daemon.config import load

    path = tmp_path / "node.yaml"
    path.write_text(ETCD + "    etcd-endpoints: ['127.0.0.1:2379', 'https://[::1]:2380']\n")
    pack = load(str(path)).pack
    assert (pack.backend, pack.etcd_endpoints, pack.secret, pack.etcd_prefix) == (
        "etcd", ("http://127.0.0.1:2379", "https://[::1]:2380"), None, "/pylxd-cluster")


def test_unknown_key_with_a_suggestion(refused):
    error = refused(pack_with("secrte: x"))
    assert str(error) == f"{F}: module Pack, unknown key 'secrte' (did you mean 'secret'?)"
    assert (error.module, error.key, error.line) == ("Pack", "secrte", 5)
    assert str(refused(pack_with("keepalive_interval: 100"))) == (
        f"{F}: module Pack, unknown key 'keepalive_interval' (did you mean 'keepalive-interval'?)")


def test_unknown_key_without_a_suggestion_lists_the_keys(refused):
    assert str(refused(pack_with("zzz: 1"))) == (
        f"{F}: module Pack, unknown key 'zzz' (known keys: name, secret, broadcast, interface, port, interval,"
        " pack, server_name, keepalive-interval, dead-interval, monitor-dead-interval, mcast-group, peers,"
        " discovery, on-join, on-leave, on-failed, on-leader-change, hook-timeout, hook-plugins, wait-for-members,"
        " wait-timeout, expected_members, join_token, join_token_expiry, backend, etcd-endpoints, etcd-cert,"
        " etcd-key, etcd-ca, etcd-prefix)"
    )


@pytest.mark.parametrize(
    "line, key, expected",
    [
        ("port: abc", "port", "expected an integer from 1 to 65535, got 'abc'"),
        ("port: true", "port", "expected an integer from 1 to 65535, got true"),
        ("port: 0", "port", "expected an integer from 1 to 65535, got 0"),
        ("port: 65536", "port", "expected an integer from 1 to 65535, got 65536"),
        ("port: 52.5", "port", "expected an integer from 1 to 65535, got 52.5"),
        ("port: '5252'", "port", "expected an integer from 1 to 65535, got '5252'"),
        ("interval: 0", "interval", "expected an integer >= 1, got 0"),
        ("interval: false", "interval", "expected an integer >= 1, got false"),
        ("keepalive-interval: 49", "keepalive-interval", "expected an integer >= 50, got 49"),
        ("dead-interval: 0", "dead-interval", "expected an integer >= 1, got 0"),
        ("expected_members: 0", "expected_members", "expected an integer >= 1, got 0"),
        ("expected_members: yes", "expected_members", "expected an integer >= 1, got true"),
        ("pack: boss", "pack", "expected one of 'leader', 'follower', 'auto', got 'boss'"),
        ("pack: [leader]", "pack", "expected one of 'leader', 'follower', 'auto', got a list"),
        ("interface: 300.1.1.1", "interface", "expected an IPv4 address, got '300.1.1.1'"),
        ("interface: eth0", "interface", "expected an IPv4 address, got 'eth0'"),
        ("interface: '::1'", "interface", "expected an IPv4 address, got '::1'"),
        ("server_name: a/b", "server_name", "expected a non-empty string without '/' of at most 64 bytes, got 'a/b'"),
        ("server_name: ''", "server_name", "expected a non-empty string without '/' of at most 64 bytes, got ''"),
        (
            "mcast-group: 198.51.100.1",
            "mcast-group",
            "expected an IPv4 multicast address (224.0.0.0/4), got '198.51.100.1'",
        ),
        ("mcast-group: ff02::1", "mcast-group", "expected an IPv4 multicast address (224.0.0.0/4), got 'ff02::1'"),
        ("peers: 198.51.100.2", "peers", "expected a list, got '198.51.100.2'"),
        (
            "peers: ['x:0']",
            "peers",
            "item 1: expected 'host' or 'host:port' (an IPv4 address or a name, port 1 to 65535), got 'x:0'",
        ),
        (
            "peers: [a, 'b:http']",
            "peers",
            "item 2: expected 'host' or 'host:port' (an IPv4 address or a name, port 1 to 65535), got 'b:http'",
        ),
        (
            "peers: ['[::1]:5252']",
            "peers",
            "item 1: expected 'host' or 'host:port' (an IPv4 address or a name, port 1 to 65535), got '[::1]:5252'",
        ),
        (
            "peers: [999.1.1.1]",
            "peers",
            "item 1: expected 'host' or 'host:port' (an IPv4 address or a name, port 1 to 65535), got '999.1.1.1'",
        ),
        (
            "peers: [{a: 1}]",
            "peers",
            "item 1: expected 'host' or 'host:port' (an IPv4 address or a name, port 1 to 65535), got a mapping",
        ),
    ],
)
def test_pack_values(refused, line, key, expected):
    error = refused(pack_with(line))
    assert str(error) == f"{F}: module Pack, key {key!r}: {expected}"
    assert (error.module, error.key, error.line) == ("Pack", key, 5)


@pytest.mark.parametrize("key", ["name", "secret"])
def test_strings_that_yaml_reads_as_numbers_say_to_quote_them(refused, key):
    text = MINIMAL.replace(f"{key}: ", f"{key}: 0123  # ")
    assert str(refused(text)) == (f"{F}: module Pack, key {key!r}: expected a non-empty string, got 83"
                                  " (YAML read it as a number or boolean; put it in quotes)")


def test_broadcast_must_be_ipv4(refused):
    text = MINIMAL.replace("198.51.100.255", "198.51.100.256")
    assert str(refused(text)) == f"{F}: module Pack, key 'broadcast': expected an IPv4 address, got '198.51.100.256'"


def test_dead_interval_must_be_more_than_twice_keepalive(refused):
    error = refused(pack_with("keepalive-interval: 200", "dead-interval: 300"))
    assert str(error) == (f"{F}: module Pack, key 'dead-interval': must be more than 2 x keepalive-interval"
                          " (2 x 200 = 400 ms), got 300")
    assert error.line == 6
    # Exactly twice is not more than twice.
    assert "got 400" in str(refused(pack_with("keepalive-interval: 200", "dead-interval: 400")))
    assert parse(pack_with("keepalive-interval: 200", "dead-interval: 401")).pack.dead_interval_ms == 401
    # Against the default keepalive-interval (5000).
    assert str(refused(pack_with("dead-interval: 10000"))) == (
        f"{F}: module Pack, key 'dead-interval': must be more than 2 x keepalive-interval"
        " (2 x 5000 = 10000 ms), got 10000")
    # A keepalive raised without the dead-interval breaks the default dead-interval.
    assert "(2 x 10000 = 20000 ms), got 20000" in str(refused(pack_with("keepalive-interval: 10000")))


def test_secret_and_pre_shared_secret_must_agree(refused):
    error = refused(pack_with("pre-shared-secret: other"))
    assert str(error) == (f"{F}: module Pack, key 'pre-shared-secret': conflicts with 'secret'"
                          " (give one of them, or the same value)")
    assert error.key == "pre-shared-secret"
    assert str(refused(pack_with("pre-shared-secret: 5"))) == (
        f"{F}: module Pack, key 'pre-shared-secret': expected a non-empty string, got 5"
        " (YAML read it as a number or boolean; put it in quotes)")


def test_pack_options_must_be_a_mapping(refused):
    assert str(refused("- Pack: [name, lab]\n")) == f"{F}: module Pack: expected a mapping of options, got a list"


# --- Api ----------------------------------------------------------------------------------

def api(*lines: str) -> str:
    return MINIMAL + "- Api:\n" + "".join(f"    {line}\n" for line in lines)


def test_api_needs_listen_or_unix(refused):
    for text in (MINIMAL + "- Api:\n", api("tls_cert: c", "tls_key: k")):
        error = refused(text)
        assert str(error) == f"{F}: module Api: expected at least one of 'listen' or 'unix'"
        assert (error.module, error.key) == ("Api", None)


@pytest.mark.parametrize("value", ["127.0.0.1", "::1:8443", "[::1]8443", "[zz::1]:80", "[::1]:", ":8443",
                                   "host:0", "host:99999", "bad_host!:80", "1.2.3.999:80", "[1.2.3.4]:80"])
def test_api_listen_is_host_port(refused, value):
    error = refused(api(f"listen: '{value}'"))
    assert str(error) == (f"{F}: module Api, key 'listen': expected 'host:port' (IPv6 in brackets, e.g. "
                          f"'[::1]:8443'), got {value!r}")
    assert (error.key, error.line) == ("listen", 6)


def test_api_listen_given_as_a_number(refused):
    assert str(refused(api("listen: 8443"))) == (
        f"{F}: module Api, key 'listen': expected 'host:port' (IPv6 in brackets, e.g. '[::1]:8443'), got 8443"
        " (YAML read it as a number or boolean; put it in quotes)")


def test_api_unix_path(refused):
    assert str(refused(api("unix: ''"))) == (
        f"{F}: module Api, key 'unix': expected a socket path of at most 107 bytes, got ''")
    long = "/tmp/" + "x" * 103
    assert str(refused(api(f"unix: {long}"))) == (
        f"{F}: module Api, key 'unix': expected a socket path of at most 107 bytes, got {long!r}")
    assert parse(api("unix: /tmp/" + "x" * 102)).api.unix.endswith("x")


def test_api_tls_cert_and_key_go_together(refused):
    assert str(refused(api("listen: 127.0.0.1:8443", "tls_cert: /c.pem"))) == (
        f"{F}: module Api, key 'tls_key': required when 'tls_cert' is given (both or neither)")
    assert str(refused(api("listen: 127.0.0.1:8443", "tls_key: /k.pem"))) == (
        f"{F}: module Api, key 'tls_cert': required when 'tls_key' is given (both or neither)")
    assert str(refused(api("unix: /x", "tls_cert: /c.pem", "tls_key: /k.pem"))) == (
        f"{F}: module Api, key 'tls_cert': needs 'listen' (TLS applies to the TCP listener)")
    assert str(refused(api("listen: 127.0.0.1:8443", "tls_cert: 1", "tls_key: /k.pem"))) == (
        f"{F}: module Api, key 'tls_cert': expected a non-empty string, got 1"
        " (YAML read it as a number or boolean; put it in quotes)")


def test_api_unknown_key(refused):
    assert (
        str(refused(api("listne: 127.0.0.1:80"))) == f"{F}: module Api, unknown key 'listne' (did you mean 'listen'?)"
    )


# --- PackConfiguration --------------------------------------------------------------------

def conf(*lines: str) -> str:
    return MINIMAL + "- PackConfiguration:\n" + "".join(f"    {line}\n" for line in lines)


@pytest.mark.parametrize("line, key, expected", [
    ("pack: Pak", "pack", "expected the name of the pack module ('Pack'), got 'Pak'"),
    ("pack: 3", "pack", "expected a non-empty string, got 3 (YAML read it as a number or boolean; put it in quotes)"),
    ("ignore_modules: WebGui", "ignore_modules", "expected a list, got 'WebGui'"),
    ("ignore_modules: [WebGui, 5]", "ignore_modules",
     "item 2: expected a non-empty string, got 5 (YAML read it as a number or boolean; put it in quotes)"),
    ("interval: 0", "interval", "expected an integer >= 1, got 0"),
    ("interval: '60'", "interval", "expected an integer >= 1, got '60'"),
])
def test_pack_configuration_values(refused, line, key, expected):
    error = refused(conf(line))
    assert str(error) == f"{F}: module PackConfiguration, key {key!r}: {expected}"
    assert error.line == 6


def test_pack_configuration_unknown_key(refused):
    assert str(refused(conf("ignore-modules: [A]"))) == (
        f"{F}: module PackConfiguration, unknown key 'ignore-modules' (did you mean 'ignore_modules'?)")


def test_the_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse(EXAMPLE.replace("port: 5252", "port: x"))
    assert issubclass(ConfigError, ValueError)


def test_server_name_longer_than_the_wire_allows_is_refused():
    from mockserver.daemon.config import ConfigError, parse

    text = "- Pack:\n    name: lab\n    secret: s\n    broadcast: 127.255.255.255\n    server_name: " + "n" * 65 + "\n"
    with pytest.raises(ConfigError) as caught:
        parse(text, "node.yaml")
    assert str(caught.value) == ("node.yaml: module Pack, key 'server_name': expected a non-empty string without '/' "
                                 "of at most 64 bytes, got '65 bytes'")
