"""Fixtures of the SDK unit tests: a fake LXD answering through ``responses`` (see fakes.py)."""

import pytest
import responses

from pylxd_cluster import Client
from tests.sdk.fakes import ENDPOINT, FakeLXD


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
