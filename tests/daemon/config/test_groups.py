"""The ServiceGroups module: what a valid group is, and every bad one refused with the module,
the group, the key and the reason."""
from __future__ import annotations

import ipaddress

import pytest
import yaml

from mockserver.daemon.config import ConfigError, parse, render_template
from mockserver.daemon.groups.config import (
    DEFAULT_NOTIFY_TIMEOUT_MS,
    GROUP_KEYS,
    AddressService,
    ExecService,
    GroupError,
    UnitService,
    check_members,
    configuration_problem,
    parse_groups,
)
from tests.daemon.config.examples import MINIMAL, pack_with

WEB = {
    "primary": "node1",
    "secondary": ["node2", "node3"],
    "service": ["198.51.100.10/24/veth0", "2001:db8::10/64/veth0",
                {"exec": {"start": "touch /run/web.up", "stop": ["rm", "-f", "/run/web.up"]}}, "nginx"],
    "monitor": ["198.51.100.1"],
    "auto-failback": True,
}
MEMBERS = ("node1", "node2", "node3")


def refused(groups) -> GroupError:
    with pytest.raises(GroupError) as info:
        check_members(parse_groups(groups), MEMBERS)
    return info.value


def test_a_group_in_the_seeds_words_is_read_whole():
    (web,) = parse_groups({"web": WEB})
    assert (web.name, web.primary, web.secondary, web.members) == ("web", "node1", ("node2", "node3"),
                                                                   ("node1", "node2", "node3"))
    v4, v6, command, unit = web.services
    assert v4 == AddressService(ipaddress.ip_interface("198.51.100.10/24"), "veth0") and str(v4) == \
        "198.51.100.10/24/veth0"
    assert v6.address == ipaddress.ip_interface("2001:db8::10/64")
    assert command == ExecService(("touch", "/run/web.up"), ("rm", "-f", "/run/web.up"))
    assert unit == UnitService("nginx.service")
    assert web.monitors == (ipaddress.ip_address("198.51.100.1"),) and web.auto_failback is True
    assert web.addresses == (v4, v6)
    check_members([web], MEMBERS)   # every member named is in the pack


def test_vyos_defaults_a_single_secondary_and_a_single_service():
    (group,) = parse_groups({"cluster": {"primary": "node1", "secondary": "node2", "service": "ssh"}})
    assert group.secondary == ("node2",) and group.services == (UnitService("ssh.service"),)
    assert (group.auto_failback, group.monitors) == (False, ())


@pytest.mark.parametrize("group, key, reason", [
    ({**WEB, "primary": "node9"}, "primary", "'node9' is not a member of the pack"),
    ({**WEB, "secondary": ["node2", "node7"]}, "secondary", "'node7' is not a member of the pack"),
    ({**WEB, "secondary": ["node2", "node1"]}, "secondary", "'node1' is the primary; it cannot be a secondary"),
    ({**WEB, "secondary": ["node2", "node2"]}, "secondary", "node2 given twice"),
    ({**WEB, "secondary": []}, "secondary", "required"),
    ({**WEB, "primary": ""}, "primary", "required"),
    ({**WEB, "service": []}, "service", "required: at least one address or service"),
    ({**WEB, "service": ["198.51.100.300/24/veth0"]}, "service", "is not an address with a prefix length"),
    ({**WEB, "service": ["198.51.100.10/33/veth0"]}, "service", "is not an address with a prefix length"),
    ({**WEB, "service": ["198.51.100.10/24"]}, "service", "expected address/prefix/interface"),
    ({**WEB, "service": ["198.51.100.0/24/veth0"]}, "service", "is the network address"),
    ({**WEB, "service": ["198.51.100.10/24/a-very-long-name0"]}, "service", "longer than 15 bytes"),
    ({**WEB, "service": ["198.51.100.10/24/eth:0"]}, "service", "contains ':'"),
    ({**WEB, "service": ["198.51.100.10/24/ "]}, "service", "contains ' '"),
    ({**WEB, "service": ["198.51.100.10/24/.."]}, "service", "not a name"),
    ({**WEB, "service": ["198.51.100.10/24/veth0", "198.51.100.10/25/veth1"]}, "service", "given twice"),
    ({**WEB, "service": [{"exec": {"start": "x"}}]}, "service", "exec needs 'stop'"),
    ({**WEB, "service": [{"exec": {"start": "x", "stop": "y", "restart": "z"}}]}, "service", "not restart"),
    ({**WEB, "service": ["two words"]}, "service", "is not a systemd unit name"),
    ({**WEB, "monitor": ["gateway"]}, "monitor", "expected an IPv4 or IPv6 address"),
    ({**WEB, "auto-failback": "yes"}, "auto-failback", "expected true or false"),
    ({**WEB, "failback-delay": -1}, "failback-delay", "expected milliseconds"),
    ({**WEB, "priority": 100}, "priority", "unknown key"),
    ({**WEB, "notify": ""}, "notify", "an empty command"),
    ({**WEB, "notify": "'unclosed"}, "notify", "cannot split the command"),
    ({**WEB, "notify": ["ok", 3]}, "notify", "a command is a string or a list"),
    ({**WEB, "notify-timeout": 50}, "notify-timeout", "expected milliseconds from 100"),
])
def test_a_bad_group_is_refused_naming_the_module_the_group_the_key_and_the_reason(group, key, reason):
    error = refused({"web": group})
    assert (error.group, error.key) == ("web", key)
    assert reason in error.text
    assert str(error).startswith(f"module ServiceGroups, group 'web', key {key!r}: ")


