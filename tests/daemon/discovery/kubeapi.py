"""A test double of the Kubernetes API server, for the far side of the kubernetes discovery
strategy: HTTPS with a certificate signed by its own cluster CA, bearer tokens, label
selectors, paging, and the lists of EndpointSlices, Endpoints and Pods built from the
shapes in ``kubernetes_shapes/`` (see its README for where they come from).

It can be told to refuse (any Status code), to answer garbage, or to answer slowly.

``ServiceAccount`` writes what a pod gets mounted at
/var/run/secrets/kubernetes.io/serviceaccount (``token``, ``ca.crt``, ``namespace``) and
gives the environment variables the kubelet sets.
"""
from __future__ import annotations

import copy
import datetime
import http.server
import ipaddress
import json
import re
import ssl
import threading
import urllib.parse
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SHAPES = Path(__file__).with_name("kubernetes_shapes")
ROUTES = {  # path pattern: (resource, group, list kind, apiVersion)
    re.compile(r"^/apis/discovery\.k8s\.io/v1/namespaces/([^/]+)/endpointslices$"):
        ("endpointslices", "discovery.k8s.io", "EndpointSliceList", "discovery.k8s.io/v1"),
    re.compile(r"^/api/v1/namespaces/([^/]+)/endpoints$"): ("endpoints", "", "EndpointsList", "v1"),
    re.compile(r"^/api/v1/namespaces/([^/]+)/pods$"): ("pods", "", "PodList", "v1"),
}


def shape(name: str) -> dict:
    return json.loads((SHAPES / f"{name}.json").read_text())


# ---- objects, from the reference shapes ------------------------------------------------------

def endpoint_slice(name: str, endpoints: list, port: int = 5252, service: str = "pack",
                   address_type: str = "IPv4", namespace: str = "default") -> dict:
    """``endpoints``: ``[(ip, conditions), ...]``, conditions as the API writes them
    (``{"ready": True, "serving": True, "terminating": False}``; a key left out is nil)."""
    item = shape("endpointslice")
    template = item["endpoints"][0]
    item["metadata"].update(name=name, namespace=namespace)
    item["metadata"]["labels"]["kubernetes.io/service-name"] = service
    item["addressType"] = address_type
    item["endpoints"] = [dict(copy.deepcopy(template), addresses=[ip], conditions=conditions)
                         for ip, conditions in endpoints] or None     # the API writes null for none
    item["ports"][0]["port"] = port
    return item


READY = {"ready": True, "serving": True, "terminating": False}
TERMINATING = {"ready": False, "serving": True, "terminating": True}
NOT_READY = {"ready": False, "serving": False, "terminating": False}


def endpoints_object(name: str, ready: list, not_ready: list = (), port: int = 5252,
                     namespace: str = "default") -> dict:
    item = shape("endpoints")
    subset = item["subsets"][0]
    ready_template, not_ready_template = subset["addresses"][0], subset["notReadyAddresses"][0]
    item["metadata"].update(name=name, namespace=namespace)
    subset["addresses"] = [dict(copy.deepcopy(ready_template), ip=ip) for ip in ready]
    subset["notReadyAddresses"] = [dict(copy.deepcopy(not_ready_template), ip=ip) for ip in not_ready]
    subset["ports"][0]["port"] = port
    return item


def pod(name: str, ip: str, phase: str = "Running", ready: bool = True, deleting: bool = False,
        port: int = 5252, labels: dict | None = None, namespace: str = "default") -> dict:
    item = shape("pod")
    item["metadata"].update(name=name, namespace=namespace)
    if labels is not None:
        item["metadata"]["labels"] = labels
    if deleting:
        item["metadata"]["deletionTimestamp"] = "2026-11-02T10:00:00Z"
        item["metadata"]["deletionGracePeriodSeconds"] = 30
    item["spec"]["containers"][0]["ports"][0]["containerPort"] = port
    item["status"].update(phase=phase, podIP=ip, podIPs=[{"ip": ip}])
    for condition in item["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"] = "True" if ready else "False"
    return item


def status(code: int, reason: str, message: str) -> dict:
    body = shape("status-internal")
    body.update(code=code, reason=reason, message=message, details={})
    return body


# ---- label selectors (equality- and existence-based, as the API server parses them) ----------

