"""Fixtures of the SDK unit tests: a fake LXD answering through ``responses`` (see fakes.py)."""

import pytest
import responses

from pylxd_cluster import Client
from tests.sdk.fakes import ENDPOINT, FakeLXD, host_info


@pytest.fixture
def lxd():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeLXD(mock)


@pytest.fixture
def client(lxd):
    """A Client whose GET /1.0 was answered by the golden capture; the call log is cleared."""
    lxd.reply("GET", "/1.0", "GET_1.0")
    made = Client(ENDPOINT)
    lxd.mock.calls.reset()
    return made


@pytest.fixture
def client_as(lxd):
    """A factory of Clients whose GET /1.0 names another server, version or extensions
    (``client_as(server="incus", version="6.0.4", add=(...), remove=(...))``, see
    fakes.host_info); the call log is cleared."""
    def make(**kwargs) -> Client:
        lxd.reply_json("GET", "/1.0", host_info(**kwargs))
        made = Client(ENDPOINT)
        lxd.mock.calls.reset()
        return made

    return make