def test_the_same_address_in_two_groups_is_refused():
    error = refused({"web": WEB, "db": {"primary": "node2", "secondary": "node3",
                                        "service": ["198.51.100.10/24/veth1"]}})
    assert (error.group, error.key) == ("db", "service")
    assert "198.51.100.10 is already a service of group 'web'" in error.text


def test_more_monitor_addresses_than_are_pinged_are_refused():
    groups = {f"g{i}": {**WEB, "service": [f"198.51.100.{i}/24/veth0"], "monitor": [f"203.0.113.{i}", f"2001:db8::{i}"]}
              for i in range(1, 34)}
    error = refused(groups)
    assert (error.group, error.key) == (None, "monitor") and "66 distinct monitor addresses; at most 64" in error.text


def test_notify_takes_a_command_line_or_an_argument_list():
    (group,) = parse_groups({"web": {**WEB, "notify": "/usr/local/bin/notify --quiet", "notify-timeout": 500}})
    assert (group.notify, group.notify_timeout_ms) == (("/usr/local/bin/notify", "--quiet"), 500)
    (group,) = parse_groups({"web": {**WEB, "notify": ["/bin/echo", "a b"]}})
    assert (group.notify, group.notify_timeout_ms) == (("/bin/echo", "a b"), DEFAULT_NOTIFY_TIMEOUT_MS)


@pytest.mark.parametrize("name", ["", "a/b", " web"])
def test_a_group_name_must_be_usable_in_a_path(name):
    error = refused({name: WEB})
    assert error.group is None and "group name" in error.text


def test_a_file_with_a_bad_group_is_refused_at_load_with_its_line():
    text = MINIMAL + yaml.safe_dump([{"ServiceGroups": {"web": {**WEB, "secondary": ["node1"]}}}], sort_keys=False)
    with pytest.raises(ConfigError) as info:
        parse(text, "node.yaml")
    error = info.value
    assert error.module == "ServiceGroups"
    assert str(error).startswith("node.yaml: module ServiceGroups: group 'web', key 'secondary': 'node1' is the "
                                 "primary")
    assert text.splitlines()[error.line - 1].strip() == "web:"


def test_a_file_with_good_groups_loads_and_keeps_them_as_a_shared_module():
    text = MINIMAL + yaml.safe_dump([{"ServiceGroups": {"web": WEB}}], sort_keys=False)
    config = parse(text, "node.yaml")
    assert dict(config.modules)["ServiceGroups"] == {"web": WEB}


def test_a_configuration_is_checked_against_the_pack_members():
    modules = (("Other", {"x": 1}), ("ServiceGroups", {"web": WEB}))
    assert configuration_problem(modules, MEMBERS) is None
    assert configuration_problem(modules, ("node1", "node2")) == (
        "module ServiceGroups, group 'web', key 'secondary': 'node3' is not a member of the pack (members: node1, "
        "node2)")
    assert configuration_problem((("Other", {}),), ()) is None


@pytest.mark.parametrize("value, reason", [
    (299, "from 300 to 30000"), (30001, "from 300 to 30000"), (400, "more than 2 x keepalive-interval"),
])
def test_monitor_dead_interval_has_vyos_bounds(value, reason):
    with pytest.raises(ConfigError) as info:
        parse(pack_with("keepalive-interval: 200", "dead-interval: 1000", f"monitor-dead-interval: {value}"),
              "node.yaml")
    assert info.value.key == "monitor-dead-interval" and reason in str(info.value)
    config = parse(pack_with("keepalive-interval: 200", "dead-interval: 1000"), "node.yaml")
    assert config.pack.monitor_dead_interval_ms == 20000   # VyOS's default


def test_the_template_documents_the_groups_and_stays_a_valid_file():
    text = render_template()
    assert "# - ServiceGroups:" in text
    for key in GROUP_KEYS:
        assert f"#       {key}:" in text
    uncommented = "\n".join(line[2:] if line.startswith("# ") or line == "#" else line
                            for line in text[text.index("# - ServiceGroups:"):].splitlines())
    data = yaml.safe_load(uncommented)
    assert list(data[0]["ServiceGroups"]["GROUP"]) == list(GROUP_KEYS)
