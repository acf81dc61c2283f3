"""Free loopback addresses and ports for packs that must not hear each other."""
from __future__ import annotations

import random
import socket

LO_BROADCAST = "127.255.255.255"


def _port_is_free(port: int) -> bool:
    # A wildcard bind (without SO_REUSEADDR) fails if anyone holds the port on any address.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_udp_port(rng: random.Random = random) -> int:
    """A UDP port nobody holds, below the kernel's ephemeral range (so that no client socket
    is handed it meanwhile)."""
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        if _port_is_free(port):
            return port
    raise RuntimeError("no free UDP port found in 20000-32000")


def free_tcp_port(host: str) -> int:
    """A TCP port free on ``host`` now (the kernel picks it from its ephemeral range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_tcp_ports(host: str, count: int) -> list[int]:
    """``count`` distinct TCP ports free on ``host`` now (all held open while they are chosen:
    one at a time, the kernel may hand the same port out twice)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def random_block(rng: random.Random = random) -> str:
    """``127.a.b.`` : a loopback /24 for one test (never 127.0.0.x nor 127.255.x.x)."""
    return f"127.{rng.randrange(16, 250)}.{rng.randrange(0, 256)}."
