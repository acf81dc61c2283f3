"""etcd client URLs, parsed without the etcd client library (the configuration checks them
on machines without the ``etcd`` extra too)."""
from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["parse_endpoint"]


def parse_endpoint(endpoint: str) -> tuple[str, str, int]:
    """``https://127.0.0.1:2379`` -> ``("https", "127.0.0.1", 2379)``; a bare ``host:port`` is
    ``http``; the port defaults to etcd's 2379.

    Raises:
        ValueError: a scheme other than http or https, no host, or a bad port.
    """
    text = endpoint.strip()
    parts = urlsplit(text if "://" in text else "http://" + text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"an etcd endpoint is http(s)://host:port, not {endpoint!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"an etcd endpoint is http(s)://host:port with no path, not {endpoint!r}")
    return parts.scheme, parts.hostname, parts.port or 2379