def selector_matches(selector: str, labels: dict) -> bool:
    """Raises ValueError for what the double does not parse (the API server answers 400)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if m := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)", term):
            key, op, value = m.groups()
            if (labels.get(key) == value) != (op != "!="):
                return False
        elif m := re.fullmatch(r"(!?)([\w./-]+)", term):
            if (m.group(2) in labels) == bool(m.group(1)):
                return False
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")
    return True


# ---- TLS ---------------------------------------------------------------------------------------

def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cluster_ca_and_serving_cert(directory: Path, address: str) -> tuple[Path, Path, Path]:
    """(ca.crt, server cert, server key): a cluster CA, and the API server's certificate it
    signed for ``address`` (as kubeadm's "kubernetes" certificate is)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
              .issuer_name(ca_name).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("kubernetes.default.svc"),
                                                          x509.IPAddress(ipaddress.ip_address(address))]),
                             critical=False)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = directory / "cluster-ca.crt", directory / "apiserver.crt", directory / "apiserver.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_key_pem(server_key))
    return paths


# ---- the server --------------------------------------------------------------------------------

class KubeApiDouble:
    """``objects[resource]``: the items it lists (endpointslices, endpoints, pods), filtered
    by namespace and label selector. ``token``: the bearer token it accepts.

    ``fault``: None, or ``("status", code)`` (the Status object of that code; 403 worded as
    an RBAC refusal), ``("garbage", body)`` (200 with that body), or ``("slow", seconds)``.
    ``requests`` records (path, query, authorization) of every request."""

    def __init__(self, directory: Path, address: str = "127.0.0.1", token: str = "t0ken-1"):
        self.address, self.token = address, token
        self.ca, cert, key = cluster_ca_and_serving_cert(Path(directory), address)
        self.objects: dict[str, list] = {"endpointslices": [], "endpoints": [], "pods": []}
        self.fault: tuple | None = None
        self.requests: list = []
        self._released = threading.Event()
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server's naming
                code, body = double._answer(self)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True,
                                       name="kube-api-double")

    def _answer(self, request) -> tuple[int, object]:
        url = urllib.parse.urlsplit(request.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.requests.append((url.path, query, request.headers.get("Authorization")))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        route = next(((match, spec) for pattern, spec in ROUTES.items() if (match := pattern.match(url.path))), None)
        if route is None:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        match, (resource, group, list_kind, api_version) = route
        namespace = match.group(1)
        fault = self.fault
        if fault is not None and fault[0] == "slow":
            self._released.wait(fault[1])
        elif fault is not None and fault[0] == "garbage":
            return 200, fault[1]
        elif fault is not None and fault[0] == "status":
            if fault[1] == 403:
                body = shape("status-forbidden")
                body["message"] = (f"{resource}{'.' + group if group else ''} is forbidden: User"
                                   f" \"system:serviceaccount:{namespace}:pack\" cannot list resource \"{resource}\""
                                   f" in API group \"{group}\" in the namespace \"{namespace}\"")
                body["details"] = {"group": group, "kind": resource}
                return 403, body
            return fault[1], shape("status-internal") if fault[1] == 500 else status(fault[1], "Failure", "refused")
        try:
            items = [item for item in self.objects[resource] if item["metadata"].get("namespace") == namespace
                     and selector_matches(query.get("labelSelector", ""), item["metadata"].get("labels") or {})]
        except ValueError as exc:
            return 400, status(400, "BadRequest", str(exc))
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0) or len(items)
        page, rest = items[start:start + limit], items[start + limit:]
        metadata = {"resourceVersion": "48213"}
        if rest:
            metadata.update({"continue": str(start + limit), "remainingItemCount": len(rest)})
        return 200, {"kind": list_kind, "apiVersion": api_version, "metadata": metadata, "items": page}

    def __enter__(self) -> KubeApiDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class ServiceAccount:
    """A pod's service-account directory (token, ca.crt, namespace) and the environment the
    kubelet gives it, pointing at ``api``."""

    def __init__(self, directory: Path, api: KubeApiDouble, namespace: str = "default"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "token").write_text(api.token)
        (self.dir / "ca.crt").write_bytes(api.ca.read_bytes())
        (self.dir / "namespace").write_text(namespace)
        self.environ = {"KUBERNETES_SERVICE_HOST": api.address, "KUBERNETES_SERVICE_PORT": str(api.port)}
