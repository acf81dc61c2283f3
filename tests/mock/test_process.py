"""pylxd-cluster-mock as its own process: start-up output, TLS, clean stop on signals."""
from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest
import requests

from mockserver.daemon.harness import free_tcp_port

MOCK = [sys.executable, "-m", "mockserver"]




class Server:
    def __init__(self, *args):
        self.proc = subprocess.Popen(MOCK + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if "stop with" in line:
                return
        raise AssertionError(f"server did not start: {self.lines} {self.proc.stderr.read()}")

    def stop(self, signum=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_tcp_and_unix_and_stops_cleanly(tmp_path, signum):
    port, sock_path = free_tcp_port("127.0.0.1"), str(tmp_path / "lxd.socket")
    server = Server("--members", "4", "--listen", f"127.0.0.1:{port}", "--unix", sock_path)
    try:
        assert f"  listening on http://127.0.0.1:{port}" in server.lines
        assert f"  listening on unix:{sock_path}" in server.lines
        assert "node1, node2, node3, node4" in server.lines[0]
        members = requests.get(f"http://127.0.0.1:{port}/1.0/cluster/members", timeout=5).json()["metadata"]
        assert len(members) == 4
        assert os.path.exists(sock_path)
    finally:
        code = server.stop(signum)
    assert code == 0
    assert server.proc.stdout.read().strip().endswith("stopped")
    assert not os.path.exists(sock_path)


def test_tls_prints_the_fingerprint_it_serves(tmp_path):
    port = free_tcp_port("127.0.0.1")
    server = Server("--members", "2", "--listen", f"127.0.0.1:{port}", "--tls")
    try:
        line = next(text for text in server.lines if "fingerprint" in text)
        printed = line.split(":")[-1].strip()
        der = ssl.get_server_certificate(("127.0.0.1", port))
        import hashlib
        served = hashlib.sha256(ssl.PEM_cert_to_DER_cert(der)).hexdigest()
        assert printed == served
        reply = requests.get(f"https://127.0.0.1:{port}/1.0", verify=False, timeout=5).json()
        assert reply["metadata"]["environment"]["certificate_fingerprint"] == printed
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("args,message", [
    (["--listen", "127.0.0.1:notaport"], "bad port in listen address"),
    (["--members", "-1"], "--members must be 0 or more"),
    (["--trust-cert", "/nonexistent.pem", "--tls"], "cannot read --trust-cert /nonexistent.pem"),
])
def test_bad_arguments_are_refused_with_a_clear_error(args, message):
    result = subprocess.run(MOCK + args, capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_address_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(MOCK + ["--listen", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_help_explains_scripting():
    result = subprocess.run(MOCK + ["--help"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0
    for text in ("--members", "--unix", "--tls", "/mock/members/NAME/status", "LXD_SOCKET"):
        assert text in result.stdout
