"""ServiceGroupManager and the ServiceGroup models without a pack: decoding, displays, and a
server without the ``pack_service_groups`` extension (the mock, LXD). Against a real pack:
tests/daemon/processes/test_groups_sdk.py."""

import re

import pytest

from pylxd_cluster import (
    ClusterError,
    NotImplementedByServer,
    ServiceGroup,
    ServiceGroupList,
    ServiceGroupMember,
)
from pylxd_cluster.display import SERVICE_GROUP_COLOURS, service_groups_html, service_groups_table
from pylxd_cluster.models.service_group import service_label

WEB = {
    "name": "web", "primary": "node1", "secondary": ["node2", "node3"],
    "services": ["198.51.100.10/24/eth0", "exec:/usr/bin/x start --token=hunter2", "nginx.service"],
    "monitors": ["198.51.100.1"], "auto_failback": False, "failback_delay": 10000,
    "owner": "node1", "epoch": 3, "requested": "", "status": "Active", "message": "the owner is healthy",
    "members": [
        {"name": "node1", "role": "primary", "status": "Active", "this_node": True,
         "monitors": {"198.51.100.1": "Reachable"}},
        {"name": "node2", "role": "secondary", "status": "Standby", "this_node": False,
         "monitors": {"198.51.100.1": "Unknown"}},
        {"name": "node3", "role": "secondary", "status": "Offline", "this_node": False,
         "monitors": {"198.51.100.1": "Unreachable"}},
    ],
}


def test_from_api_reads_every_field_and_gives_it_back():
    group = ServiceGroup.from_api(WEB)
    assert (group.name, group.primary, group.secondary, group.owner, group.epoch) == (
        "web", "node1", ("node2", "node3"), "node1", 3)
    assert group.services[1] == "exec:/usr/bin/x start --token=hunter2"  # the model keeps it whole
    assert group.active and group.active_on == "node1" and group.this_node == "node1"
    assert group.member_names == ("node1", "node2", "node3")
    assert group.member("node3") == ServiceGroupMember(name="node3", role="secondary", status="Offline",
                                                      monitors={"198.51.100.1": "Unreachable"})
    assert group.member("node1").is_primary and group.member("node1").active
    with pytest.raises(KeyError, match="node9.*members: node1, node2, node3"):
        group.member("node9")
    assert group.to_api() == WEB
    assert ServiceGroup.from_api(dict(WEB, status="Starting")).active_on is None
    with pytest.raises(ClusterError, match="without a client"):
        group.refresh()


def test_unknown_keys_are_kept_and_null_lists_read_as_empty():
    group = ServiceGroup.from_api(dict(WEB, secondary=None, members=None, hooks={"up": "x"}))
    assert group.secondary == () and group.members == () and group.extra == {"hooks": {"up": "x"}}
    assert group.this_node is None


def test_repr_and_describe_say_where_it_runs_and_hide_commands():
    group = ServiceGroup.from_api(WEB)
    assert repr(group) == "<ServiceGroup web: Active on node1 (epoch 3); members node1=Active node2=Standby " \
                          "node3=Offline>"
    moved = group.evolve(status="Starting", owner="node2", requested="node2", epoch=4)
    assert moved.describe() == "web: Starting on node2 (epoch 4, moved to node2 by an operator)"
    down = group.evolve(status="Down", owner="", message="no member of the group is alive and available")
    assert down.describe() == "web: Down (epoch 3): no member of the group is alive and available"
    listed = ServiceGroupList([group])
    assert "hunter2" not in repr(listed) and listed.names == ("web",) and listed.by_name("web") is group
    with pytest.raises(KeyError, match="service groups: web"):
        listed.by_name("db")


@pytest.mark.parametrize("service, shown", [
    ("198.51.100.10/24/eth0", "198.51.100.10/24/eth0"),
    ("nginx.service", "nginx.service"),
    ("exec:true", "exec:true"),
    ("exec:/usr/bin/x start --token=hunter2", "exec:/usr/bin/x ..."),
])
def test_service_label_shows_an_exec_service_by_its_program(service, shown):
    assert service_label(service) == shown


