"""Example configuration files, and a fixture that expects one to be refused."""
import pytest

from mockserver.daemon.config import ConfigError, parse

EXAMPLE = """\
- Pack:
    name: lab
    secret: s3cret-lab
    broadcast: 127.255.255.255
    interface: 127.0.0.11
    port: 5252
    pack: leader
    server_name: node1
    keepalive-interval: 200
    dead-interval: 1000
- Api:
    listen: 127.0.0.11:8443
    unix: /tmp/lab/node1.socket
"""

# The smallest valid file: the Pack module's required keys.
MINIMAL = """\
- Pack:
    name: lab
    secret: s3cret
    broadcast: 198.51.100.255
"""


def pack_with(*lines: str) -> str:
    """MINIMAL with extra Pack option lines (each like 'port: 1')."""
    return MINIMAL + "".join(f"    {line}\n" for line in lines)


@pytest.fixture
def refused():
    """refused(text) -> the ConfigError that parsing text as 'node.yaml' raises."""

    def run(text: str) -> ConfigError:
        with pytest.raises(ConfigError) as info:
            parse(text, "node.yaml")
        return info.value

    return run
