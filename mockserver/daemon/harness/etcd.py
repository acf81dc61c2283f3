"""Real etcd clusters for tests, benchmarks and demos: members on 127.0.0.1, plain or TLS.

etcd is Debian's ``etcd-server`` (``/usr/bin/etcd``; ``make system-deps`` installs it). Each
member gets free client and peer ports and a data directory in a temporary directory; with
``tls=True`` a throw-away CA signs a certificate per member (for 127.0.0.1) and one client
certificate, and etcd requires a client certificate on its client port
(``--client-cert-auth``), as a production cluster would.

Usage::

    with EtcdCluster(3, tls=True) as etcd:
        etcd.wait_ready()
        etcd.endpoints          # ["https://127.0.0.1:<port>", ...]
        etcd.kill9("etcd1")     # and etcd.restart("etcd1")

Every process is SIGKILLed by the kernel if this process dies (:func:`die_with_parent`), and
``close()`` (also at the end of ``with``, and on a failure) stops them and removes the
directory.
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import os
import platform
import random
import shutil
import signal
import ssl
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from mockserver.daemon.harness.addresses import free_tcp_ports
from mockserver.daemon.harness.processes import die_with_parent, stop_process
from mockserver.daemon.harness.waiting import poll_until

__all__ = ["ETCD", "EtcdCluster", "EtcdError", "etcd_env", "etcd_version"]

ETCD = "/usr/bin/etcd"
LOOPBACK = "127.0.0.1"


class EtcdError(RuntimeError):
    """An etcd member could not start or exited; the message carries its log's tail."""


