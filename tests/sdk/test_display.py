"""display: lxc-style text tables and coloured HTML."""

import re

import pytest

from pylxd_cluster import Cluster, ClusterGroup, ClusterMember, MemberList
from pylxd_cluster.display import STATUS_COLOURS, Html, groups_table, html_table, members_html, members_table
from pylxd_cluster.models import (
    BarrierStatus,
    DiscoveryStatus,
    Event,
    EventList,
    GroupList,
    JoinToken,
    MemberState,
    MemberSysInfo,
    Operation,
    OperationList,
    ServiceGroup,
    ServiceGroupList,
    ServiceGroupMember,
    TokenList,
)
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


# --- Every list and object: fields shown, HTML escaped, no token secret ---------------------

SECRET = "9f1e8a7cb6d54e3f2a1b0c9d8e7f6a5b"
EVIL = "<script>alert(1)</script>"


class _Printer:
    """Enough of IPython's pretty printer for ``_repr_pretty_``."""

    def __init__(self):
        self.out = ""

    def text(self, text):
        self.out += text


def pretty(obj):
    printer = _Printer()
    obj._repr_pretty_(printer, False)
    return printer.out


def all_displays(obj):
    return [repr(obj), obj._repr_html_(), pretty(obj)]


def assert_escaped(page):
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def token(name="node4"):
    return JoinToken.from_api({"server_name": name, "fingerprint": "abc123", "addresses": ["127.0.0.1:8443"],
                               "secret": SECRET, "expires_at": "2026-11-30T21:04:05Z"}).evolve(operation_id="op-1")


def token_operation():
    return Operation.from_api({
        "id": "op-1", "class": "token", "description": EVIL, "status": "Running", "status_code": 103,
        "created_at": "2026-11-30T21:04:05Z", "updated_at": "2026-11-30T21:04:05Z", "resources": None,
        "metadata": {"serverName": "node4", "secret": SECRET, "fingerprint": "abc123",
                     "addresses": ["127.0.0.1:8443"], "expiresAt": "2026-12-01T00:00:00Z"},
        "may_cancel": True, "err": "", "location": "node1"})


def test_token_secret_never_shown():
    tok = token()
    assert SECRET in tok.token or tok.secret == SECRET  # the secret is there to be hidden
    for shown in all_displays(tok) + all_displays(TokenList([tok, token("node5")])):
        assert SECRET not in shown and tok.token not in shown
    html_token = tok._repr_html_()
    for field in ("node4", "abc123", "127.0.0.1:8443", "op-1", "2026-11-30", "&lt;hidden&gt;"):
        assert field in html_token, field
    assert "secret='<hidden>'" in repr(tok) and "server_name='node4'" in repr(tok)
    assert str(tok) == tok.token  # str() is the token string lxc prints, on purpose


def test_token_html_escapes():
    assert_escaped(token(EVIL)._repr_html_())
    assert_escaped(TokenList([token(EVIL)])._repr_html_())


def test_operation_displays_hide_a_token_secret_and_escape():
    op = token_operation()
    ops = OperationList([op])
    for shown in all_displays(op) + all_displays(ops):
        assert SECRET not in shown
    for page in (op._repr_html_(), ops._repr_html_()):
        assert_escaped(page)
        assert "op-1" in page and "token" in page and "Running" in page and "node1" in page
    assert "node4" in op._repr_html_() and "&lt;hidden&gt;" in op._repr_html_()
    assert op.metadata["secret"] == SECRET  # the model itself keeps it
    assert ops.by_name("op-1") is op


def test_event_displays_hide_secrets_and_escape():
    lifecycle = Event.from_api({"type": "lifecycle", "timestamp": "2026-11-30T21:04:05Z", "location": "node1",
                                "project": "", "metadata": {"action": "cluster-member-updated",
                                                            "source": "/1.0/cluster/members/node2",
                                                            "context": {"description": EVIL}}})
    operation = Event.from_api({"type": "operation", "location": "node1",
                                "metadata": token_operation().to_api()})
    events = EventList([lifecycle, operation])
    for shown in all_displays(operation) + all_displays(events):
        assert SECRET not in shown
    page = events._repr_html_()
    assert_escaped(page)
    for field in ("lifecycle", "operation", "cluster-member-updated", "node2", "node1", "2026-11-30"):
        assert field in page, field
    assert "cluster-member-updated" in lifecycle._repr_html_()
    assert events[0] is lifecycle and len(events) == 2


