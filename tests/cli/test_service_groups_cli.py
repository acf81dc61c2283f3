"""``pylxd-cluster service-group`` and the service groups of ``status``: the report's lines
from a group as the API gives it, and a server without the extension. Against a real pack:
tests/daemon/processes/test_groups_sdk.py."""
from __future__ import annotations

import csv
import io
import json

import pytest

from pylxd_cluster.cli import output
from pylxd_cluster.cli.main import main
from pylxd_cluster.cli.status import service_group_lines, status_report
from pylxd_cluster.display import service_groups_table
from pylxd_cluster.models.service_group import ServiceGroup, ServiceGroupList

WEB = {
    "name": "web", "primary": "node1", "secondary": ["node2", "node3", "node4"],
    "services": ["198.51.100.10/24/eth0", "exec:/usr/bin/x start --token=hunter2"],
    "monitors": ["198.51.100.1", "198.51.100.2"], "auto_failback": True, "failback_delay": 2500,
    "owner": "node1", "epoch": 3, "requested": "", "status": "Active",
    "message": "the owner is healthy; monitor 198.51.100.2: no member reaches it",
    "members": [
        {"name": "node1", "role": "primary", "status": "Active", "this_node": True,
         "monitors": {"198.51.100.1": "Reachable", "198.51.100.2": "Unreachable"}},
        {"name": "node2", "role": "secondary", "status": "Standby", "this_node": False,
         "monitors": {"198.51.100.1": "Unreachable", "198.51.100.2": "Unreachable"}},
        {"name": "node3", "role": "secondary", "status": "Offline", "this_node": False, "monitors": {}},
        {"name": "node4", "role": "secondary", "status": "Evacuated", "this_node": False, "monitors": {}},
    ],
}


def test_a_group_reads_as_vyos_show_cluster_status():
    assert service_group_lines(WEB, indent="  ") == [
        "  Service group web:",
        "    Primary node1 (this node): Active",
        "    Secondary node2: Active (standby)",
        "    Secondary node3: Down",
        "    Secondary node4: Down (evacuated)",
        "    Resources [198.51.100.10/24/eth0 exec:/usr/bin/x ...]: Active on primary node1 (this node)",
        "    Monitor 198.51.100.1: Reachable",                           # the owner's view, not node2's
        "    Monitor 198.51.100.2: Unreachable (no member reaches it)",  # the message's
    ]


def test_starting_down_requested_and_details():
    starting = dict(WEB, status="Starting", owner="node2", requested="node2", message="Taking over on node2")
    lines = service_group_lines(starting, details=True)
    assert lines[5:] == [
        "  Resources [198.51.100.10/24/eth0 exec:/usr/bin/x ...]: Starting on secondary node2",
        "  Requested by an operator: node2",
        "  Monitor 198.51.100.1: Unreachable",      # what node2, the owner, reports
        "  Monitor 198.51.100.2: Unreachable",
        "  Auto-failback: on, after 2.5 s",
        "  Epoch: 3",
        "  Message: Taking over on node2",
    ]
    down = dict(WEB, status="Down", owner="", message="no member of the group is alive and available")
    assert service_group_lines(down)[5:] == [
        "  Resources [198.51.100.10/24/eth0 exec:/usr/bin/x ...]: Down (no member of the group is alive and "
        "available)",
        "  Monitor 198.51.100.1: Reachable",      # no owner: reached by some member
        "  Monitor 198.51.100.2: Unreachable",
    ]


def test_the_report_ends_with_the_service_groups_when_there_are_some():
    data = {"this_node": "node1", "leader": "node1", "groups": {},
            "members": [{"name": "node1", "status": "Online", "message": "Fully operational", "roles": [],
                         "this_node": True}]}
    assert "Service group" not in status_report(data)
    assert status_report(dict(data, service_groups={})).endswith("  Service groups: none")
    report = status_report(dict(data, service_groups={"web": WEB}))
    assert report.endswith("\n".join(service_group_lines(WEB, indent="  ")))
    assert "hunter2" not in report


