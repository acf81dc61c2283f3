"""operations.wait(): how LXD 5.0 and Incus 6.0 answer /wait when it times out or the operation fails."""

from __future__ import annotations

import pytest

from pylxd_cluster import NotFound, OperationError, Timeout
from tests.sdk.fakes import error, sync

OP = "8d6e2b51-3a0f-4e3b-9a55-1c1f2f7c9e10"
WAIT = f"/1.0/operations/{OP}/wait"


def operation(status: str, status_code: int, err: str = "") -> dict:
    return {"id": OP, "class": "task", "description": "Evacuating cluster member",
            "created_at": "2026-11-22T02:46:02.450896829Z", "updated_at": "2026-11-22T02:46:02.450896829Z",
            "status": status, "status_code": status_code, "resources": None, "metadata": None,
            "may_cancel": False, "err": err, "location": "node1"}


def test_incus_timeout_is_a_timeout(client, lxd):
    """Incus 6.0.4: HTTP 200, then an error envelope "context deadline exceeded"; the
    operation, read back, is still running."""
    lxd.reply_json("GET", WAIT, error(500, "context deadline exceeded"), status=200)
    lxd.reply_json("GET", f"/1.0/operations/{OP}", sync(operation("Running", 103)))
    with pytest.raises(Timeout) as info:
        client.operations.wait(OP, timeout=1)
    assert isinstance(info.value, TimeoutError)
    assert "is still Running after 1 s" in str(info.value) and "context deadline exceeded" in str(info.value)
    assert [c.request.url.split("?")[0].rsplit("/", 1)[-1] for c in lxd.calls] == ["wait", OP]


def test_incus_failed_operation_is_an_operation_error_with_the_operation(client, lxd):
    lxd.reply_json("GET", WAIT, error(500, "Cluster member is already evacuated"), status=200)
    lxd.reply_json("GET", f"/1.0/operations/{OP}", sync(operation("Failure", 400, "Cluster member is already "
                                                                                   "evacuated")))
    with pytest.raises(OperationError) as info:
        client.operations.wait(OP, timeout=10)
    assert info.value.err == "Cluster member is already evacuated"
    assert info.value.operation.status == "Failure" and info.value.operation.id == OP
    assert "ended Failure: Cluster member is already evacuated" in str(info.value)


def test_an_operation_that_fails_with_the_deadline_text_is_a_failure_not_a_timeout(client, lxd):
    lxd.reply_json("GET", WAIT, error(500, "context deadline exceeded"), status=200)
    lxd.reply_json("GET", f"/1.0/operations/{OP}", sync(operation("Failure", 400, "context deadline exceeded")))
    with pytest.raises(OperationError) as info:
        client.operations.wait(OP, timeout=30)
    assert info.value.err == "context deadline exceeded" and not isinstance(info.value, Timeout)


def test_an_operation_already_gone_is_judged_by_the_text(client, lxd):
    lxd.reply_json("GET", WAIT, error(500, "context deadline exceeded"), status=200)
    lxd.reply_json("GET", f"/1.0/operations/{OP}", error(404, "Operation not found"), status=404)
    with pytest.raises(Timeout, match="still running after 2 s"):
        client.operations.wait(OP, timeout=2)
    lxd.reply_json("GET", WAIT, error(500, "Failed to stop instance"), status=200)
    with pytest.raises(OperationError) as info:
        client.operations.wait(OP, timeout=2)
    assert info.value.err == "Failed to stop instance" and info.value.operation is None


def test_finished_just_after_the_deadline_is_success(client, lxd):
    lxd.reply_json("GET", WAIT, error(500, "context deadline exceeded"), status=200)
    lxd.reply_json("GET", f"/1.0/operations/{OP}", sync(operation("Success", 200)))
    assert client.operations.wait(OP, timeout=1).succeeded


def test_lxd_5_0_answers_the_operation_itself(client, lxd):
    """LXD 5.0.2 (golden): a sync reply with the still-Running operation, or the failed one."""
    running = "45ccbaf5-f4d0-484a-a5b4-8aade035f686"
    lxd.reply("GET", f"/1.0/operations/{running}/wait", "GET_1.0_operations_TOKEN_running_wait_timeout1")
    with pytest.raises(Timeout, match="is still Running after 1 s$"):
        client.operations.wait(running, timeout=1)
    failed = "590a6a40-285a-4eb5-b213-466eb1bb8f98"
    lxd.reply("GET", f"/1.0/operations/{failed}/wait", "GET_1.0_operations_RESTOREID_notevacuated_wait")
    with pytest.raises(OperationError) as info:
        client.operations.wait(failed)
    assert info.value.err == "Cluster member is already restored" and info.value.operation.status_code == 400
    assert len(lxd.calls) == 2           # nothing read back: the reply said it all


def test_a_real_http_error_is_not_the_operations_outcome(client, lxd):
    lxd.reply_json("GET", WAIT, error(404, "Operation not found"), status=404)
    with pytest.raises(NotFound):
        client.operations.wait(OP, timeout=1)
    assert len(lxd.calls) == 1
