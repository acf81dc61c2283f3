"""pylxd's habits: Client(project=, version=), (connect, read) timeouts, pylxd's exception
names, sync(), and a helpful error on assigning to a frozen model."""

from __future__ import annotations

import socket

import attrs
import pylxd.exceptions
import pytest
import responses

import pylxd_cluster
from pylxd_cluster import Client, ClusterMember, FrozenModelError, Timeout
from pylxd_cluster.transport import check_timeout, extend_read_timeout
from tests.sdk.fakes import ENDPOINT

OPERATION = {"id": "op1", "class": "task", "description": "Evacuating cluster member", "status": "Success",
             "status_code": 200, "err": "", "may_cancel": False, "metadata": None, "resources": {}}


def sync(metadata, status=200):
    return {"type": "sync", "status": "Success", "status_code": status, "operation": "", "error_code": 0,
            "error": "", "metadata": metadata}


# ---- Client(project=..., version=...) ---------------------------------------------------

def test_version_1_0_is_accepted_and_others_refused(lxd):
    lxd.reply("GET", "/1.0", "GET_1.0")
    assert Client(ENDPOINT, version="1.0").version == "1.0"
    with pytest.raises(ValueError, match="only API version '1.0'"):
        Client(ENDPOINT, version="2.0")


def test_project_goes_to_operations_and_events_not_to_cluster_endpoints(lxd):
    lxd.reply("GET", "/1.0", "GET_1.0")
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1")
    lxd.reply_json("GET", "/1.0/operations/op1", sync(OPERATION))
    client = Client(ENDPOINT, project="web")
    client.cluster.members.get("node1")
    client.operations.get("op1")
    urls = [request.url for request in lxd.requests("GET")]
    assert urls[1] == ENDPOINT + "/1.0/cluster/members/node1"
    assert urls[2] == ENDPOINT + "/1.0/operations/op1?project=web"
    assert pylxd_cluster.events.events_path(("lifecycle",), "web") == "/1.0/events?type=lifecycle&project=web"


def test_wait_sends_the_project_with_its_timeout(lxd):
    lxd.reply("GET", "/1.0", "GET_1.0")
    lxd.reply_json("GET", "/1.0/operations/op1/wait", sync(OPERATION))
    Client(ENDPOINT, project="web").operations.wait("op1", timeout=5)
    assert lxd.requests()[-1].url.endswith("/1.0/operations/op1/wait?timeout=5&project=web")


def test_a_project_needs_the_projects_extension(client_as):
    with pytest.raises(pylxd_cluster.ExtensionMissing, match="projects"):
        client_as(remove=("projects",)).__class__(ENDPOINT, project="web")


def test_the_default_project_needs_no_extension(client_as):
    assert client_as(remove=("projects",)).__class__(ENDPOINT, project="default").project == "default"


# ---- (connect, read) timeouts -----------------------------------------------------------

def test_a_timeout_pair_is_passed_to_requests(lxd):
    lxd.reply("GET", "/1.0", "GET_1.0")
    Client(ENDPOINT, timeout=(3.05, 27))
    assert lxd.calls[0].request.req_kwargs["timeout"] == (3.05, 27)


def test_wait_operation_with_a_timeout_pair(lxd):
    lxd.reply("GET", "/1.0", "GET_1.0")
    lxd.reply_json("GET", "/1.0/operations/op1/wait", sync(OPERATION))
    client = Client(ENDPOINT, timeout=(3, 20))
    assert client.operations.wait("op1", timeout=30).status == "Success"
    assert lxd.calls[-1].request.req_kwargs["timeout"] == (3, 50)   # the server holds it 30 s


def test_evacuate_with_a_timeout_pair(lxd):
    lxd.reply("GET", "/1.0", "GET_1.0")
    async_reply = {"type": "async", "status": "Operation created", "status_code": 100,
                   "operation": "/1.0/operations/op1", "error_code": 0, "error": "", "metadata": OPERATION}
    lxd.reply_json("POST", "/1.0/cluster/members/node2/state", async_reply, status=202)
    lxd.reply_json("GET", "/1.0/operations/op1/wait", sync(OPERATION))
    client = Client(ENDPOINT, timeout=(2, 5))
    assert client.cluster.members.evacuate("node2", timeout=60).status == "Success"
    assert lxd.calls[-1].request.req_kwargs["timeout"] == (2, 70)   # 60 s + at least the 10 s grace


def test_extend_read_timeout():
    assert extend_read_timeout(None, 30, minimum=10) == 40
    assert extend_read_timeout(20, 30, minimum=10) == 50
    assert extend_read_timeout((3, None), 30, minimum=10) == (3, 40)


