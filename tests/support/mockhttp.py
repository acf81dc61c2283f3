import pytest
import requests

from mockserver import MockCluster


class Http:
    """A plain requests session against a mock's TCP listener (no SDK in the way)."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()

    def request(self, method, path, **kwargs):
        return self.session.request(method, self.base + path, timeout=10, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)


@pytest.fixture
def mock():
    with MockCluster(3) as cluster:
        yield cluster


@pytest.fixture
def http(mock):
    return Http(mock.url)
