"""The configuration document and the seed's merge rules (sans-IO)."""
from __future__ import annotations

import pytest

from mockserver.daemon.sync import PackDocument, SyncError, accept, effective_modules, shareable_modules

LEADER_FILE = (("Pack", {"name": "lab"}), ("PackConfiguration", {"interval": 60}), ("WebGui", {"port": 80}),
               ("Metrics", {"every": 10}), ("LocalModule", {"x": 1}))


def test_the_leader_shares_all_but_pack_modules_and_ignored_ones():
    shared = shareable_modules(LEADER_FILE, ignore=["LocalModule"])
    assert [name for name, _ in shared] == ["WebGui", "Metrics"]


def test_local_modules_of_a_follower_always_win():
    document = PackDocument(shareable_modules(LEADER_FILE), 3, 1)
    follower_file = (("Pack", {"name": "lab", "pack": "follower"}), ("Metrics", {"every": 99}))
    effective = effective_modules(follower_file, document)
    assert effective == (("Pack", {"name": "lab", "pack": "follower"}), ("Metrics", {"every": 99}),
                         ("WebGui", {"port": 80}), ("LocalModule", {"x": 1}))


def test_follower_ignore_modules_are_never_taken():
    document = PackDocument(shareable_modules(LEADER_FILE), 3, 1)
    effective = effective_modules((("Pack", {}),), document, ignore=["WebGui"])
    assert [name for name, _ in effective] == ["Pack", "Metrics", "LocalModule"]


def test_a_module_removed_on_the_leader_is_removed_on_followers_unless_local():
    before = PackDocument(shareable_modules(LEADER_FILE), 3, 1)
    after = before.changed(m for m in before.modules if m[0] != "WebGui" and m[0] != "Metrics")
    follower_file = (("Pack", {}), ("Metrics", {"every": 99}))
    assert [n for n, _ in effective_modules(follower_file, before)] == ["Pack", "Metrics", "WebGui", "LocalModule"]
    assert [n for n, _ in effective_modules(follower_file, after)] == ["Pack", "Metrics", "LocalModule"]


def test_versions_grow_only_on_change_and_digests_follow_content():
    document = PackDocument((("A", {"x": 1}),), 1, 2)
    assert document.changed((("A", {"x": 1}),)) is document
    changed = document.changed((("A", {"x": 2}),))
    assert (changed.version, changed.term) == (2, 2) and changed.digest != document.digest
    assert PackDocument((("A", {"x": 1}),), 9, 9).digest == document.digest


def test_wire_round_trip_and_tampering_is_detected():
    document = PackDocument((("A", {"x": [1, 2], "ünïcode": "✓"}),), 4, 2)
    assert PackDocument.from_wire(document.to_wire()) == document
    tampered = document.to_wire().replace(b'"x":[1,2]', b'"x":[1,3]')
    with pytest.raises(SyncError, match="digest mismatch"):
        PackDocument.from_wire(tampered)
    for bad in (b"", b"{", document.to_wire()[:-10], b'{"version":1}', b'{"modules":[1],"version":1,"term":1}'):
        with pytest.raises(SyncError):
            PackDocument.from_wire(bad)


@pytest.mark.parametrize("current,incoming,reason", [
    (None, (1, 1), None),
    ((5, 2), (6, 2), None),
    ((5, 2), (5, 2), "not newer"),
    ((5, 2), (4, 2), "not newer"),
    ((5, 2), (9, 1), "stale leader"),
    ((5, 2), (3, 3), None),  # a new leader is authoritative, continuing from what it has
])
def test_accept_refuses_stale_leaders_and_old_versions(current, incoming, reason):
    current_doc = PackDocument((), *current) if current else None
    verdict = accept(current_doc, PackDocument((), *incoming))
    assert (verdict is None) if reason is None else (reason in verdict)
