"""The sans-IO view of a pack's keys: members, departures, the election (no etcd needed)."""
from __future__ import annotations

from mockserver.daemon.etcd.keys import PackKeys
from mockserver.daemon.etcd.view import ALIVE, FAILED, LEFT, LeaderChange, MemberRecord, PackView


def record(name: str, started: int = 1) -> bytes:
    return MemberRecord(name, api=f"http://127.0.0.1:8443/{name}", started=started).to_bytes()


def test_members_come_restart_leave_and_fail():
    view = PackView()
    assert [(c.name, c.status) for c in view.member_put("node1", record("node1"), 5)] == [("node1", ALIVE)]
    assert view.member_put("node1", record("node1"), 6) == []                       # a renewal-free rewrite
    (restart,) = view.member_put("node1", record("node1", started=2), 7)
    assert restart.restarted and restart.status == ALIVE
    view.member_put("node2", record("node2"), 8)
    view.left_put("node1", 9)
    assert [(c.name, c.status) for c in view.member_deleted("node1", 10)] == [("node1", LEFT)]
    assert [(c.name, c.status) for c in view.member_deleted("node2", 11)] == [("node2", FAILED)]
    assert view.member_deleted("node2", 12) == [] and view.alive() == []


def test_a_departure_marker_older_than_the_record_is_a_failure():
    view = PackView()
    view.left_put("node1", 3)                      # from an earlier run
    view.member_put("node1", record("node1"), 5)
    assert [c.status for c in view.member_deleted("node1", 6)] == [FAILED]


def test_bad_records_are_dropped_and_counted():
    view = PackView()
    assert view.member_put("node1", b"not json", 5) == []
    assert view.member_put("node1", record("node2"), 6) == []     # a record under another's name
    assert view.member_put("node1", b'{"name": ""}', 7) == []
    assert view.bad_records == 3 and view.alive() == []


def test_the_lowest_create_revision_leads_and_is_the_term():
    keys, view = PackKeys("/p", "pack"), PackView()
    assert view.candidacy_put(keys.candidacy(0xB), "node2", 20) == [LeaderChange("node2", 20, "")]
    assert view.candidacy_put(keys.candidacy(0xA), "node1", 10) == [LeaderChange("node1", 10, "node2")]
    assert view.candidacy_put(keys.candidacy(0xC), "node3", 30) == []
    assert view.predecessor(keys.candidacy(0xC)) == keys.candidacy(0xB)
    assert view.predecessor(keys.candidacy(0xA)) is None
    assert view.candidacy_deleted(keys.candidacy(0xA)) == [LeaderChange("node2", 20, "node1")]
    assert view.candidates() == [("node2", 20), ("node3", 30)]


def test_a_snapshot_replaces_the_view_and_reports_what_changed():
    keys, view = PackKeys("/p", "pack"), PackView()
    view.member_put("node1", record("node1"), 5)
    view.member_put("node2", record("node2"), 6)
    changes = view.load(members=[("node1", record("node1"), 5), ("node3", record("node3"), 9)],
                        departures=[("node2", 8)], candidacies=[(keys.candidacy(3), "node3", 9)])
    statuses = {(c.name, c.status) for c in changes if hasattr(c, "status")}
    assert statuses == {("node3", ALIVE), ("node2", LEFT)}
    assert LeaderChange("node3", 9, "") in changes and view.alive() == ["node1", "node3"]


def test_what_members_reach_is_kept_changes_reported_once_and_bad_reports_counted():
    view = PackView()
    assert view.reach_put("node1", b'{"198.51.100.1": true}') == {"198.51.100.1": True}
    assert view.reach_put("node1", b'{"198.51.100.1": true}') is None          # the same again
    assert view.reach_put("node1", b'{"198.51.100.1": false}') == {"198.51.100.1": False}
    for bad in (b"not json", b'["198.51.100.1"]', b'{"198.51.100.1": "yes"}'):
        assert view.reach_put("node1", bad) is None
    assert view.bad_records == 3 and view.reach == {"node1": {"198.51.100.1": False}}
    view.reach_deleted("node1")
    assert view.reach == {}
    view.load(members=[], departures=[], candidacies=[], reaches=[("node2", b'{"203.0.113.1": true}'),
                                                                  ("node3", b"bad")])
    assert view.reach == {"node2": {"203.0.113.1": True}} and view.bad_records == 4


def test_the_key_layout():
    keys = PackKeys("/pylxd-cluster/", "prod")
    assert keys.member("node1") == b"/pylxd-cluster/prod/members/node1"
    assert keys.candidacy(255) == b"/pylxd-cluster/prod/election/00000000000000ff"
    assert keys.document == b"/pylxd-cluster/prod/document"
    assert keys.name_of(keys.group("web"), keys.groups) == "web"
    assert keys.reach("node1") == b"/pylxd-cluster/prod/reach/node1"