def test_table_lists_each_group_with_the_owners_monitor_view():
    db = ServiceGroup.from_api(dict(WEB, name="db", status="Down", owner="", services=["exec:true"],
                                    message="no member of the group is alive and available"))
    table = service_groups_table(ServiceGroupList([ServiceGroup.from_api(WEB), db]))
    assert "hunter2" not in table
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in table.splitlines() if line.startswith("|")]
    assert rows[0] == ["NAME", "STATUS", "OWNER", "REQUESTED", "PRIMARY", "SECONDARY", "SERVICES", "MONITORS",
                       "MESSAGE"]
    assert rows[1] == ["db", "DOWN", "", "", "node1", "node2", "exec:true",
                       "198.51.100.1: Unknown", "no member of the group is alive and available"]
    assert rows[3] == ["web", "ACTIVE", "node1", "", "node1", "node2", "198.51.100.10/24/eth0",
                       "198.51.100.1: Reachable", "the owner is healthy"]
    assert rows[4][5:7] == ["node3", "exec:/usr/bin/x ..."] and rows[5][6] == "nginx.service"


def test_html_colours_every_status_and_escapes_text():
    group = ServiceGroup.from_api(dict(WEB, message="<b>x</b>"))
    page = group._repr_html_()
    assert "hunter2" not in page and "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    for word in ("Active", "Standby", "Offline", "Reachable", "Unknown", "Unreachable"):
        match = re.search(r'background:(#[0-9a-f]{6})[^>]*>' + word + "<", page)
        assert match and match.group(1) == SERVICE_GROUP_COLOURS[word], word
    assert "node1 (this node)" in page and "exec:/usr/bin/x ..." in page and "off" in page
    listed = ServiceGroupList([group, group.evolve(name="db", status="Starting")])._repr_html_()
    assert listed == service_groups_html(ServiceGroupList([group, group.evolve(name="db", status="Starting")]))
    assert SERVICE_GROUP_COLOURS["Starting"] in listed and "hunter2" not in listed
    assert listed.index(">db<") < listed.index(">web<")
    assert len({SERVICE_GROUP_COLOURS[w] for w in ("Active", "Starting", "Down", "Standby", "Evacuated")}) == 5


def test_the_mock_has_no_service_groups_and_nothing_is_sent(mock_cluster, mock_client):
    """The mock server lacks pack_service_groups: every method says so, sending nothing."""
    assert "pack_service_groups" not in mock_client.api_extensions
    manager = mock_client.cluster.service_groups
    mock_cluster.clear_requests()
    calls = [manager.all, lambda: manager.get("web"), lambda: manager.exists("web"),
             lambda: manager.move("web", "node2", wait=True), lambda: manager.clear_request("web"),
             lambda: manager.wait_active("web")]
    for call in calls:
        with pytest.raises(NotImplementedByServer, match="pack_service_groups") as caught:
            call()
        assert caught.value.status_code == 501 and "/1.0/cluster/service-groups" in str(caught.value)
        assert "pack daemons" in str(caught.value)
    assert mock_cluster.requests == []


def test_a_manager_without_the_extensions_reads_them_once(mock_cluster, mock_client):
    from pylxd_cluster.managers import ServiceGroupManager

    manager = ServiceGroupManager(mock_client.transport)
    mock_cluster.clear_requests()
    for _ in range(2):
        with pytest.raises(NotImplementedByServer):
            manager.all()
    assert [(r.method, r.path) for r in mock_cluster.requests] == [("GET", "/1.0")]


def test_lxd_has_no_service_groups(client, lxd):
    """LXD 5.0.2 (the golden GET /1.0): NotImplementedByServer, nothing sent."""
    with pytest.raises(NotImplementedByServer, match="pack_service_groups"):
        client.cluster.service_groups.get("web")
    assert [c.request.url for c in lxd.calls] == []