def test_group_list_behaves_as_the_tuple_it_replaces():
    groups = GroupList([ClusterGroup(name="g10", description=EVIL, members=("node1",)),
                        ClusterGroup(name="g2", description="", members=())])
    plain = tuple(groups)
    assert groups == plain and len(groups) == 2 and groups[0].name == "g10" and list(groups) == list(plain)
    assert isinstance(groups, tuple) and GroupList() == () and groups[1:] == plain[1:]
    assert groups.names == ("g10", "g2") and groups.by_name("g2") is groups[1]
    with pytest.raises(KeyError, match="g10, g2"):
        groups.by_name("nope")
    page = groups._repr_html_()
    assert_escaped(page)
    assert page.index("g2") < page.index("g10") and "node1" in page
    assert groups.table() == groups_table(groups)
    assert repr(groups).startswith("GroupList([") and pretty(groups) == repr(groups)


def test_lists_returned_by_all_display_without_the_real_secret(client, lxd):
    lxd.reply("GET", "/1.0/cluster/groups", "GET_1.0_cluster_groups_recursion1_now")
    lxd.reply("GET", "/1.0/operations", "GET_1.0_operations_recursion1")
    groups, tokens, ops = client.cluster.groups.all(), client.cluster.tokens.all(), client.operations.all()
    assert (type(groups), type(tokens), type(ops)) == (GroupList, TokenList, OperationList)
    assert "default" in groups._repr_html_() and "node2" in tokens._repr_html_()
    [tok] = tokens
    assert tok.secret and tok.operation_id in ops.names
    op = ops.by_name(tok.operation_id)
    shown_all = all_displays(tokens) + all_displays(ops) + all_displays(tok) + all_displays(op)
    for shown in shown_all:
        assert tok.secret not in shown and tok.token not in shown


def test_member_state_and_pack_state_display():
    state = MemberState.from_api({
        "sysinfo": {"uptime": 90061, "load_averages": [0.5, 0.25, 0.125], "total_ram": 8 * 2**30,
                    "free_ram": 6 * 2**30, "processes": 123, "logical_cpus": 4},
        "storage_pools": {"local": {}},
        "pack": {"incarnation": 7, "leader": "node2", "term": 3, "pid": 42,
                 "members": {"node2": {"status": "alive", "incarnation": 7, "last_heard": "2026-11-30T21:04:05Z",
                                       "last_heard_seconds": 1.5},
                             EVIL: {"status": "dead"}},
                 "discovery": [{"strategy": "dns pack.example", "found": ["198.51.100.2:5252"],
                                "error": EVIL, "polls": 9, "failures": 2}],
                 "barrier": {"status": "waiting", "members": 3, "timeout": 60000, "online": 1}},
    })
    page = state._repr_html_()
    assert_escaped(page)
    for field in ("1d 01:01:01", "0.50 0.25 0.12", "123", "2.0 GiB used of 8.0 GiB", "local",
                  "node2", "alive", "dead", "dns pack.example", "198.51.100.2:5252", "waiting", "60000"):
        assert field in page, field
    assert STATUS_COLOURS["Online"] in page  # alive is green
    assert state.pack._repr_html_() in page
    lxd_state = MemberState.from_api({"sysinfo": {}, "storage_pools": {}})
    assert "Pack" not in lxd_state._repr_html_() and pretty(lxd_state) == repr(lxd_state)


def test_every_other_model_has_an_escaped_field_table():
    for model in (MemberSysInfo(), DiscoveryStatus(strategy=EVIL), BarrierStatus(status=EVIL),
                  ServiceGroupMember(name=EVIL)):
        page = model._repr_html_()
        assert type(model).__name__ in page and "<table" in page
        if not isinstance(model, MemberSysInfo):
            assert_escaped(page)


def test_member_and_service_group_displays_escape_scripts():
    member = member_with_status("Online").evolve(description=EVIL)
    for page in (member._repr_html_(), MemberList([member])._repr_html_()):
        assert_escaped(page)
    group = ServiceGroup.from_api({"name": EVIL, "status": "Active",
                                   "members": [{"name": "node1", "status": "Active"}]})
    for page in (group._repr_html_(), ServiceGroupList([group])._repr_html_()):
        assert_escaped(page)


def test_html_table_escapes_all_but_markup():
    page = html_table(("A", "<B>"), [(EVIL, Html("<i>x</i>"), None, ("l1", "l2"), {"secret": SECRET})])
    assert_escaped(page)
    assert "&lt;B&gt;" in page and "<i>x</i>" in page and "l1<br>l2" in page and SECRET not in page