def etcd_env() -> dict:
    env = dict(os.environ)
    arch = {"aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}.get(platform.machine())
    if arch:  # etcd 3.4 refuses to start on these unless told
        env.setdefault("ETCD_UNSUPPORTED_ARCH", arch)
    return env


def etcd_version() -> str:
    try:
        out = subprocess.run([ETCD, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    first = out.splitlines()[0] if out else ""
    return first.split(":", 1)[1].strip() if ":" in first else "?"


def _tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


class _Authority:
    """A throw-away CA and the certificates it signs (cryptography; EC P-256)."""

    def __init__(self, directory: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._x509, self._hashes, self._ec, self._oid = x509, hashes, ec, NameOID
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pylxd-cluster test etcd CA")])
        now, day = datetime.datetime.now(datetime.timezone.utc), datetime.timedelta(days=1)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - day).not_valid_after(now + 2 * day)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_path = self._write("ca.crt", self.cert)

    def _write(self, name: str, cert, key=None) -> str:
        from cryptography.hazmat.primitives import serialization

        path = self.directory / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            key_path = path.with_suffix(".key")
            key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
            os.chmod(key_path, 0o600)
        return str(path)

    def issue(self, common_name: str, *, server: bool) -> tuple[str, str]:
        """(certificate path, key path) for ``common_name``; a server one is for 127.0.0.1."""
        x509, oid = self._x509, self._x509.oid.ExtendedKeyUsageOID
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(self._oid.COMMON_NAME, common_name)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.ExtendedKeyUsage([oid.SERVER_AUTH, oid.CLIENT_AUTH] if server
                                                        else [oid.CLIENT_AUTH]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]), critical=False)
        cert = builder.sign(self.key, self._hashes.SHA256())
        path = self._write(f"{common_name}.crt", cert, key)
        return path, str(Path(path).with_suffix(".key"))


class EtcdCluster:
    """``size`` etcd members on 127.0.0.1 (``etcd0``, ``etcd1`` ...), one cluster.

    Attributes:
        endpoints: the members' client URLs, in order.
        ca, client_cert, client_key: with ``tls``, the CA and a client certificate it signed
            (else None).
    """

    def __init__(self, size: int = 3, *, tls: bool = False, prefix: str = "etcd-", fast_elections: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"pylxd-cluster-{prefix}"))
        self.tls = tls
        self.fast_elections = fast_elections
        self.token = f"pylxd-cluster-{random.randrange(1 << 32):08x}"
        self.ca = self.client_cert = self.client_key = None
        authority = _Authority(self.dir) if tls else None
        if authority is not None:
            self.ca = authority.ca_path
            self.client_cert, self.client_key = authority.issue("client", server=False)
        scheme = "https" if tls else "http"
        self.members: dict[str, dict] = {}
        ports = free_tcp_ports(LOOPBACK, 2 * size)
        for index in range(size):
            name = f"etcd{index}"
            member = {"name": name, "client": ports[2 * index], "peer": ports[2 * index + 1],
                      "data": str(self.dir / name), "log": str(self.dir / f"{name}.log"), "proc": None}
            member["url"] = f"{scheme}://{LOOPBACK}:{member['client']}"
            if authority is not None:
                member["cert"], member["key"] = authority.issue(name, server=True)
            self.members[name] = member
        initial = ",".join(f"{m['name']}={scheme}://{LOOPBACK}:{m['peer']}" for m in self.members.values())
        for member in self.members.values():
            member["args"] = self._arguments(member, initial, scheme)

    def _arguments(self, member: dict, initial: str, scheme: str) -> list[str]:
        args = [ETCD, "--name", member["name"], "--data-dir", member["data"],
                "--listen-client-urls", member["url"], "--advertise-client-urls", member["url"],
                "--listen-peer-urls", f"{scheme}://{LOOPBACK}:{member['peer']}",
                "--initial-advertise-peer-urls", f"{scheme}://{LOOPBACK}:{member['peer']}",
                "--initial-cluster", initial, "--initial-cluster-token", self.token,
                "--initial-cluster-state", "new", "--logger", "zap", "--log-outputs", "stderr"]
        if self.fast_elections:   # on loopback (etcd's defaults, 100 ms and 1 s, are for real networks)
            args += ["--heartbeat-interval", "50", "--election-timeout", "500"]
        if self.tls:
            args += ["--cert-file", member["cert"], "--key-file", member["key"], "--client-cert-auth",
                     "--trusted-ca-file", self.ca, "--peer-cert-file", member["cert"],
                     "--peer-key-file", member["key"], "--peer-client-cert-auth", "--peer-trusted-ca-file", self.ca]
        return args

    @property
    def endpoints(self) -> list[str]:
        return [member["url"] for member in self.members.values()]

    def endpoint(self, name: str) -> str:
        return self.members[name]["url"]

    # ---- processes ------------------------------------------------------------------------

    def start(self, *names: str) -> EtcdCluster:
        """Start the members named (all by default) that are not running."""
        env = etcd_env()
        for name in names or self.members:
            member = self.members[name]
            if member["proc"] is not None and member["proc"].poll() is None:
                continue
            with open(member["log"], "a") as log:
                member["proc"] = subprocess.Popen(die_with_parent(member["args"]), stdout=log,
                                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                  cwd=self.dir, env=env)
        return self

    def kill9(self, name: str) -> None:
        """SIGKILL one member and reap it (its data stays: :meth:`restart` brings it back)."""
        member = self.members[name]
        member["killed"] = True   # an exit it asked for: check_alive does not report it
        proc = member["proc"]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self, name: str) -> None:
        self.members[name]["killed"] = False
        self.start(name)

    def running(self) -> list[str]:
        return [name for name, m in self.members.items() if m["proc"] is not None and m["proc"].poll() is None]

    def check_alive(self, *names: str) -> None:
        """Raises EtcdError naming a member (of ``names``, all by default) that exited, but
        one :meth:`kill9` stopped."""
        for name in names or self.members:
            proc = self.members[name]["proc"]
            if proc is not None and proc.poll() is not None and not self.members[name].get("killed"):
                raise EtcdError(f"etcd member {name} exited ({proc.returncode}):\n{_tail(self.members[name]['log'])}")

    def describe(self) -> str:
        return "\n".join(f"--- {m['name']} ({m['url']}):\n{_tail(m['log'], 10)}" for m in self.members.values())

    # ---- readiness ---------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca)
        context.load_cert_chain(self.client_cert, self.client_key)
        return context

    def status(self, name: str, timeout: float = 2.0) -> dict:
        """The member's ``/v3/maintenance/status`` (etcd's JSON gateway).

        Raises: OSError (urllib's errors) when it does not answer.
        """
        request = urllib.request.Request(self.endpoint(name) + "/v3/maintenance/status", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=timeout, context=self._context()) as reply:
            return json.loads(reply.read())

    def leader(self, names=None) -> str | None:
        """The name of the member the members named (the running ones by default) agree leads,
        or None."""
        ids, leaders = {}, set()
        for name in names or self.running():
            try:
                status = self.status(name)
            except OSError:
                return None
            ids[status["header"]["member_id"]] = name
            leaders.add(status.get("leader"))
        if len(leaders) != 1:
            return None
        (leader,) = leaders
        return ids.get(leader)

    def wait_ready(self, timeout: float = 30.0, names=None) -> str:
        """Wait until the running members (or ``names``) agree on a leader; return its name.

        Raises: EtcdError when a member exited, WaitTimeout after ``timeout``.
        """
        def ready():
            self.check_alive(*(names or ()))
            return self.leader(names)

        return poll_until(ready, timeout, interval=0.05, what="the etcd cluster to elect a leader",
                          describe=self.describe)

    # ---- teardown ------------------------------------------------------------------------------

    def close(self) -> None:
        for member in self.members.values():
            if member["proc"] is not None:
                stop_process(member["proc"])
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info) -> None:
        self.close()

    def wait_gone(self, name: str, timeout: float = 10.0) -> None:
        """Wait until ``name``'s client port refuses connections."""
        import socket

        port = self.members[name]["client"]

        def gone() -> bool:
            with socket.socket() as probe:
                probe.settimeout(0.2)
                return probe.connect_ex((LOOPBACK, port)) != 0

        poll_until(gone, timeout, interval=0.02, what=f"etcd member {name} to stop listening")