def test_without_the_extension_the_commands_say_so(mock_cluster, capsys):
    """The mock lacks pack_service_groups: `status` shows no service groups, and
    `service-group` fails saying which extension is missing."""
    endpoint = ["--endpoint", mock_cluster.unix_socket]
    assert main(endpoint + ["status"]) == 0
    assert "Service group" not in capsys.readouterr().out
    assert main(endpoint + ["status", "--format", "json"]) == 0
    assert "service_groups" not in json.loads(capsys.readouterr().out)
    for action in (["list"], ["show", "web"], ["move", "web", "node2"], ["clear", "web"]):
        assert main(endpoint + ["service-group", *action]) == 1
        captured = capsys.readouterr()
        assert captured.out == "" and "does not advertise the API extension 'pack_service_groups'" in captured.err
        assert "Traceback" not in captured.err


@pytest.mark.parametrize("argv, texts", [
    (["--help"], ["service-group", "pack daemons"]),
    (["service-group", "--help"], ["list", "show", "move", "clear", "Active (standby)", "pack_service_groups"]),
    (["service-group", "move", "--help"], ["MEMBER", "--no-wait", "--timeout", "refused", "Active on MEMBER"]),
    (["service-group", "clear", "--help"], ["auto-failback", "stays"]),
])
def test_help_explains_service_groups(argv, texts, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for text in texts:
        assert text in out, text


# ---- --format csv and compact: the listing's rows, drawn as cluster list's are ----------------


def _groups():
    db = dict(WEB, name="db", secondary=["node2"], services=["198.51.100.20/24/eth0"], monitors=[], status="Down",
              owner="", message="no member of the group is alive and available", members=[])
    return ServiceGroupList([ServiceGroup.from_api(WEB), ServiceGroup.from_api(db)])


def test_list_csv_and_compact_from_the_same_rows_as_the_table():
    groups = _groups()
    assert output.render(groups, "table", None, output.service_group_rows) == service_groups_table(groups)
    rows = list(csv.reader(io.StringIO(output.render(groups, "csv", None, output.service_group_rows))))
    assert rows == [
        ["db", "DOWN", "", "", "node1", "node2", "198.51.100.20/24/eth0", "",
         "no member of the group is alive and available"],
        ["web", "ACTIVE", "node1", "", "node1", "node2,node3,node4", "198.51.100.10/24/eth0,exec:/usr/bin/x ...",
         "198.51.100.1: Reachable,198.51.100.2: Unreachable", WEB["message"]],
    ]
    compact = output.render(groups, "compact", None, output.service_group_rows).splitlines()
    assert compact[0].split() == ["NAME", "STATUS", "OWNER", "REQUESTED", "PRIMARY", "SECONDARY", "SERVICES",
                                  "MONITORS", "MESSAGE"]
    assert compact[1].startswith("  db    DOWN  ") and "|" not in "".join(compact)
    assert compact[3].split() == ["node3", "exec:/usr/bin/x", "...", "198.51.100.2:", "Unreachable"]
    assert "hunter2" not in "".join(compact)


def test_show_csv_lists_the_groups_members():
    web = _groups().by_name("web")
    rows = list(csv.reader(io.StringIO(output.render(web, "csv", None, output.service_group_member_rows))))
    assert rows == [["node1", "primary", "ACTIVE", "198.51.100.1: Reachable,198.51.100.2: Unreachable"],
                    ["node2", "secondary", "STANDBY", "198.51.100.1: Unreachable,198.51.100.2: Unreachable"],
                    ["node3", "secondary", "OFFLINE", ""], ["node4", "secondary", "EVACUATED", ""]]
    compact = output.render(web, "compact", None, output.service_group_member_rows).splitlines()
    assert compact[0].split() == ["NAME", "ROLE", "STATUS", "MONITORS"] and len(compact) == 7   # 2 monitors: 2 lines