def test_bad_timeouts_are_refused():
    assert check_timeout([1, 2]) == (1, 2) and check_timeout((None, 5)) == (None, 5)
    for bad in ((1, 2, 3), "5", -1, (1, "x"), True):
        with pytest.raises(ValueError, match="timeout"):
            check_timeout(bad)


def test_a_read_timeout_pair_names_the_read_part(tmp_path):
    path = tmp_path / "slow.socket"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)  # accepts the connection, never answers
    try:
        with pytest.raises(Timeout, match=r"within 0.2 s \(connect 5 s\)"):
            Client(str(path), timeout=(5, 0.2))
    finally:
        listener.close()


def test_the_event_websocket_takes_a_timeout_pair(tmp_path):
    from pylxd_cluster.transport import Transport

    path = tmp_path / "quiet.socket"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)  # connects, never answers the upgrade
    try:
        with pytest.raises(pylxd_cluster.ClientConnectionError, match="websocket"):
            Transport(str(path), timeout=(5, 0.2)).open_websocket("/1.0/events")
    finally:
        listener.close()


# ---- pylxd's exception names ----------------------------------------------------------

def test_pylxd_exception_names_are_ours():
    assert pylxd_cluster.LXDAPIException is pylxd_cluster.APIError
    assert pylxd_cluster.ClientConnectionFailed is pylxd_cluster.ClientConnectionError
    assert pylxd_cluster.LXDAPIExtensionNotAvailable is pylxd_cluster.ExtensionMissing
    assert issubclass(pylxd_cluster.NotFound, pylxd_cluster.LXDAPIException)
    # the same hierarchy as pylxd's: NotFound and Conflict are LXDAPIExceptions
    assert issubclass(pylxd.exceptions.NotFound, pylxd.exceptions.LXDAPIException)
    assert issubclass(pylxd_cluster.Conflict, pylxd_cluster.LXDAPIException)


def test_except_lxdapiexception_catches_a_404(client, lxd):
    lxd.reply_json("GET", "/1.0/cluster/members/ghost",
                   {"type": "error", "error_code": 404, "error": "Cluster member not found"}, status=404)
    with pytest.raises(pylxd_cluster.LXDAPIException) as caught:
        client.cluster.members.get("ghost")
    assert isinstance(caught.value, pylxd_cluster.NotFound) and caught.value.response.status_code == 404


def test_except_client_connection_failed_catches_a_refused_connection():
    with responses.RequestsMock(), pytest.raises(pylxd_cluster.ClientConnectionFailed):
        Client(ENDPOINT, retries=0)


# ---- sync() -----------------------------------------------------------------------------

def test_sync_reads_the_member_again(client, lxd):
    lxd.reply("GET", "/1.0/cluster/members/node1", "GET_1.0_cluster_members_node1")
    member = client.cluster.members.get("node1")
    lxd.mock.replace("GET", ENDPOINT + "/1.0/cluster/members/node1",
                     json=sync({**member.to_api(), "status": "Offline"}))
    fresh = member.sync()
    assert (member.status, fresh.status) == ("Online", "Offline")
    assert len(lxd.requests("GET")) == 2


def test_sync_of_a_model_that_cannot_be_read_again():
    token = pylxd_cluster.JoinToken.from_api({"server_name": "x"}, manager=object())
    with pytest.raises(pylxd_cluster.ClusterError, match="cannot be read again"):
        token.sync()


def test_every_refreshable_model_has_sync():
    for model in (pylxd_cluster.ClusterMember, pylxd_cluster.Cluster, pylxd_cluster.ClusterGroup,
                  pylxd_cluster.Operation, pylxd_cluster.ServiceGroup, pylxd_cluster.PackConfiguration):
        assert model.sync is pylxd_cluster.models.base.ServerModel.sync and callable(model.refresh)


# ---- assigning to a frozen model --------------------------------------------------------

def test_assigning_says_to_use_evolve_and_save():
    member = ClusterMember(server_name="node1", description="old")
    with pytest.raises(FrozenModelError, match=r"evolve\(\).*save\(\)") as caught:
        member.description = "new"
    assert isinstance(caught.value, AttributeError)
    assert isinstance(caught.value, attrs.exceptions.FrozenInstanceError)
    assert isinstance(caught.value, pylxd_cluster.ClusterError)
    assert "ClusterMember.description" in str(caught.value) and member.description == "old"


def test_a_model_without_save_only_mentions_evolve():
    event = pylxd_cluster.Event.from_api({"type": "lifecycle"})
    with pytest.raises(FrozenModelError) as caught:
        event.type = "logging"
    assert "evolve()" in str(caught.value) and "save()" not in str(caught.value)
    with pytest.raises(FrozenModelError):
        del event.type


def test_evolve_and_from_api_still_build_models():
    member = ClusterMember.from_api({"server_name": "node1", "description": "a"})
    assert member.evolve(description="b").description == "b" and member.description == "a"
