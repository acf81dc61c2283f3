"""Join tokens: decode/encode against the tokens lxc printed, create, list, revoke."""

import json
import re

import pytest

from pylxd_cluster import InvalidJoinToken, JoinToken, NotFound
from tests.sdk.fakes import ENDPOINT, GOLDEN, golden_metadata


def golden_tokens():
    text = (GOLDEN / "cli/lxc_api_requests.txt").read_text()
    return sorted(set(re.findall(r"eyJ[A-Za-z0-9+/=]+", text)))


def test_the_golden_file_has_tokens():
    tokens = golden_tokens()
    assert len(tokens) >= 4
    assert any(t.endswith("==") for t in tokens)  # the empty-name one needs padding


@pytest.mark.parametrize("token", golden_tokens())
def test_decode_then_encode_gives_the_same_string(token):
    decoded = JoinToken.decode(token)
    assert decoded.token == token
    assert decoded.fingerprint == "3fb432145bd76cc71039db0e5caa9415c6591eabf54978fb5f6e2b1781a8ab24"
    assert decoded.addresses == ("127.0.0.1:18443",)
    assert decoded.expires_at.tzinfo is not None
    assert decoded.expires_at.year == 2026


def test_token_json_key_order_is_lxds():
    token = JoinToken.decode(golden_tokens()[0])
    import base64

    assert list(json.loads(base64.b64decode(token.token))) == [
        "server_name", "fingerprint", "addresses", "secret", "expires_at"]


def test_decode_rejects_garbage():
    with pytest.raises(InvalidJoinToken):
        JoinToken.decode("not a token!")
    with pytest.raises(InvalidJoinToken):
        JoinToken.decode("eyJhIjoxfQ==")  # {"a":1}


def test_create_builds_token_from_operation_metadata(client, lxd):
    lxd.reply("POST", "/1.0/cluster/members", "POST_1.0_cluster_members_token")
    token = client.cluster.tokens.create("node2")
    assert json.loads(lxd.requests("POST")[0].body) == {"server_name": "node2"}
    assert token.server_name == "node2"
    assert token.operation_id == "ecea77dc-fb99-42e7-a6dc-ea18927f35d2"
    assert token.secret == "d433f4a69b59c0219b2c03a97a7df644ebbe48e480d6a5128700194de1f9ff4e"
    assert token.expires_at.nanosecond == 191522483
    again = JoinToken.decode(token.token)
    assert (again.server_name, again.secret, again.expires_at, again.addresses) == (
        token.server_name, token.secret, token.expires_at, token.addresses)
    assert '"expires_at":"2026-11-22T05:43:51.191522483Z"' in __import__("base64").b64decode(
        token.token).decode()


def test_all_lists_running_token_operations(client, lxd):
    lxd.reply("GET", "/1.0/operations", "GET_1.0_operations_recursion1")
    tokens = client.cluster.tokens.all()
    assert [t.server_name for t in tokens] == ["node2"]
    assert lxd.calls[0].request.url == ENDPOINT + "/1.0/operations?recursion=1"


def test_revoke_by_name_looks_up_the_operation(client, lxd):
    lxd.reply("GET", "/1.0/operations", "GET_1.0_operations_recursion1")
    op = "ecea77dc-fb99-42e7-a6dc-ea18927f35d2"
    lxd.reply("DELETE", f"/1.0/operations/{op}", "DELETE_1.0_operations_TOKENID_node4")
    client.cluster.tokens.revoke("node2")
    assert lxd.requests("DELETE")[0].url == ENDPOINT + f"/1.0/operations/{op}"


def test_revoke_by_token_object_needs_no_lookup(client, lxd):
    lxd.reply("POST", "/1.0/cluster/members", "POST_1.0_cluster_members_token")
    lxd.reply("DELETE", "/1.0/operations/ecea77dc-fb99-42e7-a6dc-ea18927f35d2",
              "DELETE_1.0_operations_TOKENID_node4")
    client.cluster.tokens.create("node2").revoke()
    assert [c.request.method for c in lxd.calls] == ["POST", "DELETE"]


def test_revoke_unknown_name_raises_not_found(client, lxd):
    lxd.reply("GET", "/1.0/operations", "GET_1.0_operations_recursion1")
    with pytest.raises(NotFound, match="nodeX"):
        client.cluster.tokens.revoke("nodeX")


def test_token_operation_metadata_matches_golden_camel_case():
    metadata = golden_metadata("POST_1.0_cluster_members_token")["metadata"]
    assert set(metadata) == {"serverName", "secret", "fingerprint", "addresses", "expiresAt"}
    token = JoinToken.from_operation(golden_metadata("POST_1.0_cluster_members_token"))
    assert token.fingerprint == metadata["fingerprint"]


def test_revoking_twice_reports_the_server_text(client, lxd):
    op = "ecea77dc-fb99-42e7-a6dc-ea18927f35d2"
    lxd.reply("DELETE", f"/1.0/operations/{op}", "DELETE_1.0_operations_TOKENID_node4_again")
    from pylxd_cluster import APIError

    with pytest.raises(APIError, match="400 Only running operations can be cancelled"):
        client.cluster.tokens.revoke(op)
