"""A real 3-member etcd with TLS and client-cert-auth, per test module (tests/daemon/etcd)."""
from __future__ import annotations

import pytest

from mockserver.daemon.etcd.client import EtcdSettings
from mockserver.daemon.harness.etcd import EtcdCluster


@pytest.fixture(scope="module")
def etcd():
    """The cluster, ready (a leader elected); stopped and removed after the module."""
    with EtcdCluster(3, tls=True) as cluster:
        cluster.wait_ready()
        yield cluster


def settings_of(etcd: EtcdCluster, endpoints=None) -> EtcdSettings:
    """How a member reaches ``etcd`` (all its endpoints, or those given, in that order)."""
    return EtcdSettings(tuple(endpoints or etcd.endpoints), cert=etcd.client_cert, key=etcd.client_key, ca=etcd.ca,
                        timeout=2.0)
