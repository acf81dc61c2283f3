"""Reading the Kubernetes API's lists (sans-IO): which addresses of an EndpointSliceList,
an EndpointsList or a PodList may be proposed as pack members.

Only members that can take part are proposed (libcluster proposed terminating and unready
pods, its issues #114 and #213):

- **EndpointSlice** (discovery.k8s.io/v1): an endpoint whose ``conditions.ready`` is not
  false and whose ``conditions.terminating`` is not true. The API reference says a missing
  ``ready`` is read as ready, and a missing ``terminating`` as not terminating. A
  terminating endpoint is left out even when ``ready`` is true, which a Service with
  ``publishNotReadyAddresses`` allows.
- **Endpoints** (v1): a subset's ``addresses``. Its ``notReadyAddresses`` are left out.
- **Pod** (v1): phase ``Running``, condition ``Ready`` ``"True"``, and no
  ``metadata.deletionTimestamp`` (a pod being deleted is terminating).

The port is the pack's own unless a port name is given. Then it is the port of that name:
in the slice's or subset's ``ports``, or in the pod's containers' ``ports``
(``containerPort``).

The pack's datagrams travel over IPv4. IPv6 and FQDN addresses are reported as problems,
not proposed.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

LIST_KINDS = {"endpointslices": "EndpointSliceList", "endpoints": "EndpointsList", "pods": "PodList"}


@dataclass
class Reading:
    """What one page of a list proposes, what was skipped (and why), and the token of the
    next page (None: the last)."""
    found: set = field(default_factory=set)
    problems: list = field(default_factory=list)
    next_page: str | None = None


def read_list(mode: str, document, default_port: int, port_name: str | None = None) -> Reading:
    """Read one page of the list ``mode`` names.

    Raises:
        ValueError: the document is not such a list (its kind, or what it lacks, named).
    """
    expected = LIST_KINDS[mode]
    if not isinstance(document, dict):
        raise ValueError(f"expected a {expected} object, got {type(document).__name__}")
    kind = document.get("kind")
    if kind != expected:
        raise ValueError(f"expected kind {expected}, got {kind!r}")
    items = document.get("items")
    if not isinstance(items, list):
        raise ValueError(f"{expected}: 'items' is not a list")
    metadata = document.get("metadata")
    reading = Reading(next_page=(metadata.get("continue") or None) if isinstance(metadata, dict) else None)
    reader = {"endpointslices": _slice, "endpoints": _subsets, "pods": _pod}[mode]
    for item in items:
        if not isinstance(item, dict):
            reading.problems.append(f"an item of {expected} is not an object: skipped")
            continue
        reader(item, _Sink(reading, _name(item), default_port, port_name))
    return reading


@dataclass
class _Sink:
    """Where one object's addresses go: proposed, or skipped with a reason naming it."""
    reading: Reading
    where: str
    default_port: int
    port_name: str | None

    def skip(self, why: str) -> None:
        self.reading.problems.append(f"{self.where}: {why}")

    def port(self, ports, number_key: str = "port") -> int | None:
        """The pack's port, or the named one among ``ports`` (None, and a problem, when
        it is not there)."""
        if self.port_name is None:
            return self.default_port
        for port in ports if isinstance(ports, list) else ():
            if isinstance(port, dict) and port.get("name") == self.port_name and isinstance(port.get(number_key), int):
                return port[number_key]
        self.skip(f"no port named {self.port_name!r}: skipped")
        return None

    def propose(self, address, port: int | None) -> None:
        if port is None:
            return
        try:
            ip = ipaddress.ip_address(address)
        except (ValueError, TypeError):
            self.skip(f"address {address!r} is not an IP address: skipped")
            return
        if ip.version != 4:
            self.skip(f"address {address} not used: the pack's datagrams travel over IPv4")
            return
        self.reading.found.add((str(ip), port))


def _is_ipv4(text) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except (ValueError, TypeError):
        return False


def _name(item: dict) -> str:
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    return str(metadata.get("name") or "(unnamed)")


def _slice(item: dict, sink: _Sink) -> None:
    address_type = item.get("addressType")
    if address_type != "IPv4":
        sink.skip(f"addressType {address_type!r}: only IPv4 slices are used")
        return
    port = None
    for endpoint in item.get("endpoints") or ():       # null when the slice is empty
        if not isinstance(endpoint, dict):
            sink.skip("an endpoint is not an object: skipped")
            continue
        conditions = endpoint.get("conditions") if isinstance(endpoint.get("conditions"), dict) else {}
        addresses = endpoint.get("addresses") if isinstance(endpoint.get("addresses"), list) else []
        if conditions.get("terminating") is True or conditions.get("ready") is False:
            continue                                    # not a member to join: not a problem either
        if port is None:
            port = sink.port(item.get("ports"))
            if port is None:
                return
        for address in addresses:
            sink.propose(address, port)


def _subsets(item: dict, sink: _Sink) -> None:
    for subset in item.get("subsets") or ():
        if not isinstance(subset, dict):
            sink.skip("a subset is not an object: skipped")
            continue
        addresses = [a for a in subset.get("addresses") or () if isinstance(a, dict)]
        if not addresses:
            continue
        port = sink.port(subset.get("ports"))
        for address in addresses:
            sink.propose(address.get("ip"), port)


def _pod(item: dict, sink: _Sink) -> None:
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    if metadata.get("deletionTimestamp") or status.get("phase") != "Running":
        return
    conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
    if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
        return
    # podIPs lists every family of a dual-stack pod; podIP is its first, maybe IPv6.
    addresses = [status.get("podIP")] + [a.get("ip") for a in status.get("podIPs") or () if isinstance(a, dict)]
    addresses = [a for a in addresses if a]
    if not addresses:
        sink.skip("Running and Ready but no podIP: skipped")
        return
    address = next((a for a in addresses if _is_ipv4(a)), addresses[0])
    spec = item.get("spec") if isinstance(item.get("spec"), dict) else {}
    ports = [p for c in spec.get("containers") or () if isinstance(c, dict) for p in c.get("ports") or ()]
    sink.propose(address, sink.port(ports, "containerPort"))
