"""display: lxc-style text tables and coloured HTML."""

import re

from pylxd_cluster import Cluster, ClusterGroup, ClusterMember, MemberList
from pylxd_cluster.display import STATUS_COLOURS, groups_table, members_html, members_table
from tests.sdk.fakes import golden_cli_block, golden_metadata


def test_member_table_matches_lxc_cluster_list():
    # lxc printed this when node1 had description "x3" and no groups.
    member = ClusterMember.from_api(golden_metadata("GET_1.0_cluster_members_node1_now"))
    assert members_table([member]) == golden_cli_block("lxc cluster list")


def test_member_list_table_method_and_natural_order():
    base = golden_metadata("GET_1.0_cluster_members_node2")
    members = MemberList(ClusterMember.from_api(dict(base, server_name=n)) for n in ("node10", "node2"))
    lines = members.table().splitlines()
    rows = [line for line in lines if line.startswith("| node")]
    assert [row.split("|")[1].strip() for row in rows] == ["node2", "node10"]
    assert all(len(line) == len(lines[0]) for line in lines)


def test_group_table_matches_lxc_cluster_group_list():
    groups = [
        ClusterGroup(name="g1", description="", members=()),
        ClusterGroup(name="default", description="Default cluster group", members=("node1",)),
    ]
    assert groups_table(groups) == golden_cli_block("lxc cluster group list")


def member_with_status(status):
    data = golden_metadata("GET_1.0_cluster_members_node2")
    return ClusterMember.from_api(dict(data, server_name=status.lower(), status=status))


def test_html_colours_each_status():
    statuses = ["Online", "Offline", "Evacuated", "Blocked"]
    page = members_html([member_with_status(s) for s in statuses])
    for status in statuses:
        match = re.search(r'background:(#[0-9a-f]{6})[^>]*>' + status + "<", page)
        assert match, status
        assert match.group(1) == STATUS_COLOURS[status]
    assert len({STATUS_COLOURS[s] for s in statuses}) == 4
    assert STATUS_COLOURS["Online"] == "#2e7d32" and STATUS_COLOURS["Offline"] == "#c62828"


def test_repr_html_on_models_escapes_text():
    member = member_with_status("Online").evolve(description="<b>x</b>")
    html_member = member._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in html_member and "<b>x</b>" not in html_member
    assert STATUS_COLOURS["Online"] in html_member
    assert "<table" in MemberList([member])._repr_html_()
    cluster = Cluster.from_api(golden_metadata("GET_1.0_cluster"))
    assert "node1" in cluster._repr_html_() and "enabled" in cluster._repr_html_()
