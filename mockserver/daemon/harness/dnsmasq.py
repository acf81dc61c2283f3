"""A real dnsmasq for the DNS discovery tests and benchmarks: on a loopback address and a
free port, authoritative for one domain, serving A records from a hosts file and SRV records
from a configuration file, both of which the caller edits (then ``reload()``)."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from mockserver.daemon.harness.addresses import free_udp_port

DNSMASQ = "/usr/sbin/dnsmasq"


class Dnsmasq:
    """``records``: {name: [ipv4 or ipv6, ...]}; ``srv``: {name: [(target, port), ...]}.

    Raises:
        RuntimeError: dnsmasq is not installed (``make system-deps`` installs it) or does
            not answer.
    """

    def __init__(self, directory: Path, address: str, domain: str = "pack.test"):
        if not shutil.which(DNSMASQ):
            raise RuntimeError(f"{DNSMASQ} is missing: `make system-deps` installs Debian's dnsmasq-base")
        self.dir, self.address, self.domain = Path(directory), address, domain
        self.port = free_udp_port()
        self.hosts, self.conf = self.dir / "dns-hosts", self.dir / "dns-srv.conf"
        self.records: dict = {}
        self.srv: dict = {}
        self.proc: subprocess.Popen | None = None

    @property
    def resolver(self) -> str:
        return f"{self.address}:{self.port}"

    def _write(self) -> None:
        self.hosts.write_text("".join(f"{ip} {name}\n" for name, ips in self.records.items() for ip in ips))
        self.conf.write_text("".join(f"srv-host={name},{target},{port}\n"
                                     for name, targets in self.srv.items() for target, port in targets))

    def start(self) -> Dnsmasq:
        self._write()
        self.proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--user=root", "--group=root",
             f"--addn-hosts={self.hosts}", f"--conf-file={self.conf}", f"--listen-address={self.address}",
             "--bind-interfaces", f"--port={self.port}", f"--local=/{self.domain}/", "--no-negcache",
             "--cache-size=0", "--pid-file="],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_answering()
        return self

    def reload(self) -> None:
        """Write the records and have dnsmasq read the hosts file again (SIGHUP). SRV records
        live in its configuration, which it reads only at start: a change restarts it."""
        srv_before = self.conf.read_text() if self.conf.exists() else ""
        self._write()
        if self.conf.read_text() != srv_before:
            self.stop()
            self.start()
        else:
            self.proc.send_signal(signal.SIGHUP)
            self._wait_serving()

    def _wait_serving(self, timeout: float = 10.0) -> None:
        """Until every name answers with its IPv4 records as they are now: dnsmasq reads the
        hosts file after the SIGHUP has been sent, so a query right away may get the old ones."""
        import dns.exception
        import dns.message
        import dns.query
        import dns.rdatatype

        def served() -> bool:
            for name, ips in self.records.items():
                wanted = {ip for ip in ips if ":" not in ip}
                reply = dns.query.udp(dns.message.make_query(name, dns.rdatatype.A), self.address, port=self.port,
                                      timeout=0.2)
                got = {item.address for rrset in reply.answer for item in rrset if rrset.rdtype == dns.rdatatype.A}
                if got != wanted:
                    return False
            return True

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if served():
                    return
            except (dns.exception.DNSException, OSError):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"dnsmasq on {self.resolver} still answers the old records {timeout:g} s after a reload")

    def _wait_answering(self, timeout: float = 10.0) -> None:
        query = bytes.fromhex("abcd01000001000000000000") + b"\x00" + b"\x00\x01\x00\x01"   # root A
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.1)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"dnsmasq exited: {self.proc.stderr.read().decode(errors='replace')}")
                s.sendto(query, (self.address, self.port))
                try:
                    s.recv(512)
                    return
                except OSError:
                    continue
        raise RuntimeError(f"dnsmasq on {self.resolver} does not answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
