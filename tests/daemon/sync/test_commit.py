"""The leader's count of confirmations: a version is committed only when a majority holds
exactly the document the leader issued under its number, in the leader's term."""
from __future__ import annotations

from mockserver.daemon.sync.commit import CommitTracker

LIVE = ("node2", "node3", "node4", "node5")


def tracker() -> CommitTracker:
    commits = CommitTracker()
    commits.lead(7)
    commits.issue(10, "aa")
    commits.issue(11, "bb")
    return commits


def test_a_majority_that_holds_the_issued_document_commits_it():
    commits = tracker()
    commits.confirm("node2", 7, 11, "bb")
    assert commits.committable(LIVE, quorum=3, own=11) is None      # the leader and one: 2 of 3
    commits.confirm("node3", 7, 10, "aa")
    assert commits.committable(LIVE, quorum=3, own=11) == 10        # three hold 10, two hold 11
    commits.confirm("node3", 7, 11, "bb")
    assert commits.committable(LIVE, quorum=3, own=11) == 11


def test_a_confirmation_of_another_document_under_the_same_number_is_not_counted():
    commits = tracker()
    commits.confirm("node2", 7, 11, "ff")   # (7, 11) but not the document issued as 11
    commits.confirm("node3", 7, 11, "ff")
    assert commits.committable(LIVE, quorum=3, own=11) is None
    assert not commits.holds("node2", 10)            # nor does it vouch for the versions before it


def test_confirmations_of_another_term_or_of_members_gone_are_not_counted():
    commits = tracker()
    commits.confirm("node2", 6, 11, "bb")
    commits.confirm("node3", 7, 11, "bb")
    assert commits.committable(LIVE, quorum=3, own=11) is None
    assert commits.committable(("node2",), quorum=2, own=11) is None   # node3 is not live
    commits.lead(8)                                  # a new term forgets what was issued
    assert commits.committable(LIVE, quorum=1, own=11) is None


def test_the_leader_counts_itself_only_for_what_it_has_on_disk():
    commits = tracker()
    commits.confirm("node2", 7, 11, "bb")
    commits.confirm("node3", 7, 11, "bb")
    assert commits.committable(LIVE, quorum=4, own=10) is None
    assert commits.committable(LIVE, quorum=3, own=10) == 10


def test_only_answers_to_a_round_tell_that_a_majority_still_follows():
    commits = tracker()
    commits.answered("node2", 3)
    commits.answered("node3", 5)
    commits.answered("node3", 4)                     # a late answer to an older round
    commits.confirm("node4", 7, 11, "bb")            # it holds our version: that says nothing of now
    assert commits.followers_since(4, LIVE) == 1
    assert commits.followers_since(1, LIVE) == 2
    assert commits.followers_since(5, ("node2",)) == 0   # node3 is not live
